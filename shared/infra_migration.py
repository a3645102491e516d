"""Revision 0001 of every service: the infrastructure tables of `shared.tables`, in one schema.

Contract:
- Each service's first migration (`migrations/versions/0001_infrastructure_tables.py`) calls
  `upgrade_0001(<its schema>)` / `downgrade_0001(<its schema>)`: the four services start from the
  same tables, written once.
- Frozen like any applied migration: never edit these functions. A later change to
  `shared.tables` is a new revision in each service (`scripts/makemigration`), not a change here.
- On PostgreSQL it also installs the statement trigger that NOTIFYs `gongyi_outbox_<schema>` when
  an outbox row commits (the relay's wake-up).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import shared.tables


def upgrade_0001(schema: str) -> None:
    """Create the infrastructure tables of revision 0001 in `schema`."""
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('actor_sub', sa.String(length=200), nullable=False),
    sa.Column('actor_role', sa.String(length=20), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('resource', sa.String(length=200), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    schema=schema
    )
    with op.batch_alter_table('audit_log', schema=schema) as batch_op:
        batch_op.create_index('ix_audit_log_resource', ['resource', 'id'], unique=False)

    op.create_table('consumer_positions',
    sa.Column('consumer', sa.String(length=200), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'topic', 'key'),
    schema=schema
    )
    op.create_table('holiday_calendar',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('is_working_day', sa.Boolean(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('day'),
    schema=schema
    )
    op.create_table('idempotency_keys',
    sa.Column('scope', sa.String(length=400), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response_body', sa.LargeBinary(), nullable=False),
    sa.Column('response_headers', sa.JSON(), nullable=False),
    sa.Column('created_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'key'),
    schema=schema
    )
    with op.batch_alter_table('idempotency_keys', schema=schema) as batch_op:
        batch_op.create_index('ix_idempotency_keys_created_at', ['created_at'], unique=False)

    op.create_table('inbox',
    sa.Column('consumer', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('processed_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'source', 'event_id'),
    schema=schema
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.Column('event_type', sa.String(length=200), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('traceparent', sa.String(length=64), nullable=True),
    sa.Column('created_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('published_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id'),
    schema=schema
    )
    with op.batch_alter_table('outbox', schema=schema) as batch_op:
        batch_op.create_index('ix_outbox_unpublished', ['id'], unique=False,
            postgresql_where=sa.text('published_at IS NULL'), sqlite_where=sa.text('published_at IS NULL'))

    op.create_table('outbox_sequences',
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('last_sequence', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('topic', 'key'),
    schema=schema
    )
    op.create_table('parked_keys',
    sa.Column('consumer', sa.String(length=200), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('parked_behind', sa.String(length=64), nullable=False),
    sa.Column('error_type', sa.String(length=200), nullable=False),
    sa.Column('parked_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('parked_count', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('release_count', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('consumer', 'topic', 'key'),
    schema=schema
    )
    op.create_table('scheduled_jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('job', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('due_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), server_default=sa.text("'pending'"), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('traceparent', sa.String(length=64), nullable=True),
    sa.Column('created_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('done_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job', 'key', 'due_at', name='uq_scheduled_jobs_job_key_due'),
    schema=schema
    )
    with op.batch_alter_table('scheduled_jobs', schema=schema) as batch_op:
        batch_op.create_index('ix_scheduled_jobs_pending', ['due_at'], unique=False,
            postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))

    if op.get_bind().dialect.name == "postgresql":
        # Wakes the relay of another process (the worker) the moment an outbox row commits.
        op.execute(
            f"CREATE FUNCTION {schema}.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_notify('gongyi_outbox_{schema}', ''); RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER outbox_notify AFTER INSERT ON {schema}.outbox "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {schema}.notify_outbox()"
        )


def downgrade_0001(schema: str) -> None:
    """Drop what `upgrade_0001(schema)` created."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS outbox_notify ON {schema}.outbox")
        op.execute(f"DROP FUNCTION IF EXISTS {schema}.notify_outbox()")
    with op.batch_alter_table('scheduled_jobs', schema=schema) as batch_op:
        batch_op.drop_index('ix_scheduled_jobs_pending',
            postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))

    op.drop_table('scheduled_jobs', schema=schema)
    op.drop_table('parked_keys', schema=schema)
    op.drop_table('outbox_sequences', schema=schema)
    with op.batch_alter_table('outbox', schema=schema) as batch_op:
        batch_op.drop_index('ix_outbox_unpublished',
            postgresql_where=sa.text('published_at IS NULL'), sqlite_where=sa.text('published_at IS NULL'))

    op.drop_table('outbox', schema=schema)
    op.drop_table('inbox', schema=schema)
    with op.batch_alter_table('idempotency_keys', schema=schema) as batch_op:
        batch_op.drop_index('ix_idempotency_keys_created_at')

    op.drop_table('idempotency_keys', schema=schema)
    op.drop_table('holiday_calendar', schema=schema)
    op.drop_table('consumer_positions', schema=schema)
    with op.batch_alter_table('audit_log', schema=schema) as batch_op:
        batch_op.drop_index('ix_audit_log_resource')

    op.drop_table('audit_log', schema=schema)

"""The infrastructure tables every service keeps inside its own schema.

Contract: `infrastructure(metadata)` declares, on the service's own `MetaData(schema=<svc>)`,
the tables the building blocks use — outbox and its per-key sequence counters, the consumer
inbox, per-key positions and parked keys, scheduled jobs, idempotency keys, the audit log and
the holiday calendar. It is idempotent per metadata object, so models.py and migrations can both
call it. SQLAlchemy Core tables: the hot paths (outbox, inbox) run as Core statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite so autoincrement works on both.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware instants only, stored as UTC on both databases and read back as aware UTC.

    SQLite has no time zones and compares instants as text, so everything stored must be UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: instants must carry a UTC offset")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Infrastructure:
    outbox: Table
    outbox_sequences: Table
    inbox: Table
    consumer_positions: Table
    parked_keys: Table
    scheduled_jobs: Table
    idempotency_keys: Table
    audit_log: Table
    holiday_calendar: Table


_CACHE: dict[int, Infrastructure] = {}


def infrastructure(metadata: MetaData) -> Infrastructure:
    cached = _CACHE.get(id(metadata))
    if cached is not None:
        return cached
    tz = UtcDateTime()
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("sequence", BigInteger, nullable=False),
        Column("event_type", String(200), nullable=False),
        # the CloudEvent JSON without `sequence`; the relay renders the final bytes
        Column("body", LargeBinary, nullable=False),
        Column("traceparent", String(64)),
        Column("created_at", tz, nullable=False),
        Column("published_at", tz),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("next_attempt_at", tz),
        Column("last_error", Text),
        Index(
            "ix_outbox_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )
    outbox_sequences = Table(
        "outbox_sequences",
        metadata,
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("last_sequence", BigInteger, nullable=False),
        PrimaryKeyConstraint("topic", "key"),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(200), nullable=False),
        Column("source", String(200), nullable=False),
        Column("event_id", String(64), nullable=False),
        Column("processed_at", tz, nullable=False),
        PrimaryKeyConstraint("consumer", "source", "event_id"),
    )
    consumer_positions = Table(
        "consumer_positions",
        metadata,
        Column("consumer", String(200), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("sequence", BigInteger, nullable=False),
        PrimaryKeyConstraint("consumer", "topic", "key"),
    )
    parked_keys = Table(
        "parked_keys",
        metadata,
        Column("consumer", String(200), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("parked_behind", String(64), nullable=False),
        Column("error_type", String(200), nullable=False),
        Column("parked_at", tz, nullable=False),
        Column("parked_count", Integer, nullable=False),
        Column("status", String(20), nullable=False),  # parked | releasing
        Column("release_count", Integer),
        PrimaryKeyConstraint("consumer", "topic", "key"),
    )
    scheduled_jobs = Table(
        "scheduled_jobs",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("job", String(100), nullable=False),
        Column("key", String(200), nullable=False),
        Column("due_at", tz, nullable=False),
        Column("status", String(20), nullable=False, server_default=text("'pending'")),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("next_attempt_at", tz),
        Column("last_error", Text),
        Column("traceparent", String(64)),
        Column("created_at", tz, nullable=False),
        Column("done_at", tz),
        UniqueConstraint("job", "key", "due_at", name="uq_scheduled_jobs_job_key_due"),
        Index(
            "ix_scheduled_jobs_pending",
            "due_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )
    idempotency_keys = Table(
        "idempotency_keys",
        metadata,
        Column("scope", String(400), nullable=False),
        Column("key", String(255), nullable=False),
        Column("fingerprint", String(64), nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("response_body", LargeBinary, nullable=False),
        Column("response_headers", JSON, nullable=False),
        Column("created_at", tz, nullable=False),
        PrimaryKeyConstraint("scope", "key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )
    audit_log = Table(
        "audit_log",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("at", tz, nullable=False),
        Column("actor_sub", String(200), nullable=False),
        Column("actor_role", String(20), nullable=False),
        Column("action", String(100), nullable=False),
        Column("resource", String(200), nullable=False),
        Column("request_id", String(64)),
        Column("detail", JSON, nullable=False),
        Index("ix_audit_log_resource", "resource", "id"),
    )
    holiday_calendar = Table(
        "holiday_calendar",
        metadata,
        Column("day", Date, primary_key=True),
        Column("is_working_day", Boolean, nullable=False),
        Column("name", String(100)),
        Column("source", String(200), nullable=False),
    )
    infra = Infrastructure(
        outbox=outbox,
        outbox_sequences=outbox_sequences,
        inbox=inbox,
        consumer_positions=consumer_positions,
        parked_keys=parked_keys,
        scheduled_jobs=scheduled_jobs,
        idempotency_keys=idempotency_keys,
        audit_log=audit_log,
        holiday_calendar=holiday_calendar,
    )
    _CACHE[id(metadata)] = infra
    return infra

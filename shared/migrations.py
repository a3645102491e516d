"""Alembic for one service: its own migration set, its own schema, its own version table.

Contract:
- `await migrate(db, script_location)` upgrades the service's schema to head, on PostgreSQL or
  SQLite, with one migration set for both (batch mode on SQLite). The version table lives inside
  the service's schema, so services migrate independently.
- Each service's `migrations/env.py` is two lines: it calls `run_env(target_metadata)`.
- `await drift(db, metadata)` lists differences between the migrated database and the models:
  a test keeps it empty on both databases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from shared.db import Database


def _config(script_location: Path, connection: Connection, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["connection"] = connection
    cfg.attributes["schema"] = schema
    return cfg


def _include_name(schema: str) -> Any:
    # Reflect only the service's own schema: its role may not even look into the others.
    def include(name: str | None, type_: str, parent_names: Any) -> bool:
        # None is the default schema (the first of search_path: the service's own).
        return name in (schema, None) if type_ == "schema" else True

    return include


def _include_object(schema: str) -> Any:
    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table":
            return getattr(obj, "schema", None) == schema and name != "alembic_version"
        return True

    return include


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's `migrations/env.py`."""
    connection: Connection = context.config.attributes["connection"]
    schema: str = context.config.attributes["schema"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=_include_name(schema),
        include_object=_include_object(schema),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def migrate(db: Database, script_location: Path, revision: str = "head") -> None:
    async with db.engine.connect() as conn:
        if db.is_postgres:
            exists = (
                await conn.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": db.schema})
            ).first()
            if exists is None:
                await conn.execute(text(f'CREATE SCHEMA "{db.schema}"'))
                await conn.commit()
        await conn.run_sync(lambda sync: command.upgrade(_config(script_location, sync, db.schema), revision))
        await conn.commit()


async def drift(db: Database, metadata: MetaData) -> list[Any]:
    def compare(sync: Connection) -> list[Any]:
        mc = MigrationContext.configure(
            sync,
            opts={
                "include_schemas": True,
                "include_name": _include_name(db.schema),
                "include_object": _include_object(db.schema),
                "compare_type": True,
                "version_table_schema": db.schema,
            },
        )
        return list(compare_metadata(mc, metadata))

    async with db.engine.connect() as conn:
        return await conn.run_sync(compare)


async def current_revision(db: Database) -> str | None:
    def read(sync: Connection) -> str | None:
        mc = MigrationContext.configure(sync, opts={"version_table_schema": db.schema})
        return mc.get_current_revision()

    async with db.engine.connect() as conn:
        return await conn.run_sync(read)


async def autogenerate(db: Database, script_location: Path, message: str, rev_id: str | None = None) -> None:
    """Write a new revision with the differences between head and the models (a development aid).

    Run against a scratch SQLite database: migrations are written once for both databases.
    """
    await migrate(db, script_location)
    async with db.engine.connect() as conn:
        await conn.run_sync(
            lambda sync: command.revision(
                _config(script_location, sync, db.schema), message=message, autogenerate=True, rev_id=rev_id
            )
        )

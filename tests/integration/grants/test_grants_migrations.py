"""The grants migrations build exactly the tables the models declare, on both databases."""

from __future__ import annotations

from sqlalchemy import inspect

from services.grants.models import GrantsModel
from shared.migrations import drift


async def test_migrated_sqlite_schema_matches_the_models(stack_factory):
    stack = await stack_factory(("grants",), db="sqlite")
    assert await drift(stack.runtimes["grants"].db, GrantsModel.metadata) == []


async def test_migrated_postgres_schema_has_every_table_and_column_of_the_models(stack_factory):
    # shared.migrations.drift inspects every schema, which the grants role may not read on
    # PostgreSQL (one role per service): compare the grants schema by hand instead.
    stack = await stack_factory(("grants",), db="postgres")

    def columns(sync):
        inspector = inspect(sync)
        return {
            t: {c["name"] for c in inspector.get_columns(t, schema="grants")}
            for t in inspector.get_table_names(schema="grants")
            if t != "alembic_version"
        }

    async with stack.runtimes["grants"].db.engine.connect() as conn:
        migrated = await conn.run_sync(columns)
    declared = {t.name: {c.name for c in t.columns} for t in GrantsModel.metadata.sorted_tables}
    assert migrated == declared

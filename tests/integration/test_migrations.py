"""Each service's migrations build exactly what its models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from gongyi.system import SERVICES, service_module, service_settings
from shared.migrations import current_revision, drift, migrate


@pytest.mark.parametrize("service", SERVICES)
async def test_migrated_sqlite_schema_matches_the_models(service, tmp_path):
    module = service_module(service)
    runtime = module.build_runtime(service_settings(service, env="test", data_dir=tmp_path))
    try:
        await migrate(runtime.db, runtime.migrations)
        await migrate(runtime.db, runtime.migrations)  # idempotent
        assert await drift(runtime.db, runtime.metadata) == []
    finally:
        await runtime.db.dispose()


@pytest.mark.parametrize("service", SERVICES)
async def test_migrated_postgres_schema_matches_the_models_and_lives_in_its_own_schema(service, pg_urls, tmp_path):
    module = service_module(service)
    runtime = module.build_runtime(service_settings(service, env="test", data_dir=tmp_path,
                                                    database_url=pg_urls[service]))
    try:
        assert await current_revision(runtime.db) is not None, "the template was migrated"
        assert await drift(runtime.db, runtime.metadata) == []
        assert all(table.schema == service for table in runtime.metadata.tables.values())
    finally:
        await runtime.db.dispose()

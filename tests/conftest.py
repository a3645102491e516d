"""Session fixtures: one PostgreSQL cluster and one Kafka broker per test session, started lazily.

- `pg_cluster`: a private cluster (own data dir, free loopback port); `pg_template`: a database
  provisioned with one schema and login role per service and migrated once; `pg_urls`: a fresh
  database cloned from the template for the test, as each service's own role.
- `kafka_broker`: a real Apache Kafka 4.3.1 broker in KRaft mode on a free loopback port.
- `stack_factory`: builds a `tests.support.stack.Stack` on the chosen backends and closes it.
- Tests using PostgreSQL or Kafka are marked `postgres` / `kafka` automatically; with
  `GONGYI_REQUIRE_INFRA=1` (CI) a skipped one fails the run.
- The summary prints the time spent per tier (unit, integration, contract, e2e, fault).
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gongyi.devinfra.kafka import LocalKafka, ensure_kafka_jars
from gongyi.devinfra.postgres import (
    LocalPostgres,
    clone_database_async,
    drop_database_async,
    provision_database_async,
    service_dsn,
)
from gongyi.system import SERVICES, service_module, service_settings
from shared.bus.base import Bus
from shared.bus.embedded import EmbeddedLog
from shared.bus.kafka import KafkaBus
from shared.migrations import migrate
from tests.support.stack import Stack, build_stack, seed_calendar

TEMPLATE_DB = "gongyi_template"
TIERS = ("unit", "integration", "contract", "e2e", "fault")


def _asyncpg_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


# -- PostgreSQL ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    cluster = LocalPostgres(tmp_path_factory.mktemp("postgres"), durable=False)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _in_thread(coro_factory: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine on its own loop in a thread: session set-up may be reached from a running loop."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro_factory()))  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0] if result else None


async def _provision_template(superuser: str) -> None:
    await provision_database_async(superuser, TEMPLATE_DB)
    for name in SERVICES:
        url = _asyncpg_url(service_dsn(superuser, TEMPLATE_DB, name))
        runtime = service_module(name).build_runtime(
            service_settings(name, env="test", database_url=url, data_dir=Path("/tmp"))
        )
        try:
            await migrate(runtime.db, runtime.migrations)
            await seed_calendar(runtime)
        finally:
            await runtime.db.dispose()


@pytest.fixture(scope="session")
def pg_template(pg_cluster: LocalPostgres) -> str:
    _in_thread(lambda: _provision_template(pg_cluster.superuser_dsn()))
    return TEMPLATE_DB


async def clone_test_database(cluster: LocalPostgres, template: str) -> tuple[str, dict[str, str]]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    superuser = cluster.superuser_dsn()
    await clone_database_async(superuser, template, name)
    urls = {svc: _asyncpg_url(service_dsn(superuser, name, svc)) for svc in SERVICES}
    # The test-only probe service (tests/support/probe.py) has no role of its own.
    urls["probe"] = _asyncpg_url(cluster.superuser_dsn(name))
    return name, urls


@pytest.fixture
async def pg_database(pg_cluster: LocalPostgres, pg_template: str) -> AsyncIterator[str]:
    name, _ = await clone_test_database(pg_cluster, pg_template)
    try:
        yield name
    finally:
        await drop_database_async(pg_cluster.superuser_dsn(), name)


@pytest.fixture
def pg_urls(pg_cluster: LocalPostgres, pg_database: str) -> dict[str, str]:
    """SQLAlchemy URLs of the test's database, one per service, each as that service's own role."""
    superuser = pg_cluster.superuser_dsn()
    return {name: _asyncpg_url(service_dsn(superuser, pg_database, name)) for name in SERVICES}


# -- Kafka -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    ensure_kafka_jars()
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


# -- stacks ----------------------------------------------------------------------------------------

StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def stack_factory(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[StackFactory]:
    stacks: list[Stack] = []
    databases: list[tuple[LocalPostgres, str]] = []

    async def make(
        services: tuple[str, ...] = SERVICES, *, db: str = "sqlite", bus: str = "embedded", **kwargs: Any
    ) -> Stack:
        database_urls = None
        if db == "postgres":
            cluster: LocalPostgres = request.getfixturevalue("pg_cluster")
            name, database_urls = await clone_test_database(cluster, request.getfixturevalue("pg_template"))
            databases.append((cluster, name))
        kafka_bootstrap = None
        the_bus: Bus
        if bus == "kafka":
            broker: LocalKafka = request.getfixturevalue("kafka_broker")
            kafka_bootstrap = broker.bootstrap
            the_bus = KafkaBus(broker.bootstrap, client_id=f"test-{uuid.uuid4().hex[:6]}")
        else:
            # The first stack uses <data dir>/bus.sqlite, where worker processes of a test look for it.
            the_bus = EmbeddedLog(
                tmp_path / ("bus.sqlite" if not stacks else f"bus-{len(stacks)}.sqlite"), synchronous="OFF"
            )
        stack = await build_stack(
            services=services, data_dir=tmp_path, bus=the_bus, database_urls=database_urls,
            kafka_bootstrap=kafka_bootstrap, **kwargs,
        )
        stacks.append(stack)
        return stack

    yield make
    for stack in reversed(stacks):
        await stack.close()
    for cluster, name in databases:
        await drop_database_async(cluster.superuser_dsn(), name)


# -- markers, infra enforcement, per-tier durations -----------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & {"pg_cluster", "pg_template", "pg_database", "pg_urls"}:
            item.add_marker(pytest.mark.postgres)
        if "kafka_broker" in names:
            item.add_marker(pytest.mark.kafka)
        params = getattr(item, "callspec", None)
        values = {str(v) for v in (params.params.values() if params else ())}
        if "postgres" in values:
            item.add_marker(pytest.mark.postgres)
        if "kafka" in values:
            item.add_marker(pytest.mark.kafka)


_tier_seconds: dict[str, float] = defaultdict(float)
_tier_counts: dict[str, int] = defaultdict(int)
_infra_skipped: list[str] = []


def _tier(nodeid: str) -> str:
    parts = nodeid.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" and parts[1] in TIERS else "other"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    tier = _tier(report.nodeid)
    _tier_seconds[tier] += report.duration
    if report.when == "call":
        _tier_counts[tier] += 1
    if report.skipped and ({"postgres", "kafka"} & set(report.keywords)):
        _infra_skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _infra_skipped and os.environ.get("GONGYI_REQUIRE_INFRA") == "1":
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    tr = terminalreporter
    tr.section("duration per tier")
    for tier in (*TIERS, "other"):
        if _tier_counts.get(tier):
            tr.write_line(f"{tier:12s} {_tier_counts[tier]:5d} tests {_tier_seconds[tier]:8.1f} s")
    if _infra_skipped:
        tr.section("PostgreSQL/Kafka tests skipped", red=True)
        for nodeid in _infra_skipped:
            tr.write_line(nodeid)
        if os.environ.get("GONGYI_REQUIRE_INFRA") == "1":
            tr.write_line("GONGYI_REQUIRE_INFRA=1: a skipped infrastructure test fails the run", red=True)



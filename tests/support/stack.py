"""A deterministic stack of services for tests: real databases, a real bus, a fixed clock.

`Stack` builds the chosen services on SQLite files or the session's PostgreSQL (one fresh database
per test, cloned from a migrated template), on the embedded log or the session's Kafka broker
(unique topic prefix and group names per test), all sharing one `FixedClock`. Nothing runs in the
background: `settle()` drives relays, consumers and schedulers step by step until every outbox is
empty, every consumer group has caught up and no job is due, so tests never sleep.

Closing a stack validates every record on the topics its services publish (and the dead-letter
topics) against the event contract (`contracts.validate.validate_log`) and fails the test on any
problem, so every test that publishes also checks the contract. `GONGYI_CHECK_EVENTS=0` turns it
off for a run; a test that writes broken records on purpose sets `stack.check_events = False`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from fastapi import FastAPI

from gongyi.system import service_module
from shared.auth import DEV_ISSUER, load_or_create_dev_key, mint_token
from shared.bus.base import Bus, Consumer
from shared.clock import FixedClock
from shared.consumer import ConsumerRunner
from shared.migrations import migrate
from shared.runtime import Runtime

DEFAULT_NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 2026-03-02 09:00 Asia/Shanghai


class _Dispatch:
    def __init__(self, apps: dict[str, FastAPI]) -> None:
        self.apps = {f"/{name}": app for name, app in apps.items()}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "/")
        head = "/" + path.split("/", 2)[1]
        app = self.apps.get(head) or next(iter(self.apps.values()))
        await app(scope, receive, send)


@dataclass
class Stack:
    runtimes: dict[str, Runtime]
    apps: dict[str, FastAPI]
    bus: Bus
    clock: FixedClock
    data_dir: Path
    topic_prefix: str
    _consumers: list[tuple[ConsumerRunner, Consumer]] = field(default_factory=list)
    _client: httpx.AsyncClient | None = None
    _workers_started: bool = False
    check_events: bool = field(default_factory=lambda: os.environ.get("GONGYI_CHECK_EVENTS", "1") != "0")

    # -- HTTP --------------------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            transport = httpx.ASGITransport(app=_Dispatch(self.apps), raise_app_exceptions=False)
            self._client = httpx.AsyncClient(transport=transport, base_url="http://gongyi.test")
        return self._client

    def token(self, role: str, **claims: Any) -> str:
        key = load_or_create_dev_key(self.data_dir)
        claims.setdefault("sub", f"test-{role}-{uuid.uuid4().hex[:6]}")
        return mint_token(key, issuer=DEV_ISSUER, role=role, now=datetime.now(UTC), **claims)  # type: ignore[arg-type]

    def auth(self, role: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **claims)}"}

    # -- driving the workers -----------------------------------------------------------------

    async def prepare(self) -> None:
        """Create topics, schedulers and consumer runners once (idempotent); consumers join on first consume."""
        if self._workers_started:
            return
        self._workers_started = True
        for runtime in self.runtimes.values():
            await runtime.prepare_worker()
            assert runtime.scheduler is not None
            await runtime.scheduler.ensure_recurring()  # what the worker's scheduler loop does first

    async def start_workers(self) -> None:
        """Join every consumer group with a static member (idempotent)."""
        await self.prepare()
        if self._consumers:
            return
        for runtime in self.runtimes.values():
            for runner in runtime.runners:
                consumer = self.bus.consumer(
                    runner.group, runner.topics, member_id=f"{runner.group}-test", session_timeout_ms=6000
                )
                await consumer.start()
                self._consumers.append((runner, consumer))

    async def publish(self) -> int:
        await self.prepare()
        published = 0
        for runtime in self.runtimes.values():
            while (count := await runtime.relay.publish_once()) > 0:
                published += count
        return published

    async def consume(self, timeout_ms: int = 200) -> int:
        """One pass over every consumer: what has arrived is applied. A consumer that still has
        records to read (or no partitions yet) is waited for up to `timeout_ms`, all of them at
        once; the others are not waited for."""
        await self.start_workers()
        for runner, consumer in self._consumers:
            await runner.resume_due(consumer)
        ready = [await consumer.poll(timeout_ms=0, max_records=500) for _, consumer in self._consumers]
        if not any(ready) and timeout_ms > 0:
            lagging = [i for i, (_, consumer) in enumerate(self._consumers) if await self._lags(consumer)]
            waited = await asyncio.gather(
                *(self._consumers[i][1].poll(timeout_ms=timeout_ms, max_records=500) for i in lagging)
            )
            for i, records in zip(lagging, waited, strict=True):
                ready[i] = records
        consumed = 0
        for (runner, consumer), records in zip(self._consumers, ready, strict=True):
            if records:
                await runner.process_batch(consumer, records)
                consumed += len(records)
        return consumed

    @staticmethod
    async def _lags(consumer: Consumer) -> bool:
        assigned = list(consumer.assignment())
        if not assigned:
            return True
        ends = await consumer.end_offsets(assigned)
        for tp in assigned:
            if (await consumer.committed(tp) or 0) < ends.get(tp, 0):
                return True
        return False

    async def run_jobs(self) -> int:
        await self.prepare()
        ran = 0
        for runtime in self.runtimes.values():
            if runtime.scheduler is not None:
                ran += await runtime.scheduler.run_due()
        return ran

    async def caught_up(self) -> bool:
        for runtime in self.runtimes.values():
            if await runtime.relay.backlog():
                return False
        for _runner, consumer in self._consumers:
            if await self._lags(consumer):
                return False
        return True

    async def settle(self, rounds: int = 200) -> None:
        """Publish, consume and run due jobs until nothing is left to do."""
        await self.start_workers()
        for _ in range(rounds):
            progress = await self.publish() + await self.consume() + await self.run_jobs()
            if progress == 0 and await self.caught_up():
                return
        raise AssertionError("the stack did not settle: events keep flowing or a consumer is stuck")

    async def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.clock.advance(timedelta(**delta))
        await self.settle()

    async def published_problems(self) -> list[str]:
        """What `contracts.validate.validate_log` finds wrong with every record on the topics the
        stack's services publish, and on the dead-letter topics of those and of what they consume."""
        from contracts.validate import TOPICS, validate_log

        logs: dict[str, list[Any]] = {}
        for runtime in self.runtimes.values():
            published = [t for t in runtime.publishes if t in TOPICS]
            dead = [f"{t}.dlt" for t in (*runtime.publishes, *runtime.consumed_topics) if t in TOPICS]
            for logical in (*published, *dead):
                if logical not in logs:
                    logs[logical] = await self.bus.read_all(runtime.settings.topic(logical))
        return validate_log(logs)

    async def close(self) -> None:
        problems: list[str] = []
        if self.check_events:
            problems = await self.published_problems()
        if self._client is not None:
            await self._client.aclose()
        for _runner, consumer in self._consumers:
            await consumer.stop()
        for runtime in self.runtimes.values():
            await runtime.stop()
        await self.bus.stop()
        if problems:
            raise AssertionError("events that break the contract were published:\n" + "\n".join(problems[:20]))


async def build_stack(
    *,
    services: Sequence[str],
    data_dir: Path,
    bus: Bus,
    database_urls: dict[str, str] | None = None,
    kafka_bootstrap: str | None = None,
    now: datetime = DEFAULT_NOW,
    settings: dict[str, Any] | None = None,
    runtime_kwargs: dict[str, dict[str, Any]] | None = None,
    modules: dict[str, ModuleType] | None = None,
) -> Stack:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    clock = FixedClock(now)
    runtimes: dict[str, Runtime] = {}
    apps: dict[str, FastAPI] = {}
    await bus.start()
    for name in services:
        overrides: dict[str, Any] = {
            "env": "test", "data_dir": data_dir, "topic_prefix": prefix, "relay_poll_interval_s": 0.05,
            "sqlite_synchronous": "OFF",
            **(settings or {}),
        }
        if database_urls is not None:
            overrides["database_url"] = database_urls[name]
        if kafka_bootstrap is not None:
            overrides.update(bus="kafka", kafka_bootstrap=kafka_bootstrap)
        module = (modules or {}).get(name) or service_module(name)
        runtime: Runtime = module.build_runtime(
            module.Settings(**overrides), bus=bus, clock=clock, **(runtime_kwargs or {}).get(name, {})
        )
        if hasattr(module, "create_schema"):
            await module.create_schema(runtime)  # a test-only service without migrations
        elif database_urls is None:
            await copy_sqlite_template(name, runtime)
        await runtime.start("api")
        runtimes[name] = runtime
        apps[name] = module.create_app(runtime=runtime, standalone=True, role="api")
    return Stack(runtimes=runtimes, apps=apps, bus=bus, clock=clock, data_dir=data_dir, topic_prefix=prefix)


_SQLITE_TEMPLATES: dict[str, Path] = {}


async def seed_calendar(runtime: Runtime) -> None:
    """What a runtime's first start does (seed the holiday calendar), done once for a template."""
    async with runtime.uow() as uow:
        await runtime.calendar.load(uow)
        await uow.commit()


async def copy_sqlite_template(name: str, runtime: Runtime) -> None:
    """Give the service a copy of a migrated, calendar-seeded SQLite file made once per process:
    migrating four services per test with Alembic costs more than most tests themselves."""
    template = _SQLITE_TEMPLATES.get(name)
    if template is None:
        directory = Path(tempfile.mkdtemp(prefix=f"gongyi-sqlite-template-{name}-"))
        module = service_module(name)
        maker: Runtime = module.build_runtime(module.Settings(env="test", data_dir=directory))
        try:
            await migrate(maker.db, maker.migrations)
            await seed_calendar(maker)
        finally:
            await maker.db.dispose()  # the last connection checkpoints the WAL into the file
        template = _SQLITE_TEMPLATES[name] = directory / f"{name}.sqlite"
    assert runtime.db.sqlite_path is not None
    await runtime.db.dispose()
    shutil.copyfile(template, runtime.db.sqlite_path)


async def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.05) -> None:
    """For tests of real background processes (fault tests): poll a condition, never sleep blindly."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)

"""The runtime of one service: everything its handlers need, built in one place, nothing global.

Contract:
- `Runtime(settings, metadata=..., migrations=..., publishes=..., bus=None, clock=None, ...)` wires
  the database, bus (embedded log or Kafka from settings, or the one given), clock (development:
  the shared `DevClock`; otherwise real time, or the one given), telemetry, metrics, token verifier,
  field cipher and working-day calendar. Constructing it opens no connection.
- A service registers what its worker runs: `add_consumer(name, topics, handlers)`,
  `add_job(job, handler)`, `add_recurring(Recurring(...))`.
- `start(role)`: `api` serves HTTP only; `worker` runs the relay, the consumers and the scheduler;
  `all` does both (embedded mode). `stop()` ends them and closes what the runtime opened.
- `uow(...)` opens a unit of work wired to this runtime (outbox wakes the relay after commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import MetaData

from shared.auth import AuthSettings, TokenVerifier, dev_settings, is_development_key, load_or_create_dev_key
from shared.bus.base import Bus, BusError
from shared.calendar_store import CalendarStore
from shared.clock import Clock, DevClock, SystemClock
from shared.consumer import ConsumerRunner, EventHandler
from shared.db import Database
from shared.dlt import dlt_topic
from shared.metrics import Metrics
from shared.migrations import migrate
from shared.outbox import Relay, leader_lock_for
from shared.pii import FieldCipher
from shared.scheduler import JobHandler, Recurring, Scheduler
from shared.settings import DEV_SECRET, ServiceSettings
from shared.tables import Infrastructure, infrastructure
from shared.telemetry import Telemetry
from shared.uow import SYSTEM, Actor, UnitOfWork

log = logging.getLogger("gongyi.runtime")


def build_bus(settings: ServiceSettings) -> Bus:
    if settings.bus == "kafka":
        from shared.bus.kafka import KafkaBus

        return KafkaBus(
            settings.kafka_bootstrap,
            client_id=f"gongyi-{settings.service}",
            replication_factor=settings.topic_replication,
            min_insync_replicas=settings.topic_min_insync,
            default_partitions=settings.topic_partitions,
        )
    from shared.bus.embedded import EmbeddedLog

    return EmbeddedLog(
        settings.data_dir / "bus.sqlite", default_partitions=settings.topic_partitions,
        synchronous=settings.sqlite_synchronous,
    )


def build_clock(settings: ServiceSettings) -> Clock:
    if settings.development:
        return DevClock(settings.data_dir / "clock.json")
    return SystemClock()


def build_verifier(settings: ServiceSettings) -> TokenVerifier:
    if settings.env in ("development", "test") and not (settings.jwt_jwks_url or settings.jwt_public_key_pem):
        return TokenVerifier(dev_settings(load_or_create_dev_key(settings.data_dir), issuer=settings.jwt_issuer))
    if settings.jwt_public_key_pem and settings.env == "production":
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_public_key(settings.jwt_public_key_pem.encode())
        if isinstance(key, rsa.RSAPublicKey) and is_development_key(key, settings.data_dir):
            raise ValueError("production refuses the development signing key of the data dir")
    return TokenVerifier(
        AuthSettings(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            role_claim=settings.jwt_role_claim,
            jwks_url=settings.jwt_jwks_url,
            public_key_pem=None if settings.jwt_jwks_url else settings.jwt_public_key_pem,
        )
    )


def build_cipher(settings: ServiceSettings) -> FieldCipher:
    secret = settings.secret_key.get_secret_value()
    if settings.env in ("development", "test") and secret == DEV_SECRET:
        # A fixed development key: data written by `gongyi up` stays readable across restarts.
        return FieldCipher(hashlib.sha256(b"gongyi development only: " + secret.encode()).digest())
    return FieldCipher.from_secret(secret)


class _ConsumerSpec:
    def __init__(self, name: str, topics: Sequence[str], handlers: Mapping[str, EventHandler]) -> None:
        self.name, self.topics, self.handlers = name, tuple(topics), dict(handlers)


class Runtime:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        metadata: MetaData,
        migrations: Path,
        publishes: Sequence[str] = (),
        bus: Bus | None = None,
        clock: Clock | None = None,
        telemetry: Telemetry | None = None,
        verifier: TokenVerifier | None = None,
        auto_migrate: bool = False,
    ) -> None:
        self.settings = settings
        self.service = settings.service
        self.metadata = metadata
        self.infra: Infrastructure = infrastructure(metadata)
        self.migrations = migrations
        self.publishes = tuple(publishes)
        self.auto_migrate = auto_migrate
        self.db = Database(
            settings.resolved_database_url(),
            schema=self.service,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_max_overflow,
            sqlite_synchronous=settings.sqlite_synchronous,
        )
        self._owns_bus = bus is None
        self.bus: Bus = bus if bus is not None else build_bus(settings)
        self.clock: Clock = clock if clock is not None else build_clock(settings)
        self.telemetry = telemetry or Telemetry(
            self.service,
            sample_ratio=settings.trace_sample_ratio,
            otlp_endpoint=settings.otlp_endpoint,
            enabled=settings.trace_enabled,
        )
        self.metrics = Metrics(self.service)
        self.verifier = verifier or build_verifier(settings)
        self.cipher = build_cipher(settings)
        self.calendar = CalendarStore()
        self.relay = Relay(
            db=self.db,
            infra=self.infra,
            bus=self.bus,
            topics=settings,
            clock_now=self.clock.now,
            tracer=self.telemetry.tracer,
            leader=leader_lock_for(self.db, self.service),
            batch_size=settings.relay_batch_size,
            poll_interval_s=settings.relay_poll_interval_s,
            metrics=self.metrics,
        )
        self._consumers: list[_ConsumerSpec] = []
        self._jobs: dict[str, JobHandler] = {}
        self._recurring: list[Recurring] = []
        self.runners: list[ConsumerRunner] = []
        self.scheduler: Scheduler | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.role: str | None = None
        self.resources: dict[str, Any] = {}  # service-specific clients (e.g. httpx), closed on stop

    # -- registration ------------------------------------------------------------------------

    def add_consumer(self, name: str, topics: Sequence[str], handlers: Mapping[str, EventHandler]) -> None:
        self._consumers.append(_ConsumerSpec(name, topics, handlers))

    def add_job(self, job: str, handler: JobHandler) -> None:
        self._jobs[job] = handler

    def add_recurring(self, item: Recurring) -> None:
        self._recurring.append(item)

    @property
    def consumed_topics(self) -> tuple[str, ...]:
        return tuple(t for spec in self._consumers for t in spec.topics)

    # -- units of work -----------------------------------------------------------------------

    def uow(
        self,
        *,
        actor: Actor = SYSTEM,
        request_id: str | None = None,
        readonly: bool = False,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> UnitOfWork:
        return UnitOfWork(
            db=self.db,
            infra=self.infra,
            clock=self.clock,
            source=self.settings.event_source,
            tracer=self.telemetry.tracer,
            actor=actor,
            request_id=request_id,
            readonly=readonly,
            correlation_id=correlation_id or request_id,
            causation_id=causation_id,
            after_commit=self.relay.wake,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def build_scheduler(self) -> Scheduler:
        return Scheduler(
            infra=self.infra,
            uow_factory=self.uow,
            clock_now=self.clock.now,
            handlers=self._jobs,
            recurring=self._recurring,
            poll_interval_s=self.settings.scheduler_poll_interval_s,
            metrics=self.metrics,
        )

    def build_runner(self, spec: _ConsumerSpec, member_id: str | None = None) -> ConsumerRunner:
        s = self.settings
        return ConsumerRunner(
            group=s.consumer_group(spec.name),
            topics=spec.topics,
            handlers=spec.handlers,
            bus=self.bus,
            uow_factory=self.uow,
            physical_topic=s.topic,
            logical_topic=s.logical_topic,
            tracer=self.telemetry.tracer,
            member_id=member_id or f"{s.consumer_group(spec.name)}-{socket.gethostname()}-{os.getpid()}",
            session_timeout_ms=s.consumer_session_timeout_ms,
            stall_timeout_s=s.consumer_stall_timeout_s,
            metrics=self.metrics,
        )

    async def prepare_worker(self) -> None:
        """Create the topics, the scheduler and the consumer runners without running them.

        `start("worker")` runs them as tasks; tests drive them step by step instead.
        """
        await self.bus.ensure_topics(self.topics_to_ensure())
        self._build_worker_parts()

    def _build_worker_parts(self) -> None:
        self.scheduler = self.build_scheduler()
        self.runners = [self.build_runner(spec) for spec in self._consumers]
        for runner in self.runners:
            # Every series exists from the start at 0: a rate or an increase over it is defined
            # before the first dead letter, and a dashboard shows each consumer before it applies.
            self.metrics.consumer_processed.labels(runner.group)
            for topic in runner.topics:
                self.metrics.dlt_records.labels(runner.group, topic)

    def topics_to_ensure(self) -> dict[str, int]:
        n = self.settings.topic_partitions
        topics: dict[str, int] = {}
        for logical in (*self.publishes, *self.consumed_topics):
            topics[self.settings.topic(logical)] = n
            topics[dlt_topic(self.settings.topic(logical))] = n
        return topics

    async def start(self, role: str = "api") -> None:
        self.role = role
        self._stopping = asyncio.Event()
        if self.auto_migrate:
            await migrate(self.db, self.migrations)
        async with self.uow() as uow:
            await self.calendar.load(uow)
            await uow.commit()
        if role not in ("worker", "all"):
            return
        if self._owns_bus:
            await self.bus.start()
        self._build_worker_parts()
        assert self.scheduler is not None
        self._spawn(self.scheduler.run(self._stopping), "scheduler")
        self._spawn(self._start_bus_side(), "bus start")
        self._spawn(self._refresh_calendar(), "calendar refresh")
        subscribe = getattr(self.clock, "subscribe", None)
        if subscribe is not None:
            subscribe(self.clock_moved)

    async def _start_bus_side(self) -> None:
        """Relay and consumers start once the bus answers: a worker started while Kafka is down
        waits for it (its timers run meanwhile, the outbox keeps everything) instead of exiting."""
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await self.bus.ensure_topics(self.topics_to_ensure())
                break
            except BusError as exc:
                log.warning("%s worker waits for the bus: %s", self.service, exc)
            except Exception:
                # Never a worker without its relay and consumers: an unexpected failure is logged
                # with its traceback on every attempt until it goes away or someone fixes it.
                log.exception("%s worker cannot set up its topics", self.service)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, 15.0)
        if self._stopping.is_set():
            return
        self._spawn(self.relay.run(self._stopping), "relay")
        for runner in self.runners:
            self._spawn(runner.run(self._stopping), f"consumer {runner.group}")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=f"{self.service} {name}")
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s ended with an error", task.get_name(), exc_info=task.exception())

    async def _refresh_calendar(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 300)
            if self._stopping.is_set():
                return
            try:
                async with self.uow(readonly=True) as uow:
                    await self.calendar.load(uow)
            except Exception:
                log.exception("calendar refresh failed")

    def clock_moved(self) -> None:
        if self.scheduler is not None:
            self.scheduler.wake()

    async def stop(self) -> None:
        self._stopping.set()
        while unfinished := [t for t in self._tasks if not t.done()]:  # tasks may spawn tasks
            _, pending = await asyncio.wait(unfinished, timeout=30)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks.clear()
        for resource in self.resources.values():
            closer = getattr(resource, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
        if self._owns_bus and self.role in ("worker", "all"):
            with contextlib.suppress(Exception):
                await self.bus.stop()
        await self.db.dispose()
        self.telemetry.shutdown()

    async def ready(self) -> tuple[bool, str]:
        from shared.app import database_ready

        return await database_ready(self)

    async def refresh_gauges(self) -> None:
        try:
            self.metrics.outbox_backlog.set(await self.relay.backlog())
        except Exception as exc:  # metrics never fail a scrape
            log.debug("outbox backlog unavailable: %s", exc)

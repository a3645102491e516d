"""Unit of work: the only place that commits.

Contract:
- `async with runtime.uow(actor=...) as uow:` opens one database transaction (SQLite: `BEGIN
  IMMEDIATE` unless `readonly=True`). Handlers read and stage through it: `uow.session` (SQLModel
  ORM), `uow.conn` (Core statements for hot paths), `uow.stage(event)` (outbox), `uow.audit(...)`,
  `uow.schedule(job, key, due_at)`.
- `await uow.commit()` flushes the session and writes the staged outbox rows (with their per-key
  sequence), audit rows and scheduled jobs in the same transaction, commits, then runs the
  after-commit callbacks (e.g. waking the relay). Leaving the block without commit rolls back:
  nothing half-written.
- `uow.now` is the clock read once when the unit of work began: a whole command sees one instant.
- One span per transaction (not per statement) keeps tracing cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import READONLY_OPTION, Database
from shared.outbox import PendingEvent, write_outbox
from shared.scheduler import write_jobs
from shared.tables import Infrastructure

if TYPE_CHECKING:
    from shared.clock import Clock


@dataclass(frozen=True, slots=True)
class Actor:
    sub: str
    role: str


SYSTEM = Actor(sub="system", role="system")


class UnitOfWork:
    def __init__(
        self,
        *,
        db: Database,
        infra: Infrastructure,
        clock: Clock,
        source: str,
        tracer: trace.Tracer | None = None,
        actor: Actor = SYSTEM,
        request_id: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        readonly: bool = False,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.infra = infra
        self.clock = clock
        self.source = source
        self.actor = actor
        self.request_id = request_id
        self.correlation_id = correlation_id
        self.causation_id = causation_id
        self.readonly = readonly
        self._tracer = tracer
        self._after_commit: list[Callable[[], None]] = [after_commit] if after_commit else []
        self._events: list[PendingEvent] = []
        self._audits: list[dict[str, Any]] = []
        self._jobs: list[tuple[str, str, datetime]] = []
        self._committed = False
        self._span: trace.Span | None = None
        self.now: datetime = clock.now()
        self.conn: AsyncConnection
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> UnitOfWork:
        if self._tracer is not None:
            self._span = self._tracer.start_span(
                "db.transaction",
                kind=trace.SpanKind.CLIENT,
                attributes={"db.system": self.db.dialect, "db.namespace": self.db.schema},
            )
        self.now = self.clock.now()
        conn = await self.db.engine.connect()
        if self.readonly:
            conn = await conn.execution_options(**{READONLY_OPTION: True})
        try:
            await conn.begin()
        except BaseException:
            await conn.close()
            raise
        self.conn = conn
        self._session = None
        return self

    @property
    def session(self) -> AsyncSession:
        """The ORM session joined to this transaction, created on first use (hot paths use `conn`)."""
        if self._session is None:
            self._session = AsyncSession(bind=self.conn, expire_on_commit=False, autoflush=True)
        return self._session

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._committed:
                if self._session is not None:
                    await self._session.close()
                await self.conn.rollback()
        finally:
            await self.conn.close()
            if self._span is not None:
                if exc is not None:
                    self._span.record_exception(exc)
                    self._span.set_status(trace.StatusCode.ERROR)
                self._span.end()

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def stage(self, *events: PendingEvent) -> None:
        if self.readonly:
            raise RuntimeError("a read-only unit of work cannot stage events")
        # Snapshot the cause now: a consumer applies several events in one unit of work.
        self._events.extend(
            replace(e, correlation_id=e.correlation_id or self.correlation_id,
                    causation_id=e.causation_id or self.causation_id)
            for e in events
        )

    @property
    def staged_events(self) -> tuple[PendingEvent, ...]:
        return tuple(self._events)

    def audit(self, action: str, resource: str, detail: dict[str, Any] | None = None) -> None:
        self._audits.append(
            {
                "at": self.now,
                "actor_sub": self.actor.sub,
                "actor_role": self.actor.role,
                "action": action,
                "resource": resource,
                "request_id": self.request_id,
                "detail": detail or {},
            }
        )

    def schedule(self, job: str, key: str, due_at: datetime) -> None:
        """Idempotent per (job, key, due_at): scheduling the same occurrence twice is harmless."""
        self._jobs.append((job, key, due_at))

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    async def commit(self) -> list[PendingEvent]:
        """Write everything staged in one transaction; returns the events with their sequences."""
        if self._session is not None:
            await self._session.flush()
        written: list[PendingEvent] = []
        if self._events:
            written = await write_outbox(
                self.conn,
                self.infra,
                self._events,
                source=self.source,
                now=self.now,
                correlation_id=self.correlation_id,
                causation_id=self.causation_id,
            )
        if self._audits:
            await self.conn.execute(self.infra.audit_log.insert(), self._audits)
        if self._jobs:
            await write_jobs(self.conn, self.infra, self._jobs, now=self.now)
        await self.conn.commit()
        self._committed = True
        if self._session is not None:
            await self._session.close()
        for callback in self._after_commit:
            callback()
        return written

"""Timers over the `scheduled_jobs` table: calls open and close, notices end, grades expire.

Contract:
- Handlers schedule with `uow.schedule(job, key, due_at)`; the row is written in the business
  transaction and is unique per (job, key, due_at), so scheduling twice is harmless.
- `Scheduler.run_due()` claims due rows one at a time (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the
  single writer on SQLite), runs the job's handler inside that same unit of work, and marks the row
  done in it: a job's effects and its completion commit together. A failing job is retried with
  backoff and given up (status `failed`, visible to operators) after `max_attempts`.
- Handlers must be idempotent per (job, key, due date); they emit events through the outbox.
- `Recurring` jobs (e.g. a daily expiry sweep at 01:00 Asia/Shanghai) keep exactly one pending
  occurrence; running one schedules the next after the clock's current time.
- Time is the injected clock; moving the development clock wakes the scheduler.
- With `metrics`, every attempt counts in `gongyi_scheduled_jobs_run{job, outcome}` (`done`,
  `retry` when it will be tried again, `failed` when given up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.tables import Infrastructure
from shared.telemetry import current_traceparent

if TYPE_CHECKING:
    from shared.uow import UnitOfWork

log = logging.getLogger("gongyi.scheduler")
SHANGHAI = ZoneInfo("Asia/Shanghai")

JobHandler = Callable[["UnitOfWork", str, datetime], Awaitable[None]]


async def write_jobs(
    conn: AsyncConnection, infra: Infrastructure, jobs: Sequence[tuple[str, str, datetime]], *, now: datetime
) -> None:
    table = infra.scheduled_jobs
    rows = [
        {
            "job": job,
            "key": key,
            "due_at": due_at,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "traceparent": current_traceparent(),
        }
        for job, key, due_at in jobs
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(rows).on_conflict_do_nothing(index_elements=["job", "key", "due_at"])
    await conn.execute(stmt)


@dataclass(frozen=True)
class Recurring:
    """A job that runs every day at `at` (Asia/Shanghai)."""

    job: str
    at: time
    key: str = "daily"

    def next_due(self, after: datetime) -> datetime:
        local = after.astimezone(SHANGHAI)
        candidate = datetime.combine(local.date(), self.at, SHANGHAI)
        if candidate <= local:
            candidate += timedelta(days=1)
        return candidate.astimezone(after.tzinfo)


class Scheduler:
    def __init__(
        self,
        *,
        infra: Infrastructure,
        uow_factory: Callable[[], UnitOfWork],
        clock_now: Callable[[], datetime],
        handlers: dict[str, JobHandler],
        recurring: Sequence[Recurring] = (),
        poll_interval_s: float = 1.0,
        max_attempts: int = 10,
        metrics: Any = None,
    ) -> None:
        self.infra = infra
        self.uow_factory = uow_factory
        self.now = clock_now
        self.handlers = handlers
        self.recurring = list(recurring)
        self.poll_interval_s = poll_interval_s
        self.max_attempts = max_attempts
        self.metrics = metrics
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def ensure_recurring(self) -> None:
        if not self.recurring:
            return
        async with self.uow_factory() as uow:
            for item in self.recurring:
                await self._schedule_next(uow, item, uow.now)
            await uow.commit()

    async def _schedule_next(self, uow: UnitOfWork, item: Recurring, after: datetime) -> None:
        jobs = self.infra.scheduled_jobs
        pending = await uow.conn.execute(
            select(jobs.c.id).where(jobs.c.job == item.job, jobs.c.key == item.key, jobs.c.status == "pending")
        )
        if pending.first() is None:
            uow.schedule(item.job, item.key, item.next_due(after))

    async def run(self, stopping: asyncio.Event) -> None:
        await self.ensure_recurring()
        while not stopping.is_set():
            try:
                ran = await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler iteration failed")
                ran = 0
            if ran == 0:
                waiters = [asyncio.ensure_future(self._wakeup.wait()), asyncio.ensure_future(stopping.wait())]
                await asyncio.wait(waiters, timeout=self.poll_interval_s, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
                self._wakeup.clear()

    async def run_due(self, limit: int = 100) -> int:
        """Attempt up to `limit` due jobs; returns how many were attempted (tests call this directly)."""
        ran = 0
        while ran < limit:
            outcome = await self._run_one()
            if outcome is None:
                break
            ran += 1
        return ran

    async def _run_one(self) -> bool | None:
        jobs = self.infra.scheduled_jobs
        failure: tuple[int, int, BaseException] | None = None
        async with self.uow_factory() as uow:
            now = uow.now
            stmt = (
                select(jobs.c.id, jobs.c.job, jobs.c.key, jobs.c.due_at, jobs.c.attempts)
                .where(jobs.c.status == "pending", jobs.c.due_at <= now)
                .where((jobs.c.next_attempt_at.is_(None)) | (jobs.c.next_attempt_at <= now))
                .order_by(jobs.c.due_at, jobs.c.id)
                .limit(1)
            )
            if uow.dialect == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            row = (await uow.conn.execute(stmt)).first()
            if row is None:
                return None
            job_id, job, key, due_at, attempts = row
            handler = self.handlers.get(job)
            try:
                if handler is None:
                    raise LookupError(f"no handler for scheduled job {job!r}")
                await handler(uow, key, _aware(due_at))
                recurring = next((r for r in self.recurring if r.job == job and r.key == key), None)
                await uow.conn.execute(update(jobs).where(jobs.c.id == job_id).values(status="done", done_at=now))
                if recurring is not None:
                    await uow.session.flush()
                    uow.schedule(recurring.job, recurring.key, recurring.next_due(now))
                await uow.commit()
                self._count(job, "done")
                return True
            except Exception as exc:  # the job's effects roll back; the failure is recorded below
                log.exception("scheduled job %s/%s failed", job, key)
                failure = (job_id, attempts + 1, exc)
        if failure is not None:
            await self._record_failure(*failure)
            self._count(job, "failed" if failure[1] >= self.max_attempts else "retry")
        return False

    def _count(self, job: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.jobs_run.labels(job, outcome).inc()

    async def _record_failure(self, job_id: int, attempts: int, exc: BaseException) -> None:
        jobs = self.infra.scheduled_jobs
        async with self.uow_factory() as uow:
            values: dict[str, Any] = {"attempts": attempts, "last_error": repr(exc)[:2000]}
            if attempts >= self.max_attempts:
                values["status"] = "failed"
            else:
                values["next_attempt_at"] = uow.now + timedelta(seconds=min(2**attempts, 3600))
            await uow.conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))
            await uow.commit()


def _aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes; everything stored is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

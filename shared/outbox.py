"""Transactional outbox and its relay (EVENTS.md "Delivery guarantees").

Contract:
- `PendingEvent` is what a handler stages; `write_outbox` (called only by the unit of work) gives
  each event its CloudEvent id and the next `sequence` of its (topic, key) and inserts the outbox row
  in the business transaction. Nothing is published from inside a request.
- `Relay` publishes unpublished rows in outbox order, marks them only after the bus acknowledged
  them, and keeps per-key order: a record of a key is sent only after every earlier record of that
  key on another topic was acknowledged (the finance contract: a disbursement only after its
  award's earlier records), records of one key and topic are pipelined (one partition, idempotent
  producer). A crash between acknowledgement and marking republishes the same event id: consumers
  dedupe. A key whose record keeps failing is deferred with backoff; other keys flow.
- Exactly one relay per service is active: PostgreSQL `pg_try_advisory_lock` on a dedicated
  connection (which also LISTENs for commits); SQLite a file lock next to the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import orjson
from opentelemetry import trace
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shared import envelope, faults
from shared.bus.base import Bus, BusUnavailable, OutgoingRecord
from shared.db import Database
from shared.tables import Infrastructure
from shared.telemetry import current_traceparent, format_traceparent, parent_context

log = logging.getLogger("gongyi.relay")


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event staged by a handler. `topic` is the logical topic (e.g. `grants.award`)."""

    topic: str
    key: str
    type: str
    subject: str
    data: dict[str, Any]
    event_id: str | None = None
    sequence: int | None = None
    # Filled by the unit of work when staged: the request or saga and the event that caused this one.
    correlation_id: str | None = None
    causation_id: str | None = None


async def write_outbox(
    conn: AsyncConnection,
    infra: Infrastructure,
    events: Sequence[PendingEvent],
    *,
    source: str,
    now: datetime,
    correlation_id: str | None,
    causation_id: str | None,
) -> list[PendingEvent]:
    schema = infra.outbox.schema
    traceparent = current_traceparent()
    written: list[PendingEvent] = []
    postgres = conn.dialect.name == "postgresql"
    raw = await _driver_connection(conn) if postgres else None
    if raw is not None and len(events) >= BATCH_THRESHOLD:
        return await _write_pg_batch(raw, schema, events, source, now, correlation_id, causation_id, traceparent)
    for pending in events:
        event = envelope.new_event(
            source=source,
            type_=pending.type,
            subject=pending.subject,
            key=pending.key,
            data=pending.data,
            time=now,
            correlationid=pending.correlation_id or correlation_id,
            causationid=pending.causation_id or causation_id,
        )
        body = envelope.encode_without_sequence(event)
        if raw is not None:
            # Straight to the driver (a prepared statement asyncpg caches): this statement runs for
            # every event, so SQLAlchemy's per-statement cost is worth skipping. One round trip: the
            # per-key counter row lock also serializes writers of one key, so outbox ids of a key
            # increase in sequence order.
            sequence = int(
                await raw.fetchval(
                    _pg_insert_sql(schema), event.id, pending.topic, pending.key, pending.type, body,
                    traceparent, now,
                )
            )
        else:
            params = {
                "event_id": event.id,
                "topic": pending.topic,
                "key": pending.key,
                "event_type": pending.type,
                "body": body,
                "traceparent": traceparent,
                "created_at": now,
            }
            result = await conn.execute(_sqlite_sequence_sql(schema), params)
            sequence = int(result.scalar_one())
            await conn.execute(infra.outbox.insert().values(sequence=sequence, **params))
        written.append(replace(pending, event_id=event.id, sequence=sequence))
    return written


_SQL_CACHE: dict[tuple[str, str | None], Any] = {}
# From this many staged events on, PostgreSQL gets them in one statement (one round trip).
BATCH_THRESHOLD = 2


async def _write_pg_batch(
    raw: Any,
    schema: str | None,
    events: Sequence[PendingEvent],
    source: str,
    now: datetime,
    correlation_id: str | None,
    causation_id: str | None,
    traceparent: str | None,
) -> list[PendingEvent]:
    """Many events in one round trip, with exactly the per-key sequences and outbox order the
    one-by-one path gives: staged order within a key, counters locked in (topic, key) order."""
    built = [
        envelope.new_event(
            source=source, type_=p.type, subject=p.subject, key=p.key, data=p.data, time=now,
            correlationid=p.correlation_id or correlation_id, causationid=p.causation_id or causation_id,
        )
        for p in events
    ]
    rows = await raw.fetch(
        _pg_batch_sql(schema),
        [e.id for e in built],
        [p.topic for p in events],
        [p.key for p in events],
        [p.type for p in events],
        [envelope.encode_without_sequence(e) for e in built],
        traceparent,
        now,
    )
    sequences = {row["event_id"]: int(row["sequence"]) for row in rows}
    return [replace(p, event_id=e.id, sequence=sequences[e.id]) for p, e in zip(events, built, strict=True)]


def _pg_batch_sql(schema: str | None) -> str:
    return (
        "WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[]) "
        "WITH ORDINALITY AS t(event_id, topic, key, event_type, body, ord)), "
        "counts AS (SELECT topic, key, count(*) AS n FROM input GROUP BY topic, key), "
        f"s AS (INSERT INTO {schema}.outbox_sequences AS q (topic, key, last_sequence) "
        "SELECT topic, key, n FROM counts ORDER BY topic, key "
        "ON CONFLICT (topic, key) DO UPDATE SET last_sequence = q.last_sequence + EXCLUDED.last_sequence "
        "RETURNING q.topic, q.key, q.last_sequence), "
        "numbered AS (SELECT i.event_id, i.topic, i.key, i.event_type, i.body, i.ord, "
        "s.last_sequence - count(*) OVER w + row_number() OVER w AS sequence "
        "FROM input i JOIN s ON s.topic = i.topic AND s.key = i.key "
        "WINDOW w AS (PARTITION BY i.topic, i.key ORDER BY i.ord "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) "
        f"INSERT INTO {schema}.outbox (event_id, topic, key, sequence, event_type, body, traceparent, created_at) "
        "SELECT event_id, topic, key, sequence, event_type, body, $6, $7 FROM numbered ORDER BY ord "
        "RETURNING event_id, sequence"
    )


def _pg_insert_sql(schema: str | None) -> str:
    return (
        f"WITH s AS (INSERT INTO {schema}.outbox_sequences (topic, key, last_sequence) "
        f"VALUES ($2, $3, 1) ON CONFLICT (topic, key) DO UPDATE "
        f"SET last_sequence = {schema}.outbox_sequences.last_sequence + 1 RETURNING last_sequence) "
        f"INSERT INTO {schema}.outbox (event_id, topic, key, sequence, event_type, body, traceparent, created_at) "
        f"SELECT $1, $2, $3, s.last_sequence, $4, $5, $6, $7 FROM s RETURNING sequence"
    )


async def _driver_connection(conn: AsyncConnection) -> Any:
    fairy = await conn.get_raw_connection()
    return fairy.driver_connection


def _sqlite_sequence_sql(schema: str | None) -> Any:
    cached = _SQL_CACHE.get(("sqlite", schema))
    if cached is None:
        cached = text(
            f"INSERT INTO {schema}.outbox_sequences (topic, key, last_sequence) VALUES (:topic, :key, 1) "
            f"ON CONFLICT (topic, key) DO UPDATE SET last_sequence = last_sequence + 1 "
            f"RETURNING last_sequence"
        )
        _SQL_CACHE[("sqlite", schema)] = cached
    return cached


class TopicNames(Protocol):
    def topic(self, name: str) -> str: ...


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    event_id: str
    topic: str
    key: str
    sequence: int
    body: bytes
    traceparent: str | None
    attempts: int


class LeaderLock(Protocol):
    async def acquire(self) -> bool: ...

    async def release(self) -> None: ...

    async def wait_notification(self, timeout: float) -> None: ...


class FileLeaderLock:
    """SQLite: one relay per database file, across processes (flock is released if we die)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_lock_file(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _close(fd)
            return False
        self._fd = fd
        return True

    async def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            _close(self._fd)
            self._fd = None

    async def wait_notification(self, timeout: float) -> None:
        await asyncio.sleep(timeout)


def _open_lock_file(path: Path) -> int:
    import os

    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def _close(fd: int) -> None:
    import os

    os.close(fd)


class PostgresLeaderLock:
    """`pg_try_advisory_lock` on a dedicated connection outside the pool, which also LISTENs."""

    def __init__(self, dsn: str, name: str) -> None:
        self.dsn = dsn
        self.name = name
        self.channel = f"gongyi_outbox_{name}"
        self._key = zlib.crc32(f"gongyi.relay.{name}".encode())
        self._conn: Any = None
        self._notified = asyncio.Event()

    async def acquire(self) -> bool:
        import asyncpg

        if self._conn is not None and not self._conn.is_closed():
            return True
        self._conn = None
        conn = await asyncpg.connect(self.dsn, timeout=10)
        got = await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key)
        if not got:
            await conn.close()
            return False
        await conn.add_listener(self.channel, self._on_notify)
        self._conn = conn
        return True

    def _on_notify(self, *_args: Any) -> None:
        self._notified.set()

    async def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=5)
            self._conn = None

    async def wait_notification(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._notified.wait(), timeout)
        self._notified.clear()


def leader_lock_for(db: Database, name: str) -> LeaderLock:
    if db.is_postgres:
        return PostgresLeaderLock(asyncpg_dsn(db.url), name)
    assert db.sqlite_path is not None
    return FileLeaderLock(db.sqlite_path.with_suffix(".relay.lock"))


def asyncpg_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


class Relay:
    def __init__(
        self,
        *,
        db: Database,
        infra: Infrastructure,
        bus: Bus,
        topics: TopicNames,
        clock_now: Any,
        tracer: trace.Tracer,
        leader: LeaderLock,
        batch_size: int = 1000,
        poll_interval_s: float = 1.0,
        metrics: Any = None,
    ) -> None:
        self.db = db
        self.infra = infra
        self.bus = bus
        self.topics = topics
        self._now = clock_now
        self.tracer = tracer
        self.leader = leader
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.metrics = metrics
        self._wakeup = asyncio.Event()
        self._backoff = 0.0

    def wake(self) -> None:
        """Called after a commit in this process: publish without waiting for the poll."""
        self._wakeup.set()

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                if not await self.leader.acquire():
                    await _wait(stopping, 2.0)
                    continue
                published = await self.publish_once()
                if published == 0:
                    await self._idle(stopping)
                self._backoff = 0.0
            except BusUnavailable as exc:
                self._backoff = min(max(self._backoff * 2, 0.2), 5.0)
                log.warning("bus unavailable, relay backs off %.1fs: %s", self._backoff, exc)
                await _wait(stopping, self._backoff)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay iteration failed")
                await self.leader.release()
                await _wait(stopping, 1.0)
        await self.leader.release()

    async def _idle(self, stopping: asyncio.Event) -> None:
        waiters = [
            asyncio.ensure_future(self._wakeup.wait()),
            asyncio.ensure_future(stopping.wait()),
            asyncio.ensure_future(self.leader.wait_notification(self.poll_interval_s)),
        ]
        try:
            await asyncio.wait(waiters, timeout=self.poll_interval_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._wakeup.clear()

    async def _fetch(self) -> list[_Row]:
        ob = self.infra.outbox
        now = self._now()
        deferred_keys = (
            select(ob.c.key).where(ob.c.published_at.is_(None), ob.c.next_attempt_at > now).scalar_subquery()
        )
        stmt = (
            select(
                ob.c.id, ob.c.event_id, ob.c.topic, ob.c.key, ob.c.sequence, ob.c.body, ob.c.traceparent, ob.c.attempts
            )
            .where(ob.c.published_at.is_(None))
            .where((ob.c.next_attempt_at.is_(None)) | (ob.c.next_attempt_at <= now))
            .where(ob.c.key.not_in(deferred_keys))
            .order_by(ob.c.id)
            .limit(self.batch_size)
        )
        async with self.db.engine.connect() as conn:
            conn = await conn.execution_options(gongyi_readonly=True)
            async with conn.begin():
                rows = (await conn.execute(stmt)).all()
        return [_Row(*row) for row in rows]

    async def publish_once(self) -> int:
        rows = await self._fetch()
        if not rows:
            return 0
        acked: list[int] = []
        failed: dict[int, BaseException] = {}
        blocked: set[str] = set()
        try:
            for wave in _waves(rows):
                wave = [row for row in wave if row.key not in blocked]
                if not wave:
                    continue
                results = await self.bus.append_many([self._record(row) for row in wave])
                for row, result in zip(wave, results, strict=True):
                    if isinstance(result, BusUnavailable):
                        raise result
                    if isinstance(result, BaseException):
                        failed[row.id] = result
                        blocked.add(row.key)
                    else:
                        acked.append(row.id)
        finally:
            # Mark what the bus acknowledged even when a later wave fails, so it is not resent.
            if acked:
                faults.crash_point("relay.after_ack")
                await self._mark(acked)
                faults.crash_point("relay.after_mark")
            if failed:
                await self._defer({row.id: row for row in rows if row.id in failed}, failed)
        if self.metrics is not None:
            self.metrics.relay_published.inc(len(acked))
        return len(acked)

    def _record(self, row: _Row) -> OutgoingRecord:
        value = envelope.render(row.body, row.sequence)
        head = orjson.loads(row.body)
        headers = [
            ("ce_id", row.event_id.encode()),
            ("ce_type", str(head.get("type", "")).encode()),
            ("ce_source", str(head.get("source", "")).encode()),
            ("ce_subject", str(head.get("subject", "")).encode()),
            ("content-type", envelope.CONTENT_TYPE.encode()),
        ]
        topic = self.topics.topic(row.topic)
        with self.tracer.start_as_current_span(
            f"publish {row.topic}",
            context=parent_context(row.traceparent),
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": topic,
                "messaging.message.id": row.event_id,
            },
        ) as span:
            traceparent = format_traceparent(span.get_span_context()) or row.traceparent
        if traceparent:
            headers.append(("traceparent", traceparent.encode()))
        return OutgoingRecord(topic=topic, key=row.key.encode(), value=value, headers=headers)

    async def _mark(self, ids: list[int]) -> None:
        ob = self.infra.outbox
        async with self.db.engine.connect() as conn, conn.begin():
            await conn.execute(update(ob).where(ob.c.id.in_(ids)).values(published_at=self._now()))

    async def _defer(self, rows: dict[int, _Row], errors: dict[int, BaseException]) -> None:
        ob = self.infra.outbox
        now = self._now()
        async with self.db.engine.connect() as conn, conn.begin():
            for row_id, error in errors.items():
                attempts = rows[row_id].attempts + 1
                delay = timedelta(seconds=min(2 ** min(attempts, 10), 600))
                log.error("outbox row %s (event %s) failed: %r", row_id, rows[row_id].event_id, error)
                await conn.execute(
                    update(ob)
                    .where(ob.c.id == row_id)
                    .values(attempts=attempts, next_attempt_at=now + delay, last_error=repr(error)[:2000])
                )

    async def backlog(self) -> int:
        ob = self.infra.outbox
        from sqlalchemy import func

        async with self.db.engine.connect() as conn:
            conn = await conn.execution_options(gongyi_readonly=True)
            async with conn.begin():
                return int((await conn.execute(select(func.count()).where(ob.c.published_at.is_(None)))).scalar_one())


def _waves(rows: list[_Row]) -> list[list[_Row]]:
    """Group rows so that a key's record on another topic waits for the previous wave's acks."""
    waves: list[list[_Row]] = []
    last: dict[str, tuple[str, int]] = {}  # key -> (topic, wave index of its latest row)
    for row in rows:
        previous = last.get(row.key)
        if previous is None:
            index = 0
        elif previous[0] == row.topic:
            index = previous[1]
        else:
            index = previous[1] + 1
        # A row never goes into a wave earlier than one holding an earlier row of its key.
        if index == len(waves):
            waves.append([])
        waves[index].append(row)
        last[row.key] = (row.topic, index)
    return waves


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)

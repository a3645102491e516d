"""Consumer runner: at-least-once delivery turned into exactly-once effects (EVENTS.md).

Contract, per record, in this order:
1. The CloudEvent is parsed; an unreadable record is a permanent error.
2. One unit of work: if the key is parked for this group, the record is not applied (it goes to
   `<topic>.dlt` with `gongyi-dlt-parked-behind`), unless it is a redrive for this group while the
   key is `releasing`. Otherwise (`consumer`, `source`, `id`) is inserted into the inbox (a
   duplicate changes nothing), the `sequence` is compared with the last one applied for
   (topic, partitionkey) (not newer → dropped), the handler for the event type runs (unknown types
   are skipped: tolerant reader), the position is stored — all in one transaction.
3. Offsets are committed explicitly after the records before them are done; never auto-commit.
- Transient errors (`TransientError`, bus or database unreachable, timeouts, lock conflicts) pause
  the partition (the member keeps polling, so it stays in the group), retry with exponential
  backoff capped at 60 s, then seek back to the failed offset. Other partitions flow.
- Permanent errors send the record to `<topic>.dlt` with the error headers and park its key in the
  same database transaction that records the failure; later records of the key follow it to the
  DLT; other keys flow. `gongyi dlt redrive` releases them in order.
- Partitions are processed concurrently, each in offset order, so per-key order holds. On the
  fast path up to `batch_size` consecutive records of a partition share one transaction (the same
  steps per record, one commit); anything unusual falls back to one record per transaction.
- A watchdog restarts the bus consumer when committed offsets stop advancing while lag grows.
- While a handler runs, `current_record.get()` is the bus record being applied (its exact value
  bytes, e.g. for a webhook body that must equal what is on the bus).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shared import envelope, faults
from shared.bus.base import Bus, BusError, BusUnavailable, Consumer, Record, TopicPartition
from shared.dlt import H_REDRIVE_FOR, H_REDRIVE_LAST, dead_letter_record
from shared.envelope import CloudEvent, InvalidEnvelope
from shared.telemetry import parent_context
from shared.uow import UnitOfWork

log = logging.getLogger("gongyi.consumer")

EventHandler = Callable[[UnitOfWork, CloudEvent], Awaitable[None]]

current_record: ContextVar[Record | None] = ContextVar("gongyi_current_record", default=None)


class TransientError(Exception):
    """Raised by a handler when trying again later may succeed (e.g. a dependency is down)."""


class PermanentError(Exception):
    """Raised by a handler for an event it can never apply; the event goes to the DLT."""


_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57014", "53300", "08000", "08003", "08006"}


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError | BusUnavailable | TimeoutError | ConnectionError | PoolTimeout):
        return True
    if isinstance(exc, OSError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = getattr(exc, "orig", None)
        sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
        if sqlstate in _TRANSIENT_SQLSTATES:
            return True
        if isinstance(exc, OperationalError) and "locked" in str(exc).lower():
            return True
    try:
        import httpx

        if isinstance(exc, httpx.TransportError):
            return True
    except ImportError:  # pragma: no cover
        pass
    return False


@dataclass
class _PartitionState:
    next_offset: int | None = None
    failed_offset: int | None = None
    retry_at: float = 0.0
    attempts: int = 0
    first_failure_at: datetime | None = None


@dataclass
class ConsumerStats:
    processed: int = 0
    duplicates: int = 0
    stale: int = 0
    dead_lettered: int = 0
    restarts: int = 0
    lag: dict[TopicPartition, int] = field(default_factory=dict)


class ConsumerRunner:
    def __init__(
        self,
        *,
        group: str,
        topics: Sequence[str],
        handlers: Mapping[str, EventHandler],
        bus: Bus,
        uow_factory: Callable[..., UnitOfWork],
        physical_topic: Callable[[str], str],
        logical_topic: Callable[[str], str],
        tracer: trace.Tracer,
        member_id: str,
        session_timeout_ms: int = 10_000,
        stall_timeout_s: float = 60.0,
        max_backoff_s: float = 60.0,
        max_transient_attempts: int = 50,
        batch_size: int = 100,
        metrics: Any = None,
    ) -> None:
        self.group = group
        self.logical_topics = list(topics)
        self.topics = [physical_topic(t) for t in topics]
        self.handlers = dict(handlers)
        self.bus = bus
        self.uow_factory = uow_factory
        self.logical_topic = logical_topic
        self.tracer = tracer
        self.member_id = member_id
        self.session_timeout_ms = session_timeout_ms
        self.stall_timeout_s = stall_timeout_s
        self.max_backoff_s = max_backoff_s
        self.max_transient_attempts = max_transient_attempts
        self.batch_size = batch_size
        self.metrics = metrics
        self.stats = ConsumerStats()
        self._consumer: Consumer | None = None
        self._state: dict[TopicPartition, _PartitionState] = {}
        self._last_progress = time.monotonic()
        self._restart = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        watchdog = asyncio.create_task(self._watchdog(stopping))
        try:
            while not stopping.is_set():
                try:
                    await self._run_consumer(stopping)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("consumer %s failed; restarting", self.group)
                    await _sleep(stopping, 1.0)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _run_consumer(self, stopping: asyncio.Event) -> None:
        consumer = self.bus.consumer(
            self.group, self.topics, member_id=self.member_id, session_timeout_ms=self.session_timeout_ms
        )
        try:
            await consumer.start()
        except BusError as exc:
            log.warning("consumer %s cannot start: %s", self.group, exc)
            await _sleep(stopping, 1.0)
            return
        self._consumer = consumer
        self._state.clear()
        self._restart = False
        self._last_progress = time.monotonic()
        try:
            while not stopping.is_set() and not self._restart:
                await self.resume_due(consumer)
                try:
                    records = await consumer.poll(timeout_ms=500, max_records=500)
                except BusUnavailable as exc:
                    log.warning("consumer %s: bus unavailable: %s", self.group, exc)
                    await _sleep(stopping, 1.0)
                    continue
                if records:
                    await self.process_batch(consumer, records)
        finally:
            self._consumer = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 30)
            if self._restart:
                self.stats.restarts += 1

    async def _watchdog(self, stopping: asyncio.Event) -> None:
        """Restart a consumer whose committed offsets stop advancing while lag grows (aiokafka #1154)."""
        while not stopping.is_set():
            await _sleep(stopping, min(5.0, self.stall_timeout_s / 4))
            consumer = self._consumer
            if consumer is None:
                continue
            try:
                assigned = sorted(consumer.assignment(), key=lambda tp: (tp.topic, tp.partition))
                ends = await consumer.end_offsets(assigned) if assigned else {}
                lag: dict[TopicPartition, int] = {}
                for tp in assigned:
                    committed = await consumer.committed(tp)
                    lag[tp] = max(0, ends.get(tp, 0) - (committed or 0))
                self.stats.lag = lag
                if self.metrics is not None:
                    for tp, value in lag.items():
                        self.metrics.consumer_lag.labels(self.group, tp.topic, str(tp.partition)).set(value)
            except Exception as exc:  # a broker hiccup must not kill the watchdog
                log.debug("watchdog could not read lag: %s", exc)
                continue
            waiting = any(state.failed_offset is not None for state in self._state.values())
            stalled = time.monotonic() - self._last_progress > self.stall_timeout_s
            if sum(lag.values()) > 0 and stalled and not waiting:
                log.warning("consumer %s stalled with lag %s; restarting it", self.group, sum(lag.values()))
                self._restart = True

    # -- processing --------------------------------------------------------------------------

    async def resume_due(self, consumer: Consumer) -> None:
        now = time.monotonic()
        for tp, state in list(self._state.items()):
            if state.failed_offset is not None and state.retry_at <= now:
                if tp in consumer.assignment():
                    await consumer.seek(tp, state.failed_offset)
                    consumer.resume([tp])
                state.failed_offset = None

    async def process_batch(self, consumer: Consumer, records: Sequence[Record]) -> None:
        by_partition: dict[TopicPartition, list[Record]] = {}
        for record in records:
            by_partition.setdefault(record.tp, []).append(record)
        await asyncio.gather(*(self._process_partition(consumer, tp, recs) for tp, recs in by_partition.items()))
        offsets = {
            tp: state.next_offset
            for tp, state in self._state.items()
            if state.next_offset is not None and tp in by_partition
        }
        if offsets:
            try:
                await consumer.commit(offsets)
                self._last_progress = time.monotonic()
            except BusError as exc:
                # A lost partition is redelivered to its new owner, whose inbox dedupes.
                log.warning("consumer %s could not commit %s: %s", self.group, offsets, exc)
            faults.crash_point("consumer.after_commit")

    async def _process_partition(self, consumer: Consumer, tp: TopicPartition, records: list[Record]) -> None:
        state = self._state.setdefault(tp, _PartitionState())
        if state.failed_offset is not None:
            return  # paused for a retry; records fetched before the pause are read again later
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            if state.attempts == 0 and len(chunk) > 1 and await self._apply_batch(chunk):
                state.next_offset = chunk[-1].offset + 1
                continue
            for record in chunk:
                if not await self._process_one(consumer, tp, state, record):
                    return

    async def _process_one(
        self, consumer: Consumer, tp: TopicPartition, state: _PartitionState, record: Record
    ) -> bool:
        """One record in its own unit of work; False when the partition pauses for a retry."""
        try:
            await self._process(record)
        except Exception as exc:
            if is_transient(exc) and state.attempts + 1 < self.max_transient_attempts:
                self._pause_for_retry(consumer, tp, state, record, exc)
                return False
            try:
                await self._dead_letter(record, exc, state)
            except BusUnavailable as bus_exc:
                self._pause_for_retry(consumer, tp, state, record, bus_exc)
                return False
        state.attempts = 0
        state.first_failure_at = None
        state.next_offset = record.offset + 1
        return True

    async def _apply_batch(self, records: list[Record]) -> bool:
        """The fast path: consecutive records of one partition applied in ONE transaction.

        Exactly the per-record semantics (inbox, sequence check, handler, position) for each record;
        only the commit is shared. Anything unusual — a parked key, a redrive, an unreadable record,
        any error — rolls the whole batch back and the records go one by one, where failures are
        classified, retried or dead-lettered individually.
        """
        items: list[tuple[Record, CloudEvent, str, str]] = []
        for record in records:
            if record.header(H_REDRIVE_FOR) is not None:
                return False
            try:
                event = envelope.parse(record.value)
            except InvalidEnvelope:
                return False
            key = record.key.decode() if record.key is not None else event.partitionkey
            items.append((record, event, self.logical_topic(record.topic), key))
        applied = 0
        try:
            async with self.uow_factory() as uow:
                pk = uow.infra.parked_keys
                keys = sorted({key for *_, key in items})
                parked = (
                    await uow.conn.execute(
                        select(pk.c.key).where(pk.c.consumer == self.group, pk.c.key.in_(keys)).limit(1)
                    )
                ).first()
                if parked is not None:
                    return False
                for record, event, topic, key in items:
                    current_record.set(record)
                    uow.causation_id, uow.correlation_id = event.id, event.correlationid
                    with self._span(record, event, topic):
                        outcome = await self._apply_in(uow, event, topic, key)
                    applied += outcome != "duplicate"
                await uow.commit()
        except Exception as exc:
            log.debug("consumer %s: batch of %s falls back to one by one: %r", self.group, len(records), exc)
            return False
        finally:
            current_record.set(None)
        for _ in range(applied):
            faults.crash_point("consumer.after_apply")
        self._count_processed(applied)
        return True

    def _pause_for_retry(
        self, consumer: Consumer, tp: TopicPartition, state: _PartitionState, record: Record, exc: BaseException
    ) -> None:
        state.attempts += 1
        state.first_failure_at = state.first_failure_at or datetime.now(UTC)
        delay = min(self.max_backoff_s, 0.2 * 2 ** (state.attempts - 1))
        log.warning(
            "consumer %s: transient failure at %s[%s]@%s (attempt %s), retrying in %.1fs: %r",
            self.group,
            tp.topic,
            tp.partition,
            record.offset,
            state.attempts,
            delay,
            exc,
        )
        state.failed_offset = record.offset
        state.retry_at = time.monotonic() + delay
        consumer.pause([tp])

    def _span(self, record: Record, event: CloudEvent, topic: str) -> Any:
        traceparent = record.header("traceparent")
        return self.tracer.start_as_current_span(
            f"process {topic}",
            context=parent_context(traceparent.decode() if traceparent else None),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.consumer.group.name": self.group,
                "messaging.message.id": event.id,
                "messaging.destination.name": record.topic,
            },
        )

    async def _process(self, record: Record) -> None:
        current_record.set(record)  # scoped to this partition's task (asyncio.gather copies the context)
        event = envelope.parse(record.value)
        topic = self.logical_topic(record.topic)
        key = record.key.decode() if record.key is not None else event.partitionkey
        redrive = record.header(H_REDRIVE_FOR) == self.group.encode()
        last_redrive = redrive and record.header(H_REDRIVE_LAST) is not None
        with self._span(record, event, topic):
            outcome = await self._apply(event, topic, key, redrive=redrive, last_redrive=last_redrive)
        if outcome == "parked":
            await self._park_behind(record, event, topic, key)

    async def _apply(self, event: CloudEvent, topic: str, key: str, *, redrive: bool, last_redrive: bool) -> str:
        uow = self.uow_factory(causation_id=event.id, correlation_id=event.correlationid)
        async with uow:
            pk = uow.infra.parked_keys
            parked = (
                await uow.conn.execute(
                    select(pk.c.status, pk.c.parked_count, pk.c.release_count).where(
                        pk.c.consumer == self.group, pk.c.topic == topic, pk.c.key == key
                    )
                )
            ).first()
            if parked is not None and not (redrive and parked.status == "releasing"):
                return "parked"
            outcome = await self._apply_in(uow, event, topic, key)
            if last_redrive and parked is not None:
                await self._unpark(uow, topic, key, parked)
            if outcome == "duplicate" and not (last_redrive and parked is not None):
                return outcome
            await uow.commit()
        if outcome != "duplicate":
            faults.crash_point("consumer.after_apply")
            self._count_processed(1)
        return outcome

    async def _apply_in(self, uow: UnitOfWork, event: CloudEvent, topic: str, key: str) -> str:
        """Inbox dedupe, sequence check, handler and position inside the caller's transaction."""
        if not await self._insert_inbox(uow, event):
            self.stats.duplicates += 1
            return "duplicate"
        positions = uow.infra.consumer_positions
        last = (
            await uow.conn.execute(
                select(positions.c.sequence).where(
                    positions.c.consumer == self.group, positions.c.topic == topic, positions.c.key == key
                )
            )
        ).scalar_one_or_none()
        if event.sequence is not None and last is not None and event.sequence <= last:
            self.stats.stale += 1
            return "stale"
        handler = self.handlers.get(event.type)
        if handler is not None:
            await handler(uow, event)
        if event.sequence is not None:
            await self._store_position(uow, topic, key, event.sequence, exists=last is not None)
        return "applied"

    def _count_processed(self, count: int) -> None:
        self.stats.processed += count
        if self.metrics is not None and count:
            self.metrics.consumer_processed.labels(self.group).inc(count)

    async def _insert_inbox(self, uow: UnitOfWork, event: CloudEvent) -> bool:
        inbox = uow.infra.inbox
        dialect = postgresql if uow.dialect == "postgresql" else sqlite
        stmt = (
            dialect.insert(inbox)
            .values(consumer=self.group, source=event.source, event_id=event.id, processed_at=uow.now)
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
        )
        return (await uow.conn.execute(stmt)).first() is not None

    async def _store_position(self, uow: UnitOfWork, topic: str, key: str, sequence: int, *, exists: bool) -> None:
        positions = uow.infra.consumer_positions
        if exists:
            await uow.conn.execute(
                update(positions)
                .where(positions.c.consumer == self.group, positions.c.topic == topic, positions.c.key == key)
                .values(sequence=sequence)
            )
        else:
            await uow.conn.execute(
                positions.insert().values(consumer=self.group, topic=topic, key=key, sequence=sequence)
            )

    async def _unpark(self, uow: UnitOfWork, topic: str, key: str, parked: Any) -> None:
        pk = uow.infra.parked_keys
        where = (pk.c.consumer == self.group, pk.c.topic == topic, pk.c.key == key)
        if parked.release_count is not None and parked.parked_count > parked.release_count:
            # More records were parked while the redrive ran: they still wait in the DLT.
            await uow.conn.execute(update(pk).where(*where).values(status="parked"))
        else:
            await uow.conn.execute(delete(pk).where(*where))
        uow.audit("dlt.unparked", f"dlt/{self.group}/{topic}", {"key": key})

    async def _park_behind(self, record: Record, event: CloudEvent, topic: str, key: str) -> None:
        async with self.uow_factory() as uow:
            pk = uow.infra.parked_keys
            row = (
                await uow.conn.execute(
                    select(pk.c.parked_behind).where(pk.c.consumer == self.group, pk.c.topic == topic, pk.c.key == key)
                )
            ).first()
            behind = row[0] if row is not None else event.id
            await self.bus.append(
                dead_letter_record(
                    record,
                    group=self.group,
                    error=f"key parked behind {behind}",
                    attempts=0,
                    first_failure_at=uow.now,
                    parked_behind=behind,
                )
            )
            await uow.conn.execute(
                update(pk)
                .where(pk.c.consumer == self.group, pk.c.topic == topic, pk.c.key == key)
                .values(parked_count=pk.c.parked_count + 1)
            )
            await uow.commit()
        self._count_dead_letter(record.topic)

    async def _dead_letter(self, record: Record, exc: BaseException, state: _PartitionState) -> None:
        event_id = record.header("ce_id")
        try:
            event: CloudEvent | None = envelope.parse(record.value)
        except InvalidEnvelope:
            event = None
        topic = self.logical_topic(record.topic)
        key = record.key.decode("utf-8", "replace") if record.key is not None else ""
        failed_id = (
            event.id
            if event is not None
            else (event_id.decode() if event_id else f"{record.partition}:{record.offset}")
        )
        log.error(
            "consumer %s: permanent failure at %s[%s]@%s (event %s): %s: %s",
            self.group,
            record.topic,
            record.partition,
            record.offset,
            failed_id,
            type(exc).__name__,
            exc,
        )
        async with self.uow_factory() as uow:
            await self.bus.append(
                dead_letter_record(
                    record,
                    group=self.group,
                    error=exc,
                    attempts=state.attempts + 1,
                    first_failure_at=state.first_failure_at or uow.now,
                )
            )
            pk = uow.infra.parked_keys
            where = (pk.c.consumer == self.group, pk.c.topic == topic, pk.c.key == key)
            exists = (await uow.conn.execute(select(pk.c.key).where(*where))).first() is not None
            if exists:
                await uow.conn.execute(
                    update(pk)
                    .where(*where)
                    .values(status="parked", parked_count=pk.c.parked_count + 1, error_type=type(exc).__name__)
                )
            else:
                await uow.conn.execute(
                    pk.insert().values(
                        consumer=self.group,
                        topic=topic,
                        key=key,
                        parked_behind=failed_id,
                        error_type=type(exc).__name__,
                        parked_at=uow.now,
                        parked_count=1,
                        status="parked",
                    )
                )
            uow.audit(
                "dlt.parked",
                f"dlt/{self.group}/{topic}",
                {"key": key, "event_id": failed_id, "error_type": type(exc).__name__},
            )
            await uow.commit()
        self._count_dead_letter(record.topic)

    def _count_dead_letter(self, topic: str) -> None:
        self.stats.dead_lettered += 1
        if self.metrics is not None:
            self.metrics.dlt_records.labels(self.group, topic).inc()


async def _sleep(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)

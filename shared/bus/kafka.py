"""The bus port over Apache Kafka with aiokafka (production mode).

Contract (the port in `shared.bus.base`; EVENTS.md "Delivery guarantees"):
- One idempotent producer per bus (`acks="all"`, `enable_idempotence=True`, `linger_ms=5`) whose
  partitioner is `partition_for` (crc32 mod the topic's partition count, over ALL partitions), so a
  key lands in the same partition as in the embedded log. An append returns once every in-sync
  replica has the record. `append_many` sends the whole batch, then awaits the acknowledgements:
  one producer, one partition per key and one in-flight batch per partition keep per-key order.
- Every call is bounded (`request_timeout_ms` plus a margin), because aiokafka's `send_and_wait`
  and `stop` can hang while Kafka is down (aiokafka #1101). Failures map to `BusUnavailable`
  (connection, timeouts, leadership changes, unknown topic) or `RecordTooLarge`. After a timeout
  or a broken idempotent sequence (aiokafka #1017) the producer is replaced, so a stuck producer
  never stays stuck.
- Consumers: classic consumer group, static membership (`group_instance_id = member_id`), no
  auto-commit, `auto_offset_reset="earliest"`, commits only with explicit offsets (a bare commit
  during a background rebalance is unsafe: aiokafka #929, #933). A commit the group refuses
  (partition reassigned, member fenced) raises `CommitFailed`. A static member that stops keeps
  its partitions until its session times out, unless a member with the same id comes back.
- `ensure_topics` creates missing topics idempotently with the replication factor, min ISR, no
  unclean leader election, `cleanup.policy=delete` and 30 days' retention, then waits for leaders.
  Brokers never auto-create topics: appending to a missing topic raises `BusUnavailable`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    InvalidProducerEpoch,
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    RecordTooLargeError,
    UnknownMemberIdError,
    UnknownProducerId,
)

from shared.bus.base import (
    BusError,
    BusUnavailable,
    CommitFailed,
    OutgoingRecord,
    Record,
    RecordMetadata,
    RecordTooLarge,
    TopicPartition,
    partition_for,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

RETENTION_MS = 30 * 24 * 3600 * 1000
# The broker's default message.max.bytes; the embedded log refuses the same records.
MAX_RECORD_BYTES = 1_048_576
_ERROR_TOPIC_ALREADY_EXISTS = 36
# Errors after which the idempotent producer's sequence state is useless (aiokafka #1017).
_BROKEN_PRODUCER = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch)


def crc32_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka partitioner: `partition_for` over every partition, never only the available ones,
    so a leaderless partition delays its keys instead of moving them."""
    ordered = sorted(all_partitions)
    return ordered[partition_for(key, len(ordered))]


def _bus_error(exc: BaseException) -> BusError:
    if isinstance(exc, BusError):
        return exc
    if isinstance(exc, (MessageSizeTooLargeError, RecordTooLargeError)):
        return RecordTooLarge(str(exc))
    return BusUnavailable(f"kafka: {type(exc).__name__}: {exc}")


def _tp(tp: TopicPartition) -> Any:
    return KafkaTopicPartition(tp.topic, tp.partition)


class KafkaBus:
    """`Bus` over a Kafka cluster; see the module docstring for the guarantees."""

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str,
        request_timeout_ms: int = 10_000,
        replication_factor: int = 1,
        min_insync_replicas: int = 1,
        default_partitions: int = 3,
    ) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.request_timeout_ms = request_timeout_ms
        self.replication_factor = replication_factor
        self.min_insync_replicas = min_insync_replicas
        # Brokers never auto-create topics; this is the count tools use when they name none.
        self.default_partitions = default_partitions
        self._producer: Any = None
        self._producer_lock = asyncio.Lock()
        self._consumers: weakref.WeakSet[KafkaConsumer] = weakref.WeakSet()

    @property
    def timeout_s(self) -> float:
        """The bound on any one call: the client's own timeout plus a margin for it to report."""
        return self.request_timeout_ms / 1000 + 2.0

    async def start(self) -> None:
        # A service starts while Kafka is down (its outbox waits); the producer is retried on use.
        try:
            await self._ensure_producer()
        except BusUnavailable as exc:
            log.warning("kafka producer not started yet: %s", exc)

    async def stop(self) -> None:
        for consumer in list(self._consumers):
            await consumer.stop()
        async with self._producer_lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await self._close_producer(producer)

    async def _ensure_producer(self) -> Any:
        async with self._producer_lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    client_id=self.client_id,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=5,
                    partitioner=crc32_partitioner,
                    request_timeout_ms=self.request_timeout_ms,
                    max_request_size=MAX_RECORD_BYTES,
                    max_batch_size=262_144,
                )
                try:
                    await asyncio.wait_for(producer.start(), self.timeout_s)
                except (KafkaError, OSError, TimeoutError) as exc:
                    await self._close_producer(producer)
                    raise _bus_error(exc) from exc
                self._producer = producer
            return self._producer

    async def _replace_producer(self, producer: Any) -> None:
        async with self._producer_lock:
            if self._producer is not producer:
                return
            self._producer = None
        log.warning("replacing the kafka producer after a timeout or a broken sequence")
        await _abandon(producer, self.timeout_s)

    async def _close_producer(self, producer: Any) -> None:
        try:
            await asyncio.wait_for(producer.stop(), self.timeout_s)
        except (KafkaError, OSError, TimeoutError):
            log.warning("kafka producer did not flush within the timeout; abandoned", exc_info=True)
            await _abandon(producer, self.timeout_s)

    @asynccontextmanager
    async def _admin(self) -> AsyncIterator[Any]:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap, client_id=self.client_id, request_timeout_ms=self.request_timeout_ms
        )
        try:
            await asyncio.wait_for(admin.start(), self.timeout_s)
            yield admin
        except (KafkaError, OSError, TimeoutError) as exc:
            raise _bus_error(exc) from exc
        finally:
            await _quietly(admin.close(), self.timeout_s)

    async def ensure_topics(self, topics: Mapping[str, int]) -> None:
        configs = {
            "min.insync.replicas": str(self.min_insync_replicas),
            "cleanup.policy": "delete",
            "unclean.leader.election.enable": "false",
            "retention.ms": str(RETENTION_MS),
        }
        async with self._admin() as admin:
            existing = set(await asyncio.wait_for(admin.list_topics(), self.timeout_s))
            missing = [
                NewTopic(name, num_partitions=n, replication_factor=self.replication_factor, topic_configs=configs)
                for name, n in topics.items()
                if name not in existing
            ]
            if missing:
                response = await asyncio.wait_for(
                    admin.create_topics(missing, timeout_ms=self.request_timeout_ms), self.timeout_s
                )
                for topic, code, *detail in response.topic_errors:
                    if code not in (0, _ERROR_TOPIC_ALREADY_EXISTS):
                        raise BusError(f"creating topic {topic} failed: error {code} {detail}")
            await asyncio.wait_for(self._until_led(admin, list(topics)), self.timeout_s)

    async def _until_led(self, admin: Any, topics: list[str]) -> None:
        while True:
            described = await admin.describe_topics(topics)
            if all(
                t["error_code"] == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
                for t in described
            ):
                return
            await asyncio.sleep(0.1)

    async def _partitions(self, topic: str) -> list[int]:
        async with self._admin() as admin:
            described = await asyncio.wait_for(admin.describe_topics([topic]), self.timeout_s)
        return sorted(p["partition"] for t in described if t["error_code"] == 0 for p in t["partitions"])

    async def append(self, record: OutgoingRecord) -> RecordMetadata:
        (result,) = await self.append_many([record])
        if isinstance(result, BaseException):
            raise result
        return result

    async def append_many(self, records: Sequence[OutgoingRecord]) -> list[RecordMetadata | BaseException]:
        producer = await self._ensure_producer()
        results, pending, stuck = await self._send_all(producer, records)
        if pending and await self._await_acks(pending, results):
            stuck = True
        if stuck:
            await self._replace_producer(producer)
        first = results[0] if results else None
        if isinstance(first, BusUnavailable) and all(isinstance(r, BusUnavailable) for r in results):
            raise first
        return results

    async def _send_all(
        self, producer: Any, records: Sequence[OutgoingRecord]
    ) -> tuple[list[RecordMetadata | BaseException], dict[asyncio.Future[Any], int], bool]:
        """Hand every record to the producer (pipelined); returns the results so far, the delivery
        futures by result index, and whether the producer looks stuck."""
        results: list[RecordMetadata | BaseException] = []
        pending: dict[asyncio.Future[Any], int] = {}
        refused_keys: set[tuple[str, bytes]] = set()
        try:
            # One deadline for the whole batch; a send() cut short by it is withdrawn, never sent.
            async with asyncio.timeout(self.timeout_s):
                for record in records:
                    key = (record.topic, record.key) if record.key is not None else None
                    if key in refused_keys:
                        results.append(BusError(f"not sent: an earlier record of key {record.key!r} was refused"))
                        continue
                    try:
                        future = await producer.send(record.topic, record.value, key=record.key, headers=record.headers)
                    except (MessageSizeTooLargeError, RecordTooLargeError) as exc:
                        results.append(RecordTooLarge(str(exc)))
                        if key is not None:
                            refused_keys.add(key)
                        continue
                    pending[future] = len(results)
                    results.append(BusUnavailable("kafka: not acknowledged"))
        except (KafkaError, OSError, TimeoutError) as exc:
            # No metadata for the topic (broker down, topic missing) or out of time: every later send
            # would wait just as long.
            unreachable = _bus_error(exc)
            results += [unreachable] * (len(records) - len(results))
            return results, pending, True
        return results, pending, False

    async def _await_acks(
        self, pending: dict[asyncio.Future[Any], int], results: list[RecordMetadata | BaseException]
    ) -> bool:
        """Fill in the acknowledged results; True when the producer must be replaced."""
        done, not_done = await asyncio.wait(pending, timeout=self.timeout_s)
        stuck = bool(not_done)
        for future in done:
            failure = asyncio.CancelledError() if future.cancelled() else future.exception()
            if failure is None:
                meta = future.result()
                results[pending[future]] = RecordMetadata(meta.topic, meta.partition, meta.offset)
            else:
                results[pending[future]] = _bus_error(failure)
                stuck = stuck or isinstance(failure, _BROKEN_PRODUCER)
        for future in not_done:
            results[pending[future]] = BusUnavailable("kafka: no acknowledgement within the timeout")
            # Reported already; whatever the abandoned producer does with it later is not news.
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
        return stuck

    def consumer(
        self, group: str, topics: Sequence[str], *, member_id: str, session_timeout_ms: int = 10_000
    ) -> KafkaConsumer:
        consumer = KafkaConsumer(self, group, topics, member_id=member_id, session_timeout_ms=session_timeout_ms)
        self._consumers.add(consumer)
        return consumer

    async def read_all(self, topic: str) -> list[Record]:
        tps = [KafkaTopicPartition(topic, p) for p in await self._partitions(topic)]
        if not tps:
            return []
        reader = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=f"{self.client_id}-reader",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=self.request_timeout_ms,
        )
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(reader.start(), self.timeout_s)
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            ends = await asyncio.wait_for(reader.end_offsets(tps), self.timeout_s)
            records: list[Record] = []
            stalled_at = loop.time() + self.timeout_s
            while any([await reader.position(tp) < ends[tp] for tp in tps]):
                batches = await asyncio.wait_for(reader.getmany(timeout_ms=500), self.timeout_s)
                if batches:
                    stalled_at = loop.time() + self.timeout_s
                elif loop.time() > stalled_at:
                    raise BusUnavailable(f"kafka: reading {topic} made no progress")
                records += [_record(m) for batch in batches.values() for m in batch]
            return sorted(
                (r for r in records if r.offset < ends[KafkaTopicPartition(topic, r.partition)]),
                key=lambda r: (r.partition, r.offset),
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            raise _bus_error(exc) from exc
        finally:
            await _quietly(reader.stop(), self.timeout_s)


async def _abandon(producer: Any, timeout_s: float) -> None:
    """Drop a stuck producer at once. stop() would flush, and an idempotent producer retries a batch
    forever while the broker is down (aiokafka #1101); with its sender cancelled and its
    connections closed, nothing it still buffers is delivered later, behind its replacement."""
    sender_task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if sender_task is not None and not sender_task.done():
        sender_task.cancel()
        # The sender lets its in-flight request finish; a second cancel would escape into us.
        await asyncio.wait({sender_task}, timeout=timeout_s)
    producer._closed = True  # its buffered batches are given up, never flushed
    await _quietly(producer.client.close(), timeout_s)


async def _quietly(closing: Awaitable[Any], timeout_s: float) -> None:
    """Close a client without letting a dead broker hang or mask the caller (aiokafka #1101)."""
    try:
        await asyncio.wait_for(closing, timeout_s)
    except (KafkaError, OSError, TimeoutError):
        log.warning("kafka client did not close cleanly", exc_info=True)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
        # A cancellation from inside the client's own tasks, not ours.
        log.warning("kafka client was cancelled while closing", exc_info=True)


def _record(message: Any) -> Record:
    return Record(
        message.topic,
        message.partition,
        message.offset,
        message.key,
        message.value,
        [(k, bytes(v)) for k, v in message.headers],
        message.timestamp,
    )


class KafkaConsumer:
    """A member of a Kafka consumer group. Not safe to share between tasks."""

    def __init__(
        self, bus: KafkaBus, group: str, topics: Sequence[str], *, member_id: str, session_timeout_ms: int
    ) -> None:
        self._bus = bus
        self.group = group
        self.topics = list(topics)
        self.member_id = member_id
        self.session_timeout_ms = session_timeout_ms
        self._consumer: Any = None

    async def _bounded(self, call: Awaitable[T], extra_s: float = 0.0) -> T:
        try:
            return await asyncio.wait_for(call, self._bus.timeout_s + extra_s)
        except (CommitFailedError, IllegalStateError, UnknownMemberIdError) as exc:
            raise CommitFailed(f"{self.member_id} in {self.group}: {exc}") from exc
        except (KafkaError, OSError, TimeoutError) as exc:
            raise _bus_error(exc) from exc

    @property
    def _started(self) -> Any:
        if self._consumer is None:
            raise BusError("consumer is not started")
        return self._consumer

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self._bus.bootstrap,
            client_id=f"{self._bus.client_id}-{self.member_id}",
            group_id=self.group,
            # Static membership: a restarted member takes its partitions back without a rebalance.
            group_instance_id=self.member_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=max(self.session_timeout_ms // 3, 100),
            # Handlers that retry with backoff must not be taken for dead consumers (aiokafka #848).
            max_poll_interval_ms=600_000,
            # A JoinGroup is held by the coordinator for up to the rebalance timeout (aiokafka: the
            # session timeout), so a shorter request timeout would abort every slow rebalance.
            request_timeout_ms=max(self._bus.request_timeout_ms, self.session_timeout_ms + 1000),
            isolation_level="read_uncommitted",
        )
        try:
            await asyncio.wait_for(consumer.start(), self._bus.timeout_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            await _quietly(consumer.stop(), self._bus.timeout_s)
            raise _bus_error(exc) from exc
        self._consumer = consumer

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await _quietly(consumer.stop(), self._bus.timeout_s)

    async def poll(self, timeout_ms: int = 500, max_records: int = 500) -> list[Record]:
        batches = await self._bounded(
            self._started.getmany(timeout_ms=timeout_ms, max_records=max_records), extra_s=timeout_ms / 1000
        )
        return [_record(m) for batch in batches.values() for m in batch]

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if offsets:
            # Always explicit offsets: never a bare commit() (aiokafka #929, #933).
            await self._bounded(self._started.commit({_tp(tp): offset for tp, offset in offsets.items()}))

    async def committed(self, tp: TopicPartition) -> int | None:
        offset = await self._bounded(self._started.committed(_tp(tp)))
        return None if offset is None or offset < 0 else int(offset)

    def assignment(self) -> set[TopicPartition]:
        if self._consumer is None:
            return set()
        return {TopicPartition(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    async def seek(self, tp: TopicPartition, offset: int) -> None:
        try:
            self._started.seek(_tp(tp), offset)
        except IllegalStateError as exc:
            raise BusError(f"cannot seek {tp}: {exc}") from exc

    def pause(self, tps: Sequence[TopicPartition]) -> None:
        # aiokafka refuses partitions it does not hold; a lost partition needs no pausing.
        assigned = self._started.assignment()
        self._started.pause(*[tp for tp in map(_tp, tps) if tp in assigned])

    def resume(self, tps: Sequence[TopicPartition]) -> None:
        assigned = self._started.assignment()
        self._started.resume(*[tp for tp in map(_tp, tps) if tp in assigned])

    async def end_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        ends = await self._bounded(self._started.end_offsets([_tp(tp) for tp in tps]))
        return {TopicPartition(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}

"""The event bus port: one small interface, two backends (Kafka via aiokafka, the embedded log).

Contract every backend keeps (tests/integration/test_bus_contract.py runs against both):
- `append` returns only once the record is durable (Kafka: acknowledged by all in-sync replicas
  of an idempotent producer; embedded: its SQLite transaction committed) and reports where it
  landed. `append_many` pipelines a batch and returns one result per record, in input order: its
  `RecordMetadata` or the `BusError` it got. A record refused before sending (too large) stops the
  later records of its key in the batch, so a retry never lands behind its successor; when nothing
  could be written because the bus is unreachable it raises `BusUnavailable` instead. Records of
  one key keep their relative order.
- The partition of a keyed record is `partition_for(key, n)` = crc32(key) mod n in both backends,
  so per-key order is identical in both modes.
- Consumers belong to a group, read after the group's committed offset (`earliest` for a new group),
  and commit explicitly (`commit({tp: next_offset})`): at-least-once. Committing a partition the
  member no longer owns raises `CommitFailed`, so two members never both commit it. `seek` moves
  the position of an assigned partition; `pause`/`resume` stop and restart fetching from a
  partition while the member stays in the group.
- Any backend failure that means "the bus is not reachable now" surfaces as `BusUnavailable`
  (transient); callers retry later. Nothing here decides retry policy.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

Headers = list[tuple[str, bytes]]


class BusError(Exception):
    """Base class of bus failures."""


class BusUnavailable(BusError):
    """The bus cannot be reached (broker down, embedded log's fault hook set, timeout)."""


class RecordTooLarge(BusError):
    """A record the bus will never accept; retrying does not help."""


class CommitFailed(BusError):
    """This member no longer owns the partition (rebalanced away, or fenced by a newer instance
    with the same member id): nothing was committed, the new owner resumes from the last commit."""


@dataclass(frozen=True, slots=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RecordMetadata:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers
    timestamp_ms: int

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    def header(self, name: str) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


def partition_for(key: bytes | None, partitions: int) -> int:
    """crc32(key) mod n; the Kafka producer is configured with the same function."""
    if key is None:
        return 0
    return zlib.crc32(key) % partitions


class Consumer(Protocol):
    """A group member. Not safe to share between tasks."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def poll(self, timeout_ms: int = 500, max_records: int = 500) -> list[Record]: ...

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None: ...

    async def committed(self, tp: TopicPartition) -> int | None: ...

    def assignment(self) -> set[TopicPartition]: ...

    async def seek(self, tp: TopicPartition, offset: int) -> None: ...

    def pause(self, tps: Sequence[TopicPartition]) -> None: ...

    def resume(self, tps: Sequence[TopicPartition]) -> None: ...

    async def end_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]: ...


class Bus(Protocol):
    """Factory for producers and consumers of one backend."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ensure_topics(self, topics: Mapping[str, int]) -> None:
        """Create each topic with the given partition count if missing (idempotent)."""
        ...

    async def append(self, record: OutgoingRecord) -> RecordMetadata: ...

    async def append_many(self, records: Sequence[OutgoingRecord]) -> list[RecordMetadata | BaseException]: ...

    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        *,
        member_id: str,
        session_timeout_ms: int = 10_000,
    ) -> Consumer: ...

    async def read_all(self, topic: str) -> list[Record]:
        """Every record of a topic from the beginning, partition by partition (tools, DLT, tests)."""
        ...

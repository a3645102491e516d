"""The bus contract (shared/bus/base.py), one scenario suite run against both backends.

Every scenario runs against the embedded log (a SQLite file in a temporary data dir) and against a
real single-node Kafka 4.3.1 broker (the session's `kafka_broker` from tests/conftest.py; the
broker-down scenario starts a dedicated gongyi.devinfra.kafka.LocalKafka because it stops it).
Topic and group names are unique per test. The last test runs embedded-log consumers in separate
OS processes and kills one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from gongyi.devinfra.kafka import LocalKafka
from shared.bus.base import (
    Bus,
    BusError,
    BusUnavailable,
    CommitFailed,
    Consumer,
    OutgoingRecord,
    Record,
    RecordMetadata,
    RecordTooLarge,
    TopicPartition,
    partition_for,
)
from shared.bus.embedded import EmbeddedLog
from shared.bus.kafka import KafkaBus

REPO = Path(__file__).resolve().parents[2]
SESSION_MS = 6000


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture(params=["embedded", "kafka"])
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bus]:
    backend: Bus
    if request.param == "embedded":
        backend = EmbeddedLog(tmp_path)
    else:
        backend = KafkaBus(request.getfixturevalue("kafka_broker").bootstrap, client_id=unique("contract"))
    await backend.start()
    yield backend
    await backend.stop()


async def new_topic(bus: Bus, partitions: int = 3) -> str:
    topic = unique("contract")
    await bus.ensure_topics({topic: partitions})
    return topic


async def started(bus: Bus, group: str, topic: str, member: str = "m1") -> Consumer:
    consumer = bus.consumer(group, [topic], member_id=member, session_timeout_ms=SESSION_MS)
    await consumer.start()
    return consumer


async def poll_until(consumer: Consumer, count: int, timeout_s: float = 20.0) -> list[Record]:
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < count and time.monotonic() < deadline:
        records += await consumer.poll(timeout_ms=200)
    return records


async def until_assigned(consumers: list[Consumer], check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Keep every member polling (that is how Kafka members take part in a rebalance)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, [c.assignment() for c in consumers]
        await asyncio.gather(*(c.poll(timeout_ms=100) for c in consumers))


def next_offsets(records: list[Record]) -> dict[TopicPartition, int]:
    return {r.tp: r.offset + 1 for r in records}


@pytest.mark.asyncio
async def test_round_trip_keeps_key_value_headers_and_reports_where_it_landed(bus: Bus) -> None:
    topic = await new_topic(bus)
    headers = [("ce_id", b"0190-abc"), ("traceparent", b"00-1-2-01"), ("ce_id", b"dup")]
    keyed = await bus.append(OutgoingRecord(topic, b"org-1", b'{"a":1}', headers))
    unkeyed = await bus.append(OutgoingRecord(topic, None, b"no key"))
    consumer = await started(bus, unique("g"), topic)

    records = sorted(await poll_until(consumer, 2), key=lambda r: r.key is None)

    assert [(r.topic, r.partition, r.offset, r.key, r.value) for r in records] == [
        (topic, keyed.partition, keyed.offset, b"org-1", b'{"a":1}'),
        (topic, unkeyed.partition, unkeyed.offset, None, b"no key"),
    ]
    assert keyed.partition == partition_for(b"org-1", 3) and unkeyed.partition == partition_for(None, 3) == 0
    assert records[0].headers == headers and records[0].header("ce_id") == b"0190-abc"
    assert records[1].headers == []
    assert abs(records[0].timestamp_ms - time.time() * 1000) < 60_000
    await consumer.stop()


@pytest.mark.asyncio
async def test_records_of_a_key_stay_in_order_in_the_partition_partition_for_names(bus: Bus) -> None:
    topic = await new_topic(bus)
    keys = [f"award-{i}".encode() for i in range(300)]
    batch = [OutgoingRecord(topic, key, f"{key.decode()}:{seq}".encode()) for seq in range(10) for key in keys]
    assert not [r for r in await bus.append_many(batch) if isinstance(r, BaseException)]
    consumer = await started(bus, unique("g"), topic)

    records = await poll_until(consumer, len(batch), timeout_s=30)

    seen: dict[bytes, list[int]] = defaultdict(list)
    for record in records:
        assert record.key is not None and record.partition == partition_for(record.key, 3)
        seen[record.key].append(int(record.value.rsplit(b":", 1)[1]))
    assert len(records) == len(batch)
    assert all(seen[key] == list(range(10)) for key in keys)
    await consumer.stop()


@pytest.mark.asyncio
async def test_append_many_returns_one_result_per_record_in_input_order(bus: Bus) -> None:
    topic = await new_topic(bus)
    batch = [OutgoingRecord(topic, f"k{i % 7}".encode(), f"v{i}".encode()) for i in range(1000)]

    results = await bus.append_many(batch)

    written = [r for r in results if isinstance(r, RecordMetadata)]
    assert len(written) == len(results) == len(batch)
    assert [r.partition for r in written] == [partition_for(record.key, 3) for record in batch]
    per_partition: dict[int, list[int]] = defaultdict(list)
    for result in written:
        per_partition[result.partition].append(result.offset)
    assert all(offsets == list(range(len(offsets))) for offsets in per_partition.values())
    landed = {(r.partition, r.offset): record.value for r, record in zip(written, batch, strict=True)}
    assert {(r.partition, r.offset): r.value for r in await bus.read_all(topic)} == landed
    consumer = await started(bus, unique("g"), topic)
    ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(3)])
    assert ends == {TopicPartition(topic, p): len(per_partition[p]) for p in range(3)}
    await consumer.stop()


@pytest.mark.asyncio
async def test_a_refused_record_stops_the_later_records_of_its_key(bus: Bus) -> None:
    topic = await new_topic(bus)
    huge = OutgoingRecord(topic, b"a", b"x" * 2_000_000)

    with pytest.raises(RecordTooLarge):
        await bus.append(huge)
    results = await bus.append_many([huge, OutgoingRecord(topic, b"a", b"after"), OutgoingRecord(topic, b"b", b"b")])

    assert isinstance(results[0], RecordTooLarge)
    assert isinstance(results[1], BusError) and not isinstance(results[1], RecordTooLarge)
    assert isinstance(results[2], RecordMetadata)
    assert [r.value for r in await bus.read_all(topic)] == [b"b"]


@pytest.mark.asyncio
async def test_a_restarted_member_resumes_after_the_committed_offset(bus: Bus) -> None:
    topic, group = await new_topic(bus), unique("g")
    await bus.append_many([OutgoingRecord(topic, b"one-key", f"{i}".encode()) for i in range(10)])
    first = await started(bus, group, topic)
    records = await poll_until(first, 10)
    tp = records[0].tp
    await first.commit({tp: 6})
    await first.stop()

    # The same member id: on Kafka a static member returns to its partitions without waiting
    # for the session to expire.
    second = await started(bus, group, topic)
    resumed = await poll_until(second, 4)

    assert [r.offset for r in resumed] == [6, 7, 8, 9]
    assert await second.committed(tp) == 6
    await second.stop()


@pytest.mark.asyncio
async def test_committing_an_earlier_offset_replays_from_there(bus: Bus) -> None:
    topic, group = await new_topic(bus), unique("g")
    await bus.append_many([OutgoingRecord(topic, b"one-key", f"{i}".encode()) for i in range(5)])
    first = await started(bus, group, topic)
    records = await poll_until(first, 5)
    await first.commit(next_offsets(records))
    await first.commit({records[0].tp: 2})
    await first.stop()

    second = await started(bus, group, topic)
    replayed = await poll_until(second, 3)

    assert [r.value for r in replayed] == [b"2", b"3", b"4"]
    await second.stop()


@pytest.mark.asyncio
async def test_seek_moves_the_position_of_an_assigned_partition(bus: Bus) -> None:
    topic = await new_topic(bus)
    await bus.append_many([OutgoingRecord(topic, b"one-key", f"{i}".encode()) for i in range(5)])
    consumer = await started(bus, unique("g"), topic)
    records = await poll_until(consumer, 5)

    await consumer.seek(records[0].tp, 3)
    again = await poll_until(consumer, 2)

    assert [r.offset for r in again] == [3, 4]
    await consumer.stop()


@pytest.mark.asyncio
async def test_a_paused_partition_is_not_fetched_until_resumed(bus: Bus) -> None:
    topic = await new_topic(bus)
    key_a, key_b = b"a", b"b"
    assert partition_for(key_a, 3) != partition_for(key_b, 3)
    consumer = await started(bus, unique("g"), topic)
    await until_assigned([consumer], lambda: len(consumer.assignment()) == 3)
    paused = TopicPartition(topic, partition_for(key_a, 3))

    consumer.pause([paused])
    await bus.append_many([OutgoingRecord(topic, key, b"x") for key in (key_a, key_b, key_a)])
    while_paused = await poll_until(consumer, 1)
    while_paused += await consumer.poll(timeout_ms=500)
    consumer.resume([paused])
    after_resume = await poll_until(consumer, 2)

    assert [r.key for r in while_paused] == [key_b]
    assert [(r.key, r.offset) for r in after_resume] == [(key_a, 0), (key_a, 1)]
    await consumer.stop()


@pytest.mark.asyncio
async def test_two_members_split_three_partitions_and_only_the_owner_commits(bus: Bus) -> None:
    topic, group = await new_topic(bus), unique("g")
    one = await started(bus, group, topic, "m1")
    two = await started(bus, group, topic, "m2")
    await until_assigned(
        [one, two],
        lambda: (
            bool(one.assignment())
            and bool(two.assignment())
            and not one.assignment() & two.assignment()
            and len(one.assignment() | two.assignment()) == 3
        ),
    )
    batch = [OutgoingRecord(topic, f"k{i}".encode(), f"{i}".encode()) for i in range(60)]
    await bus.append_many(batch)

    got: dict[str, list[Record]] = {"m1": [], "m2": []}
    deadline = time.monotonic() + 20
    while sum(map(len, got.values())) < len(batch) and time.monotonic() < deadline:
        polled = await asyncio.gather(one.poll(timeout_ms=200), two.poll(timeout_ms=200))
        got["m1"] += polled[0]
        got["m2"] += polled[1]

    assert sorted(r.value for r in got["m1"] + got["m2"]) == sorted(r.value for r in batch)
    assert {r.tp for r in got["m1"]} <= one.assignment() and {r.tp for r in got["m2"]} <= two.assignment()
    theirs = next(iter(two.assignment()))
    with pytest.raises(CommitFailed):
        await one.commit({theirs: 1})
    await two.commit({theirs: 1})
    await one.stop()
    await two.stop()


@pytest_asyncio.fixture(params=["embedded", "kafka"])
async def outage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Bus, Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]]:
    """A bus and the two halves of an outage: embedded = the fault hook, Kafka = a dedicated broker
    stopped and started again on the same data."""
    if request.param == "embedded":
        log = EmbeddedLog(tmp_path)
        await log.start()

        async def down() -> None:
            log.set_down(True)

        async def up() -> None:
            log.set_down(False)

        yield log, down, up
        await log.stop()
        return
    broker = LocalKafka(tmp_path / "broker")
    await asyncio.to_thread(broker.start)
    kafka = KafkaBus(broker.bootstrap, client_id=unique("outage"), request_timeout_ms=3000)
    await kafka.start()
    try:
        yield kafka, lambda: asyncio.to_thread(broker.stop), lambda: asyncio.to_thread(broker.start)
    finally:
        await kafka.stop()
        await asyncio.to_thread(broker.stop)


@pytest.mark.asyncio
async def test_a_bus_that_is_down_raises_bus_unavailable_and_accepts_appends_once_back(
    outage: tuple[Bus, Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]],
) -> None:
    bus, down, up = outage
    topic = await new_topic(bus)
    await bus.append(OutgoingRecord(topic, b"k", b"before"))

    await down()
    began = time.monotonic()
    with pytest.raises(BusUnavailable):
        await bus.append(OutgoingRecord(topic, b"k", b"during"))
    with pytest.raises(BusUnavailable):
        await bus.append_many([OutgoingRecord(topic, b"k", b"during"), OutgoingRecord(topic, b"j", b"during")])
    assert time.monotonic() - began < 15, "appends must fail within their bounded timeout"
    await up()

    deadline = time.monotonic() + 30
    while True:
        try:
            await bus.append(OutgoingRecord(topic, b"k", b"after"))
            break
        except BusUnavailable:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.5)
    assert [r.value for r in await bus.read_all(topic)] == [b"before", b"after"]


@pytest.mark.asyncio
async def test_the_embedded_fault_hook_stops_polls_and_reaches_other_processes(tmp_path: Path) -> None:
    log, other = EmbeddedLog(tmp_path), EmbeddedLog(tmp_path)
    await log.start()
    await other.start()
    consumer = await started(log, unique("g"), "t")

    (tmp_path / "bus.down").touch()
    with pytest.raises(BusUnavailable):
        await other.append(OutgoingRecord("t", b"k", b"v"))
    with pytest.raises(BusUnavailable):
        await consumer.poll(timeout_ms=10)
    (tmp_path / "bus.down").unlink()
    await other.append(OutgoingRecord("t", b"k", b"v"))

    assert [r.value for r in await poll_until(consumer, 1)] == [b"v"]
    await other.stop()
    await log.stop()


@pytest.mark.asyncio
async def test_an_embedded_member_replaced_by_a_newer_instance_can_no_longer_commit(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    await log.start()
    await log.append(OutgoingRecord("t", b"k", b"v"))
    old = await started(log, "g", "t")
    tp = (await poll_until(old, 1))[0].tp

    new = await started(log, "g", "t")  # same member id: a restarted process

    with pytest.raises(CommitFailed):
        await old.commit({tp: 1})
    await new.commit({tp: 1})
    assert await new.committed(tp) == 1
    await log.stop()


WORKER = """
import asyncio, sys
from pathlib import Path
from shared.bus.embedded import EmbeddedLog

async def main(data_dir, topic, group, member, out_path):
    log = EmbeddedLog(Path(data_dir))
    await log.start()
    consumer = log.consumer(group, [topic], member_id=member, session_timeout_ms=2000)
    await consumer.start()
    assigned = None
    with open(out_path, "a") as out:
        while True:
            records = await consumer.poll(timeout_ms=200)
            for r in records:
                out.write(f"record {r.partition} {r.offset} {r.value.decode()}\\n")
            if consumer.assignment() != assigned:
                assigned = consumer.assignment()
                out.write("assigned " + " ".join(str(tp.partition) for tp in sorted(assigned, key=str)) + "\\n")
            out.flush()
            if records:
                await consumer.commit({r.tp: r.offset + 1 for r in records})

asyncio.run(main(*sys.argv[1:]))
"""


class Worker:
    def __init__(self, data_dir: Path, topic: str, group: str, member: str) -> None:
        self.member = member
        self.out = data_dir / f"{member}.out"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(data_dir), topic, group, member, str(self.out)], cwd=REPO
        )

    def lines(self) -> list[list[str]]:
        return [line.split() for line in self.out.read_text().splitlines()] if self.out.exists() else []

    def assignment(self) -> set[int]:
        assigned = [line[1:] for line in self.lines() if line[0] == "assigned"]
        return {int(p) for p in assigned[-1]} if assigned else set()

    def processed(self) -> list[tuple[int, int, str]]:
        return [(int(p), int(o), v) for kind, p, o, v in (x for x in self.lines() if x[0] == "record")]


async def eventually(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


@pytest.mark.asyncio
async def test_embedded_members_in_two_processes_share_partitions_and_survive_a_kill(tmp_path: Path) -> None:
    topic, group = "procs", unique("g")
    log = EmbeddedLog(tmp_path)
    await log.start()
    await log.ensure_topics({topic: 3})
    a, b = Worker(tmp_path, topic, group, "a"), Worker(tmp_path, topic, group, "b")
    try:
        await eventually(
            lambda: (
                bool(a.assignment())
                and bool(b.assignment())
                and a.assignment() | b.assignment() == {0, 1, 2}
                and not a.assignment() & b.assignment()
            ),
            20,
            "the two processes never split the partitions",
        )
        first = [OutgoingRecord(topic, f"k{i % 50}".encode(), f"first-{i}".encode()) for i in range(300)]
        await log.append_many(first)
        await eventually(lambda: len(a.processed()) + len(b.processed()) >= 300, 20, "phase one not consumed")
        observer = log.consumer(group, [topic], member_id="observer")
        ends = await log.end_offsets([TopicPartition(topic, p) for p in range(3)])
        for tp, end in ends.items():
            deadline = time.monotonic() + 10
            while await observer.committed(tp) != end:
                assert time.monotonic() < deadline, f"{tp} never committed up to {end}"
                await asyncio.sleep(0.05)

        values = [v for _, _, v in a.processed() + b.processed()]
        assert sorted(values) == sorted(r.value.decode() for r in first), "each record exactly once"
        assert {p for p, _, _ in a.processed()} <= a.assignment()
        assert {p for p, _, _ in b.processed()} <= b.assignment()
        b_partitions = b.assignment()
        committed = {tp.partition: end for tp, end in ends.items()}

        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait()
        seen_by_a = len(a.processed())
        second = [OutgoingRecord(topic, f"k{i % 50}".encode(), f"second-{i}".encode()) for i in range(300)]
        await log.append_many(second)
        await eventually(lambda: a.assignment() == {0, 1, 2}, 15, "the survivor never took the partitions over")
        await eventually(lambda: len(a.processed()) >= seen_by_a + 300, 15, "phase two not consumed")

        after_kill = a.processed()[seen_by_a:]
        assert sorted(v for _, _, v in after_kill) == sorted(r.value.decode() for r in second)
        for partition in b_partitions:
            taken_over = [o for p, o, _ in after_kill if p == partition]
            assert min(taken_over) == committed[partition], "continues from the committed offset"
    finally:
        for worker in (a, b):
            if worker.proc.poll() is None:
                os.kill(worker.proc.pid, signal.SIGKILL)
                worker.proc.wait()
        await log.stop()

"""The embedded log: the bus port over one SQLite file, for `gongyi up`, demos and small districts.

Contract (ARCHITECTURE.md "Two runtime modes, one code path"; the port in `shared.bus.base`):
- Storage is `<data dir>/bus.sqlite` in WAL mode with `synchronous=FULL`. Offsets are dense per
  topic-partition and assigned inside `BEGIN IMMEDIATE`; an append returns only after its
  transaction commits, and `append_many` writes the whole batch in ONE transaction.
- A topic has a fixed partition count; an unknown topic is created on first append with
  `default_partitions` (there is no separate admin). Nothing is ever deleted.
- Group members in any process on the machine lease partitions (`leases`) and renew every second;
  a live member holds its fair share of the group's partitions, gives up the rest, and takes over
  leases whose holder stopped renewing (that is the rebalance). A member reads only partitions it
  holds, from the group's committed offset (0 for a new group); `commit` of a partition it no
  longer holds raises `CommitFailed`. A new instance with the same member id takes over that
  member's leases at once and fences the old instance (static membership, as on Kafka).
- Appends wake pollers of the same process at once; other processes are seen within
  `poll_interval_s`.
- Fault hook: `set_down(True)`, or a file `<data dir>/bus.down` (seen by every process), makes
  `append`, `append_many`, `poll` and `commit` raise `BusUnavailable`: "broker down".
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import struct
import threading
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import orjson

from shared.bus.base import (
    BusError,
    BusUnavailable,
    CommitFailed,
    Headers,
    OutgoingRecord,
    Record,
    RecordMetadata,
    RecordTooLarge,
    TopicPartition,
    partition_for,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# Kafka's default max.message.bytes, so a record refused in production is refused here too.
MAX_RECORD_BYTES = 1_048_576
LEASE_RENEW_INTERVAL_S = 1.0
BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    topic TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL, "partition" INTEGER NOT NULL, "offset" INTEGER NOT NULL,
    key BLOB, value BLOB NOT NULL, headers BLOB, ts INTEGER NOT NULL,
    PRIMARY KEY (topic, "partition", "offset"));
CREATE TABLE IF NOT EXISTS group_offsets (
    "group" TEXT NOT NULL, topic TEXT NOT NULL, "partition" INTEGER NOT NULL,
    "offset" INTEGER NOT NULL, PRIMARY KEY ("group", topic, "partition"));
CREATE TABLE IF NOT EXISTS leases (
    "group" TEXT NOT NULL, topic TEXT NOT NULL, "partition" INTEGER NOT NULL,
    member TEXT NOT NULL, instance TEXT NOT NULL, expires_at INTEGER NOT NULL,
    PRIMARY KEY ("group", topic, "partition"));
CREATE TABLE IF NOT EXISTS members (
    "group" TEXT NOT NULL, member TEXT NOT NULL, instance TEXT NOT NULL,
    topics TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY ("group", member));
"""

_SELECT_RECORDS = (
    'SELECT topic, "partition", "offset", key, value, headers, ts FROM records'
    ' WHERE topic = ? AND "partition" = ? AND "offset" >= ? ORDER BY "offset" LIMIT ?'
)

# Logs of this process by database file, so an append wakes every poller of the process.
_open_logs: dict[Path, weakref.WeakSet[EmbeddedLog]] = {}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _encode_headers(headers: Headers) -> bytes | None:
    if not headers:
        return None
    parts: list[bytes] = []
    for name, value in headers:
        raw = name.encode()
        parts += (struct.pack(">HI", len(raw), len(value)), raw, value)
    return b"".join(parts)


def _decode_headers(blob: bytes | None) -> Headers:
    headers: Headers = []
    pos = 0
    while blob and pos < len(blob):
        name_len, value_len = struct.unpack_from(">HI", blob, pos)
        pos += 6
        name = blob[pos : pos + name_len].decode()
        pos += name_len
        headers.append((name, blob[pos : pos + value_len]))
        pos += value_len
    return headers


def _record(row: sqlite3.Row | tuple[Any, ...]) -> Record:
    topic, partition, offset, key, value, headers, ts = row
    return Record(topic, partition, offset, key, value, _decode_headers(headers), ts)


def _size(record: OutgoingRecord) -> int:
    return len(record.key or b"") + len(record.value) + sum(len(k) + len(v) for k, v in record.headers)


def fair_shares(subscriptions: Mapping[str, Iterable[str]], partitions: Mapping[str, int]) -> Counter[tuple[str, str]]:
    """How many partitions of each topic each member should hold: round-robin over the sorted
    members subscribed to the topic, continuing across topics so the totals differ by at most one."""
    shares: Counter[tuple[str, str]] = Counter()
    turn = 0
    for topic in sorted(partitions):
        members = sorted(m for m, topics in subscriptions.items() if topic in topics)
        for _ in range(partitions[topic] if members else 0):
            shares[(members[turn % len(members)], topic)] += 1
            turn += 1
    return shares


class EmbeddedLog:
    """`Bus` over `<path>/bus.sqlite` when `path` is the data directory, or over `path` itself when
    it names a `.sqlite`/`.db` file (its fault marker is then that file's name with `.down`)."""

    def __init__(
        self, path: Path, *, default_partitions: int = 3, poll_interval_s: float = 0.05, synchronous: str = "FULL"
    ) -> None:
        # synchronous="OFF" only for test sessions: a killed process still loses nothing (the OS
        # holds the pages); only a machine crash could.
        self.synchronous = synchronous
        path = Path(path)
        if path.suffix in (".sqlite", ".db"):
            self.db_path, self.down_marker = path, path.with_suffix(".down")
        else:
            self.db_path, self.down_marker = path / "bus.sqlite", path / "bus.down"
        self.default_partitions = default_partitions
        self.poll_interval_s = poll_interval_s
        self._down = False
        self._partitions: dict[str, int] = {}
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._appended = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consumers: weakref.WeakSet[EmbeddedConsumer] = weakref.WeakSet()

    async def start(self) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.get_running_loop()
        self._writer = await self._connect()
        await self._writer.execute("PRAGMA journal_mode=WAL")
        await self._writer.executescript(_SCHEMA)
        self._reader = await self._connect()
        _open_logs.setdefault(self.db_path.resolve(), weakref.WeakSet()).add(self)

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: transactions are begun explicitly with BEGIN IMMEDIATE.
        connecting = aiosqlite.connect(self.db_path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        # aiosqlite's worker thread is not a daemon: a process that ends without stop() would hang
        # at exit. Dying mid-write is safe: WAL with synchronous=FULL keeps the file consistent.
        worker = getattr(connecting, "_thread", None)
        if isinstance(worker, threading.Thread):
            worker.daemon = True
        db = await connecting
        await db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await db.execute(f"PRAGMA synchronous={self.synchronous}")
        return db

    async def stop(self) -> None:
        for consumer in list(self._consumers):
            await consumer.stop()
        _open_logs.get(self.db_path.resolve(), weakref.WeakSet()).discard(self)
        for db in (self._reader, self._writer):
            if db is not None:
                await db.close()
        self._reader = self._writer = None

    def set_down(self, down: bool) -> None:
        """The fault hook: while down, the data path raises `BusUnavailable` like a dead broker."""
        self._down = down

    def check_up(self) -> None:
        if self._down or self.down_marker.exists():
            raise BusUnavailable(f"embedded log {self.db_path} is down (fault hook)")

    async def ensure_topics(self, topics: Mapping[str, int]) -> None:
        async def create(db: aiosqlite.Connection) -> None:
            await db.executemany("INSERT OR IGNORE INTO topics VALUES (?, ?)", topics.items())

        await self.write(create)

    async def partition_counts(
        self, db: aiosqlite.Connection, topics: Collection[str], *, create: bool
    ) -> dict[str, int]:
        """Partition counts (fixed once a topic exists, hence cached); inside a write transaction
        when `create` adds the missing topics with the default count."""
        missing = [t for t in set(topics) if t not in self._partitions]
        if missing and create:
            await db.executemany(
                "INSERT OR IGNORE INTO topics VALUES (?, ?)", [(t, self.default_partitions) for t in missing]
            )
        if missing:
            marks = ",".join("?" * len(missing))
            rows = await db.execute_fetchall(f"SELECT topic, partitions FROM topics WHERE topic IN ({marks})", missing)
            self._partitions.update({t: n for t, n in rows})
        return {t: self._partitions[t] for t in topics if t in self._partitions}

    async def write(self, body: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run `body` in one BEGIN IMMEDIATE transaction. Shielded: a cancelled caller never leaves
        the shared writer connection inside a half-done transaction."""
        task = asyncio.ensure_future(self._transaction(body))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return await asyncio.shield(task)

    async def _transaction(self, body: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        async with self._write_lock:
            db = self._connection(self._writer)
            try:
                await db.execute("BEGIN IMMEDIATE")
                try:
                    result = await body(db)
                    await db.execute("COMMIT")
                except BaseException:
                    # Topics this transaction created and cached are rolled back with it.
                    self._partitions.clear()
                    if db.in_transaction:
                        await db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                raise BusUnavailable(f"embedded log: {exc}") from exc
            return result

    async def read(self, sql: str, params: Sequence[Any] = ()) -> Iterable[sqlite3.Row]:
        try:
            return await self._connection(self._reader).execute_fetchall(sql, params)
        except sqlite3.OperationalError as exc:
            raise BusUnavailable(f"embedded log: {exc}") from exc

    def _connection(self, db: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if db is None:
            raise BusError("embedded log is not started")
        return db

    async def append(self, record: OutgoingRecord) -> RecordMetadata:
        (result,) = await self.append_many([record])
        if isinstance(result, BaseException):
            raise result
        return result

    async def append_many(self, records: Sequence[OutgoingRecord]) -> list[RecordMetadata | BaseException]:
        self.check_up()
        results: list[RecordMetadata | BaseException] = []
        accepted: list[tuple[int, OutgoingRecord]] = []
        stopped: set[tuple[str, bytes]] = set()
        for i, record in enumerate(records):
            key = (record.topic, record.key) if record.key is not None else None
            if key in stopped:
                results.append(BusError(f"not written: an earlier record of key {record.key!r} was refused"))
            elif _size(record) > MAX_RECORD_BYTES:
                results.append(RecordTooLarge(f"{_size(record)} bytes > {MAX_RECORD_BYTES}"))
                if key is not None:
                    stopped.add(key)
            else:
                results.append(BusUnavailable("not written"))
                accepted.append((i, record))
        if accepted:
            written = await self.write(lambda db: self._insert(db, [r for _, r in accepted]))
            for (i, _), metadata in zip(accepted, written, strict=True):
                results[i] = metadata
            self._wake_process()
        return results

    async def _insert(self, db: aiosqlite.Connection, records: list[OutgoingRecord]) -> list[RecordMetadata]:
        counts = await self.partition_counts(db, {r.topic for r in records}, create=True)
        next_offset: dict[tuple[str, int], int] = {}
        rows: list[tuple[Any, ...]] = []
        written: list[RecordMetadata] = []
        ts = _now_ms()
        for record in records:
            tp = (record.topic, partition_for(record.key, counts[record.topic]))
            if tp not in next_offset:
                sql = 'SELECT MAX("offset") FROM records WHERE topic = ? AND "partition" = ?'
                ((last,),) = await db.execute_fetchall(sql, tp)
                next_offset[tp] = 0 if last is None else last + 1
            offset = next_offset[tp]
            next_offset[tp] = offset + 1
            rows.append((*tp, offset, record.key, record.value, _encode_headers(record.headers), ts))
            written.append(RecordMetadata(tp[0], tp[1], offset))
        await db.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        return written

    def _wake_process(self) -> None:
        for other in list(_open_logs.get(self.db_path.resolve(), ())):
            other.wake()

    def wake(self) -> None:
        """Wake this log's pollers; safe from another event loop of the process."""
        if self._loop is None or self._loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._set_appended()
        else:
            self._loop.call_soon_threadsafe(self._set_appended)

    def _set_appended(self) -> None:
        # Pollers keep a reference to the event they wait on; a fresh one is armed for the next wait.
        self._appended.set()
        self._appended = asyncio.Event()

    def appended(self) -> asyncio.Event:
        return self._appended

    def consumer(
        self, group: str, topics: Sequence[str], *, member_id: str, session_timeout_ms: int = 10_000
    ) -> EmbeddedConsumer:
        consumer = EmbeddedConsumer(self, group, topics, member_id=member_id, session_timeout_ms=session_timeout_ms)
        self._consumers.add(consumer)
        return consumer

    async def read_all(self, topic: str) -> list[Record]:
        sql = 'SELECT topic, "partition", "offset", key, value, headers, ts FROM records WHERE topic = ?'
        rows = await self.read(sql + ' ORDER BY "partition", "offset"', (topic,))
        return [_record(row) for row in rows]

    async def end_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        ends: dict[TopicPartition, int] = {}
        for tp in tps:
            sql = 'SELECT MAX("offset") FROM records WHERE topic = ? AND "partition" = ?'
            ((last,),) = await self.read(sql, (tp.topic, tp.partition))
            ends[tp] = 0 if last is None else last + 1
        return ends


class EmbeddedConsumer:
    """A group member over the embedded log's leases. Not safe to share between tasks."""

    def __init__(
        self, log: EmbeddedLog, group: str, topics: Sequence[str], *, member_id: str, session_timeout_ms: int
    ) -> None:
        self._log = log
        self.group = group
        self.topics = sorted(set(topics))
        self.member_id = member_id
        self.session_timeout_ms = session_timeout_ms
        self._instance = uuid.uuid4().hex
        self._positions: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._leased_until = 0
        self._fenced = False
        self._renewer: asyncio.Task[None] | None = None
        self._rotation = 0

    async def start(self) -> None:
        await self._rebalance(joining=True)
        self._renewer = asyncio.create_task(self._renew_forever(), name=f"lease-renew:{self.group}:{self.member_id}")

    async def stop(self) -> None:
        if self._renewer is None:
            return
        self._renewer.cancel()
        self._renewer = None
        params = (self.group, self.member_id, self._instance)

        async def leave(db: aiosqlite.Connection) -> None:
            await db.execute('DELETE FROM leases WHERE "group" = ? AND member = ? AND instance = ?', params)
            await db.execute('DELETE FROM members WHERE "group" = ? AND member = ? AND instance = ?', params)

        try:
            await self._log.write(leave)
        except BusError:
            log.warning("member %s of %s left without releasing its leases; they expire", self.member_id, self.group)
        finally:
            self._positions.clear()
            self._paused.clear()

    async def _renew_forever(self) -> None:
        while not self._fenced:
            await asyncio.sleep(LEASE_RENEW_INTERVAL_S)
            try:
                await self._rebalance()
            except BusError:
                # Leases lapse after the session timeout; until then this member keeps reading.
                log.warning("lease renewal of %s in %s failed", self.member_id, self.group, exc_info=True)

    async def _rebalance(self, *, joining: bool = False) -> None:
        held_before = set(self._positions)
        outcome = await self._log.write(lambda db: self._rebalance_in(db, held_before, joining=joining))
        if outcome is None:
            log.warning("member %s of %s was replaced by a newer instance", self.member_id, self.group)
            self._fenced = True
            self._positions.clear()
            return
        held, acquired, leased_until = outcome
        for tp in set(self._positions) - held:
            del self._positions[tp]
            self._paused.discard(tp)
        self._positions.update(acquired)
        self._leased_until = leased_until
        if acquired:
            self._log.wake()

    async def _rebalance_in(
        self, db: aiosqlite.Connection, held_before: set[TopicPartition], *, joining: bool
    ) -> tuple[set[TopicPartition], dict[TopicPartition, int], int] | None:
        now = _now_ms()
        expires_at = now + self.session_timeout_ms
        me = (self.group, self.member_id)
        rows = list(await db.execute_fetchall('SELECT instance FROM members WHERE "group" = ? AND member = ?', me))
        if rows and rows[0][0] != self._instance and not joining:
            return None
        await db.execute(
            'INSERT INTO members VALUES (?, ?, ?, ?, ?) ON CONFLICT ("group", member) DO UPDATE SET'
            " instance = excluded.instance, topics = excluded.topics, expires_at = excluded.expires_at",
            (*me, self._instance, orjson.dumps(self.topics).decode(), expires_at),
        )
        await db.execute('DELETE FROM members WHERE "group" = ? AND expires_at < ?', (self.group, now))
        live = {
            m: orjson.loads(t)
            for m, t in await db.execute_fetchall('SELECT member, topics FROM members WHERE "group" = ?', (self.group,))
        }
        counts = await self._log.partition_counts(db, {t for ts in live.values() for t in ts}, create=False)
        shares = fair_shares(live, counts)
        leases = {
            TopicPartition(t, p): (member, until)
            for t, p, member, until in await db.execute_fetchall(
                'SELECT topic, "partition", member, expires_at FROM leases WHERE "group" = ?', (self.group,)
            )
        }
        held: set[TopicPartition] = set()
        for topic in self.topics:
            tps = [TopicPartition(topic, p) for p in range(counts.get(topic, 0))]
            mine = [tp for tp in tps if leases.get(tp, ("", 0))[0] == self.member_id]
            free = [tp for tp in tps if tp not in leases or leases[tp][1] < now or leases[tp][0] not in live]
            share = shares[(self.member_id, topic)]
            kept = mine[:share]
            held |= set(kept + [tp for tp in free if tp not in mine][: share - len(kept)])
            for tp in mine[share:]:
                await db.execute(
                    'DELETE FROM leases WHERE "group" = ? AND topic = ? AND "partition" = ? AND member = ?',
                    (self.group, tp.topic, tp.partition, self.member_id),
                )
        await db.executemany(
            "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?, ?)",
            [(self.group, tp.topic, tp.partition, self.member_id, self._instance, expires_at) for tp in held],
        )
        acquired = dict.fromkeys(held - held_before, 0)
        for tp in acquired:
            committed = await db.execute_fetchall(
                'SELECT "offset" FROM group_offsets WHERE "group" = ? AND topic = ? AND "partition" = ?',
                (self.group, tp.topic, tp.partition),
            )
            acquired[tp] = next(iter(committed), (0,))[0]
        return held, acquired, expires_at

    def assignment(self) -> set[TopicPartition]:
        return set(self._positions) if _now_ms() < self._leased_until else set()

    async def poll(self, timeout_ms: int = 500, max_records: int = 500) -> list[Record]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while True:
            self._log.check_up()
            appended = self._log.appended()
            records = await self._fetch(max_records)
            remaining = deadline - loop.time()
            if records or remaining <= 0:
                return records
            try:
                await asyncio.wait_for(appended.wait(), min(remaining, self._log.poll_interval_s))
            except TimeoutError:
                pass

    async def _fetch(self, max_records: int) -> list[Record]:
        wanted = {tp: pos for tp, pos in self._positions.items() if tp not in self._paused}
        if not wanted or _now_ms() >= self._leased_until:
            return []
        # One statement, so one snapshot; LIMIT inside each arm keeps every read on the primary key.
        sql = " UNION ALL ".join(f"SELECT * FROM ({_SELECT_RECORDS})" for _ in wanted)
        params = [v for tp, pos in wanted.items() for v in (tp.topic, tp.partition, pos, max_records)]
        by_tp: dict[TopicPartition, list[Record]] = {tp: [] for tp in wanted}
        for row in await self._log.read(sql, params):
            record = _record(row)
            by_tp[record.tp].append(record)
        order = list(wanted)
        self._rotation = (self._rotation + 1) % len(order)
        records: list[Record] = []
        for tp in order[self._rotation :] + order[: self._rotation]:
            # A seek or a lost lease while reading makes these rows stale.
            if self._positions.get(tp) != wanted[tp] or tp in self._paused:
                continue
            batch = sorted(by_tp[tp], key=lambda r: r.offset)[: max_records - len(records)]
            if batch:
                self._positions[tp] = batch[-1].offset + 1
                records += batch
        return records

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._log.check_up()
        if self._fenced:
            raise CommitFailed(f"member {self.member_id} of {self.group} was replaced by a newer instance")
        offsets = dict(offsets)

        async def commit_owned(db: aiosqlite.Connection) -> None:
            for tp, offset in offsets.items():
                owner = await db.execute_fetchall(
                    'SELECT member, instance FROM leases WHERE "group" = ? AND topic = ? AND "partition" = ?',
                    (self.group, tp.topic, tp.partition),
                )
                if [tuple(row) for row in owner] != [(self.member_id, self._instance)]:
                    raise CommitFailed(f"{tp} is no longer leased to {self.member_id} in {self.group}")
                await db.execute(
                    "INSERT OR REPLACE INTO group_offsets VALUES (?, ?, ?, ?)",
                    (self.group, tp.topic, tp.partition, offset),
                )

        await self._log.write(commit_owned)

    async def committed(self, tp: TopicPartition) -> int | None:
        rows = await self._log.read(
            'SELECT "offset" FROM group_offsets WHERE "group" = ? AND topic = ? AND "partition" = ?',
            (self.group, tp.topic, tp.partition),
        )
        return next((int(row[0]) for row in rows), None)

    async def seek(self, tp: TopicPartition, offset: int) -> None:
        if tp not in self._positions:
            raise BusError(f"cannot seek {tp}: not assigned to {self.member_id}")
        self._positions[tp] = offset
        self._log.wake()

    def pause(self, tps: Sequence[TopicPartition]) -> None:
        self._paused.update(tps)

    def resume(self, tps: Sequence[TopicPartition]) -> None:
        self._paused.difference_update(tps)
        self._log.wake()

    async def end_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return await self._log.end_offsets(tps)

"""Reference finance consumer: books every grants award and tranche exactly once, in order, to the fen.

What a finance system (财政 / 会计) has to do with the `grants.award` and `grants.disbursement`
topics (EVENTS.md "The finance contract"), in one small file to copy:

- Read both topics with plain aiokafka (or, in embedded mode, the embedded log) with auto-commit off
  and `auto_offset_reset="earliest"`; commit a record's offset only after its booking committed in
  the ledger's own database (SQLite or PostgreSQL). A crash in between replays the record; the
  ledger's inbox (`source`, `id`) makes the replay change nothing.
- Awards and disbursements share the key (award id) but travel on two topics, so they arrive in any
  interleaving. Each topic's `sequence` orders the records of one award; every disbursement carries
  `award_sequence`, the award record it depends on. A disbursement whose award sequence has not been
  applied yet is *held* (persisted, in order) and booked the moment the award catches up.
- Every finance-relevant record carries `booking {kind, amount, currency, budget_line,
  fiscal_year}` (a signed delta) and the award's running `committed_total` / `paid_total`, which the
  ledger stores to reconcile balances without calling back.

Run:
    python -m examples.finance_consumer --bootstrap 127.0.0.1:9092 --db finance.sqlite
        [--prefix TOPIC_PREFIX] [--group finance-ledger] [--member finance-1] [--bus kafka|embedded]
        [--embedded-log var/bus.sqlite] [--postgres postgresql://…]
It prints `ready` once subscribed. `GONGYI_FAULT=finance.after_book@N` kills it right after the
N-th booking committed and before its offset is committed (fault tests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AWARD, DISBURSEMENT = "grants.award", "grants.disbursement"

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS finance_inbox (
        source TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (source, event_id))""",
    """CREATE TABLE IF NOT EXISTS finance_positions (
        topic TEXT NOT NULL, award_id TEXT NOT NULL, sequence BIGINT NOT NULL, PRIMARY KEY (topic, award_id))""",
    """CREATE TABLE IF NOT EXISTS finance_held (
        award_id TEXT NOT NULL, sequence BIGINT NOT NULL, award_sequence BIGINT NOT NULL, event TEXT NOT NULL,
        PRIMARY KEY (award_id, sequence))""",
    """CREATE TABLE IF NOT EXISTS finance_awards (
        award_id TEXT PRIMARY KEY, call_id TEXT NOT NULL, org_id TEXT NOT NULL, budget_line TEXT NOT NULL,
        fiscal_year INTEGER NOT NULL, amount_fen BIGINT NOT NULL, committed_fen BIGINT NOT NULL,
        paid_fen BIGINT NOT NULL, status TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS finance_tranches (
        disbursement_id TEXT PRIMARY KEY, award_id TEXT NOT NULL, tranche_no INTEGER NOT NULL,
        amount_fen BIGINT NOT NULL, status TEXT NOT NULL, instruction_id TEXT, paid_fen BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS finance_bookings (
        event_id TEXT PRIMARY KEY, booked_seq BIGINT NOT NULL, topic TEXT NOT NULL, award_id TEXT NOT NULL,
        sequence BIGINT NOT NULL, award_sequence BIGINT NOT NULL, applied_award_sequence BIGINT NOT NULL,
        disbursement_id TEXT, event_type TEXT NOT NULL, kind TEXT NOT NULL, amount_fen BIGINT NOT NULL,
        budget_line TEXT NOT NULL, fiscal_year INTEGER NOT NULL, committed_total_fen BIGINT NOT NULL,
        paid_total_fen BIGINT NOT NULL)""",
]

TRANCHE_STATUS = {
    "scheduled": "scheduled",
    "released": "released",
    "paid": "paid",
    "payment_failed": "failed",
    "payment_reversed": "reversed",
    "suspended": "suspended",
    "resumed": "scheduled",
    "cancelled": "cancelled",
}
AWARD_STATUS = {
    "decided": "committed",
    "objection_upheld": "cancelled",
    "terminated": "terminated",
    "completed": "completed",
    "suspended": "suspended",
    "resumed": "signed",
    "agreement_signed": "signed",
    "confirmed": "confirmed",
}


def fen(amount: str) -> int:
    negative = amount.startswith("-")
    whole, _, frac = amount.lstrip("-").partition(".")
    value = int(whole) * 100 + int((frac + "00")[:2])
    return -value if negative else value


def crash_point(name: str) -> None:
    """Deterministic crash points for fault tests (the project's `shared.faults` when importable)."""
    try:
        from shared.faults import crash_point as hook
    except ImportError:  # a finance system copying this file has no such hook
        return
    hook(name)


# -- storage: the ledger's own database -----------------------------------------------------------


class Store:
    """One transaction per record on SQLite (stdlib) or PostgreSQL (asyncpg); `?` placeholders."""

    def __init__(self, sqlite_path: Path | None = None, postgres_dsn: str | None = None) -> None:
        self.sqlite_path, self.postgres_dsn = sqlite_path, postgres_dsn
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None

    async def open(self) -> None:
        if self.postgres_dsn:
            import asyncpg

            self._pg = await asyncpg.connect(self.postgres_dsn)
            for ddl in SCHEMA:
                await self._pg.execute(ddl)
        else:
            assert self.sqlite_path is not None
            self._sqlite = sqlite3.connect(self.sqlite_path, isolation_level=None)
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("PRAGMA synchronous=FULL")
            for ddl in SCHEMA:
                self._sqlite.execute(ddl)

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()
        if self._sqlite is not None:
            self._sqlite.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> Any:
        if self._pg is not None:
            async with self._pg.transaction():
                yield self
        else:
            assert self._sqlite is not None
            self._sqlite.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._sqlite.execute("ROLLBACK")
                raise
            self._sqlite.execute("COMMIT")

    def _pg_sql(self, sql: str) -> str:
        parts = sql.split("?")
        return "".join(f"{p}${i}" if i < len(parts) else p for i, p in enumerate(parts, start=1))

    async def execute(self, sql: str, *args: Any) -> None:
        if self._pg is not None:
            await self._pg.execute(self._pg_sql(sql), *args)
        else:
            assert self._sqlite is not None
            self._sqlite.execute(sql, args)

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self._pg is not None:
            return [tuple(r) for r in await self._pg.fetch(self._pg_sql(sql), *args)]
        assert self._sqlite is not None
        return list(self._sqlite.execute(sql, args).fetchall())

    async def fetch_value(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return rows[0][0] if rows else None


# -- the ledger -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    booked: int = 0
    held: int = 0
    duplicates: int = 0


class Ledger:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def handle(self, topic: str, event: dict[str, Any]) -> Outcome:
        """One record, one transaction: dedupe, order, hold or book (and release what it unblocks)."""
        outcome = Outcome()
        async with self.store.transaction():
            seen = await self.store.fetch_value(
                "SELECT 1 FROM finance_inbox WHERE source = ? AND event_id = ?", event["source"], event["id"]
            )
            if seen:
                outcome.duplicates += 1
                return outcome
            await self.store.execute(
                "INSERT INTO finance_inbox (source, event_id) VALUES (?, ?)", event["source"], event["id"]
            )
            if topic == AWARD:
                await self._apply_award(event, outcome)
                await self._release_held(event["partitionkey"], outcome)
            elif topic == DISBURSEMENT:
                await self._disbursement(event, outcome)
        return outcome

    async def _position(self, topic: str, award_id: str) -> int:
        value = await self.store.fetch_value(
            "SELECT sequence FROM finance_positions WHERE topic = ? AND award_id = ?", topic, award_id
        )
        return int(value) if value is not None else 0

    async def _advance(self, topic: str, award_id: str, sequence: int) -> None:
        await self.store.execute("DELETE FROM finance_positions WHERE topic = ? AND award_id = ?", topic, award_id)
        await self.store.execute(
            "INSERT INTO finance_positions (topic, award_id, sequence) VALUES (?, ?, ?)", topic, award_id, sequence
        )

    async def _apply_award(self, event: dict[str, Any], outcome: Outcome) -> None:
        data, award_id, sequence = event["data"], event["partitionkey"], int(event["sequence"])
        if sequence <= await self._position(AWARD, award_id):
            outcome.duplicates += 1
            return  # already applied under another event id (never happens with one producer)
        verb = event["type"].split(".")[-2]
        exists = await self.store.fetch_value("SELECT 1 FROM finance_awards WHERE award_id = ?", award_id)
        if not exists:
            await self.store.execute(
                "INSERT INTO finance_awards (award_id, call_id, org_id, budget_line, fiscal_year, amount_fen, "
                "committed_fen, paid_fen, status) VALUES (?, ?, ?, ?, ?, ?, 0, 0, 'new')",
                award_id,
                data["call_id"],
                data["org_id"],
                data["budget_line"],
                int(data["fiscal_year"]),
                fen(data["amount"]["amount"]),
            )
        await self.store.execute(
            "UPDATE finance_awards SET committed_fen = ?, paid_fen = ?, status = COALESCE(?, status) "
            "WHERE award_id = ?",
            fen(data["committed_total"]["amount"]),
            fen(data["paid_total"]["amount"]),
            AWARD_STATUS.get(verb),
            award_id,
        )
        await self._book(AWARD, event, applied_award_sequence=sequence, outcome=outcome)
        await self._advance(AWARD, award_id, sequence)

    async def _disbursement(self, event: dict[str, Any], outcome: Outcome) -> None:
        award_id, sequence = event["partitionkey"], int(event["sequence"])
        if sequence <= await self._position(DISBURSEMENT, award_id):
            outcome.duplicates += 1
            return
        waiting = await self.store.fetch_value("SELECT COUNT(*) FROM finance_held WHERE award_id = ?", award_id)
        applied = await self._position(AWARD, award_id)
        if waiting or int(event["data"]["award_sequence"]) > applied:
            await self.store.execute(
                "INSERT INTO finance_held (award_id, sequence, award_sequence, event) VALUES (?, ?, ?, ?)",
                award_id,
                sequence,
                int(event["data"]["award_sequence"]),
                json.dumps(event),
            )
            outcome.held += 1
            return
        await self._apply_disbursement(event, applied, outcome)

    async def _apply_disbursement(self, event: dict[str, Any], applied_award_sequence: int, outcome: Outcome) -> None:
        data, award_id = event["data"], event["partitionkey"]
        verb = event["type"].split(".")[-2]
        status = TRANCHE_STATUS.get(verb)
        exists = await self.store.fetch_value(
            "SELECT 1 FROM finance_tranches WHERE disbursement_id = ?", data["disbursement_id"]
        )
        if not exists:
            await self.store.execute(
                "INSERT INTO finance_tranches (disbursement_id, award_id, tranche_no, amount_fen, status, "
                "instruction_id, paid_fen) VALUES (?, ?, ?, ?, 'scheduled', NULL, 0)",
                data["disbursement_id"],
                award_id,
                int(data["tranche_no"]),
                fen(data["amount"]["amount"]),
            )
        if status is not None:
            paid_delta = {"paid": 1, "payment_reversed": -1}.get(verb, 0) * fen(data["amount"]["amount"])
            await self.store.execute(
                "UPDATE finance_tranches SET status = ?, instruction_id = COALESCE(?, instruction_id), "
                "paid_fen = paid_fen + ? WHERE disbursement_id = ?",
                status,
                data.get("payment_instruction_id"),
                paid_delta,
                data["disbursement_id"],
            )
        await self.store.execute(
            "UPDATE finance_awards SET committed_fen = ?, paid_fen = ? WHERE award_id = ?",
            fen(data["committed_total"]["amount"]),
            fen(data["paid_total"]["amount"]),
            award_id,
        )
        await self._book(DISBURSEMENT, event, applied_award_sequence=applied_award_sequence, outcome=outcome)
        await self._advance(DISBURSEMENT, award_id, int(event["sequence"]))

    async def _release_held(self, award_id: str, outcome: Outcome) -> None:
        applied = await self._position(AWARD, award_id)
        rows = await self.store.fetch(
            "SELECT sequence, award_sequence, event FROM finance_held WHERE award_id = ? ORDER BY sequence", award_id
        )
        for sequence, award_sequence, body in rows:
            if int(award_sequence) > applied:
                break  # later disbursements of this award stay behind it: order is kept
            await self.store.execute("DELETE FROM finance_held WHERE award_id = ? AND sequence = ?", award_id, sequence)
            await self._apply_disbursement(json.loads(body), applied, outcome)
            outcome.held -= 1

    async def _book(self, topic: str, event: dict[str, Any], *, applied_award_sequence: int, outcome: Outcome) -> None:
        data = event["data"]
        booking = data.get("booking")
        if not booking:
            return
        booked_seq = int(await self.store.fetch_value("SELECT COUNT(*) FROM finance_bookings") or 0) + 1
        await self.store.execute(
            "INSERT INTO finance_bookings (event_id, booked_seq, topic, award_id, sequence, award_sequence, "
            "applied_award_sequence, disbursement_id, event_type, kind, amount_fen, budget_line, fiscal_year, "
            "committed_total_fen, paid_total_fen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            event["id"],
            booked_seq,
            topic,
            event["partitionkey"],
            int(event["sequence"]),
            int(data.get("award_sequence") or event["sequence"]),
            applied_award_sequence,
            data.get("disbursement_id"),
            event["type"],
            booking["kind"],
            fen(booking["amount"]),
            booking["budget_line"],
            int(booking["fiscal_year"]),
            fen(data["committed_total"]["amount"]),
            fen(data["paid_total"]["amount"]),
        )
        outcome.booked += 1


# -- the bus ------------------------------------------------------------------------------------------


async def run_kafka(ledger: Ledger, args: argparse.Namespace, stopping: asyncio.Event) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    topics = [f"{args.prefix}{AWARD}", f"{args.prefix}{DISBURSEMENT}"]
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        group_instance_id=args.member,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        isolation_level="read_committed",
    )
    await consumer.start()
    print("ready", flush=True)
    try:
        while not stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=200)
            for tp, messages in batches.items():
                for message in messages:
                    event = json.loads(message.value)
                    outcome = await ledger.handle(tp.topic.removeprefix(args.prefix), event)
                    for _ in range(outcome.booked):
                        crash_point("finance.after_book")
                    await consumer.commit(
                        {TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(message.offset + 1, "")}
                    )
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.stop(), 10)


async def run_embedded(ledger: Ledger, args: argparse.Namespace, stopping: asyncio.Event) -> None:
    from shared.bus.base import TopicPartition
    from shared.bus.embedded import EmbeddedLog

    log = EmbeddedLog(Path(args.embedded_log))
    await log.start()
    consumer = log.consumer(
        args.group, [f"{args.prefix}{AWARD}", f"{args.prefix}{DISBURSEMENT}"], member_id=args.member
    )
    await consumer.start()
    print("ready", flush=True)
    try:
        while not stopping.is_set():
            for record in await consumer.poll(timeout_ms=500, max_records=200):
                outcome = await ledger.handle(record.topic.removeprefix(args.prefix), json.loads(record.value))
                for _ in range(outcome.booked):
                    crash_point("finance.after_book")
                await consumer.commit({TopicPartition(record.topic, record.partition): record.offset + 1})
    finally:
        await consumer.stop()
        await log.stop()


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bus", choices=("kafka", "embedded"), default="kafka")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--embedded-log", default="var/bus.sqlite")
    parser.add_argument("--prefix", default="", help="topic prefix (tests isolate themselves with one)")
    parser.add_argument("--group", default="finance-ledger")
    parser.add_argument("--member", default="finance-ledger-1", help="static group member id")
    parser.add_argument("--db", default="finance.sqlite", help="the ledger's SQLite file")
    parser.add_argument("--postgres", default=None, help="or a PostgreSQL DSN for the ledger")
    args = parser.parse_args(argv)
    store = Store(Path(args.db), args.postgres)
    await store.open()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await (run_kafka if args.bus == "kafka" else run_embedded)(Ledger(store), args, stopping)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())

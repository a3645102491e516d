"""The reference finance consumer (examples/finance_consumer.py) against real Kafka: every award and
every tranche booked exactly once, in order, to the fen — after the grants relay and the consumer
are each killed once mid-run at deterministic crash points (no sleep-then-kill)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import defaultdict
from pathlib import Path

from sqlalchemy import text

from examples.finance_consumer import Ledger, Store
from tests.integration.grants.support import Grants, fen, money, new_org
from tests.support.processes import WorkerProcess
from tests.support.stack import wait_until


def bookings(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute("SELECT * FROM finance_bookings ORDER BY booked_seq")]
        except sqlite3.OperationalError:
            return []


def rows(path: Path, sql: str) -> list[dict]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(sql)]


async def test_finance_books_each_award_and_tranche_once_in_order_after_the_relay_and_consumer_die(
    stack_factory, tmp_path
):
    stack = await stack_factory(("grants",), db="postgres", bus="kafka")
    g = Grants(stack)
    settings = stack.runtimes["grants"].settings
    await stack.start_workers()  # topics, and grants' own consumer of registry/evaluation events

    async def consumed(predicate, timeout: float = 60.0) -> None:
        async def step() -> bool:
            await stack.consume()
            await stack.run_jobs()
            return await predicate()

        await wait_until(step, timeout=timeout, interval=0.05)

    # -- phase 1: four awards decided (events sit in the outbox: no relay yet) ------------------
    call = await g.open_call(budget=money("1000000.00"))
    orgs = [new_org(f"机构{i}") for i in range(4)]
    for org in orgs:
        await g.events.good_org(org)

    async def all_known() -> bool:
        async with stack.runtimes["grants"].uow(readonly=True) as uow:
            n = (
                await uow.conn.execute(text("SELECT count(*) FROM grants.standings WHERE doc->>'status' IS NOT NULL"))
            ).scalar_one()
            g_ = (await uow.conn.execute(text("SELECT count(*) FROM grants.rating_publications"))).scalar_one()
            return n == 4 and g_ == 4

    await consumed(all_known)
    apps = [await g.submitted(call["id"], org, requested=money(f"{50000 + i}.0{i}")) for i, org in enumerate(orgs)]
    assert all(a["eligible"] for a in apps)
    stack.clock.set(stack.clock.now().replace(day=31, hour=12))
    await stack.run_jobs()
    r1 = await g.award(call["id"], [{"application_id": apps[0]["id"]}, {"application_id": apps[1]["id"]}])
    r2 = await g.award(call["id"], [{"application_id": apps[2]["id"]}, {"application_id": apps[3]["id"]}])
    awards = r1.json()["awards"] + r2.json()["awards"]
    assert len(awards) == 4

    relay_args = [
        "--db",
        settings.database_url,
        "--bootstrap",
        settings.kafka_bootstrap,
        "--prefix",
        settings.topic_prefix,
        "--data-dir",
        str(tmp_path),
    ]
    ledger_db = tmp_path / "finance.sqlite"
    finance_args = [
        "--bootstrap",
        settings.kafka_bootstrap,
        "--prefix",
        settings.topic_prefix,
        "--db",
        str(ledger_db),
        "--group",
        f"finance-{uuid.uuid4().hex[:6]}",
        "--member",
        "finance-1",
    ]

    # the relay publishes everything, and dies after the broker's ack, before marking a row
    relay = WorkerProcess(relay_args, module="tests.integration.grants.relay_worker", fault="relay.after_ack")
    await relay.start()
    await relay.wait_killed()
    assert await stack.runtimes["grants"].relay.backlog() > 0  # nothing was marked: all will be resent

    # the finance consumer books three commitments and dies before committing the third offset
    finance = WorkerProcess(finance_args, module="examples.finance_consumer", fault="finance.after_book@3")
    await finance.start()
    await finance.wait_killed()
    assert len(bookings(ledger_db)) == 3

    relay = WorkerProcess(relay_args, module="tests.integration.grants.relay_worker")
    finance = WorkerProcess(finance_args, module="examples.finance_consumer")
    async with relay, finance:
        await relay.wait_ready()
        await finance.wait_ready()
        # -- phase 2, while both run: confirmation, agreements, payments, a retry, a reversal,
        # a mid-term release, a termination with a clawback -----------------------------------
        stack.clock.set(stack.clock.now().replace(month=4, day=20))
        await stack.run_jobs()
        for award in awards:
            r = await stack.client.post(
                f"/grants/v1/awards/{award['id']}/agreement", json={}, headers={**g.officer, **g.key()}
            )
            assert r.status_code == 200, r.text

        async def tranches(award_id):
            return (await stack.client.get(f"/grants/v1/awards/{award_id}/disbursements", headers=g.finance)).json()

        async def post(t, status, ref, instruction=None):
            r = await stack.client.post(
                f"/grants/v1/disbursements/{t['id']}/payments",
                json={
                    "instruction_id": instruction or t["payment_instruction_id"],
                    "status": status,
                    "finance_reference": ref,
                },
                headers=g.finance,
            )
            assert r.status_code == 200, r.text
            return r.json()

        a0, a1, a2, a3 = (a["id"] for a in awards)
        await post((await tranches(a0))[0], "paid", "B-0-1")
        await post((await tranches(a1))[0], "paid", "B-1-1")
        t = (await tranches(a2))[0]
        await post(t, "failed", "F-2-1")
        retried = (
            await stack.client.post(f"/grants/v1/disbursements/{t['id']}/retry", headers={**g.finance, **g.key()})
        ).json()
        await post(retried, "paid", "B-2-1")
        t = (await tranches(a3))[0]
        await post(t, "paid", "B-3-1")
        await post(t, "reversed", "R-3-1")
        retried = (
            await stack.client.post(f"/grants/v1/disbursements/{t['id']}/retry", headers={**g.finance, **g.key()})
        ).json()
        await post(retried, "paid", "B-3-2")
        await g.events.assessment(a0, "midterm", passed=True)

        async def midterm_released() -> bool:
            return (await tranches(a0))[1]["status"] == "released"

        await consumed(midterm_released)
        await post((await tranches(a0))[1], "paid", "B-0-2")
        r = await stack.client.post(
            f"/grants/v1/awards/{a1}/termination",
            json={"reason": "违约", "clawback": money("1000.00")},
            headers={**g.officer, **g.key()},
        )
        assert r.status_code == 200, r.text
        r = await stack.client.post(
            f"/grants/v1/awards/{a1}/clawbacks",
            json={"amount": money("1000.00"), "received_on": "2026-05-01"},
            headers={**g.finance, **g.key()},
        )
        assert r.status_code == 200, r.text

        ledger = await g.ledger(call_id=call["id"])

        async def all_booked() -> bool:
            return len(bookings(ledger_db)) >= len(ledger)

        await wait_until(all_booked, timeout=90)
        await wait_until(lambda: not rows(ledger_db, "SELECT * FROM finance_held"), timeout=30)

    # -- exactly once, although the bus holds the first records twice (the relay died unmarked) ----
    records = await stack.bus.read_all(settings.topic("grants.award"))
    assert len(records) > len({r.header("ce_id") for r in records})
    booked = bookings(ledger_db)
    assert len(booked) == len(ledger) == len({b["event_id"] for b in booked})
    assert {b["event_id"] for b in booked} == {e["event_id"] for e in ledger}
    by_event = {e["event_id"]: e for e in ledger}
    for b in booked:  # the right amounts, kinds, running totals and budget line
        e = by_event[b["event_id"]]
        assert (b["kind"], b["amount_fen"], b["committed_total_fen"], b["paid_total_fen"], b["budget_line"]) == (
            e["booking"]["kind"],
            fen(e["booking"]["amount"]),
            fen(e["committed_total"]["amount"]),
            fen(e["paid_total"]["amount"]),
            e["booking"]["budget_line"],
        )
    # -- in order: per award and topic by sequence; a disbursement only after its award record
    per_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for b in booked:
        per_key[(b["award_id"], b["topic"])].append(b["sequence"])
        assert b["applied_award_sequence"] >= b["award_sequence"]
    assert all(seqs == sorted(seqs) for seqs in per_key.values())
    for award_id in (a0, a1, a2, a3):
        assert next(b["kind"] for b in booked if b["award_id"] == award_id) == "commitment"
    # -- each award and tranche once, to the fen -----------------------------------------------------
    finance_awards = {r["award_id"]: r for r in rows(ledger_db, "SELECT * FROM finance_awards")}
    finance_tranches = rows(ledger_db, "SELECT * FROM finance_tranches ORDER BY award_id, tranche_no")
    assert set(finance_awards) == {a0, a1, a2, a3}
    for award_id in (a0, a1, a2, a3):
        ours = (await stack.client.get(f"/grants/v1/awards/{award_id}", headers=g.officer)).json()
        theirs = finance_awards[award_id]
        assert (theirs["amount_fen"], theirs["committed_fen"], theirs["paid_fen"]) == (
            fen(ours["amount"]["amount"]),
            fen(ours["committed"]["amount"]),
            fen(ours["paid"]["amount"]),
        )
        expected = await tranches(award_id)
        got = [t for t in finance_tranches if t["award_id"] == award_id]
        assert [(t["tranche_no"], t["amount_fen"], t["status"]) for t in got] == [
            (t["tranche_no"], fen(t["amount"]["amount"]), t["status"]) for t in expected
        ]
        assert sum(t["amount_fen"] for t in got) == fen(ours["amount"]["amount"])
    assert finance_awards[a1]["paid_fen"] == fen("20000.40") - 100_000  # the clawback came back
    budget = await g.budget(call["id"])
    assert sum(r["committed_fen"] for r in finance_awards.values()) == fen(budget["committed"]["amount"])
    assert sum(r["paid_fen"] for r in finance_awards.values()) == fen(budget["paid"]["amount"])


async def test_the_ledger_holds_a_disbursement_until_its_award_record_and_ignores_duplicates(tmp_path):
    store = Store(tmp_path / "ledger.sqlite")
    await store.open()
    ledger = Ledger(store)

    def event(topic, verb, seq, data, id_=None):
        return {
            "id": id_ or uuid.uuid4().hex,
            "source": "urn:gongyi:t:grants",
            "partitionkey": "A1",
            "type": f"cn.gongyi.grants.{topic}.{verb}.v1",
            "sequence": f"{seq:020d}",
            "data": data,
        }

    base = {
        "award_id": "A1",
        "call_id": "C",
        "org_id": "O",
        "budget_line": "L",
        "fiscal_year": 2026,
        "amount": money("100.00"),
        "committed_total": money("100.00"),
        "paid_total": money("0.00"),
    }
    decided = event(
        "award",
        "decided",
        1,
        {
            **base,
            "booking": {
                "kind": "commitment",
                "amount": "100.00",
                "currency": "CNY",
                "budget_line": "L",
                "fiscal_year": 2026,
            },
        },
    )
    signed = event("award", "agreement_signed", 2, base)
    tranche = {
        **base,
        "disbursement_id": "D1",
        "tranche_no": 1,
        "tranche_count": 1,
        "trigger": "signing",
        "award_sequence": 2,
        "amount": money("100.00"),
    }
    scheduled = event("disbursement", "scheduled", 1, tranche)
    released = event(
        "disbursement",
        "released",
        2,
        {
            **tranche,
            "payment_instruction_id": "I1",
            "attempt": 1,
            "booking": {
                "kind": "payment_instruction",
                "amount": "100.00",
                "currency": "CNY",
                "budget_line": "L",
                "fiscal_year": 2026,
            },
        },
    )
    # the disbursement topic runs ahead of the award topic
    assert (await ledger.handle("grants.disbursement", scheduled)).held == 1
    assert (await ledger.handle("grants.disbursement", released)).held == 1
    assert (await ledger.handle("grants.award", decided)).booked == 1
    assert rows(tmp_path / "ledger.sqlite", "SELECT count(*) AS n FROM finance_held")[0]["n"] == 2
    outcome = await ledger.handle("grants.award", signed)
    assert outcome.booked == 1 and outcome.held == -2  # both released, in order
    assert (await ledger.handle("grants.award", decided)).duplicates == 1
    assert (await ledger.handle("grants.disbursement", json.loads(json.dumps(released)))).duplicates == 1
    booked = bookings(tmp_path / "ledger.sqlite")
    assert [(b["topic"], b["kind"], b["applied_award_sequence"]) for b in booked] == [
        ("grants.award", "commitment", 1),
        ("grants.disbursement", "payment_instruction", 2),
    ]
    await store.close()


async def test_on_the_embedded_log_the_reference_consumer_books_the_same_entries_as_the_ledger(stack_factory, tmp_path):
    import argparse
    import asyncio

    from examples.finance_consumer import run_embedded

    stack = await stack_factory(("grants",), db="sqlite", bus="embedded")
    g = Grants(stack)
    call = await g.open_call()
    org = await g.events.good_org(new_org())
    await stack.settle()
    app = await g.submitted(call["id"], org)
    await g.close(call)
    award = (await g.award(call["id"], [{"application_id": app["id"]}])).json()["awards"][0]
    await stack.advance(days=10)
    r = await stack.client.post(f"/grants/v1/awards/{award['id']}/agreement", json={}, headers={**g.officer, **g.key()})
    assert r.status_code == 200
    await stack.settle()
    ledger = await g.ledger(call_id=call["id"])

    store = Store(tmp_path / "embedded-ledger.sqlite")
    await store.open()
    args = argparse.Namespace(
        embedded_log=str(stack.bus.db_path),
        prefix=stack.topic_prefix,
        group="finance-embedded",
        member="finance-1",
    )
    stopping = asyncio.Event()
    task = asyncio.create_task(run_embedded(Ledger(store), args, stopping))
    try:
        await wait_until(lambda: len(bookings(tmp_path / "embedded-ledger.sqlite")) >= len(ledger), timeout=30)
    finally:
        stopping.set()
        await task
        await store.close()
    booked = bookings(tmp_path / "embedded-ledger.sqlite")
    assert [(b["event_id"], b["kind"], b["amount_fen"]) for b in booked] == [
        (e["event_id"], e["booking"]["kind"], fen(e["booking"]["amount"])) for e in ledger
    ]

"""Tranches and payments through the API on PostgreSQL: released by trigger, paid once, retried with
new instruction ids, reversed, suspended by a failed assessment, cancelled on termination with a
clawback; the ledger and the budget agree after every step."""

from __future__ import annotations

import pytest

from tests.integration.grants.support import Grants, fen, money, new_org, verb


async def signed_award(stack_factory, db="postgres"):
    stack = await stack_factory(("grants",), db=db)
    g = Grants(stack)
    call = await g.open_call()
    org = await g.events.good_org(new_org())
    await stack.settle()
    app = await g.submitted(call["id"], org)
    await g.close(call)
    r = await g.award(call["id"], [{"application_id": app["id"]}])
    award = r.json()["awards"][0]
    await stack.advance(days=10)
    r = await stack.client.post(f"/grants/v1/awards/{award['id']}/agreement", json={}, headers={**g.officer, **g.key()})
    assert r.status_code == 200, r.text
    return stack, g, call, r.json(), org


async def tranches(stack, g, award_id):
    r = await stack.client.get(f"/grants/v1/awards/{award_id}/disbursements", headers=g.finance)
    assert r.status_code == 200, r.text
    return r.json()


async def post(stack, g, tranche_id, instruction_id, status, ref, **extra):
    return await stack.client.post(
        f"/grants/v1/disbursements/{tranche_id}/payments",
        json={"instruction_id": instruction_id, "status": status, "finance_reference": ref, **extra},
        headers=g.finance,
    )


async def consistent(g, call_id):
    budget = await g.budget(call_id)
    ledger = await g.ledger(call_id=call_id)
    committed = sum(
        fen(e["booking"]["amount"]) for e in ledger if e["booking"]["kind"] in ("commitment", "commitment_release")
    )
    paid = sum(
        fen(e["booking"]["amount"])
        for e in ledger
        if e["booking"]["kind"] in ("payment", "payment_reversal", "clawback")
    )
    assert (fen(budget["committed"]["amount"]), fen(budget["paid"]["amount"])) == (committed, paid)
    return budget, ledger


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_failed_payment_is_retried_with_a_new_instruction_and_paid_once(stack_factory, db):
    stack, g, call, award, _ = await signed_award(stack_factory, db)
    first = (await tranches(stack, g, award["id"]))[0]
    assert first["status"] == "released" and first["attempt"] == 1
    i1 = first["payment_instruction_id"]
    r = await post(stack, g, first["id"], i1, "failed", "RET-1", reason="账户冻结")
    assert r.status_code == 200 and r.json()["status"] == "failed"
    r = await post(stack, g, first["id"], i1, "paid", "BANK-1")
    assert r.status_code == 409 and r.json()["rule"] == "payment.instruction_superseded"
    r = await stack.client.post(f"/grants/v1/disbursements/{first['id']}/retry", headers={**g.finance, **g.key()})
    assert r.status_code == 200, r.text
    i2 = r.json()["payment_instruction_id"]
    assert i2 != i1 and r.json()["attempt"] == 2
    r = await post(stack, g, first["id"], i1, "paid", "BANK-1")
    assert r.status_code == 409 and r.json()["rule"] == "payment.instruction_superseded"
    r = await post(stack, g, first["id"], i2, "paid", "BANK-2", paid_at="2026-03-20T02:00:00Z")
    assert r.status_code == 200 and r.json()["status"] == "paid"
    repeat = await post(stack, g, first["id"], i2, "paid", "BANK-2", paid_at="2026-03-20T02:00:00Z")
    assert repeat.status_code == 200 and repeat.headers["idempotent-replayed"] == "true"
    r = await post(stack, g, first["id"], i2, "paid", "BANK-3")
    assert r.status_code == 409 and r.json()["rule"] == "payment.already_paid"
    r = await stack.client.post(f"/grants/v1/disbursements/{first['id']}/retry", headers={**g.finance, **g.key()})
    assert r.status_code == 409

    events = [e for e in await g.bus_events("grants.disbursement") if e["data"]["disbursement_id"] == first["id"]]
    assert [verb(e) for e in events] == ["scheduled", "released", "payment_failed", "released", "paid"]
    assert [e["data"].get("attempt") for e in events if verb(e) == "released"] == [1, 2]
    assert [e["data"]["payment_instruction_id"] for e in events if verb(e) == "released"] == [i1, i2]
    budget, _ = await consistent(g, call["id"])
    assert budget["paid"]["amount"] == "24000.00"


async def test_a_bank_return_after_payment_is_a_reversal_and_the_tranche_is_paid_again(stack_factory):
    stack, g, call, award, _ = await signed_award(stack_factory)
    first = (await tranches(stack, g, award["id"]))[0]
    i1 = first["payment_instruction_id"]
    assert (await post(stack, g, first["id"], i1, "paid", "BANK-1")).status_code == 200
    r = await post(stack, g, first["id"], i1, "failed", "X")
    assert r.status_code == 409 and r.json()["rule"] == "payment.already_paid"
    r = await post(stack, g, first["id"], i1, "reversed", "RETURN-1")
    assert r.status_code == 200 and r.json()["status"] == "reversed"
    budget, _ = await consistent(g, call["id"])
    assert budget["paid"]["amount"] == "0.00"
    r = await stack.client.post(f"/grants/v1/disbursements/{first['id']}/retry", headers={**g.officer, **g.key()})
    i2 = r.json()["payment_instruction_id"]
    assert (await post(stack, g, first["id"], i2, "paid", "BANK-2")).status_code == 200
    budget, ledger = await consistent(g, call["id"])
    assert budget["paid"]["amount"] == "24000.00"
    assert [e["booking"]["kind"] for e in ledger][-4:] == [
        "payment",
        "payment_reversal",
        "payment_instruction",
        "payment",
    ]
    assert [e["paid_total"]["amount"] for e in ledger][-4:] == ["24000.00", "0.00", "0.00", "24000.00"]


async def test_a_failed_midterm_suspends_later_tranches_and_a_passing_reassessment_resumes_them(stack_factory):
    stack, g, _call, award, _ = await signed_award(stack_factory)
    await g.events.assessment(award["id"], "midterm", passed=False, score="52.00")
    await stack.settle()
    assert [t["status"] for t in await tranches(stack, g, award["id"])] == ["released", "suspended", "suspended"]
    await g.events.assessment(award["id"], "midterm", passed=True, score="75.00")
    await stack.settle()
    assert [t["status"] for t in await tranches(stack, g, award["id"])] == ["released", "released", "scheduled"]
    kinds = [verb(e) for e in await g.bus_events("grants.disbursement") if e["data"]["tranche_no"] == 2]
    assert kinds == ["scheduled", "suspended", "resumed", "released"]


async def test_termination_cancels_unpaid_tranches_releases_the_commitment_and_records_a_clawback(stack_factory):
    stack, g, call, award, _ = await signed_award(stack_factory)
    first = (await tranches(stack, g, award["id"]))[0]
    await post(stack, g, first["id"], first["payment_instruction_id"], "paid", "BANK-1")
    r = await stack.client.post(
        f"/grants/v1/awards/{award['id']}/suspension", json={"reason": "项目停滞"}, headers=g.officer
    )
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert [t["status"] for t in await tranches(stack, g, award["id"])] == ["paid", "suspended", "suspended"]
    r = await stack.client.post(
        f"/grants/v1/awards/{award['id']}/termination",
        json={"reason": "违约", "clawback": money("10000.00")},
        headers={**g.officer, **g.key()},
    )
    assert r.status_code == 200, r.text
    terminated = r.json()
    assert terminated["status"] == "terminated" and terminated["committed"]["amount"] == "24000.00"
    assert [t["status"] for t in await tranches(stack, g, award["id"])] == ["paid", "cancelled", "cancelled"]
    events = [e for e in await g.bus_events("grants.award") if verb(e) == "terminated"]
    assert events[0]["data"]["cancelled_unpaid"] == money("36000.00")
    assert events[0]["data"]["booking"]["amount"] == "-36000.00"
    budget, _ = await consistent(g, call["id"])
    assert budget["committed"]["amount"] == "24000.00" and budget["remaining"]["amount"] == "976000.00"

    too_much = await stack.client.post(
        f"/grants/v1/awards/{award['id']}/clawbacks",
        json={"amount": money("10000.01"), "received_on": "2026-04-01"},
        headers={**g.finance, **g.key()},
    )
    assert too_much.status_code == 409
    r = await stack.client.post(
        f"/grants/v1/awards/{award['id']}/clawbacks",
        json={"amount": money("10000.00"), "received_on": "2026-04-01"},
        headers={**g.finance, **g.key()},
    )
    assert r.status_code == 200 and r.json()["paid"]["amount"] == "14000.00"
    budget, ledger = await consistent(g, call["id"])
    assert budget["paid"]["amount"] == "14000.00"
    assert ledger[-1]["booking"]["kind"] == "clawback" and ledger[-1]["paid_total"]["amount"] == "14000.00"


async def test_terminating_a_released_tranche_voids_its_instruction(stack_factory):
    stack, g, call, award, _ = await signed_award(stack_factory)
    first = (await tranches(stack, g, award["id"]))[0]
    r = await stack.client.post(
        f"/grants/v1/awards/{award['id']}/termination", json={"reason": "撤销"}, headers={**g.officer, **g.key()}
    )
    assert r.status_code == 200
    r = await post(stack, g, first["id"], first["payment_instruction_id"], "paid", "BANK-1")
    assert r.status_code == 409 and r.json()["rule"] == "payment.instruction_superseded"
    budget, _ = await consistent(g, call["id"])
    assert budget["committed"]["amount"] == "0.00" and budget["remaining"]["amount"] == "1000000.00"


async def test_the_payee_is_for_finance_and_every_read_is_audited(stack_factory):
    stack, g, _call, award, _ = await signed_award(stack_factory)
    assert (await stack.client.get(f"/grants/v1/awards/{award['id']}/payee", headers=g.officer)).status_code == 403
    r = await stack.client.get(f"/grants/v1/awards/{award['id']}/payee", headers=g.finance)
    assert r.status_code == 200
    assert r.json()["account_number"] == "3602000109200123456"
    assert r.json()["payee"]["account_number_masked"] == "****3456"
    audit = (
        await stack.client.get("/grants/v1/audit", params={"resource": f"awards/{award['id']}"}, headers=g.officer)
    ).json()["items"]
    assert [e["actor_sub"] for e in audit if e["action"] == "award.payee_read"] == ["finance-1"]
    for topic in ("grants.award", "grants.disbursement"):
        assert all("3602000109200123456" not in str(e) for e in await g.bus_events(topic))


async def test_the_ledger_is_for_finance_and_pages_with_a_cursor(stack_factory):
    stack, g, _call, _award, _ = await signed_award(stack_factory)
    assert (await stack.client.get("/grants/v1/ledger", headers=g.officer)).status_code == 403
    r = await stack.client.get("/grants/v1/ledger", params={"limit": 1}, headers=g.finance)
    page = r.json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    everything = await g.ledger()
    assert [e["entry_id"] for e in everything] == sorted(e["entry_id"] for e in everything)
    events = {e["id"]: e for t in ("grants.award", "grants.disbursement") for e in await g.bus_events(t)}
    for entry in everything:
        event = events[entry["event_id"]]
        assert event["data"]["booking"] == entry["booking"]
        assert int(event["sequence"]) == entry["sequence"] and event["partitionkey"] == entry["award_id"]
    elsewhere = stack.auth("finance", region="440106", sub="finance-2")
    assert (await stack.client.get("/grants/v1/ledger", headers=elsewhere)).json()["items"] == []
    bad = await stack.client.get("/grants/v1/ledger", params={"cursor": "nonsense"}, headers=g.finance)
    assert bad.status_code == 400

"""The whole life of a grant through the HTTP API: call → application → review → award → notice →
agreement → tranches paid as their triggers fire → completed; with the finance events and ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.grants.support import Grants, fen, new_org, verb


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_a_grant_from_call_to_completion(stack_factory, db):
    stack = await stack_factory(("grants",), db=db)
    g = Grants(stack)
    call = await g.open_call()
    assert call["status"] == "open"
    public = (await stack.client.get("/grants/v1/calls", params={"status": "open"})).json()
    assert [c["id"] for c in public["items"]] == [call["id"]]

    a, b = new_org("启智社工"), new_org("阳光助残")
    await g.events.good_org(a, grade="4A")
    await g.events.good_org(b, grade="3A")
    await stack.settle()
    app_a = await g.submitted(call["id"], a)
    app_b = await g.submitted(call["id"], b, requested={"amount": "50000.00", "currency": "CNY"})
    assert app_a["eligible"] is True and app_a["eligibility"]["reasons"] == []
    assert app_a["status"] == "submitted"

    await g.close(call)
    assert (await stack.client.get(f"/grants/v1/calls/{call['id']}")).json()["status"] == "closed"

    pool = [{"sub": "rev-1"}, {"sub": "rev-2"}, {"sub": "rev-3", "conflicts": [a.org_id]}]
    r = await stack.client.post(f"/grants/v1/calls/{call['id']}/reviewers", json={"reviewers": pool}, headers=g.officer)
    assert r.status_code == 200, r.text
    r = await stack.client.post(f"/grants/v1/calls/{call['id']}/assignments", json={}, headers=g.officer)
    assert r.status_code == 200, r.text
    assigned = r.json()["assigned"]
    assert len(assigned) == 4
    assert {x["reviewer_sub"] for x in assigned if x["application_id"] == app_a["id"]} == {"rev-1", "rev-2"}

    scores = {
        app_a["id"]: {"need": "90", "design": "85.5", "capacity": "80"},
        app_b["id"]: {"need": "70", "design": "75", "capacity": "72.25"},
    }
    for x in assigned:
        evaluator = stack.auth("evaluator", agency_id="agency-1", sub=x["reviewer_sub"])
        r = await stack.client.put(
            f"/grants/v1/applications/{x['application_id']}/reviews/me",
            json={"scores": scores[x["application_id"]], "submit": True},
            headers={**evaluator, "If-None-Match": "*"},
        )
        assert r.status_code == 200, r.text
    ranking = (await stack.client.post(f"/grants/v1/calls/{call['id']}/ranking", headers=g.officer)).json()
    assert [i["application_id"] for i in ranking["items"]] == [app_a["id"], app_b["id"]]
    assert ranking["items"][0]["score"] == "85.20"  # 90×0.3 + 85.5×0.4 + 80×0.3

    r = await g.award(call["id"], [{"application_id": app_a["id"]}])
    assert r.status_code == 201, r.text
    award = r.json()["awards"][0]
    assert award["status"] == "noticed" and award["amount"]["amount"] == "60000.00"
    assert r.json()["budget"]["remaining"]["amount"] == "940000.00"

    notice = (await stack.client.get(f"/grants/v1/calls/{call['id']}/public-notice")).json()
    assert [i["award_id"] for i in notice["items"]] == [award["id"]]

    await stack.advance(days=10)  # past the 5-working-day notice
    award = (await stack.client.get(f"/grants/v1/awards/{award['id']}", headers=g.officer)).json()
    assert award["status"] == "confirmed"

    r = await stack.client.post(
        f"/grants/v1/awards/{award['id']}/agreement", json={"signed_on": "2026-04-20"}, headers={**g.officer, **g.key()}
    )
    assert r.status_code == 200, r.text
    tranches = (await stack.client.get(f"/grants/v1/awards/{award['id']}/disbursements", headers=g.finance)).json()
    assert [t["amount"]["amount"] for t in tranches] == ["24000.00", "18000.00", "18000.00"]
    assert [t["status"] for t in tranches] == ["released", "scheduled", "scheduled"]
    assert tranches[0]["due_on"] == "2026-05-13"  # 15 working days after 04-20: May Day off, Sat 05-09 worked

    async def pay(t, ref):
        r = await stack.client.post(
            f"/grants/v1/disbursements/{t['id']}/payments",
            json={"instruction_id": t["payment_instruction_id"], "status": "paid", "finance_reference": ref},
            headers=g.finance,
        )
        assert r.status_code == 200, r.text
        return r.json()

    await pay(tranches[0], "BANK-1")
    await stack.settle()
    await g.events.assessment(award["id"], "midterm", passed=True)
    await stack.settle()
    tranches = (await stack.client.get(f"/grants/v1/awards/{award['id']}/disbursements", headers=g.finance)).json()
    assert [t["status"] for t in tranches] == ["paid", "released", "scheduled"]
    await pay(tranches[1], "BANK-2")
    await g.events.assessment(award["id"], "final", passed=True)
    await stack.settle()
    tranches = (await stack.client.get(f"/grants/v1/awards/{award['id']}/disbursements", headers=g.finance)).json()
    await pay(tranches[2], "BANK-3")
    await stack.settle()
    award = (await stack.client.get(f"/grants/v1/awards/{award['id']}", headers=g.officer)).json()
    assert award["status"] == "completed" and award["paid"]["amount"] == "60000.00"

    budget = await g.budget(call["id"])
    assert budget["committed"]["amount"] == "60000.00" and budget["paid"]["amount"] == "60000.00"
    ledger = await g.ledger(call_id=call["id"])
    assert [e["booking"]["kind"] for e in ledger] == [
        "commitment",
        "payment_instruction",
        "payment",
        "payment_instruction",
        "payment",
        "payment_instruction",
        "payment",
    ]
    assert all(e["event_id"] for e in ledger)
    assert (
        sum(fen(e["booking"]["amount"]) for e in ledger if e["booking"]["kind"] in ("commitment", "commitment_release"))
        == 6_000_000
    )
    assert (
        sum(
            fen(e["booking"]["amount"])
            for e in ledger
            if e["booking"]["kind"] in ("payment", "payment_reversal", "clawback")
        )
        == 6_000_000
    )

    award_events = await g.bus_events("grants.award")
    mine = [e for e in award_events if e["partitionkey"] == award["id"]]
    assert [verb(e) for e in mine] == ["decided", "publicly_noticed", "confirmed", "agreement_signed", "completed"]
    assert [int(e["sequence"]) for e in mine] == [1, 2, 3, 4, 5]
    disb = [e for e in await g.bus_events("grants.disbursement") if e["partitionkey"] == award["id"]]
    assert [int(e["sequence"]) for e in disb] == list(range(1, len(disb) + 1))
    assert all(e["data"]["award_sequence"] >= 4 for e in disb)  # after agreement_signed
    paid = [e for e in disb if verb(e) == "paid"]
    assert [e["data"]["paid_total"]["amount"] for e in paid] == ["24000.00", "42000.00", "60000.00"]
    assert ledger[0]["event_id"] == mine[0]["id"]
    assert stack.clock.now() - timedelta(days=10) > stack.clock.now() - timedelta(days=11)

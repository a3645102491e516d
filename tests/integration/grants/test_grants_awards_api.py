"""Awards through the API: the budget invariant under concurrency, one award per application, the
public notice with objections and reserves, confirmation by the timer, budget == ledger."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.integration.grants.support import Grants, fen, money, new_org, verb


async def _eligible_applications(stack, g: Grants, call, n: int) -> list[dict]:
    orgs = [new_org(f"机构{i:02d}") for i in range(n)]
    for org in orgs:
        await g.events.good_org(org)
    await stack.settle()
    apps = [await g.submitted(call["id"], org) for org in orgs]
    assert all(a["eligible"] for a in apps)
    await g.close(call)
    return apps


async def _assert_budget_equals_ledger(g: Grants, call_id: str) -> dict:
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
    assert fen(budget["committed"]["amount"]) == committed
    assert fen(budget["paid"]["amount"]) == paid
    assert fen(budget["remaining"]["amount"]) == fen(budget["total"]["amount"]) - committed
    return budget


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_fifty_parallel_decisions_against_a_budget_for_twenty_award_exactly_twenty(stack_factory, db):
    stack = await stack_factory(("grants",), db=db)
    g = Grants(stack)
    call = await g.open_call(budget=money("1210000.00"))  # 20 × ¥60,000 fit, the 21st does not
    apps = await _eligible_applications(stack, g, call, 50)
    officers = [g.officer, stack.auth("officer", region="440100", sub="officer-2")]  # two officers at once

    results = await asyncio.gather(
        *(g.award(call["id"], [{"application_id": app["id"]}], headers=officers[i % 2]) for i, app in enumerate(apps))
    )
    statuses = Counter(r.status_code for r in results)
    assert statuses == {201: 20, 409: 30}, [r.text for r in results if r.status_code not in (201, 409)]
    assert {r.json()["rule"] for r in results if r.status_code == 409} == {"budget.exceeded"}
    refused = next(r.json() for r in results if r.status_code == 409)
    assert refused["shortfall"] == money("50000.00") and refused["remaining"] == money("10000.00")

    budget = await _assert_budget_equals_ledger(g, call["id"])
    assert budget["committed"]["amount"] == "1200000.00" and budget["remaining"]["amount"] == "10000.00"
    awards = (await stack.client.get(f"/grants/v1/calls/{call['id']}/awards", headers=g.officer)).json()
    assert len(awards) == 20 and len({a["application_id"] for a in awards}) == 20
    decided = [e for e in await g.bus_events("grants.award") if verb(e) == "decided"]
    assert len(decided) == 20
    assert sum(fen(e["data"]["booking"]["amount"]) for e in decided) == 120_000_000


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_one_award_per_application_even_when_two_officers_race(stack_factory, db):
    stack = await stack_factory(("grants",), db=db)
    g = Grants(stack)
    call = await g.open_call()
    [app] = await _eligible_applications(stack, g, call, 1)
    other = stack.auth("officer", region="440111", sub="officer-2")
    first, second = await asyncio.gather(
        g.award(call["id"], [{"application_id": app["id"]}]),
        g.award(call["id"], [{"application_id": app["id"]}], headers=other),
    )
    assert sorted([first.status_code, second.status_code]) == [201, 409]
    loser = first if first.status_code == 409 else second
    assert loser.json()["rule"] == "award.duplicate"
    again = await g.award(call["id"], [{"application_id": app["id"]}])
    assert again.status_code == 409 and again.json()["rule"] == "award.duplicate"
    budget = await _assert_budget_equals_ledger(g, call["id"])
    assert budget["committed"]["amount"] == "60000.00"


async def test_a_batch_is_atomic_and_names_the_shortfall(stack_factory):
    stack = await stack_factory(("grants",), db="postgres")
    g = Grants(stack)
    call = await g.open_call(budget=money("150000.00"))
    apps = await _eligible_applications(stack, g, call, 3)
    r = await g.award(call["id"], [{"application_id": a["id"]} for a in apps])
    assert r.status_code == 409
    assert r.json()["rule"] == "budget.exceeded" and r.json()["shortfall"] == money("30000.00")
    assert "short by ¥30,000.00" in r.json()["detail"]
    assert (await g.budget(call["id"]))["committed"]["amount"] == "0.00"
    r = await g.award(call["id"], [{"application_id": apps[0]["id"], "amount": money("90000.00")}])
    assert r.status_code == 422 and "exceeds the amount requested" in r.json()["detail"]
    r = await g.award(
        call["id"], [{"application_id": apps[0]["id"], "amount": money("50000.00")}, {"application_id": apps[1]["id"]}]
    )
    assert r.status_code == 201, r.text
    assert r.json()["budget"]["remaining"]["amount"] == "40000.00"


async def test_decisions_wait_for_the_close_and_need_an_officer_of_the_region(stack_factory):
    stack = await stack_factory(("grants",), db="postgres")
    g = Grants(stack)
    call = await g.open_call()
    org = await g.events.good_org(new_org())
    await stack.settle()
    app = await g.submitted(call["id"], org)
    r = await g.award(call["id"], [{"application_id": app["id"]}])
    assert r.status_code == 409 and r.json()["rule"] == "award.call_open"
    await g.close(call)
    elsewhere = stack.auth("officer", region="440106", sub="officer-x")
    assert (await g.award(call["id"], [{"application_id": app["id"]}], headers=elsewhere)).status_code == 403
    assert (await g.award(call["id"], [{"application_id": app["id"]}], headers=g.org(org))).status_code == 403
    no_key = await stack.client.post(
        f"/grants/v1/calls/{call['id']}/awards", json={"awards": [{"application_id": app["id"]}]}, headers=g.officer
    )
    assert no_key.status_code == 400


async def test_an_ineligible_application_cannot_be_awarded(stack_factory):
    stack = await stack_factory(("grants",), db="postgres")
    g = Grants(stack)
    call = await g.open_call()
    weak = await g.events.good_org(new_org(), grade="1A")
    await stack.settle()
    app = await g.submitted(call["id"], weak)
    await g.close(call)
    r = await g.award(call["id"], [{"application_id": app["id"]}])
    assert r.status_code == 409 and r.json()["rule"] == "award.ineligible"


async def test_upheld_objection_cancels_the_award_and_offers_the_next_ranked_reserve(stack_factory):
    stack = await stack_factory(("grants",), db="postgres")
    g = Grants(stack)
    call = await g.open_call(reviewers_per_application=1)
    apps = await _eligible_applications(stack, g, call, 3)
    await stack.client.post(
        f"/grants/v1/calls/{call['id']}/reviewers", json={"reviewers": [{"sub": "rev-1"}]}, headers=g.officer
    )
    await stack.client.post(f"/grants/v1/calls/{call['id']}/assignments", json={}, headers=g.officer)
    reviewer = stack.auth("evaluator", agency_id="a", sub="rev-1")
    for score, app in zip(("90", "80", "70"), apps, strict=True):
        r = await stack.client.put(
            f"/grants/v1/applications/{app['id']}/reviews/me",
            json={"scores": {"need": score, "design": score, "capacity": score}, "submit": True},
            headers={**reviewer, "If-None-Match": "*"},
        )
        assert r.status_code == 200, r.text
    assert (await stack.client.post(f"/grants/v1/calls/{call['id']}/ranking", headers=g.officer)).status_code == 200
    r = await g.award(call["id"], [{"application_id": apps[0]["id"]}, {"application_id": apps[1]["id"]}])
    first, second = r.json()["awards"]

    public = stack.auth("org", org_id="00000000-0000-4000-8000-000000000001", sub="someone")
    r = await stack.client.post(
        f"/grants/v1/awards/{first['id']}/objections", json={"reason": "材料造假"}, headers={**public, **g.key()}
    )
    assert r.status_code == 201, r.text
    objection = r.json()
    r = await stack.client.post(
        f"/grants/v1/objections/{objection['id']}/decision",
        json={"decision": "upheld", "reason": "经核实材料不实"},
        headers=g.officer,
    )
    assert r.status_code == 200, r.text
    assert r.json()["reserve_application_id"] == apps[2]["id"]
    award = (await stack.client.get(f"/grants/v1/awards/{first['id']}", headers=g.officer)).json()
    assert award["status"] == "cancelled" and award["committed"]["amount"] == "0.00"
    budget = await _assert_budget_equals_ledger(g, call["id"])
    assert budget["committed"]["amount"] == "60000.00"
    upheld = [e for e in await g.bus_events("grants.award") if verb(e) == "objection_upheld"]
    assert upheld[0]["data"]["booking"] == {
        "kind": "commitment_release",
        "amount": "-60000.00",
        "currency": "CNY",
        "budget_line": "2026/2081099/穗财社〔2026〕12号",
        "fiscal_year": 2026,
    }
    assert upheld[0]["data"]["committed_total"] == money("0.00")
    # the reserve is awarded through the normal, budget-checked decision
    r = await g.award(call["id"], [{"application_id": apps[2]["id"]}])
    assert r.status_code == 201, r.text

    # an objection to the second award is rejected after the notice ended: it is confirmed then
    r = await stack.client.post(
        f"/grants/v1/awards/{second['id']}/objections", json={"reason": "异议"}, headers={**public, **g.key()}
    )
    late_objection = r.json()
    await stack.advance(days=10)
    award = (await stack.client.get(f"/grants/v1/awards/{second['id']}", headers=g.officer)).json()
    assert award["status"] == "noticed"  # a pending objection holds the confirmation
    r = await stack.client.post(
        f"/grants/v1/awards/{second['id']}/objections", json={"reason": "太晚"}, headers={**public, **g.key()}
    )
    assert r.status_code == 409 and r.json()["rule"] == "objection.window_closed"
    r = await stack.client.post(
        f"/grants/v1/objections/{late_objection['id']}/decision",
        json={"decision": "rejected", "reason": "不成立"},
        headers=g.officer,
    )
    assert r.status_code == 200
    award = (await stack.client.get(f"/grants/v1/awards/{second['id']}", headers=g.officer)).json()
    assert award["status"] == "confirmed"
    notice = (await stack.client.get(f"/grants/v1/calls/{call['id']}/public-notice")).json()
    assert {i["award_id"] for i in notice["items"]} == {second["id"], r.json()["award_id"]} | {
        a["id"]
        for a in (await stack.client.get(f"/grants/v1/calls/{call['id']}/awards", headers=g.officer)).json()
        if a["status"] != "cancelled"
    }
    audit = (
        await stack.client.get("/grants/v1/audit", params={"resource": f"awards/{first['id']}"}, headers=g.officer)
    ).json()
    decided = next(e for e in audit["items"] if e["action"] == "award.decided")
    assert decided["actor_sub"] == "officer-1" and decided["detail"]["standing"]["kind"] == "social_service_agency"
    assert decided["detail"]["rule_set"]["id"] == f"call:{call['id']}"

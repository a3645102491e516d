"""Expert review through the API: the pool, N reviewers per application, declared conflicts excluded
and replaced, weighted scores, the roadshow weight and the tie-break; tranche due dates."""

from __future__ import annotations

import pytest

from tests.integration.grants.support import Grants, money, new_org, verb


async def _closed_call_with_applications(stack, g: Grants, n: int, requested=None, **call):
    call = await g.open_call(**call)
    orgs = [new_org(f"机构{i}") for i in range(n)]
    for org in orgs:
        await g.events.good_org(org)
    await stack.settle()
    amounts = requested or ["60000.00"] * n
    apps = [
        await g.submitted(call["id"], org, requested=money(amount)) for org, amount in zip(orgs, amounts, strict=True)
    ]
    await g.close(call)
    return call, orgs, apps


async def review(stack, sub, app_id, scores, *, submit=True, headers=None):
    evaluator = stack.auth("evaluator", agency_id="agency-1", sub=sub)
    return await stack.client.put(
        f"/grants/v1/applications/{app_id}/reviews/me",
        json={"scores": scores, "submit": submit},
        headers={**evaluator, **(headers or {})},
    )


def same(score):
    return {"need": score, "design": score, "capacity": score}


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_a_declared_conflict_excludes_the_reviewer_and_brings_in_another(stack_factory, db):
    stack = await stack_factory(("grants",), db=db)
    g = Grants(stack)
    call, orgs, apps = await _closed_call_with_applications(stack, g, 2)
    pool = {"reviewers": [{"sub": "r1"}, {"sub": "r2"}, {"sub": "r3", "conflicts": [orgs[1].org_id]}]}
    await stack.client.post(f"/grants/v1/calls/{call['id']}/reviewers", json=pool, headers=g.officer)
    r = await stack.client.post(f"/grants/v1/calls/{call['id']}/assignments", json={}, headers=g.officer)
    assigned = {(x["application_id"], x["reviewer_sub"]) for x in r.json()["assigned"]}
    assert (apps[1]["id"], "r3") not in assigned and len(assigned) == 4
    first_reviewer = next(s for a, s in sorted(assigned) if a == apps[0]["id"])

    # an evaluator not assigned to the application cannot see or review it
    stranger = stack.auth("evaluator", agency_id="agency-1", sub="r9")
    assert (await stack.client.get(f"/grants/v1/applications/{apps[0]['id']}", headers=stranger)).status_code == 404
    assert (await review(stack, "r9", apps[0]["id"], same("80"), headers={"If-None-Match": "*"})).status_code == 404
    mine = stack.auth("evaluator", agency_id="agency-1", sub=first_reviewer)
    assert (await stack.client.get(f"/grants/v1/applications/{apps[0]['id']}", headers=mine)).status_code == 200

    r = await stack.client.post(
        f"/grants/v1/applications/{apps[0]['id']}/conflicts", json={"reason": "两年内曾在该机构任职"}, headers=mine
    )
    assert r.status_code == 200, r.text
    replacement = r.json()["replacement"]
    assert replacement not in (None, first_reviewer)
    r = await review(stack, first_reviewer, apps[0]["id"], same("99"), headers={"If-None-Match": "*"})
    assert r.status_code == 409 and r.json()["rule"] == "review.excluded"
    reviews = (await stack.client.get(f"/grants/v1/applications/{apps[0]['id']}/reviews", headers=g.officer)).json()
    assert {x["reviewer_sub"]: x["status"] for x in reviews}[first_reviewer] == "excluded"
    pool_now = (await stack.client.get(f"/grants/v1/calls/{call['id']}/reviewers", headers=g.officer)).json()
    assert orgs[0].org_id in next(p for p in pool_now if p["sub"] == first_reviewer)["conflicts"]


async def test_scores_are_saved_then_submitted_with_preconditions_and_weighted(stack_factory):
    stack = await stack_factory(("grants",), db="postgres")
    g = Grants(stack)
    call, _, [app] = await _closed_call_with_applications(stack, g, 1, reviewers_per_application=2)
    await stack.client.post(
        f"/grants/v1/calls/{call['id']}/reviewers",
        json={"reviewers": [{"sub": "r1"}, {"sub": "r2"}]},
        headers=g.officer,
    )
    await stack.client.post(f"/grants/v1/calls/{call['id']}/assignments", json={}, headers=g.officer)
    assert (await review(stack, "r1", app["id"], {"need": "80"}, submit=False)).status_code == 428
    draft = await review(stack, "r1", app["id"], {"need": "80"}, submit=False, headers={"If-None-Match": "*"})
    assert draft.status_code == 200 and draft.json()["status"] == "assigned"
    assert (await review(stack, "r1", app["id"], same("80"), headers={"If-Match": '"1"'})).status_code == 412
    r = await review(stack, "r1", app["id"], {"need": "80"}, headers={"If-Match": draft.headers["etag"]})
    assert r.status_code == 422 and r.json()["rule"] == "review.incomplete"
    r = await review(stack, "r1", app["id"], {**same("80"), "extra": "1"}, headers={"If-Match": draft.headers["etag"]})
    assert r.status_code == 422 and r.json()["rule"] == "review.unknown_criterion"
    assert (await review(stack, "r1", app["id"], {"need": "100.01"}, headers={"If-Match": '"2"'})).status_code == 422
    r = await review(
        stack,
        "r1",
        app["id"],
        {"need": "90", "design": "85.5", "capacity": "80"},
        headers={"If-Match": draft.headers["etag"]},
    )
    assert r.status_code == 200 and r.json()["total"] == "85.20"
    r = await review(
        stack, "r2", app["id"], {"need": "70", "design": "70", "capacity": "70.01"}, headers={"If-None-Match": "*"}
    )
    assert r.json()["total"] == "70.00"
    reviewed = [e for e in await g.bus_events("grants.application") if verb(e) == "reviewed"]
    assert [(e["data"]["score"], e["data"]["reviews"]) for e in reviewed] == [("77.60", 2)]  # (85.20 + 70.00) / 2
    r = await review(stack, "r1", app["id"], same("10"), headers={"If-Match": '"3"'})
    assert r.status_code == 409 and r.json()["rule"] == "review.submitted"


async def test_roadshow_weight_and_tie_break_decide_the_ranking(stack_factory):
    stack = await stack_factory(("grants",), db="postgres")
    g = Grants(stack)
    call, _, apps = await _closed_call_with_applications(
        stack,
        g,
        3,
        ["60000.00", "50000.00", "60000.00"],
        reviewers_per_application=1,
        roadshow_weight_bp=2000,
        tie_break="lower_request",
    )
    await stack.client.post(
        f"/grants/v1/calls/{call['id']}/reviewers", json={"reviewers": [{"sub": "r1"}]}, headers=g.officer
    )
    await stack.client.post(f"/grants/v1/calls/{call['id']}/assignments", json={}, headers=g.officer)
    for app, score in zip(apps, ("80", "80", "90"), strict=True):
        assert (await review(stack, "r1", app["id"], same(score), headers={"If-None-Match": "*"})).status_code == 200
    # roadshow: 80×0.8 + 100×0.2 = 84; 80×0.8 + 100×0.2 = 84; 90×0.8 + 50×0.2 = 82
    for app, score in zip(apps, ("100", "100", "50"), strict=True):
        r = await stack.client.put(
            f"/grants/v1/applications/{app['id']}/roadshow",
            json={"score": score},
            headers={**g.officer, "If-None-Match": "*"},
        )
        assert r.status_code == 200, r.text
    # the two tied at 84.00: the lower request first
    r = await stack.client.patch(f"/grants/v1/applications/{apps[0]['id']}", json={}, headers=g.officer)
    assert r.status_code == 404  # officers do not edit applications
    ranking = (await stack.client.get(f"/grants/v1/calls/{call['id']}/ranking", headers=g.officer)).json()
    assert [i["score"] for i in ranking["items"]] == ["84.00", "84.00", "82.00"]
    assert [i["application_id"] for i in ranking["items"]] == [apps[1]["id"], apps[0]["id"], apps[2]["id"]]
    assert ranking["frozen_at"] is None and ranking["incomplete"] == []


async def test_an_unpaid_tranche_past_its_due_date_is_marked_overdue(stack_factory):
    stack = await stack_factory(("grants",), db="postgres")
    g = Grants(stack)
    call, _, [app] = await _closed_call_with_applications(stack, g, 1)
    award = (await g.award(call["id"], [{"application_id": app["id"], "amount": money("60000.00")}])).json()["awards"][
        0
    ]
    await stack.advance(days=10)
    r = await stack.client.post(
        f"/grants/v1/awards/{award['id']}/agreement", json={"signed_on": "2026-04-20"}, headers={**g.officer, **g.key()}
    )
    assert r.status_code == 200
    [first, *_] = (await stack.client.get(f"/grants/v1/awards/{award['id']}/disbursements", headers=g.finance)).json()
    assert first["due_on"] == "2026-05-13" and first["overdue"] is False
    stack.clock.set(stack.clock.now().replace(month=5, day=13, hour=15))  # 23:00 on the due day: not yet
    await stack.settle()
    assert (await stack.client.get(f"/grants/v1/disbursements/{first['id']}", headers=g.finance)).json()[
        "overdue"
    ] is False
    stack.clock.set(stack.clock.now().replace(hour=16, minute=1))  # 00:01 the day after
    await stack.settle()
    assert (await stack.client.get(f"/grants/v1/disbursements/{first['id']}", headers=g.finance)).json()[
        "overdue"
    ] is True
    audit = (
        await stack.client.get(
            "/grants/v1/audit", params={"resource": f"disbursements/{first['id']}"}, headers=g.officer
        )
    ).json()["items"]
    assert [e["action"] for e in audit] == ["disbursement.overdue"]

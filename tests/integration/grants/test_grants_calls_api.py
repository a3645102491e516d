"""Calls through the API: coherent calls only, drafts private to their officers, publication and the
open/close timers, cancellation; award subsidies (以奖代补) built from published ratings."""

from __future__ import annotations

import pytest

from tests.integration.grants.support import Grants, at, call_body, iso, money, new_org, verb


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        (
            {
                "tranches": [
                    {"basis_points": 4000, "trigger": "signing"},
                    {"basis_points": 5000, "trigger": "final_passed"},
                ]
            },
            "tranches",
            "sum to 9000",
        ),
        ({"max_award": money("2000000.00")}, "max_award", "exceeds the budget"),
        ({"closes_at": iso(at("2026-02-28 09:00:00"))}, "closes_at", "is not after opens_at"),
        ({"call_type": "service_purchase"}, "procurement_method", "procurement method"),
        ({"call_type": "award_subsidy"}, "amount_per_grade", "amount per grade"),
    ],
)
async def test_an_incoherent_call_is_refused_naming_each_field(stack_factory, changes, field, text):
    stack = await stack_factory(("grants",), db="postgres")
    g = Grants(stack)
    r = await stack.client.post("/grants/v1/calls", json=call_body(**changes), headers={**g.officer, **g.key()})
    assert r.status_code == 422, r.text
    assert any(e["field"] == field and text in e["message"] for e in r.json()["errors"]), r.json()


async def test_drafts_are_private_published_calls_public_and_amendments_need_if_match(stack_factory):
    stack = await stack_factory(("grants",), db="postgres")
    g = Grants(stack)
    r = await stack.client.post("/grants/v1/calls", json=call_body(), headers={**g.officer, **g.key()})
    draft = r.json()
    url = f"/grants/v1/calls/{draft['id']}"
    assert (await stack.client.get(url)).status_code == 404
    assert (await stack.client.get(url, headers=g.officer)).status_code == 200
    assert (await stack.client.get("/grants/v1/calls")).json()["items"] == []
    drafts = (await stack.client.get("/grants/v1/calls", params={"status": "draft"}, headers=g.officer)).json()
    assert [c["id"] for c in drafts["items"]] == [draft["id"]]

    assert (await stack.client.patch(url, json={"title": "新标题"}, headers=g.officer)).status_code == 428
    r = await stack.client.patch(
        url,
        json={"title": "新标题", "budget": money("2000000.00")},
        headers={**g.officer, "If-Match": r.headers["etag"]},
    )
    assert r.status_code == 200 and r.json()["title"] == "新标题" and r.json()["version"] == 2
    r = await stack.client.patch(url, json={"max_award": money("3000000.00")}, headers={**g.officer, "If-Match": '"2"'})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "max_award"
    r = await stack.client.patch(url, json={"call_type": "award_subsidy"}, headers={**g.officer, "If-Match": '"2"'})
    assert r.status_code == 422

    elsewhere = stack.auth("officer", region="440106", sub="officer-x")
    assert (await stack.client.post(f"{url}/publication", headers=elsewhere)).status_code == 404
    r = await stack.client.post(f"{url}/publication", headers=g.officer)
    assert r.status_code == 200 and r.json()["status"] == "open"
    assert (await stack.client.get(url)).status_code == 200
    assert (
        await stack.client.patch(url, json={"title": "x"}, headers={**g.officer, "If-Match": '"3"'})
    ).status_code == 409
    listed = (await stack.client.get("/grants/v1/calls", params={"status": "open", "region": "440100"})).json()
    assert [c["id"] for c in listed["items"]] == [draft["id"]]
    assert (await stack.client.get("/grants/v1/calls", params={"region": "440300"})).json()["items"] == []

    stack.clock.set(at("2026-03-31 17:00:00"))
    await stack.settle()
    assert (await stack.client.get(url)).json()["status"] == "closed"
    assert [verb(e) for e in await g.bus_events("grants.call")] == ["published", "opened", "closed"]
    closed = (await g.bus_events("grants.call"))[-1]["data"]
    assert closed["budget"] == money("2000000.00") and closed["closes_at"] == "2026-03-31T09:00:00Z"

    r = await stack.client.post(f"{url}/cancellation", json={"reason": "预算调整"}, headers=g.officer)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert [verb(e) for e in await g.bus_events("grants.call")][-1] == "cancelled"


@pytest.mark.parametrize("content", [b"", b"{", b"not json"])
async def test_an_amendment_that_is_not_json_is_a_400_problem_not_a_server_error(stack_factory, content):
    stack = await stack_factory(("grants",), db="sqlite")
    g = Grants(stack)
    draft = (await stack.client.post("/grants/v1/calls", json=call_body(), headers={**g.officer, **g.key()})).json()
    r = await stack.client.patch(
        f"/grants/v1/calls/{draft['id']}",
        content=content,
        headers={**g.officer, "If-Match": '"1"', "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json", r.text
    doc = (await stack.client.get("/grants/openapi.json")).json()
    amend = doc["paths"]["/grants/v1/calls/{call_id}"]["patch"]
    assert "title" in amend["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "400" in amend["responses"]


async def test_a_call_with_awards_cannot_be_cancelled(stack_factory):
    stack = await stack_factory(("grants",), db="postgres")
    g = Grants(stack)
    call = await g.open_call()
    org = await g.events.good_org(new_org())
    await stack.settle()
    app = await g.submitted(call["id"], org)
    await g.close(call)
    assert (await g.award(call["id"], [{"application_id": app["id"]}])).status_code == 201
    r = await stack.client.post(f"/grants/v1/calls/{call['id']}/cancellation", json={"reason": "x"}, headers=g.officer)
    assert r.status_code == 409 and r.json()["rule"] == "call.has_awards"


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_award_subsidies_are_decided_from_the_ratings_published_in_the_window(stack_factory, db):
    stack = await stack_factory(("grants",), db=db)
    g = Grants(stack)
    call = await g.open_call(
        call_type="award_subsidy",
        title="2026年等级评估以奖代补",
        rubric=[],
        min_award=None,
        max_award=None,
        amount_per_grade={"5A": money("50000.00"), "4A": money("30000.00"), "3A": money("10000.00")},
        opens_at=iso(at("2026-03-01 00:00:00")),
        closes_at=iso(at("2026-03-20 00:00:00")),
        tranches=[{"basis_points": 10000, "trigger": "signing"}],
    )
    five, four, two, early, far = (
        new_org("五A"),
        new_org("四A"),
        new_org("二A"),
        new_org("早评"),
        new_org("外区", region_code="440106"),
    )
    for org, grade, announced in (
        (five, "5A", "2026-03-05"),
        (four, "4A", "2026-03-06"),
        (two, "2A", "2026-03-06"),
        (early, "5A", "2026-01-10"),
        (far, "5A", "2026-03-05"),
    ):
        await g.events.good_org(org, grade="")
        await g.events.rating(
            org,
            "published",
            grade=grade,
            decided_on=announced,
            announced_on=announced,
            valid_from=announced,
            valid_until="2031-03-04",
        )
    await stack.settle()
    r = await stack.client.post(
        f"/grants/v1/calls/{call['id']}/applications", json={"project_title": "x"}, headers={**g.org(five), **g.key()}
    )
    assert r.status_code == 409 and r.json()["rule"] == "call.no_application"
    await g.close(call)
    candidates = (await stack.client.get(f"/grants/v1/calls/{call['id']}/subsidy-candidates", headers=g.officer)).json()
    assert [(c["org_id"], c["grade"], c["amount"]["amount"]) for c in candidates["items"]] == [
        (five.org_id, "5A", "50000.00"),
        (four.org_id, "4A", "30000.00"),
    ]
    r = await g.award(call["id"], [{"org_id": two.org_id}])
    assert r.status_code == 422 and r.json()["rule"] == "award.not_candidate"
    r = await g.award(
        call["id"],
        [
            {
                "org_id": five.org_id,
                "payee": {"account_name": "五A", "bank_name": "工行", "account_number": "62220000111122223333"},
            },
            {"org_id": four.org_id},
        ],
    )
    assert r.status_code == 201, r.text
    assert [a["amount"]["amount"] for a in r.json()["awards"]] == ["50000.00", "30000.00"]
    assert all(a["application_id"] is None for a in r.json()["awards"])
    again = await g.award(call["id"], [{"org_id": five.org_id}])
    assert again.status_code == 409 and again.json()["rule"] == "award.duplicate"
    decided = [e for e in await g.bus_events("grants.award") if verb(e) == "decided"]
    assert {e["data"]["call_type"] for e in decided} == {"award_subsidy"}
    assert all(e["data"]["application_id"] is None for e in decided)

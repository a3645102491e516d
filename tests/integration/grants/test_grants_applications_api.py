"""Applications through the API on real PostgreSQL (key paths also on SQLite): screening answers with
every failed rule and its basis, the deadline to the second, caps, idempotent submission, privacy."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.integration.grants.support import Grants, at, iso, money, new_org, verb


async def _setup(stack_factory, db="postgres", **call):
    stack = await stack_factory(("grants",), db=db)
    g = Grants(stack)
    return stack, g, await g.open_call(**call)


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_ineligible_by_grade_lists_the_rule_and_its_basis(stack_factory, db):
    stack, g, call = await _setup(stack_factory, db)
    weak = await g.events.good_org(new_org("弱等级"), grade="2A")
    await stack.settle()
    app = await g.submitted(call["id"], weak)
    assert app["status"] == "submitted" and app["eligible"] is False
    reasons = app["eligibility"]["reasons"]
    assert reasons == [
        {
            "rule": "eligibility.min_grade",
            "detail": "min_grade: 3A required, organization holds 2A (valid until 2030-05-19)",
            "basis": "本次申报通知（社会组织评估等级要求）",
        }
    ]
    answer = (await stack.client.get(f"/grants/v1/applications/{app['id']}/eligibility", headers=g.org(weak))).json()
    assert answer["eligible"] is False and answer["reasons"] == reasons and answer["preview"] is False
    screened = [e for e in await g.bus_events("grants.application") if verb(e) == "screened"]
    assert screened[-1]["data"]["reasons"] == reasons and screened[-1]["data"]["rescreen"] is False


async def test_ineligible_by_listing_in_the_look_back_window(stack_factory):
    stack, g, call = await _setup(stack_factory)
    org = await g.events.good_org(new_org("曾列异常"))
    await g.events.registry(
        org,
        "listed",
        listing_id="l-1",
        list="irregular",
        reason_code="annual_report_missing",
        reason="未按时报送年报",
        listed_on="2025-06-01",
        escalated_from=None,
        effective_on="2025-06-01",
    )
    await g.events.registry(
        org,
        "delisted",
        listing_id="l-1",
        list="irregular",
        removed_on="2025-09-01",
        removal_reason="rectified",
        effective_on="2025-09-01",
    )
    await stack.settle()
    app = await g.submitted(call["id"], org)
    [reason] = app["eligibility"]["reasons"]
    assert reason["rule"] == "eligibility.lookback.irregular"
    assert "2025-06-01 – 2025-09-01, within 12 months before 2026-03-02" in reason["detail"]


async def test_ineligible_by_kind_a_filed_group_on_a_call_that_excludes_them(stack_factory):
    stack, g, call = await _setup(stack_factory)
    filed = await g.events.good_org(new_org("社区合唱队", kind="community_filed", region_code="440111001"), grade="")
    await stack.settle()
    app = await g.submitted(call["id"], filed)
    rules = {r["rule"] for r in app["eligibility"]["reasons"]}
    assert "eligibility.kind" in rules
    kind = next(r for r in app["eligibility"]["reasons"] if r["rule"] == "eligibility.kind")
    assert kind["detail"].startswith("kind: filed community groups (备案的社区社会组织) are not admitted")


async def test_a_filed_group_is_eligible_on_a_micro_venture_call_that_admits_them(stack_factory):
    stack, g, call = await _setup(
        stack_factory,
        call_type="micro_venture",
        max_award=money("5000.00"),
        min_award=money("2000.00"),
        max_grant_bp=10000,
        personnel_cap_bp=10000,
        eligibility={"kinds": ["community_filed", "social_group"], "max_applications": 1},
    )
    filed = await g.events.good_org(new_org("社区合唱队", kind="community_filed", region_code="440111001"), grade="")
    await stack.settle()
    app = await g.submitted(
        call["id"],
        filed,
        requested=money("5000.00"),
        budget_lines=[{"category": "activities", "amount": money("5000.00")}],
    )
    assert app["eligible"] is True, app["eligibility"]


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_a_submission_late_by_one_second_is_refused_and_one_second_early_accepted(stack_factory, db):
    stack, g, call = await _setup(stack_factory, db)
    a, b = new_org("准时"), new_org("迟到")
    for org in (a, b):
        await g.events.good_org(org)
    await stack.settle()
    on_time, late = await g.draft(call["id"], a), await g.draft(call["id"], b)
    closes = datetime.fromisoformat(call["closes_at"].replace("Z", "+00:00"))
    stack.clock.set(closes - timedelta(seconds=1))
    r = await g.submit(on_time["id"], a)
    assert r.status_code == 200, r.text
    assert r.json()["submitted_at"].startswith(iso(closes - timedelta(seconds=1))[:19])
    stack.clock.set(closes)
    r = await g.submit(late["id"], b)
    assert r.status_code == 409
    assert r.json()["rule"] == "call.closed" and "received at" in r.json()["detail"]
    stack.clock.set(closes + timedelta(seconds=1))
    assert (await g.submit(late["id"], b)).status_code == 409
    draft = (await stack.client.get(f"/grants/v1/applications/{late['id']}", headers=g.org(b))).json()
    assert draft["status"] == "draft"


async def test_the_deadline_does_not_wait_for_the_close_job(stack_factory):
    stack, g, call = await _setup(stack_factory)
    org = await g.events.good_org(new_org())
    await stack.settle()
    app = await g.draft(call["id"], org)
    stack.clock.set(datetime.fromisoformat(call["closes_at"].replace("Z", "+00:00")) + timedelta(hours=1))
    # no settle: the call.close job has not run, the call still says "open"
    assert (await stack.client.get(f"/grants/v1/calls/{call['id']}")).json()["status"] == "open"
    assert (await g.submit(app["id"], org)).json()["rule"] == "call.closed"


@pytest.mark.parametrize(
    ("overrides", "rule", "text"),
    [
        (
            {
                "requested": money("150000.00"),
                "budget_lines": [{"category": "activities", "amount": money("300000.00")}],
            },
            "application.over_cap",
            "exceeds the call's maximum per award ¥100,000.00",
        ),
        ({"requested": money("60000.01")}, "application.cofunding_too_low", "more than 60 % of the project budget"),
        (
            {
                "budget_lines": [
                    {"category": "personnel", "amount": money("50000.00")},
                    {"category": "activities", "amount": money("50000.00")},
                ]
            },
            "application.personnel_over_cap",
            "exceed 40 %",
        ),
        ({"requested": money("5000.00")}, "application.below_minimum", "below the call's minimum"),
    ],
)
async def test_money_refusals_at_submission(stack_factory, overrides, rule, text):
    stack, g, call = await _setup(stack_factory)
    org = await g.events.good_org(new_org())
    await stack.settle()
    app = await g.draft(call["id"], org, **overrides)
    r = await g.submit(app["id"], org)
    assert r.status_code == 422, r.text
    assert r.json()["rule"] == rule and text in r.json()["detail"], r.json()
    assert r.json()["basis"] == "本次申报通知（资金安排）"


async def test_duplicate_submission_with_the_same_key_replays_and_another_body_is_422(stack_factory):
    stack, g, call = await _setup(stack_factory)
    org = await g.events.good_org(new_org())
    await stack.settle()
    app = await g.draft(call["id"], org)
    first = await g.submit(app["id"], org, key="submit-1")
    again = await g.submit(app["id"], org, key="submit-1")
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    other = await g.submit(app["id"], org, key="submit-1", version=1)
    assert other.status_code == 422 and other.json()["rule"] == "idempotency.key_reused"
    fresh_key = await g.submit(app["id"], org, key="submit-2")
    assert fresh_key.status_code == 409 and fresh_key.json()["rule"] == "application.state"
    submitted = [e for e in await g.bus_events("grants.application") if verb(e) == "submitted"]
    assert len(submitted) == 1
    no_key = await stack.client.post(
        f"/grants/v1/applications/{app['id']}/submission", json={"declaration": True}, headers=g.org(org)
    )
    assert no_key.status_code == 400


async def test_the_same_key_on_another_application_is_not_a_replay(stack_factory):
    stack, g, call2 = await _setup(stack_factory, eligibility={"max_applications": 2})
    org = await g.events.good_org(new_org())
    await stack.settle()
    one = await g.draft(call2["id"], org)
    two = await g.draft(call2["id"], org, project_title="另一个项目")
    assert (await g.submit(one["id"], org, key="k")).status_code == 200
    r = await g.submit(two["id"], org, key="k")
    assert r.status_code == 422 and r.json()["rule"] == "idempotency.key_reused"


async def test_another_organizations_application_is_404(stack_factory):
    stack, g, call = await _setup(stack_factory)
    mine, theirs = new_org("甲"), new_org("乙")
    await g.events.good_org(mine)
    await g.events.good_org(theirs)
    await stack.settle()
    app = await g.draft(call["id"], mine)
    intruder = g.org(theirs)
    assert (await stack.client.get(f"/grants/v1/applications/{app['id']}", headers=intruder)).status_code == 404
    assert (await g.submit(app["id"], theirs)).status_code == 404
    patch = await stack.client.patch(
        f"/grants/v1/applications/{app['id']}", json={"summary": "x"}, headers={**intruder, "If-Match": '"1"'}
    )
    assert patch.status_code == 404
    listed = (await stack.client.get("/grants/v1/applications", headers=intruder)).json()
    assert listed["items"] == []
    assert (
        await stack.client.get(f"/grants/v1/applications/{app['id']}/eligibility", headers=intruder)
    ).status_code == 404


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (60000, "JSON numbers are refused"),
        ("6e4", "no sign, exponent"),
        ("-60000.00", "no sign"),
        ("60000.001", "third decimal"),
        ("NaN", "no sign"),
    ],
)
async def test_money_on_the_wire_is_a_strict_decimal_string_naming_the_field(stack_factory, amount, message):
    stack, g, call = await _setup(stack_factory)
    org = await g.events.good_org(new_org())
    await stack.settle()
    body = {"project_title": "t", "requested": {"amount": amount, "currency": "CNY"}}
    r = await stack.client.post(
        f"/grants/v1/calls/{call['id']}/applications", json=body, headers={**g.org(org), **g.key()}
    )
    assert r.status_code == 422
    [error] = r.json()["errors"]
    assert error["field"] == "requested.amount"


async def test_drafts_are_amended_with_if_match_and_withdrawn(stack_factory):
    stack, g, call = await _setup(stack_factory)
    org = await g.events.good_org(new_org())
    await stack.settle()
    app = await g.draft(call["id"], org)
    url = f"/grants/v1/applications/{app['id']}"
    assert (await stack.client.patch(url, json={"summary": "新"}, headers=g.org(org))).status_code == 428
    assert (
        await stack.client.patch(url, json={"summary": "新"}, headers={**g.org(org), "If-Match": '"9"'})
    ).status_code == 412
    r = await stack.client.patch(url, json={"requested": money("50000.00")}, headers={**g.org(org), "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["requested"]["amount"] == "50000.00" and r.json()["version"] == 2
    preview = (await stack.client.get(f"{url}/eligibility", headers=g.org(org))).json()
    assert preview["preview"] is True and preview["eligible"] is True
    r = await g.submit(app["id"], org)
    assert r.json()["self_raised"]["amount"] == "50000.00"
    r = await stack.client.post(f"{url}/withdrawal", json={}, headers=g.org(org))
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert [verb(e) for e in await g.bus_events("grants.application")][-1] == "withdrawn"


async def test_max_applications_per_organization_per_call(stack_factory):
    stack, g, call = await _setup(stack_factory)
    org = await g.events.good_org(new_org())
    await stack.settle()
    await g.submitted(call["id"], org)
    second = await g.submitted(call["id"], org, project_title="第二个项目")
    assert [r["rule"] for r in second["eligibility"]["reasons"]] == ["eligibility.max_applications"]


async def test_double_funding_is_a_warning_not_a_refusal(stack_factory):
    stack, g, call = await _setup(stack_factory, eligibility={"max_applications": 3})
    org = await g.events.good_org(new_org())
    await stack.settle()
    await g.submitted(call["id"], org)
    again = await g.submitted(call["id"], org, project_title="长者饭堂 与 居家探访")
    assert again["eligible"] is True
    assert [w["rule"] for w in again["warnings"]] == ["double_funding"]


async def test_before_opening_a_call_takes_drafts_but_not_submissions(stack_factory):
    stack = await stack_factory(("grants",))
    g = Grants(stack)
    call = await g.open_call(opens_at=iso(at("2026-03-10 09:00:00")))
    assert call["status"] == "published"
    org = await g.events.good_org(new_org())
    await stack.settle()
    app = await g.draft(call["id"], org)
    r = await g.submit(app["id"], org)
    assert r.status_code == 409 and r.json()["rule"] == "call.not_open"
    stack.clock.set(at("2026-03-10 09:00:00"))
    await stack.settle()  # the call.open job
    assert (await stack.client.get(f"/grants/v1/calls/{call['id']}")).json()["status"] == "open"
    assert (await g.submit(app["id"], org)).status_code == 200
    calls_events = [verb(e) for e in await g.bus_events("grants.call")]
    assert calls_events == ["published", "opened"]

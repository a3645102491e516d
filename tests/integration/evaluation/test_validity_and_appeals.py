"""The same decision and announcement under `national-2011` and `national-2026` (DOMAIN.md §2's
examples: decided 2026-05-20, announced 2026-06-10), appeals during the notice, and a notice across
National Day with its adjusted Saturday."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from services.evaluation.handlers.catalog import PRESETS
from tests.integration.evaluation.support import Api, Facts, contract_problems, full_scores

TEMPLATE = yaml.safe_load((PRESETS / "templates" / "social-group-example.yaml").read_text(encoding="utf-8"))


async def scored_and_proposed(
    stack, api: Api, org: dict, *, rule_set: str, ratio: tuple[int, int], notice_working_days: int | None = None
) -> dict:
    rnd = await api.open_round(rule_set=rule_set, notice_working_days=notice_working_days)
    ev = await api.apply(rnd["id"], org)
    assert ev["eligible"], ev["reasons"]
    _, evaluators, tokens = await api.agency_with_evaluators(1)
    await api.assign(ev["id"], evaluators[0]["id"])
    assert (await api.put_scores(ev["id"], tokens[0], full_scores(TEMPLATE, ratio))).status_code == 201
    assert (await api.submit(ev["id"], tokens[0])).status_code == 200
    assert (await api.c.post(f"/evaluation/v1/evaluations/{ev['id']}/proposal", headers=api.officer)).status_code == 200
    return ev


async def decide(api: Api, ev: dict) -> dict:
    r = await api.c.post(
        f"/evaluation/v1/evaluations/{ev['id']}/decision",
        json={"quorum": {"members": 7, "present": 5, "in_favour": 4}},
        headers=api.officer,
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_the_2011_and_2026_rule_sets_give_their_validity_for_the_same_announcement(stack_factory, db):
    stack = await stack_factory(("evaluation",), db=db)
    facts, api = Facts(stack), Api(stack)
    old_rules, new_rules = await facts.register(), await facts.register(name="广州市白云区青年志愿者协会")
    await stack.settle()
    ev11 = await scored_and_proposed(
        stack, api, old_rules, rule_set="national-2011", ratio=(92, 100), notice_working_days=14
    )
    ev26 = await scored_and_proposed(
        stack, api, new_rules, rule_set="national-2026", ratio=(92, 100), notice_working_days=14
    )

    stack.clock.set(datetime(2026, 5, 20, 1, 0, tzinfo=UTC))  # Wednesday 09:00 Asia/Shanghai
    await stack.settle()  # the rounds' application windows close on the way
    decided = [await decide(api, ev) for ev in (ev11, ev26)]
    # 14 working days after 2026-05-20 end on Tuesday 2026-06-09 (Dragon Boat Festival is 06-19)
    assert {d["notice_ends_at"] for d in decided} == {"2026-06-09T16:00:00+00:00"}

    # the 2011 organization appeals during the notice and is refused; the 2026 one is still pending at its end
    stack.clock.set(datetime(2026, 5, 25, 2, 0, tzinfo=UTC))
    tokens = {org["org_id"]: stack.auth("org", org_id=org["org_id"]) for org in (old_rules, new_rules)}
    appeal11 = (
        await api.post(
            f"/evaluations/{ev11['id']}/appeals", {"grounds": "C1 项评分偏低"}, tokens[old_rules["org_id"]], status=201
        )
    ).json()
    twice = await api.post(f"/evaluations/{ev11['id']}/appeals", {"grounds": "再次申请"}, tokens[old_rules["org_id"]])
    assert twice.status_code == 409 and twice.json()["type"].endswith("appeal.pending")
    stack.clock.set(datetime(2026, 5, 26, 2, 0, tzinfo=UTC))
    rejected = await api.c.post(
        f"/evaluation/v1/appeals/{appeal11['id']}/decision",
        json={"decision": "rejected", "reason": "评分依据充分"},
        headers=api.officer,
    )
    assert rejected.status_code == 200 and rejected.json()["notify_by"] == "2026-06-10"
    stack.clock.set(datetime(2026, 6, 1, 2, 0, tzinfo=UTC))
    appeal26 = (
        await api.post(
            f"/evaluations/{ev26['id']}/appeals", {"grounds": "加分项未计入"}, tokens[new_rules["org_id"]], status=201
        )
    ).json()

    stack.clock.set(datetime(2026, 6, 9, 16, 0, tzinfo=UTC))  # the notice ends: 2026-06-10 00:00 in Shanghai
    await stack.settle()
    ev11 = (await api.c.get(f"/evaluation/v1/evaluations/{ev11['id']}", headers=api.officer)).json()
    ev26 = (await api.c.get(f"/evaluation/v1/evaluations/{ev26['id']}", headers=api.officer)).json()
    assert (ev11["status"], ev11["announced_on"]) == ("published", "2026-06-10")
    assert ev26["status"] == "noticed"  # waits for its appeal

    stack.clock.set(datetime(2026, 6, 10, 1, 0, tzinfo=UTC))
    upheld = await api.c.post(
        f"/evaluation/v1/appeals/{appeal26['id']}/decision",
        json={"decision": "upheld", "grade": "5A", "reason": "复核后加分项成立"},
        headers=api.officer,
    )
    assert upheld.status_code == 200 and upheld.json()["grade_after"] == "5A"
    assert upheld.json()["notify_by"] == "2026-06-25"

    r11 = (
        await api.c.get(
            f"/evaluation/v1/organizations/{old_rules['org_id']}/rating", headers=tokens[old_rules["org_id"]]
        )
    ).json()
    assert r11["current_grade"]["grade"] == "4A"
    assert (r11["current_grade"]["decided_on"], r11["current_grade"]["announced_on"]) == ("2026-05-20", "2026-06-10")
    assert (r11["current_grade"]["valid_from"], r11["current_grade"]["valid_until"]) == ("2026-05-20", "2031-05-19")

    r26 = (
        await api.c.get(
            f"/evaluation/v1/organizations/{new_rules['org_id']}/rating", headers=tokens[new_rules["org_id"]]
        )
    ).json()
    assert r26["current_grade"] is None  # pending until 1 January 2027
    assert r26["pending_grade"]["grade"] == "5A"
    assert (r26["pending_grade"]["valid_from"], r26["pending_grade"]["valid_until"]) == ("2027-01-01", "2031-12-31")
    later = (
        await api.c.get(
            f"/evaluation/v1/organizations/{new_rules['org_id']}/rating?on=2027-01-01",
            headers=tokens[new_rules["org_id"]],
        )
    ).json()
    assert later["current_grade"]["grade"] == "5A" and later["pending_grade"] is None

    history = (await api.c.get(f"/evaluation/v1/evaluations/{ev26['id']}/history", headers=api.officer)).json()
    assert [(d["kind"], d["grade"], d["previous_grade"]) for d in history["decisions"]] == [
        ("committee", "4A", None),
        ("appeal", "5A", "4A"),
    ]
    assert history["decisions"][1]["detail"]["decided_by_body"] == "evaluation_committee"
    assert history["decisions"][1]["rule_set"] == {"id": "national-2026", "version": 1}
    assert await contract_problems(stack, "evaluation.rating", "evaluation.round") == []


async def test_a_notice_published_before_national_day_counts_the_adjusted_saturday(stack_factory):
    stack = await stack_factory(("evaluation",), db="postgres")
    facts, api = Facts(stack), Api(stack)
    org = await facts.register()
    await stack.settle()
    ev = await scored_and_proposed(stack, api, org, rule_set="national-2026", ratio=(86, 100))
    stack.clock.set(datetime(2026, 9, 30, 2, 0, tzinfo=UTC))  # Wednesday before the Golden Week
    await stack.settle()
    decided = await decide(api, ev)
    assert decided["proposed_grade"] == "3A" and decided["notice_starts_on"] == "2026-09-30"
    # 10-01 … 10-07 holidays; 10-08 (1), 10-09 (2), Saturday 10-10 adjusted working day (3), 10-12 (4), 10-13 (5)
    assert decided["notice_ends_at"] == "2026-10-13T16:00:00+00:00"

    stack.clock.set(datetime(2026, 10, 13, 15, 59, tzinfo=UTC))  # 23:59 on the last day: still open
    org_token = stack.auth("org", org_id=org["org_id"])
    appeal = await api.post(f"/evaluations/{ev['id']}/appeals", {"grounds": "申请复核"}, org_token)
    assert appeal.status_code == 201, appeal.text


async def test_a_notice_published_before_the_spring_festival_counts_the_adjusted_saturday(stack_factory):
    stack = await stack_factory(("evaluation",), db="sqlite", now=datetime(2026, 2, 2, 1, 0, tzinfo=UTC))
    facts, api = Facts(stack), Api(stack)
    org = await facts.register()
    await stack.settle()
    # the revised 办法 is in force from 2026-03-01: a round opened in February cannot use it yet
    early = await api.post(
        "/rounds",
        {
            "title": "2026",
            "year": 2026,
            "region_code": "440111",
            "kinds": ["social_group"],
            "template": {"id": "social-group-example"},
            "rule_set": {"id": "national-2026"},
            "band_table": {"id": "anhui-anqing"},
            "applications_close_on": "2026-02-10",
        },
        api.officer,
    )
    assert early.status_code == 404 and "no version in force on 2026-02-02" in early.json()["detail"]
    rnd = await api.open_round(rule_set="national-2011", close_on="2026-02-10")
    ev = await api.apply(rnd["id"], org)
    _, evaluators, tokens = await api.agency_with_evaluators(1)
    await api.assign(ev["id"], evaluators[0]["id"])
    assert (await api.put_scores(ev["id"], tokens[0], full_scores(TEMPLATE, (92, 100)))).status_code == 201
    assert (await api.submit(ev["id"], tokens[0])).status_code == 200
    assert (await api.c.post(f"/evaluation/v1/evaluations/{ev['id']}/proposal", headers=api.officer)).status_code == 200
    stack.clock.set(datetime(2026, 2, 12, 2, 0, tzinfo=UTC))  # Thursday 10:00 in Shanghai
    await stack.settle()
    decided = await decide(api, ev)
    # DOMAIN.md §5: 02-13 (1), Saturday 02-14 adjusted working day (2), 02-15 … 02-23 holidays,
    # 02-24 (3), 02-25 (4), 02-26 (5): the notice ends at 24:00 on Thursday 2026-02-26
    assert decided["notice_ends_at"] == "2026-02-26T16:00:00+00:00"
    stack.clock.set(datetime(2026, 2, 26, 16, 0, tzinfo=UTC))
    await stack.settle()
    published = (await api.c.get(f"/evaluation/v1/evaluations/{ev['id']}", headers=api.officer)).json()
    assert (published["status"], published["announced_on"]) == ("published", "2026-02-27")

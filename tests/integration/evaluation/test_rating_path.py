"""The whole rating path through the HTTP API on a real database: round → application → assignment →
scores from three evaluators → proposed 4A → committee decision → public notice → an appeal refused
after the notice ended → published; then a serious listing from the registry revokes the grade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
import yaml

from services.evaluation.handlers.catalog import PRESETS
from tests.integration.evaluation.support import Api, Facts, contract_problems, full_scores

TEMPLATE = yaml.safe_load((PRESETS / "templates" / "social-group-example.yaml").read_text(encoding="utf-8"))


async def bus_events(stack, topic: str) -> list[dict]:
    records = await stack.bus.read_all(stack.runtimes["evaluation"].settings.topic(topic))
    return [orjson.loads(r.value) for r in records]


def of_type(events: list[dict], verb: str) -> list[dict]:
    return [e for e in events if e["type"].split(".")[-2] == verb]


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_round_to_published_4a_and_revocation_on_serious_listing(stack_factory, db):
    stack = await stack_factory(("evaluation",), db=db)
    facts, api = Facts(stack), Api(stack)
    org = await facts.register(kind="social_group", registered_on="2019-06-01")
    await stack.settle()

    rnd = await api.open_round(rule_set="national-2011", band_table="anhui-anqing")
    assert rnd["rule_set"] == {"id": "national-2011", "version": 1}
    assert rnd["notice_working_days"] == 5 and rnd["max_spread"] == "50.00"
    ev = await api.apply(rnd["id"], org)
    assert ev["eligible"] is True and ev["status"] == "applied" and ev["reasons"] == []
    assert ev["eligibility_check_due_on"] == "2026-03-16"  # 10 working days after Monday 2026-03-02

    _, evaluators, tokens = await api.agency_with_evaluators(3)
    for evaluator in evaluators:
        await api.assign(ev["id"], evaluator["id"])

    # evaluator 0 saves a draft, then corrects it (If-Match); an identical retry changes nothing
    first = await api.put_scores(ev["id"], tokens[0], full_scores(TEMPLATE, (90, 100)))
    assert first.status_code == 201, first.text
    assert first.json()["total"] == "900.00" and first.headers["etag"] == '"1"'
    again = await api.put_scores(ev["id"], tokens[0], full_scores(TEMPLATE, (90, 100)))
    assert again.status_code == 200 and again.headers["etag"] == '"1"'
    stale = await api.put_scores(ev["id"], tokens[0], full_scores(TEMPLATE, (91, 100)), if_match='"7"')
    assert stale.status_code == 412
    edited = await api.put_scores(ev["id"], tokens[0], full_scores(TEMPLATE, (92, 100)), if_match='"1"')
    assert edited.status_code == 200 and edited.json()["total"] == "920.00" and edited.json()["version"] == 2
    for token, ratio in ((tokens[1], (93, 100)), (tokens[2], (91, 100))):
        assert (await api.put_scores(ev["id"], token, full_scores(TEMPLATE, ratio))).status_code == 201
    for token in tokens:
        r = await api.submit(ev["id"], token)
        assert r.status_code == 200 and r.json()["status"] == "submitted", r.text
    late = await api.put_scores(ev["id"], tokens[0], full_scores(TEMPLATE, (99, 100)), if_match='"3"')
    assert late.status_code == 409 and late.json()["rule"] == "scores.submitted"

    agg = (await api.post(f"/rounds/{rnd['id']}/aggregation", None, api.officer, status=200)).json()
    assert agg == {"proposed": 1, "incomplete": []}
    ev = (await api.c.get(f"/evaluation/v1/evaluations/{ev['id']}", headers=api.officer)).json()
    assert (ev["status"], ev["total"], ev["spread"], ev["proposed_grade"], ev["outliers"]) == (
        "proposed",
        "920.00",
        "20.00",
        "4A",
        [],
    )

    # the committee needs two thirds present and a majority of all members
    short = await api.post(
        f"/evaluations/{ev['id']}/decision", {"quorum": {"members": 9, "present": 5, "in_favour": 5}}, api.officer
    )
    assert short.status_code == 422 and short.json()["rule"] == "decision.quorum"
    decided = await api.post(
        f"/evaluations/{ev['id']}/decision",
        {"quorum": {"members": 9, "present": 7, "in_favour": 6}},
        api.officer,
        status=200,
    )
    ev = decided.json()
    assert ev["status"] == "noticed" and ev["decided_grade"] == "4A" and ev["decided_on"] == "2026-03-02"
    # 5 working days from the next working day after Monday 2026-03-02: ends at 24:00 on Monday 2026-03-09
    assert ev["notice_ends_at"] == "2026-03-09T16:00:00+00:00"

    # one minute after the notice ended, before any job ran: the appeal is refused naming the rule
    stack.clock.set(datetime(2026, 3, 9, 16, 1, tzinfo=UTC))
    org_token = stack.auth("org", org_id=org["org_id"])
    late_appeal = await api.post(f"/evaluations/{ev['id']}/appeals", {"grounds": "对评分有异议"}, org_token)
    assert late_appeal.status_code == 409, late_appeal.text
    assert late_appeal.json()["rule"] == "appeal.notice_ended" and "民政部令第39号" in late_appeal.json()["basis"]

    await stack.settle()  # the notice-end job publishes
    ev = (await api.c.get(f"/evaluation/v1/evaluations/{ev['id']}", headers=api.officer)).json()
    assert ev["status"] == "published" and ev["announced_on"] == "2026-03-10"
    rating = (await api.c.get(f"/evaluation/v1/organizations/{org['org_id']}/rating", headers=org_token)).json()
    assert rating["current_grade"]["grade"] == "4A" and rating["current_grade"]["certificate"] is True
    assert (rating["current_grade"]["valid_from"], rating["current_grade"]["valid_until"]) == (
        "2026-03-02",
        "2031-03-01",
    )

    events = await bus_events(stack, "evaluation.rating")
    assert [e["type"].split(".")[-2] for e in events] == [
        "applied",
        "assigned",
        "assigned",
        "assigned",
        "scored",
        "scored",
        "scored",
        "proposed",
        "publicly_noticed",
        "published",
    ]
    published = of_type(events, "published")[0]["data"]
    assert published == {
        "org_id": org["org_id"],
        "organization": org["organization"],
        "region_code": "440111",
        "evaluation_id": ev["id"],
        "round_id": rnd["id"],
        "grade": "4A",
        "decided_on": "2026-03-02",
        "announced_on": "2026-03-10",
        "valid_from": "2026-03-02",
        "valid_until": "2031-03-01",
        "rule_set": {"id": "national-2011", "version": 1},
    }
    assert {e["partitionkey"] for e in events} == {org["org_id"]}
    assert [int(e["sequence"]) for e in events] == list(range(1, 11))

    # the replay of the evaluation shows every entry with its template and rule-set versions
    history = (await api.c.get(f"/evaluation/v1/evaluations/{ev['id']}/history", headers=api.officer)).json()
    entries = history["score_history"]
    assert [(h["action"], h["sheet_version"]) for h in entries if h["evaluator_sub"] == evaluators[0]["sub"]] == [
        ("saved", 1),
        ("saved", 2),
        ("submitted", 3),
    ]
    assert {(h["template"]["id"], h["rule_set"]["id"]) for h in entries} == {("social-group-example", "national-2011")}
    assert entries[0]["scores"]["A1"] == "27.00"
    assert [d["kind"] for d in history["decisions"]] == ["committee"]
    assert history["decisions"][0]["quorum"] == {"members": 9, "present": 7, "in_favour": 6}
    assert history["decisions"][0]["rule_set"] == {"id": "national-2011", "version": 1}

    # a serious listing reported by the registry revokes the published grade (policy `revoke`)
    stack.clock.advance(timedelta(days=30))
    await facts.listed(org, listed_on="2026-04-08")
    await stack.settle()
    revoked = of_type(await bus_events(stack, "evaluation.rating"), "revoked")
    assert len(revoked) == 1
    assert revoked[0]["data"] == {
        "org_id": org["org_id"],
        "organization": org["organization"],
        "region_code": "440111",
        "evaluation_id": None,
        "round_id": None,
        "previous_grade": "4A",
        "reason": "serious_listing",
        "effective_on": "2026-04-08",
    }
    rating = (await api.c.get(f"/evaluation/v1/organizations/{org['org_id']}/rating", headers=org_token)).json()
    assert rating["current_grade"] is None
    assert rating["history"][0]["status"] == "revoked"
    on_april_1 = (
        await api.c.get(f"/evaluation/v1/organizations/{org['org_id']}/rating?on=2026-04-01", headers=org_token)
    ).json()
    assert on_april_1["current_grade"]["grade"] == "4A"  # "was it rated on D?" stays answerable
    assert await contract_problems(stack, "evaluation.rating", "evaluation.round") == []

"""After publication: downgrades proposed from registry facts and confirmed by an officer, the
`flag_for_committee` policy of an officer's copy of a rule set, deregistration, and the daily expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import yaml

from services.evaluation.handlers.catalog import PRESETS
from tests.integration.evaluation.support import Api, Facts, contract_problems, full_scores

TEMPLATE = yaml.safe_load((PRESETS / "templates" / "social-group-example.yaml").read_text(encoding="utf-8"))


async def rating_events(stack) -> list[dict]:
    records = await stack.bus.read_all(stack.runtimes["evaluation"].settings.topic("evaluation.rating"))
    return [orjson.loads(r.value) for r in records]


def verbs(events: list[dict]) -> list[str]:
    return [e["type"].split(".")[-2] for e in events]


async def published(stack, api: Api, org: dict, *, rule_set: str = "national-2011", ratio=(92, 100)) -> dict:
    rnd = await api.open_round(rule_set=rule_set)
    ev = await api.apply(rnd["id"], org)
    _, evaluators, tokens = await api.agency_with_evaluators(1)
    await api.assign(ev["id"], evaluators[0]["id"])
    assert (await api.put_scores(ev["id"], tokens[0], full_scores(TEMPLATE, ratio))).status_code == 201
    assert (await api.submit(ev["id"], tokens[0])).status_code == 200
    assert (await api.c.post(f"/evaluation/v1/evaluations/{ev['id']}/proposal", headers=api.officer)).status_code == 200
    r = await api.c.post(
        f"/evaluation/v1/evaluations/{ev['id']}/decision",
        json={"quorum": {"members": 5, "present": 5, "in_favour": 5}},
        headers=api.officer,
    )
    assert r.status_code == 200, r.text
    stack.clock.set(datetime.fromisoformat(r.json()["notice_ends_at"]) + timedelta(hours=2))
    await stack.settle()
    ev = (await api.c.get(f"/evaluation/v1/evaluations/{ev['id']}", headers=api.officer)).json()
    assert ev["status"] == "published"
    return ev


async def test_a_failed_inspection_proposes_a_downgrade_that_an_officer_confirms(stack_factory):
    stack = await stack_factory(("evaluation",), db="postgres")
    facts, api = Facts(stack), Api(stack)
    org = await facts.register()
    await stack.settle()
    await published(stack, api, org)  # 4A, 2026-03-02 … 2031-03-01

    await facts.annual(org, 2025, "unqualified")  # a corrected 2025 result reported by the registry
    await facts.registry(
        "penalty_recorded",
        org,
        penalty_id="pen-1",
        penalty_type="warning",
        fine=None,
        decided_on="2026-03-12",
        executed_on="2026-03-12",
        effective_on="2026-03-12",
    )
    await stack.settle()
    assert "downgraded" not in verbs(await rating_events(stack))  # nothing happens without an officer
    proposals = (await api.c.get("/evaluation/v1/rating-proposals", headers=api.officer)).json()["items"]
    assert sorted(p["reason"] for p in proposals) == ["administrative_penalty", "unqualified_inspection"]
    by_reason = {p["reason"]: p for p in proposals}

    confirm = await api.c.post(
        f"/evaluation/v1/rating-proposals/{by_reason['unqualified_inspection']['id']}/decision",
        json={"decision": "confirmed", "reason": "年检不合格，按规定降级"},
        headers=api.officer,
    )
    assert confirm.status_code == 200 and confirm.json()["status"] == "confirmed"
    again = await api.c.post(
        f"/evaluation/v1/rating-proposals/{by_reason['unqualified_inspection']['id']}/decision",
        json={"decision": "dismissed"},
        headers=api.officer,
    )
    assert again.status_code == 409
    await stack.settle()
    downgraded = [e for e in await rating_events(stack) if e["type"].endswith(".downgraded.v1")]
    assert len(downgraded) == 1
    data = downgraded[0]["data"]
    assert (data["previous_grade"], data["grade"], data["reason"]) == ("4A", "3A", "unqualified_inspection")
    assert data["valid_until"] == "2031-03-01" and data["evaluation_id"] is None

    rating = (await api.c.get(f"/evaluation/v1/organizations/{org['org_id']}/rating", headers=api.officer)).json()
    current = rating["current_grade"]
    assert current["grade"] == "3A" and current["valid_until"] == "2031-03-01"
    assert current["certificate_return_by"] is not None
    # the penalty proposal now targets the downgraded grade's predecessor, which has ended: dismissed
    dismissed = await api.c.post(
        f"/evaluation/v1/rating-proposals/{by_reason['administrative_penalty']['id']}/decision",
        json={"decision": "dismissed", "reason": "警告已执行完毕"},
        headers=api.officer,
    )
    assert dismissed.status_code == 200
    outsider = stack.auth("officer", region="440103")
    assert (await api.c.get("/evaluation/v1/rating-proposals?status=dismissed", headers=outsider)).json()["items"] == []
    assert await contract_problems(stack, "evaluation.rating", "evaluation.round") == []


async def test_an_officers_copy_with_flag_for_committee_proposes_instead_of_revoking(stack_factory):
    stack = await stack_factory(("evaluation",), db="sqlite")
    facts, api = Facts(stack), Api(stack)
    read_only = await api.post(
        "/rule-sets", {"copy_of": {"id": "national-2026"}, "id": "national-2026", "name": "改不了"}, api.officer
    )
    assert read_only.status_code == 409 and read_only.json()["type"].endswith("catalog.preset_read_only")
    copy = await api.post(
        "/rule-sets",
        {
            "copy_of": {"id": "national-2026"},
            "id": "baiyun-2026",
            "name": "白云区评估规则（2026）",
            "changes": {
                "after_publication": {"on_serious_listing": "flag_for_committee"},
                "procedure": {"notice_working_days": 7},
            },
        },
        api.officer,
        status=201,
    )
    assert copy.json()["version"] == 1 and copy.json()["copy_of"] == "national-2026@1"
    assert copy.json()["document"]["validity"]["rule"] == "announcement_next_january"
    gap = await api.post(
        "/band-tables",
        {
            "id": "gappy",
            "name": "有缺口",
            "scale": 1000,
            "bands": [{"grade": "5A", "from": "950"}, {"grade": "4A", "from": "900", "to": "940"}],
        },
        api.officer,
    )
    assert gap.status_code == 422 and "gap between" in gap.json()["detail"]
    listing = (await api.c.get("/evaluation/v1/rule-sets", headers=api.officer)).json()["items"]
    assert {(d["id"], d["preset"]) for d in listing} >= {
        ("national-2011", True),
        ("national-2026", True),
        ("mca-2021", True),
        ("baiyun-2026", False),
    }

    # a new version effective next year: rounds opened now still take version 1
    v2 = await api.post(
        "/rule-sets",
        {
            "copy_of": {"id": "baiyun-2026"},
            "id": "baiyun-2026",
            "effective_from": "2027-01-01",
            "changes": {"procedure": {"notice_working_days": 10}},
        },
        api.officer,
        status=201,
    )
    assert v2.json()["version"] == 2 and v2.json()["copy_of"] == "baiyun-2026@1"
    in_force = (await api.c.get("/evaluation/v1/rule-sets/baiyun-2026", headers=api.officer)).json()
    assert in_force["version"] == 1
    assert (await api.c.get("/evaluation/v1/rule-sets/baiyun-2026?version=2", headers=api.officer)).json()["document"][
        "procedure"
    ]["notice_working_days"] == 10

    org = await facts.register()
    await stack.settle()
    rnd = await api.open_round(rule_set="baiyun-2026")
    assert rnd["notice_working_days"] == 7
    await stack.settle()
    ev = await published(stack, api, org, rule_set="baiyun-2026")
    assert ev["rule_set"] == {"id": "baiyun-2026", "version": 1}

    await facts.listed(org, listed_on="2026-04-20")
    await stack.settle()
    assert "revoked" not in verbs(await rating_events(stack))
    proposals = (await api.c.get("/evaluation/v1/rating-proposals", headers=api.officer)).json()["items"]
    assert [(p["action"], p["reason"]) for p in proposals] == [("revoke", "serious_listing")]
    r = await api.c.post(
        f"/evaluation/v1/rating-proposals/{proposals[0]['id']}/decision",
        json={"decision": "confirmed", "reason": "评估委员会决定撤销"},
        headers=api.officer,
    )
    assert r.status_code == 200
    await stack.settle()
    assert verbs(await rating_events(stack))[-1] == "revoked"
    assert await contract_problems(stack, "evaluation.rating", "evaluation.round") == []


async def test_a_grade_expires_the_day_after_its_validity_and_deregistration_revokes(stack_factory):
    stack = await stack_factory(("evaluation",), db="postgres")
    facts, api = Facts(stack), Api(stack)
    expiring, leaving = await facts.register(), await facts.register(name="广州市白云区慈善会")
    await stack.settle()
    await stack.runtimes["evaluation"].scheduler.ensure_recurring()
    await published(stack, api, expiring)
    await published(stack, api, leaving, ratio=(96, 100))

    await facts.registry(
        "deregistered",
        leaving,
        status="deregistered",
        deregistered_on="2026-04-01",
        reason="自行解散",
        effective_on="2026-04-01",
    )
    await stack.settle()
    revoked = [e["data"] for e in await rating_events(stack) if e["type"].endswith(".revoked.v1")]
    assert [(d["org_id"], d["previous_grade"], d["reason"]) for d in revoked] == [
        (leaving["org_id"], "5A", "organization_deregistered")
    ]

    stack.clock.set(datetime(2031, 3, 1, 17, 30, tzinfo=UTC))  # 01:30 on 2031-03-02 in Shanghai
    await stack.settle()
    expired = [e["data"] for e in await rating_events(stack) if e["type"].endswith(".expired.v1")]
    assert [(d["org_id"], d["grade"], d["valid_until"], d["effective_on"]) for d in expired] == [
        (expiring["org_id"], "4A", "2031-03-01", "2031-03-02")
    ]
    await stack.settle()  # the sweep is idempotent: nothing expires twice
    assert len([e for e in await rating_events(stack) if e["type"].endswith(".expired.v1")]) == 1
    rating = (await api.c.get(f"/evaluation/v1/organizations/{expiring['org_id']}/rating", headers=api.officer)).json()
    assert rating["current_grade"] is None and rating["history"][0]["status"] == "expired"
    assert await contract_problems(stack, "evaluation.rating", "evaluation.round") == []

"""Project assessments: scheduled from `grants.award.agreement_signed`, scored through the same
assignment/recusal/scoring flow, completed with `evaluation.assessment.completed` on the bus."""

from __future__ import annotations

import uuid

import orjson
import pytest

from tests.integration.evaluation.support import Api, Facts, contract_problems

P100 = {"P1.1": "18", "P1.2": "17.5", "P2": "25", "P3": "15", "P4": "8"}  # 83.50
P60 = {"P1.1": "12", "P1.2": "12", "P2": "18", "P3": "10", "P4": "5.5"}  # 57.50


async def assessment_events(stack) -> list[dict]:
    records = await stack.bus.read_all(stack.runtimes["evaluation"].settings.topic("evaluation.assessment"))
    return [orjson.loads(r.value) for r in records]


@pytest.mark.parametrize(("db", "bus"), [("postgres", "kafka"), ("sqlite", "embedded")])
async def test_an_agreement_schedules_assessments_that_complete_with_pass_or_fail(stack_factory, db, bus):
    stack = await stack_factory(("evaluation",), db=db, bus=bus)
    facts, api = Facts(stack), Api(stack)
    org = await facts.register(kind="social_service_agency")
    award_id = str(uuid.uuid4())
    await facts.agreement_signed(
        org,
        award_id=award_id,
        template_id="project-assessment-example",
        pass_threshold="60",
        midterm_due="2026-09-30",
        final_due="2027-03-31",
    )
    await stack.settle()
    # a redelivered agreement changes nothing (inbox) and a second agreement event schedules nothing twice
    await facts.agreement_signed(
        org,
        award_id=award_id,
        template_id="project-assessment-example",
        pass_threshold="60",
        midterm_due="2026-09-30",
        final_due="2027-03-31",
    )
    await stack.settle()

    scheduled = [e for e in await assessment_events(stack) if e["type"].endswith(".scheduled.v1")]
    assert [(e["data"]["stage"], e["data"]["due_on"]) for e in scheduled] == [
        ("midterm", "2026-09-30"),
        ("final", "2027-03-31"),
    ]
    assert {e["partitionkey"] for e in scheduled} == {award_id}
    listed = (await api.c.get(f"/evaluation/v1/project-assessments?award_id={award_id}", headers=api.officer)).json()
    by_stage = {a["stage"]: a for a in listed["items"]}
    assert by_stage["midterm"]["pass_threshold"] == "60.00" and by_stage["midterm"]["status"] == "scheduled"
    midterm, final = by_stage["midterm"]["id"], by_stage["final"]["id"]

    _, evaluators, tokens = await api.agency_with_evaluators(3)
    for e in evaluators[:2]:
        await api.assign(midterm, e["id"])
        await api.assign(final, e["id"])
    # the organization asks the third evaluator to recuse before assignment? It must be assigned first:
    await api.assign(midterm, evaluators[2]["id"])
    declared = await api.post(f"/evaluations/{midterm}/conflicts", {"reason_code": "financial"}, tokens[2], status=201)
    assert declared.json()["status"] == "effective"

    not_yet = await api.c.post(f"/evaluation/v1/project-assessments/{midterm}/completion", headers=api.officer)
    assert not_yet.status_code == 409 and not_yet.json()["rule"] == "assessment.incomplete"
    for token, scores in ((tokens[0], P100), (tokens[1], {**P100, "P2": "26"})):
        assert (await api.put_scores(midterm, token, scores)).status_code == 201
        assert (await api.submit(midterm, token)).status_code == 200
    for token in tokens[:2]:
        assert (await api.put_scores(final, token, P60)).status_code == 201
        assert (await api.submit(final, token)).status_code == 200

    done = await api.c.post(f"/evaluation/v1/project-assessments/{midterm}/completion", headers=api.officer)
    assert done.status_code == 200, done.text
    assert (done.json()["score"], done.json()["passed"]) == ("84.00", True)  # mean of 83.50 and 84.50
    failed = await api.c.post(f"/evaluation/v1/project-assessments/{final}/completion", headers=api.officer)
    assert (failed.json()["score"], failed.json()["passed"]) == ("57.50", False)
    await stack.settle()

    completed = [e["data"] for e in await assessment_events(stack) if e["type"].endswith(".completed.v1")]
    assert completed == [
        {
            "award_id": award_id,
            "assessment_id": midterm,
            "call_id": completed[0]["call_id"],
            "org_id": org["org_id"],
            "stage": "midterm",
            "score": "84.00",
            "pass_threshold": "60.00",
            "passed": True,
            "completed_on": "2026-03-02",
        },
        {
            "award_id": award_id,
            "assessment_id": final,
            "call_id": completed[0]["call_id"],
            "org_id": org["org_id"],
            "stage": "final",
            "score": "57.50",
            "pass_threshold": "60.00",
            "passed": False,
            "completed_on": "2026-03-02",
        },
    ]
    org_view = await api.c.get(
        f"/evaluation/v1/project-assessments/{final}", headers=stack.auth("org", org_id=org["org_id"])
    )
    assert org_view.status_code == 200 and org_view.json()["passed"] is False
    other_org = await api.c.get(
        f"/evaluation/v1/project-assessments/{final}", headers=stack.auth("org", org_id=str(uuid.uuid4()))
    )
    assert other_org.status_code == 404
    assert await contract_problems(stack, "evaluation.assessment", "evaluation.rating") == []


async def test_an_agreement_naming_an_unknown_template_is_dead_lettered(stack_factory):
    stack = await stack_factory(("evaluation",), db="sqlite")
    facts = Facts(stack)
    org = await facts.register()
    award_id = str(uuid.uuid4())
    await facts.agreement_signed(
        org,
        award_id=award_id,
        template_id="no-such-template",
        pass_threshold=60,
        midterm_due=None,
        final_due="2027-03-31",
    )
    await stack.settle()
    dlt = await stack.bus.read_all(stack.runtimes["evaluation"].settings.topic("grants.award") + ".dlt")
    assert len(dlt) == 1 and dlt[0].key == award_id.encode()
    assert await assessment_events(stack) == []


async def test_an_agreement_of_a_call_without_an_assessment_template_schedules_nothing(stack_factory):
    """A micro-venture call paid in full at signing names no template (`template_id: null`): the
    agreement is read, nothing is scheduled and nothing is dead-lettered (the key stays unparked)."""
    stack = await stack_factory(("evaluation",), db="sqlite")
    facts = Facts(stack)
    org = await facts.register()
    award_id = str(uuid.uuid4())
    await facts.agreement_signed(
        org, award_id=award_id, template_id=None, pass_threshold="60.00", midterm_due="2026-11-03",
        final_due="2026-12-03",
    )
    await stack.settle()
    settings = stack.runtimes["evaluation"].settings
    assert await stack.bus.read_all(settings.topic("grants.award") + ".dlt") == []
    assert await assessment_events(stack) == []
    positions = await stack.client.get(
        "/evaluation/v1/admin/event-positions",
        params={"topic": "grants.award", "key": award_id},
        headers=stack.auth("admin"),
    )
    assert [p["sequence"] for p in positions.json()["consumed"]] == [1]

"""Rounds and applications: eligibility with reasons from the registry's facts, idempotent creation,
who may do what, and the round's list as JSON or XLSX."""

from __future__ import annotations

import orjson
import pytest

from tests.integration.evaluation.support import Api, Facts, contract_problems, key


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_an_ineligible_application_is_recorded_with_its_reasons_and_cannot_be_scored(stack_factory, db):
    stack = await stack_factory(("evaluation",), db=db)
    facts, api = Facts(stack), Api(stack)
    young = await facts.register(registered_on="2024-02-01", annual={2025: "unqualified"})
    investigated = await facts.register(name="广州市白云区某商会")
    await facts.registry(
        "investigation_opened",
        investigated,
        investigation_id="inv-1",
        opened_on="2026-01-10",
        effective_on="2026-01-10",
    )
    await stack.settle()

    rnd = await api.open_round(rule_set="national-2011")
    ev = await api.apply(rnd["id"], young)
    assert ev["eligible"] is False and ev["status"] == "ineligible"
    assert [r["rule"] for r in ev["reasons"]] == [
        "eligibility.certificate_two_full_years",
        "eligibility.annual_inspection",
    ]
    assert all(r["basis"].startswith("民政部令第39号") for r in ev["reasons"])
    ev2 = await api.apply(rnd["id"], investigated)
    assert [r["rule"] for r in ev2["reasons"]] == ["eligibility.under_investigation"]

    # the same facts under national-2026: being under investigation no longer excludes
    rnd26 = await api.open_round(rule_set="national-2026", close_on="2026-04-30")
    assert (await api.apply(rnd26["id"], investigated))["eligible"] is True

    _, evaluators, _ = await api.agency_with_evaluators(1)
    refused = await api.assign(ev["id"], evaluators[0]["id"], status=409)
    assert refused.json()["rule"] == "evaluation.status.ineligible"

    duplicate = await api.post(f"/rounds/{rnd['id']}/applications", {}, stack.auth("org", org_id=young["org_id"]))
    assert duplicate.status_code == 409 and duplicate.json()["existing_id"] == ev["id"]

    await stack.settle()
    applied = [
        orjson.loads(r.value)["data"]
        for r in await stack.bus.read_all(stack.runtimes["evaluation"].settings.topic("evaluation.rating"))
        if b".applied." in r.value[:400]
    ]
    mine = next(d for d in applied if d["org_id"] == young["org_id"])
    assert (mine["eligible"], [r["rule"] for r in mine["reasons"]]) == (
        False,
        ["eligibility.certificate_two_full_years", "eligibility.annual_inspection"],
    )
    assert await contract_problems(stack, "evaluation.rating", "evaluation.round") == []


async def test_creation_is_idempotent_and_rights_follow_roles_and_regions(stack_factory):
    stack = await stack_factory(("evaluation",), db="postgres")
    facts, api = Facts(stack), Api(stack)
    org = await facts.register()
    await stack.settle()
    body = {
        "title": "2026年度评估",
        "year": 2026,
        "region_code": "440111",
        "kinds": ["social_group"],
        "template": {"id": "social-group-example"},
        "rule_set": {"id": "national-2011"},
        "band_table": {"id": "anhui-anqing"},
        "applications_close_on": "2026-03-31",
    }
    headers = {**api.officer, "Idempotency-Key": key()}
    first = await api.c.post("/evaluation/v1/rounds", json=body, headers=headers)
    replay = await api.c.post("/evaluation/v1/rounds", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true" and replay.json()["id"] == first.json()["id"]
    reused = await api.c.post("/evaluation/v1/rounds", json={**body, "year": 2027}, headers=headers)
    assert reused.status_code == 422 and reused.json()["rule"] == "idempotency.key_reused"
    assert (await api.c.post("/evaluation/v1/rounds", json=body, headers=api.officer)).status_code == 400

    elsewhere = stack.auth("officer", region="440103")
    assert (await api.post("/rounds", body, elsewhere)).status_code == 403
    assert (await api.post("/rounds", body, stack.auth("org", org_id=org["org_id"]))).status_code == 403
    scale = await api.post("/rounds", {**body, "band_table": {"id": "shenzhen"}}, api.officer)
    assert scale.status_code == 422 and "100-point scale" in scale.json()["detail"]
    unknown = await api.post("/rounds", {**body, "rule_set": {"id": "nowhere-1999"}}, api.officer)
    assert unknown.status_code == 404

    rnd = first.json()
    stranger = {
        "org_id": "00000000-0000-4000-8000-000000000000",
        "kind": "social_group",
        "region_code": "440111",
        "organization": {},
    }
    not_seen = await api.post(f"/rounds/{rnd['id']}/applications", {}, stack.auth("org", org_id=stranger["org_id"]))
    assert not_seen.status_code == 409 and not_seen.json()["rule"] == "organization.unknown"
    ev = await api.apply(rnd["id"], org)
    decide = await api.c.post(
        f"/evaluation/v1/evaluations/{ev['id']}/decision",
        json={"quorum": {"members": 5, "present": 5, "in_favour": 5}},
        headers=elsewhere,
    )
    assert decide.status_code == 403
    other_org = stack.auth("org", org_id=stranger["org_id"])
    assert (await api.c.get(f"/evaluation/v1/evaluations/{ev['id']}", headers=other_org)).status_code == 404
    assert (
        await api.c.get(f"/evaluation/v1/evaluations/{ev['id']}", headers=stack.auth("org", org_id=org["org_id"]))
    ).status_code == 200

    listed = await api.c.get(f"/evaluation/v1/rounds/{rnd['id']}/evaluations", headers=api.officer)
    assert [e["id"] for e in listed.json()["items"]] == [ev["id"]]
    sheet = await api.c.get(
        f"/evaluation/v1/rounds/{rnd['id']}/evaluations",
        headers={**api.officer, "Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    )
    assert sheet.status_code == 200 and sheet.content[:2] == b"PK"
    closed = await api.c.post(f"/evaluation/v1/rounds/{rnd['id']}/closure", headers=api.officer)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    late = await api.post(f"/rounds/{rnd['id']}/applications", {"org_id": org["org_id"]}, api.officer)
    assert late.status_code == 409 and late.json()["rule"] == "round.closed"

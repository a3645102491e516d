"""Recusal and score validation through the API: a conflicted evaluator never scores; a score above a
leaf's max is a 422 naming the indicator; sheets are per evaluator and exact."""

from __future__ import annotations

import pytest
import yaml

from services.evaluation.handlers.catalog import PRESETS
from tests.integration.evaluation.support import Api, Facts, contract_problems, full_scores

TEMPLATE = yaml.safe_load((PRESETS / "templates" / "social-group-example.yaml").read_text(encoding="utf-8"))


async def applied(stack):
    facts, api = Facts(stack), Api(stack)
    org = await facts.register()
    await stack.settle()
    rnd = await api.open_round()
    ev = await api.apply(rnd["id"], org)
    return facts, api, org, rnd, ev


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_an_evaluator_who_declared_a_conflict_is_refused_when_scoring(stack_factory, db):
    stack = await stack_factory(("evaluation",), db=db)
    _, api, org, _, ev = await applied(stack)
    _, evaluators, tokens = await api.agency_with_evaluators(2)
    for e in evaluators:
        await api.assign(ev["id"], e["id"])
    assert (await api.put_scores(ev["id"], tokens[0], {"A1": "20"})).status_code == 201

    declared = await api.post(
        f"/evaluations/{ev['id']}/conflicts",
        {"reason_code": "relative", "detail": "配偶在该组织任职"},
        tokens[0],
        status=201,
    )
    assert declared.json()["status"] == "effective" and declared.json()["declared_by"] == "evaluator"

    refused = await api.put_scores(ev["id"], tokens[0], {"A1": "21"}, if_match='"1"')
    assert refused.status_code == 403, refused.text
    assert refused.json()["rule"] == "scores.conflict_of_interest" and refused.json()["basis"]
    submit = await api.submit(ev["id"], tokens[0])
    assert submit.status_code == 403 and submit.json()["rule"] == "scores.conflict_of_interest"

    # the recorded conflict refuses assigning the same evaluator to this organization again
    rnd2 = await api.open_round(year=2026, close_on="2026-04-30")
    # (a second round of the same region: the organization applies again; its first application stays)
    ev2 = await api.apply(rnd2["id"], org)
    again = await api.assign(ev2["id"], evaluators[0]["id"], status=409)
    assert again.json()["rule"] == "assignment.conflict_of_interest" and "relative" in again.json()["detail"]

    # the organization asks evaluator 1 to recuse; it counts once an officer upholds it
    org_token = stack.auth("org", org_id=org["org_id"])
    request = await api.post(
        f"/evaluations/{ev['id']}/conflicts",
        {"reason_code": "employment", "evaluator_id": evaluators[1]["id"], "detail": "2025年曾任本机构督导"},
        org_token,
        status=201,
    )
    assert request.json()["status"] == "pending"
    assert (await api.put_scores(ev["id"], tokens[1], {"A1": "25"})).status_code == 201  # still pending
    upheld = await api.c.post(
        f"/evaluation/v1/conflicts/{request.json()['id']}/decision",
        json={"decision": "upheld", "reason": "属实"},
        headers=api.officer,
    )
    assert upheld.status_code == 200 and upheld.json()["status"] == "upheld"
    assert (await api.put_scores(ev["id"], tokens[1], {"A1": "26"}, if_match='"1"')).status_code == 403

    history = (await api.c.get(f"/evaluation/v1/evaluations/{ev['id']}/history", headers=api.officer)).json()
    assert {a["status"] for a in history["assignments"]} == {"recused"}
    assert [c["status"] for c in history["conflicts"]] == ["effective", "upheld"]
    assert await contract_problems(stack, "evaluation.rating", "evaluation.round") == []


async def test_an_evaluator_who_worked_at_the_organization_less_than_two_years_ago_cannot_be_assigned(stack_factory):
    stack = await stack_factory(("evaluation",), db="postgres")
    _, api, org, _, ev = await applied(stack)
    _, evaluators, _ = await api.agency_with_evaluators(
        2,
        affiliations={
            0: [{"org_id": org["org_id"], "ended_on": "2024-06-30"}],
            1: [{"org_id": org["org_id"], "ended_on": "2024-03-01"}],
        },
    )
    refused = await api.assign(ev["id"], evaluators[0]["id"], status=409)
    assert refused.json()["rule"] == "assignment.conflict_of_interest"
    assert "2024-06-30" in refused.json()["detail"]
    await api.assign(ev["id"], evaluators[1]["id"], status=201)  # left more than two years before 2026-03-02


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_a_score_above_a_leaf_max_is_a_422_naming_the_indicator(stack_factory, db):
    stack = await stack_factory(("evaluation",), db=db)
    _, api, _, _, ev = await applied(stack)
    _, evaluators, tokens = await api.agency_with_evaluators(1)
    await api.assign(ev["id"], evaluators[0]["id"])

    r = await api.put_scores(ev["id"], tokens[0], {"A1": "30.5", "A2": "20"})
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["rule"] == "scores.above_leaf_max"
    assert problem["errors"] == [
        {"field": "scores.A1", "message": "indicator A1 法人资格 is worth at most 30.00 points; got 30.50"}
    ]
    assert "A1" in problem["detail"]

    unknown = await api.put_scores(ev["id"], tokens[0], {"Z9": "1"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "scores.Z9"
    inexact = await api.c.put(
        f"/evaluation/v1/evaluations/{ev['id']}/scores",
        json={"scores": {"A1": 12.5}},
        headers={**tokens[0], "If-None-Match": "*"},
    )
    assert inexact.status_code == 422 and "decimal strings" in inexact.json()["errors"][0]["message"]
    wrong_total = await api.c.put(
        f"/evaluation/v1/evaluations/{ev['id']}/scores",
        json={"scores": {"A1": "12.5"}, "total": "13"},
        headers={**tokens[0], "If-None-Match": "*"},
    )
    assert wrong_total.status_code == 422 and wrong_total.json()["rule"] == "scores.total_mismatch"

    missing_precondition = await api.c.put(
        f"/evaluation/v1/evaluations/{ev['id']}/scores", json={"scores": {"A1": "12.5"}}, headers=tokens[0]
    )
    assert missing_precondition.status_code == 428
    assert (await api.put_scores(ev["id"], tokens[0], {"A1": "12.5"})).status_code == 201
    incomplete = await api.submit(ev["id"], tokens[0])
    assert incomplete.status_code == 422 and incomplete.json()["rule"] == "scores.incomplete"
    assert {e["field"] for e in incomplete.json()["errors"]} >= {"scores.A2", "scores.D3"}

    # another evaluator's token, or an evaluator who is not assigned, cannot see or write the sheet
    outsider = stack.auth("evaluator", agency_id="another-agency", sub="someone-else")
    assert (await api.put_scores(ev["id"], outsider, {"A1": "1"})).status_code == 404
    assert (await api.c.get(f"/evaluation/v1/evaluations/{ev['id']}", headers=outsider)).status_code == 404


async def test_outliers_are_flagged_and_bonus_points_are_capped(stack_factory):
    stack = await stack_factory(("evaluation",), db="postgres")
    _, api, _, _, ev = await applied(stack)
    _, evaluators, tokens = await api.agency_with_evaluators(4)
    for e in evaluators:
        await api.assign(ev["id"], e["id"])
    sheets = [
        full_scores(TEMPLATE, (100, 100), {"X1": "20"}),
        full_scores(TEMPLATE, (98, 100)),
        full_scores(TEMPLATE, (99, 100)),
        full_scores(TEMPLATE, (80, 100)),
    ]
    for token, scores in zip(tokens, sheets, strict=True):
        r = await api.put_scores(ev["id"], token, scores)
        assert r.status_code == 201
        assert (await api.submit(ev["id"], token)).status_code == 200
    first = (await api.c.get(f"/evaluation/v1/evaluations/{ev['id']}/scores", headers=api.officer)).json()
    assert sorted(s["total"] for s in first["items"]) == ["1000.00", "800.00", "980.00", "990.00"]  # 1020 capped
    aggregate = (await api.c.get(f"/evaluation/v1/evaluations/{ev['id']}/aggregate", headers=api.officer)).json()
    assert aggregate["aggregate"]["total"] == "942.50" and aggregate["aggregate"]["spread"] == "200.00"
    # 800 is 190 points from the median of the others (990); the others are within 20 of theirs
    assert aggregate["aggregate"]["outliers"] == [evaluators[3]["sub"]]
    assert aggregate["aggregate"]["leaves"]["A1"] == {"mean": "28.28", "spread": "6.00"}  # 28.275 half-up
    r = await api.c.post(f"/evaluation/v1/evaluations/{ev['id']}/proposal", headers=api.officer)
    assert (
        r.status_code == 200 and r.json()["proposed_grade"] == "4A" and r.json()["outliers"] == [evaluators[3]["sub"]]
    )


async def test_scores_uploaded_as_xlsx_in_the_templates_layout_follow_the_same_rules(stack_factory):
    import io

    from openpyxl import load_workbook

    stack = await stack_factory(("evaluation",), db="sqlite")
    _, api, _, _, ev = await applied(stack)
    _, evaluators, tokens = await api.agency_with_evaluators(1)
    await api.assign(ev["id"], evaluators[0]["id"])

    blank = await api.c.get(f"/evaluation/v1/evaluations/{ev['id']}/scores/sheet.xlsx", headers=tokens[0])
    assert blank.status_code == 200, blank.text
    assert blank.headers["content-type"].startswith("application/vnd.openxmlformats")
    paths = (await api.c.get("/evaluation/openapi.json")).json()["paths"]
    documented = paths["/evaluation/v1/evaluations/{evaluation_id}/scores/sheet.xlsx"]["get"]["responses"]["200"]
    assert list(documented["content"]) == [blank.headers["content-type"]]  # the media type it answers, not JSON
    book = load_workbook(io.BytesIO(blank.content))
    ws = book["评分表"]
    rows = list(ws.iter_rows(min_row=3))
    assert [c.value for c in next(ws.iter_rows(min_row=2, max_row=2))] == [
        "指标编码",
        "一级指标",
        "指标名称",
        "分值",
        "得分",
        "评分说明",
    ]
    assert [(r[0].value, r[3].value) for r in rows[:2]] == [("A1", "30.00"), ("A2", "20.00")]
    for row in rows:
        row[4].value = round(float(row[3].value) * 0.9, 2)  # typed as numbers, as people do in Excel
    rows[0][5].value = "证照齐全"

    def as_bytes() -> bytes:
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()

    files = {"file": ("sheet.xlsx", as_bytes(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
    r = await api.c.post(
        f"/evaluation/v1/evaluations/{ev['id']}/scores/upload", files=files, headers={**tokens[0], "If-None-Match": "*"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["scores"]["A1"] == "27.00" and r.json()["scores"]["X1"] == "18.00"
    assert r.json()["total"] == "918.00"  # 900 + 18 bonus points
    assert r.json()["comments"] == {"A1": "证照齐全"}

    rows[1][4].value = 20.5  # A2 is worth 20
    files = {"file": ("sheet.xlsx", as_bytes(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
    r = await api.c.post(
        f"/evaluation/v1/evaluations/{ev['id']}/scores/upload", files=files, headers={**tokens[0], "If-Match": '"1"'}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scores.A2"
    not_a_workbook = await api.c.post(
        f"/evaluation/v1/evaluations/{ev['id']}/scores/upload",
        files={"file": ("x.xlsx", b"hello", "application/octet-stream")},
        headers={**tokens[0], "If-Match": '"1"'},
    )
    assert not_a_workbook.status_code == 422 and not_a_workbook.json()["errors"][0]["field"] == "file"


async def test_the_same_first_put_sent_twice_at_once_creates_one_sheet_and_no_server_error(stack_factory):
    import asyncio

    stack = await stack_factory(("evaluation",), db="postgres")
    _, api, _, _, ev = await applied(stack)
    _, evaluators, tokens = await api.agency_with_evaluators(1)
    await api.assign(ev["id"], evaluators[0]["id"])
    results = await asyncio.gather(*(api.put_scores(ev["id"], tokens[0], {"A1": "20"}) for _ in range(4)))
    statuses = sorted(r.status_code for r in results)
    # one creates; the others either see the identical sheet (200) or lost the race to create it (412)
    assert statuses.count(201) == 1 and set(statuses) <= {200, 201, 412}, [r.text for r in results]
    history = (await api.c.get(f"/evaluation/v1/evaluations/{ev['id']}/history", headers=api.officer)).json()
    assert [h["sheet_version"] for h in history["score_history"]] == [1]

"""Rating rounds and applications (DOMAIN.md §2 procedure: announced → applies → eligibility check)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from services.evaluation import events
from services.evaluation.domain import eligibility
from services.evaluation.domain.bands import BandTable
from services.evaluation.domain.points import Invalid, RuleBroken, parse_points
from services.evaluation.domain.rulesets import RuleSet
from services.evaluation.domain.templates import Template
from services.evaluation.handlers.after import in_force, live_grades
from services.evaluation.handlers.catalog import get_document
from services.evaluation.handlers.context import Context, execute, get_standing, require_officer, today
from services.evaluation.handlers.standing import to_standing
from services.evaluation.models import Evaluation, Round
from shared.auth import Principal, lies_within
from shared.problems import Conflict, Forbidden, NotFound
from shared.uow import UnitOfWork
from shared.workdays import end_of_day_instant

KINDS = ("social_group", "social_service_agency", "foundation", "other")


async def open_round(ctx: Context, uow: UnitOfWork, principal: Principal, body: dict[str, Any]) -> Round:
    require_officer(principal, body["region_code"])
    day = today(uow)
    close_on: date = body["applications_close_on"]
    if close_on < day:
        raise Invalid([{"field": "applications_close_on", "message": "must not be in the past"}])
    rs_row, rule_set = await get_document(
        ctx, uow, "rule_set", body["rule_set"]["id"], body["rule_set"].get("version"), on=day
    )
    tpl_row, template = await get_document(
        ctx, uow, "template", body["template"]["id"], body["template"].get("version"), on=day
    )
    bt_row, bands = await get_document(
        ctx, uow, "band_table", body["band_table"]["id"], body["band_table"].get("version"), on=day
    )
    assert isinstance(rule_set, RuleSet) and isinstance(template, Template) and isinstance(bands, BandTable)
    if bands.scale * 100 != template.total:
        raise Invalid(
            [
                {
                    "field": "band_table",
                    "message": f"band table {bt_row.id} is on a {bands.scale}-point scale; "
                    f"template {tpl_row.id} totals {template.total // 100}",
                }
            ]
        )
    tpl_kinds = set(tpl_row.document.get("kinds") or [])
    if tpl_kinds and not set(body["kinds"]) <= tpl_kinds:
        raise Invalid([{"field": "kinds", "message": f"template {tpl_row.id} is for {', '.join(sorted(tpl_kinds))}"}])
    spread = body.get("max_spread")
    row = Round(
        id=str(uuid.uuid4()),
        title=body["title"],
        year=body["year"],
        region_code=body["region_code"],
        kinds=list(body["kinds"]),
        template_id=tpl_row.id,
        template_version=tpl_row.version,
        rule_set_id=rs_row.id,
        rule_set_version=rs_row.version,
        band_table_id=bt_row.id,
        band_table_version=bt_row.version,
        notice_working_days=body.get("notice_working_days") or rule_set.notice_working_days,
        max_spread=parse_points(spread, "max_spread") if spread is not None else rule_set.max_spread,
        applications_close_on=close_on,
        status="open",
        created_at=uow.now,
        created_by=principal.sub,
    )
    uow.session.add(row)
    uow.schedule("round.close", row.id, end_of_day_instant(close_on))
    uow.stage(
        events.round_event(
            "opened",
            row.id,
            {
                "year": row.year,
                "region_code": row.region_code,
                "kinds": row.kinds,
                "template_id": row.template_id,
                "rule_set": rule_set.ref,
                "applications_close_on": close_on.isoformat(),
            },
        )
    )
    uow.audit(
        "round.opened",
        f"rounds/{row.id}",
        {
            "rule_set": rule_set.ref,
            "template": [tpl_row.id, tpl_row.version],
            "band_table": [bt_row.id, bt_row.version],
        },
    )
    return row


async def get_round(uow: UnitOfWork, round_id: str, *, lock: bool = False) -> Round:
    stmt = select(Round).where(Round.id == round_id)  # type: ignore[arg-type]
    if lock:
        stmt = stmt.with_for_update()
    row = (await execute(uow, stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no round {round_id}")
    return row


async def close_round(uow: UnitOfWork, row: Round, *, closed_by: str) -> None:
    if row.status != "open":
        return
    row.status, row.closed_on, row.version = "closed", today(uow), row.version + 1
    uow.stage(
        events.round_event("closed", row.id, {"region_code": row.region_code, "closed_on": row.closed_on.isoformat()})
    )
    uow.audit("round.closed", f"rounds/{row.id}", {"by": closed_by})


async def close_round_job(ctx: Context, uow: UnitOfWork, key: str, due_at: datetime) -> None:
    row = await uow.session.get(Round, key, with_for_update=True)
    if row is not None:
        await close_round(uow, row, closed_by="schedule")


async def apply(ctx: Context, uow: UnitOfWork, principal: Principal, round_id: str, org_id: str | None) -> Evaluation:
    """An organization applies (申报); the eligibility check runs on the application date."""
    if principal.role == "org":
        if org_id not in (None, principal.org_id):
            raise Forbidden("an organization applies for itself")
        org_id = principal.org_id
    elif principal.role not in ("officer", "admin") or org_id is None:
        raise Forbidden("an organization (or an officer on its behalf, naming org_id) applies")
    assert org_id is not None
    rnd = await get_round(uow, round_id, lock=True)
    day = today(uow)
    if rnd.status != "open" or day > rnd.applications_close_on:
        raise RuleBroken(
            "round.closed",
            f"applications to this round closed on {rnd.applications_close_on}",
            "本轮评估通知（申报截止）",
            status=409,
        )
    standing_row = await get_standing(uow, org_id)
    if standing_row is None:
        raise RuleBroken(
            "organization.unknown",
            "the registry's facts on this organization have not reached the evaluation service yet; retry shortly",
            status=409,
        )
    if principal.role == "officer":
        require_officer(principal, standing_row.region_code)
    existing = (
        await execute(
            uow,
            select(Evaluation.id).where(Evaluation.round_id == rnd.id, Evaluation.org_id == org_id),  # type: ignore[call-overload]
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise Conflict(
            f"this organization already applied to the round: evaluation {existing}",
            code="application.duplicate",
            existing_id=existing,
        )
    _, rule_set = await get_document(ctx, uow, "rule_set", rnd.rule_set_id, rnd.rule_set_version)
    grades = await live_grades(uow, org_id, day)
    current = next((g for g in reversed(grades) if in_force(g, day)), None)
    result = eligibility.check(
        rule_set,
        to_standing(standing_row),
        round_year=rnd.year,
        round_kinds=rnd.kinds,
        in_round_region=bool(standing_row.region_code) and lies_within(standing_row.region_code, rnd.region_code),
        applied_on=day,
        grade=eligibility.GradeInForce(current.grade, current.valid_from, current.valid_until) if current else None,
    )
    evaluation = Evaluation(
        id=str(uuid.uuid4()),
        purpose="rating",
        round_id=rnd.id,
        org_id=org_id,
        organization=standing_row.organization,
        region_code=standing_row.region_code,
        kind=standing_row.kind,
        status="applied" if result.eligible else "ineligible",
        template_id=rnd.template_id,
        template_version=rnd.template_version,
        rule_set_id=rnd.rule_set_id,
        rule_set_version=rnd.rule_set_version,
        band_table_id=rnd.band_table_id,
        band_table_version=rnd.band_table_version,
        max_spread=rnd.max_spread,
        applied_on=day,
        eligible=result.eligible,
        reasons=[r.as_dict() for r in result.reasons],
        re_evaluation=result.re_evaluation,
        simplified_visit=result.simplified_visit,
        eligibility_check_due_on=ctx.calendar.add_working_days(day, rule_set.check_working_days),
        outliers=[],
        created_at=uow.now,
        updated_at=uow.now,
    )
    uow.session.add(evaluation)
    uow.stage(
        events.rating_event(
            "applied",
            org_id=org_id,
            organization=evaluation.organization,
            region_code=evaluation.region_code,
            evaluation_id=evaluation.id,
            round_id=rnd.id,
            applied_on=day,
            eligible=result.eligible,
            reasons=evaluation.reasons,
        )
    )
    uow.audit(
        "evaluation.applied",
        f"evaluations/{evaluation.id}",
        {
            "round_id": rnd.id,
            "org_id": org_id,
            "eligible": result.eligible,
            "reasons": evaluation.reasons,
            "rule_set": rule_set.ref,
        },
    )
    return evaluation

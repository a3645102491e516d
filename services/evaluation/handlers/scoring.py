"""Score sheets: PUT per evaluator (idempotent, editable until submitted), submission, aggregation.

The PUT is the hot path (hundreds of evaluators at once), so it runs as SQLAlchemy Core statements
on the SQLModel tables: read the evaluation and the caller's assignment, check recusal, validate
against the (cached) template, lock and write the sheet, append the history row. Every save and
submission is kept in `score_history` with the template and rule-set versions in force, so an
appeal can replay what each evaluator entered and when.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from services.evaluation import events
from services.evaluation.domain.bands import BandTable
from services.evaluation.domain.points import Invalid, RuleBroken, fmt, parse_points
from services.evaluation.domain.rating import require_status
from services.evaluation.domain.rulesets import RuleSet
from services.evaluation.domain.templates import Template
from services.evaluation.handlers.catalog import get_document
from services.evaluation.handlers.context import Context
from services.evaluation.handlers.people import RECUSAL_BASIS
from services.evaluation.models import Assignment, Conflict, Evaluation, ScoreHistory, ScoreSheet
from shared.auth import Principal
from shared.problems import Forbidden, NotFound, PreconditionFailed
from shared.uow import UnitOfWork

EV = Evaluation.__table__  # type: ignore[attr-defined]
AS = Assignment.__table__  # type: ignore[attr-defined]
CF = Conflict.__table__  # type: ignore[attr-defined]
SH = ScoreSheet.__table__  # type: ignore[attr-defined]
HI = ScoreHistory.__table__  # type: ignore[attr-defined]
SCORING_STATUSES = ("applied", "scheduled")


async def documents_of(ctx: Context, uow: UnitOfWork, ev: Any) -> tuple[Template, RuleSet | None, BandTable | None]:
    _, template = await get_document(ctx, uow, "template", ev.template_id, ev.template_version)
    rule_set = bands = None
    if ev.rule_set_id is not None:
        _, rule_set = await get_document(ctx, uow, "rule_set", ev.rule_set_id, ev.rule_set_version)
    if ev.band_table_id is not None:
        _, bands = await get_document(ctx, uow, "band_table", ev.band_table_id, ev.band_table_version)
    return template, rule_set, bands


async def _scoring_context(uow: UnitOfWork, principal: Principal, evaluation_id: str) -> tuple[Any, Any]:
    """The evaluation and the caller's assignment; refuses anyone not (or no longer) entitled to score.

    One round trip: the evaluation, the caller's assignment and any recorded conflict with the organization.
    """
    if principal.role != "evaluator":
        raise Forbidden(f"scores are entered by assigned evaluators; the token has {principal.role}")
    ev = (await uow.conn.execute(_context_statement(), {"eid": evaluation_id, "sub": principal.sub})).first()
    if ev is None or ev.assignment_status is None:
        raise NotFound(f"no evaluation {evaluation_id} assigned to this evaluator")
    if ev.assignment_agency != principal.agency_id:
        raise Forbidden("the assignment belongs to another agency than the token's agency_id")
    if ev.assignment_status == "recused" or ev.conflict_id is not None:
        raise RuleBroken(
            "scores.conflict_of_interest",
            "this evaluator has a recorded conflict with the organization and has recused"
            + (f" (conflict {ev.conflict_id})" if ev.conflict_id else ""),
            RECUSAL_BASIS,
            status=403,
        )
    return ev, ev


@functools.cache
def _context_statement() -> Any:
    """Built once: a statement object memoizes its cache key, so the hot path skips rebuilding it."""
    sub = bindparam("sub")
    conflict = (
        select(CF.c.id)
        .where(CF.c.org_id == EV.c.org_id, CF.c.evaluator_sub == sub, CF.c.status.in_(("effective", "upheld")))
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            *(EV.c[name] for name in _EV_COLUMNS),
            AS.c.status.label("assignment_status"),
            AS.c.agency_id.label("assignment_agency"),
            conflict.label("conflict_id"),
        )
        .select_from(EV.outerjoin(AS, and_(AS.c.evaluation_id == EV.c.id, AS.c.evaluator_sub == sub)))
        .where(EV.c.id == bindparam("eid"))
    )


@functools.cache
def _sheet_for_update() -> Any:
    return (
        select(SH)
        .where(SH.c.evaluation_id == bindparam("eid"), SH.c.evaluator_sub == bindparam("sub"))
        .with_for_update()
    )


@functools.cache
def _sheet_update() -> Any:
    return (
        update(SH)
        .where(SH.c.id == bindparam("b_id"))
        .values(
            scores=bindparam("b_scores"),
            comments=bindparam("b_comments"),
            total=bindparam("b_total"),
            version=bindparam("b_version"),
            updated_at=bindparam("b_updated_at"),
        )
    )


_EV_COLUMNS = (
    "id",
    "purpose",
    "round_id",
    "org_id",
    "organization",
    "region_code",
    "status",
    "template_id",
    "template_version",
    "rule_set_id",
    "rule_set_version",
    "band_table_id",
    "band_table_version",
    "award_id",
)


def sheet_public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "evaluation_id": row["evaluation_id"],
        "evaluator_sub": row["evaluator_sub"],
        "scores": {k: fmt(v) for k, v in sorted(row["scores"].items())},
        "comments": dict(row["comments"] or {}),
        "total": fmt(row["total"]),
        "status": row["status"],
        "version": row["version"],
        "template": {"id": row["template_id"], "version": row["template_version"]},
        "rule_set": {"id": row["rule_set_id"], "version": row["rule_set_version"]} if row["rule_set_id"] else None,
        "updated_at": row["updated_at"],
        "submitted_at": row["submitted_at"],
    }


def _history(uow: UnitOfWork, sheet: Mapping[str, Any], action: str) -> dict[str, Any]:
    return {
        "sheet_id": sheet["id"],
        "evaluation_id": sheet["evaluation_id"],
        "evaluator_sub": sheet["evaluator_sub"],
        "sheet_version": sheet["version"],
        "action": action,
        "at": uow.now,
        "scores": sheet["scores"],
        "comments": sheet["comments"],
        "total": sheet["total"],
        "template_id": sheet["template_id"],
        "template_version": sheet["template_version"],
        "rule_set_id": sheet["rule_set_id"],
        "rule_set_version": sheet["rule_set_version"],
        "request_id": uow.request_id,
    }


async def put_scores(
    ctx: Context,
    uow: UnitOfWork,
    principal: Principal,
    evaluation_id: str,
    body: Mapping[str, Any],
    precondition: Callable[[int | None], None],
) -> tuple[dict[str, Any], bool]:
    """Create or replace the caller's sheet; returns (sheet, created). Same content twice changes nothing."""
    ev, assignment = await _scoring_context(uow, principal, evaluation_id)
    require_status(ev.status, SCORING_STATUSES, "enter scores")
    template, rule_set, _ = await documents_of(ctx, uow, ev)
    comments = dict(body.get("comments") or {})
    scores = template.validate_scores(body.get("scores") or {}, comments)
    total = template.total_of(scores, rule_set.cap if rule_set else None)
    if body.get("total") is not None and parse_points(body["total"], "total") != total:
        raise Invalid(
            [
                {
                    "field": "total",
                    "message": f"the scores add up to {fmt(total)} (bonus included, capped), not {body['total']}",
                }
            ],
            rule="scores.total_mismatch",
        )
    params = {"eid": evaluation_id, "sub": principal.sub}
    current = (await uow.conn.execute(_sheet_for_update(), params)).mappings().first()
    if current is not None:
        if current["status"] == "submitted":
            raise RuleBroken("scores.submitted", "the sheet was submitted; scores can no longer change", status=409)
        if current["scores"] == scores and (current["comments"] or {}) == comments:
            return sheet_public(current), False  # an identical retry: idempotent, nothing to record
        precondition(current["version"])
        values = {
            "scores": scores,
            "comments": comments,
            "total": total,
            "version": current["version"] + 1,
            "updated_at": uow.now,
        }
        await uow.conn.execute(_sheet_update(), {"b_id": current["id"], **{f"b_{k}": v for k, v in values.items()}})
        sheet = {**current, **values}
        created = False
    else:
        precondition(None)
        sheet = {
            "id": str(uuid.uuid4()),
            "evaluation_id": evaluation_id,
            "evaluator_sub": principal.sub,
            "agency_id": assignment.assignment_agency,
            "template_id": ev.template_id,
            "template_version": ev.template_version,
            "rule_set_id": ev.rule_set_id,
            "rule_set_version": ev.rule_set_version,
            "scores": scores,
            "comments": comments,
            "total": total,
            "status": "draft",
            "version": 1,
            "created_at": uow.now,
            "updated_at": uow.now,
            "submitted_at": None,
        }
        try:
            await uow.conn.execute(SH.insert(), sheet)
        except IntegrityError:
            # the same evaluator's first PUT twice at once: the other one created the sheet first
            raise PreconditionFailed("the sheet was just created by another request; reload it and retry") from None
        created = True
    await uow.conn.execute(HI.insert(), _history(uow, sheet, "saved"))
    uow.audit(
        "scores.saved",
        f"evaluations/{evaluation_id}",
        {"evaluator_sub": principal.sub, "sheet_version": sheet["version"], "total": fmt(total)},
    )
    return sheet_public(sheet), created


async def get_sheet(uow: UnitOfWork, evaluation_id: str, evaluator_sub: str) -> dict[str, Any]:
    row = (
        (
            await uow.conn.execute(
                select(SH).where(SH.c.evaluation_id == evaluation_id, SH.c.evaluator_sub == evaluator_sub)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("no score sheet yet")
    return sheet_public(row)


async def submit(ctx: Context, uow: UnitOfWork, principal: Principal, evaluation_id: str) -> dict[str, Any]:
    ev, _ = await _scoring_context(uow, principal, evaluation_id)
    sheet = (
        (
            await uow.conn.execute(
                select(SH)
                .where(SH.c.evaluation_id == evaluation_id, SH.c.evaluator_sub == principal.sub)
                .with_for_update()
            )
        )
        .mappings()
        .first()
    )
    if sheet is None:
        raise RuleBroken("scores.missing", "enter scores (PUT …/scores) before submitting", status=409)
    if sheet["status"] == "submitted":
        return sheet_public(sheet)
    require_status(ev.status, SCORING_STATUSES, "submit scores")
    template, _, _ = await documents_of(ctx, uow, ev)
    missing = template.missing(sheet["scores"])
    if missing:
        raise Invalid(
            [
                {"field": f"scores.{code}", "message": f"indicator {code} {template.leaves[code].name} has no score"}
                for code in missing
            ],
            rule="scores.incomplete",
        )
    values = {"status": "submitted", "submitted_at": uow.now, "version": sheet["version"] + 1, "updated_at": uow.now}
    await uow.conn.execute(update(SH).where(SH.c.id == sheet["id"]).values(**values))
    sheet = {**sheet, **values}
    await uow.conn.execute(HI.insert(), _history(uow, sheet, "submitted"))
    if ev.purpose == "rating":  # `evaluation.assessment` has no per-evaluator type: its result is `completed`
        uow.stage(
            events.rating_event(
                "scored",
                org_id=ev.org_id,
                organization=ev.organization,
                region_code=ev.region_code,
                evaluation_id=ev.id,
                round_id=ev.round_id,
                evaluator_sub=principal.sub,
                total=fmt(sheet["total"]),
            )
        )
    uow.audit(
        "scores.submitted",
        f"evaluations/{evaluation_id}",
        {
            "evaluator_sub": principal.sub,
            "sheet_version": sheet["version"],
            "total": fmt(sheet["total"]),
            "template": [ev.template_id, ev.template_version],
            "rule_set": [ev.rule_set_id, ev.rule_set_version],
        },
    )
    return sheet_public(sheet)

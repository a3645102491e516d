"""The read side: an organization's rating, an evaluation, and its replay for an appeal."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from services.evaluation.domain.bands import grade_rank
from services.evaluation.domain.points import fmt
from services.evaluation.handlers.after import in_force
from services.evaluation.handlers.catalog import get_document
from services.evaluation.handlers.context import Context, execute
from services.evaluation.models import (
    Appeal,
    Assignment,
    Conflict,
    Decision,
    Evaluation,
    Grade,
    RatingProposal,
    ScoreHistory,
)
from shared.uow import UnitOfWork


def _pts(value: int | None) -> str | None:
    return fmt(value) if value is not None else None


def grade_public(g: Grade) -> dict[str, Any]:
    return {
        "grade_id": g.id,
        "grade": g.grade,
        "evaluation_id": g.evaluation_id,
        "round_id": g.round_id,
        "decided_on": g.decided_on,
        "announced_on": g.announced_on,
        "valid_from": g.valid_from,
        "valid_until": g.valid_until,
        "rule_set": {"id": g.rule_set_id, "version": g.rule_set_version},
        "status": g.status,
        "ended_on": g.ended_on,
        "end_reason": g.end_reason,
        "certificate_return_by": g.certificate_return_by,
    }


async def rating_of(ctx: Context, uow: UnitOfWork, org_id: str, on: date) -> dict[str, Any]:
    grades = list(
        (
            await execute(
                uow,
                select(Grade).where(Grade.org_id == org_id).order_by(Grade.created_at),  # type: ignore[arg-type]
            )
        )
        .scalars()
        .all()
    )
    current = next((g for g in reversed(grades) if in_force(g, on)), None)
    pending = next(
        (
            g
            for g in reversed(grades)
            if g.status in ("active", "superseded")
            and g.valid_from > on
            and (g.ended_on is None or g.ended_on >= g.valid_from)
        ),
        None,
    )
    proposals = (
        (
            await execute(
                uow,
                select(RatingProposal).where(RatingProposal.org_id == org_id, RatingProposal.status == "proposed"),  # type: ignore[arg-type]
            )
        )
        .scalars()
        .all()
    )
    return {
        "org_id": org_id,
        "on": on,
        "current_grade": await _with_certificate(ctx, uow, current),
        "pending_grade": await _with_certificate(ctx, uow, pending),
        "history": [grade_public(g) for g in grades],
        "open_proposals": [proposal_public(p) for p in proposals],
    }


async def _with_certificate(ctx: Context, uow: UnitOfWork, grade: Grade | None) -> dict[str, Any] | None:
    """The grade, and whether it carries a certificate and plaque (3A and above under the national rule sets)."""
    if grade is None:
        return None
    _, rule_set = await get_document(ctx, uow, "rule_set", grade.rule_set_id, grade.rule_set_version)
    return {**grade_public(grade), "certificate": grade_rank(grade.grade) >= grade_rank(rule_set.certificate_min_grade)}


def proposal_public(p: RatingProposal) -> dict[str, Any]:
    return {
        "id": p.id,
        "org_id": p.org_id,
        "grade_id": p.grade_id,
        "action": p.action,
        "reason": p.reason,
        "facts": p.facts,
        "effective_on": p.effective_on,
        "status": p.status,
        "proposed_at": p.proposed_at,
        "proposed_by": p.proposed_by,
        "decided_at": p.decided_at,
        "decided_by": p.decided_by,
        "decision_reason": p.decision_reason,
        "version": p.version,
    }


def evaluation_public(ev: Evaluation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ev.id,
        "purpose": ev.purpose,
        "status": ev.status,
        "org_id": ev.org_id,
        "organization": ev.organization,
        "region_code": ev.region_code,
        "kind": ev.kind,
        "round_id": ev.round_id,
        "template": {"id": ev.template_id, "version": ev.template_version},
        "rule_set": {"id": ev.rule_set_id, "version": ev.rule_set_version} if ev.rule_set_id else None,
        "band_table": {"id": ev.band_table_id, "version": ev.band_table_version} if ev.band_table_id else None,
        "max_spread": fmt(ev.max_spread),
        "total": _pts(ev.total),
        "spread": _pts(ev.spread),
        "outliers": ev.outliers or [],
        "version": ev.version,
    }
    if ev.purpose == "rating":
        body.update(
            {
                "applied_on": ev.applied_on,
                "eligible": ev.eligible,
                "reasons": ev.reasons or [],
                "re_evaluation": ev.re_evaluation,
                "simplified_visit": ev.simplified_visit,
                "eligibility_check_due_on": ev.eligibility_check_due_on,
                "proposed_grade": ev.proposed_grade,
                "decided_grade": ev.decided_grade,
                "decided_on": ev.decided_on,
                "quorum": ev.quorum,
                "notice_starts_on": ev.notice_starts_on,
                "notice_ends_at": ev.notice_ends_at,
                "announced_on": ev.announced_on,
                "grade_id": ev.grade_id,
            }
        )
    else:
        body.update(
            {
                "award_id": ev.award_id,
                "call_id": ev.call_id,
                "stage": ev.stage,
                "due_on": ev.due_on,
                "pass_threshold": _pts(ev.pass_threshold),
                "score": _pts(ev.total),
                "passed": ev.passed,
                "completed_on": ev.completed_on,
            }
        )
    return body


async def replay(uow: UnitOfWork, ev: Evaluation) -> dict[str, Any]:
    """Everything needed to re-examine a result: who entered what and when, under which documents."""
    history = (
        (
            await execute(
                uow,
                select(ScoreHistory).where(ScoreHistory.evaluation_id == ev.id).order_by(ScoreHistory.id),  # type: ignore[arg-type]
            )
        )
        .scalars()
        .all()
    )
    decisions = (
        (
            await execute(
                uow,
                select(Decision).where(Decision.evaluation_id == ev.id).order_by(Decision.at),  # type: ignore[arg-type]
            )
        )
        .scalars()
        .all()
    )
    appeals = (await execute(uow, select(Appeal).where(Appeal.evaluation_id == ev.id))).scalars().all()  # type: ignore[arg-type]
    assignments = (
        (
            await execute(
                uow,
                select(Assignment).where(Assignment.evaluation_id == ev.id),  # type: ignore[arg-type]
            )
        )
        .scalars()
        .all()
    )
    conflicts = (await execute(uow, select(Conflict).where(Conflict.evaluation_id == ev.id))).scalars().all()  # type: ignore[arg-type]
    return {
        "evaluation": evaluation_public(ev),
        "score_history": [
            {
                "evaluator_sub": h.evaluator_sub,
                "sheet_version": h.sheet_version,
                "action": h.action,
                "at": h.at,
                "scores": {k: fmt(v) for k, v in sorted(h.scores.items())},
                "comments": h.comments,
                "total": fmt(h.total),
                "template": {"id": h.template_id, "version": h.template_version},
                "rule_set": {"id": h.rule_set_id, "version": h.rule_set_version} if h.rule_set_id else None,
                "request_id": h.request_id,
            }
            for h in history
        ],
        "decisions": [
            {
                "id": d.id,
                "kind": d.kind,
                "decided_on": d.decided_on,
                "at": d.at,
                "grade": d.grade,
                "previous_grade": d.previous_grade,
                "total": _pts(d.total),
                "quorum": d.quorum,
                "rule_set": {"id": d.rule_set_id, "version": d.rule_set_version} if d.rule_set_id else None,
                "band_table": {"id": d.band_table_id, "version": d.band_table_version} if d.band_table_id else None,
                "template": {"id": d.template_id, "version": d.template_version} if d.template_id else None,
                "decided_by": d.decided_by,
                "detail": d.detail,
            }
            for d in decisions
        ],
        "appeals": [appeal_public(a) for a in appeals],
        "assignments": [
            {
                "id": a.id,
                "evaluator_id": a.evaluator_id,
                "evaluator_sub": a.evaluator_sub,
                "agency_id": a.agency_id,
                "status": a.status,
                "assigned_at": a.assigned_at,
            }
            for a in assignments
        ],
        "conflicts": [conflict_public(c) for c in conflicts],
    }


def appeal_public(a: Appeal) -> dict[str, Any]:
    return {
        "id": a.id,
        "evaluation_id": a.evaluation_id,
        "org_id": a.org_id,
        "grounds": a.grounds,
        "filed_at": a.filed_at,
        "filed_on": a.filed_on,
        "status": a.status,
        "decided_on": a.decided_on,
        "decision_reason": a.decision_reason,
        "grade_after": a.grade_after,
        "notify_by": a.notify_by,
        "version": a.version,
    }


def conflict_public(c: Conflict) -> dict[str, Any]:
    return {
        "id": c.id,
        "evaluation_id": c.evaluation_id,
        "org_id": c.org_id,
        "evaluator_id": c.evaluator_id,
        "evaluator_sub": c.evaluator_sub,
        "declared_by": c.declared_by,
        "reason_code": c.reason_code,
        "detail": c.detail,
        "worked_until": c.worked_until,
        "status": c.status,
        "decided_at": c.decided_at,
        "decision_reason": c.decision_reason,
        "version": c.version,
    }

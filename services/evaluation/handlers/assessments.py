"""Project assessments (中期评估 / 结项评估) of funded projects (DOMAIN.md §2, §3).

Scheduled from `grants.award.agreement_signed` (its `assessment {template_id, pass_threshold,
midterm_due, final_due}`); then the same agencies, evaluators, recusal and scoring flow as a rating
(an assessment *is* an evaluation with `purpose = assessment`); an officer completes it, and
`evaluation.assessment.completed` carries the mean score, the threshold and whether it passed.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from services.evaluation import events
from services.evaluation.domain.points import RuleBroken, fmt, parse_points
from services.evaluation.domain.rating import require_status
from services.evaluation.domain.templates import Template
from services.evaluation.handlers.aggregation import aggregate_one, public_aggregate
from services.evaluation.handlers.catalog import get_document
from services.evaluation.handlers.context import Context, execute, get_evaluation, require_officer, today
from services.evaluation.models import Decision, Evaluation
from shared.auth import Principal
from shared.consumer import PermanentError
from shared.envelope import CloudEvent
from shared.problems import NotFound
from shared.uow import UnitOfWork

STAGES = ("midterm", "final")


def _threshold(value: Any) -> int:
    if isinstance(value, float):  # a JSON number from the producer: read it through its decimal text
        value = format(Decimal(repr(value)), "f")
    return parse_points(value, "assessment.pass_threshold")


async def schedule_from_agreement(ctx: Context, uow: UnitOfWork, event: CloudEvent) -> None:
    data = event.data
    spec = data.get("assessment")
    award_id = data.get("award_id")
    if not isinstance(spec, dict) or not isinstance(award_id, str) or spec.get("template_id") is None:
        return  # an agreement without assessments: the call names no template (tolerant reader)
    try:
        tpl_row, template = await get_document(ctx, uow, "template", str(spec["template_id"]), on=today(uow))
        threshold = _threshold(spec["pass_threshold"])
    except (NotFound, KeyError, ValueError) as exc:
        raise PermanentError(f"agreement {award_id}: cannot schedule assessments: {exc}") from exc
    assert isinstance(template, Template)
    existing = set(
        (
            await execute(
                uow,
                select(Evaluation.stage).where(Evaluation.award_id == award_id),  # type: ignore[call-overload]
            )
        )
        .scalars()
        .all()
    )
    for stage in STAGES:
        due = spec.get(f"{stage}_due")
        if not due or stage in existing:
            continue
        assessment = Evaluation(
            id=str(uuid.uuid4()),
            purpose="assessment",
            round_id=None,
            org_id=str(data.get("org_id")),
            organization=data.get("organization") or {},
            region_code=str(data.get("region_code") or ""),
            kind="project",
            status="scheduled",
            template_id=tpl_row.id,
            template_version=tpl_row.version,
            max_spread=template.total // 20,
            reasons=[],
            outliers=[],
            award_id=award_id,
            call_id=data.get("call_id"),
            stage=stage,
            due_on=date.fromisoformat(due),
            pass_threshold=threshold,
            created_at=uow.now,
            updated_at=uow.now,
        )
        uow.session.add(assessment)
        uow.stage(
            events.assessment_event(
                "scheduled",
                award_id=award_id,
                assessment_id=assessment.id,
                call_id=assessment.call_id,
                org_id=assessment.org_id,
                stage=stage,
                due_on=assessment.due_on,
            )
        )
        uow.audit(
            "assessment.scheduled",
            f"evaluations/{assessment.id}",
            {
                "award_id": award_id,
                "stage": stage,
                "due_on": due,
                "template": [tpl_row.id, tpl_row.version],
                "pass_threshold": fmt(threshold),
                "source_event_id": event.id,
            },
        )


async def cancel_for_award(ctx: Context, uow: UnitOfWork, event: CloudEvent) -> None:
    """A terminated award needs no further assessment."""
    award_id = event.data.get("award_id")
    await execute(
        uow,
        update(Evaluation)
        .where(Evaluation.award_id == award_id, Evaluation.status == "scheduled")  # type: ignore[arg-type]
        .values(status="cancelled", updated_at=uow.now),
    )
    uow.audit("assessment.cancelled", f"awards/{award_id}", {"source_event_id": event.id})


async def complete(
    ctx: Context, uow: UnitOfWork, principal: Principal, assessment_id: str
) -> tuple[Evaluation, dict[str, Any]]:
    ev = await get_evaluation(uow, assessment_id, lock=True)
    if ev.purpose != "assessment":
        raise NotFound(f"no project assessment {assessment_id}")
    require_officer(principal, ev.region_code)
    require_status(ev.status, ("scheduled",), "complete the assessment")
    agg, assigned, submitted = await aggregate_one(ctx, uow, ev)
    if agg is None or submitted < assigned:
        raise RuleBroken(
            "assessment.incomplete", f"{submitted} of {assigned} assigned evaluators have submitted", status=409
        )
    assert ev.pass_threshold is not None and ev.award_id is not None
    day = today(uow)
    ev.total, ev.spread, ev.outliers = agg.total, agg.spread, list(agg.outliers)
    ev.passed = agg.total >= ev.pass_threshold
    ev.status, ev.completed_on, ev.version, ev.updated_at = "completed", day, ev.version + 1, uow.now
    uow.session.add(
        Decision(
            id=str(uuid.uuid4()),
            evaluation_id=ev.id,
            org_id=ev.org_id,
            kind="assessment",
            decided_on=day,
            at=uow.now,
            total=agg.total,
            template_id=ev.template_id,
            template_version=ev.template_version,
            decided_by=principal.sub,
            detail={
                "stage": ev.stage,
                "passed": ev.passed,
                "pass_threshold": fmt(ev.pass_threshold),
                **public_aggregate(agg),
            },
        )
    )
    uow.stage(
        events.assessment_event(
            "completed",
            award_id=ev.award_id,
            assessment_id=ev.id,
            call_id=ev.call_id,
            org_id=ev.org_id,
            stage=ev.stage,
            score=fmt(agg.total),
            pass_threshold=fmt(ev.pass_threshold),
            passed=ev.passed,
            completed_on=day,
        )
    )
    uow.audit(
        "assessment.completed",
        f"evaluations/{ev.id}",
        {"score": fmt(agg.total), "passed": ev.passed, "pass_threshold": fmt(ev.pass_threshold)},
    )
    return ev, public_aggregate(agg)

"""Agencies, evaluators, assignments, conflict declarations and recusal (DOMAIN.md §2).

Agencies work with machine credentials: identity-provider clients whose tokens carry
`role=evaluator`, the `agency_id` and, for the agency's administrator, `agency_admin`. An
evaluator recuses when they worked at the organization less than two years ago or have any other
tie; the organization may request recusal. A recorded conflict (declared by the evaluator, or an
organization's request upheld by an officer) refuses assignment and scoring automatically.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import select, update

from services.evaluation import events
from services.evaluation.domain.points import RuleBroken
from services.evaluation.domain.rating import CONFLICT_YEARS, affiliation_conflict, require_status
from services.evaluation.handlers.context import Context, evaluator_of, execute, get_evaluation, require_officer, today
from services.evaluation.models import Agency, Assignment, Conflict, Evaluation, Evaluator
from shared.auth import Principal
from shared.problems import Conflict as ConflictProblem
from shared.problems import Forbidden, NotFound
from shared.uow import UnitOfWork

RECUSAL_BASIS = "评估回避规定：评估人员与参评组织存在利害关系（2年内曾任职或其他关联）的应当回避"
EFFECTIVE = ("effective", "upheld")


def _event(verb: str, evaluation: Evaluation, **data: Any) -> Any:
    return events.rating_event(
        verb,
        org_id=evaluation.org_id,
        organization=evaluation.organization,
        region_code=evaluation.region_code,
        evaluation_id=evaluation.id,
        round_id=evaluation.round_id,
        **data,
    )


async def create_agency(uow: UnitOfWork, principal: Principal, body: dict[str, Any]) -> Agency:
    require_officer(principal, body["region_code"])
    agency = Agency(
        id=str(uuid.uuid4()),
        name=body["name"],
        uscc=body.get("uscc"),
        region_code=body["region_code"],
        status="active",
        created_at=uow.now,
        created_by=principal.sub,
    )
    uow.session.add(agency)
    uow.audit("agency.registered", f"agencies/{agency.id}", {"name": agency.name, "region_code": agency.region_code})
    return agency


async def get_agency(uow: UnitOfWork, agency_id: str) -> Agency:
    agency = await uow.session.get(Agency, agency_id)
    if agency is None:
        raise NotFound(f"no agency {agency_id}")
    return agency


def require_agency_manager(principal: Principal, agency: Agency) -> None:
    """Admin, an officer of the agency's region, or the agency's own administrator."""
    if principal.role == "evaluator":
        if principal.agency_id != agency.id or not principal.agency_admin:
            raise Forbidden("only the agency's administrator (agency_admin) manages its evaluators")
        return
    require_officer(principal, agency.region_code)


async def register_evaluator(uow: UnitOfWork, principal: Principal, agency_id: str, body: dict[str, Any]) -> Evaluator:
    agency = await get_agency(uow, agency_id)
    require_agency_manager(principal, agency)
    taken = (await execute(uow, select(Evaluator.id).where(Evaluator.sub == body["sub"]))).scalar_one_or_none()  # type: ignore[call-overload]
    if taken is not None:
        raise ConflictProblem(
            f"subject {body['sub']} is already evaluator {taken}", code="evaluator.duplicate", existing_id=taken
        )
    evaluator = Evaluator(
        id=str(uuid.uuid4()),
        agency_id=agency.id,
        sub=body["sub"],
        name=body["name"],
        qualifications=list(body.get("qualifications") or []),
        affiliations=[
            {"org_id": a["org_id"], "ended_on": a["ended_on"].isoformat() if a.get("ended_on") else None}
            for a in body.get("affiliations") or []
        ],
        active=True,
        created_at=uow.now,
        created_by=principal.sub,
    )
    uow.session.add(evaluator)
    uow.audit("evaluator.registered", f"agencies/{agency.id}/evaluators/{evaluator.id}", {"sub": evaluator.sub})
    return evaluator


async def effective_conflict(uow: UnitOfWork, org_id: str, evaluator_sub: str) -> Conflict | None:
    stmt = select(Conflict).where(
        Conflict.org_id == org_id,
        Conflict.evaluator_sub == evaluator_sub,
        Conflict.status.in_(EFFECTIVE),  # type: ignore[arg-type, attr-defined]
    )
    return (await execute(uow, stmt.limit(1))).scalar_one_or_none()


def affiliation_with(evaluator: Evaluator, org_id: str, day: date) -> dict[str, Any] | None:
    for a in evaluator.affiliations or []:
        ended = date.fromisoformat(a["ended_on"]) if a.get("ended_on") else None
        if a.get("org_id") == org_id and affiliation_conflict(ended, day):
            return dict(a)
    return None


async def assign(
    ctx: Context, uow: UnitOfWork, principal: Principal, evaluation_id: str, evaluator_id: str
) -> Assignment:
    evaluation = await get_evaluation(uow, evaluation_id, lock=True)
    evaluator = await uow.session.get(Evaluator, evaluator_id)
    if evaluator is None or not evaluator.active:
        raise NotFound(f"no active evaluator {evaluator_id}")
    if principal.role == "evaluator":
        require_agency_manager(principal, await get_agency(uow, evaluator.agency_id))
    else:
        require_officer(principal, evaluation.region_code)
    require_status(evaluation.status, ("applied", "scheduled"), "assign evaluators")
    tie = affiliation_with(evaluator, evaluation.org_id, today(uow))
    if tie is not None:
        raise RuleBroken(
            "assignment.conflict_of_interest",
            f"evaluator {evaluator.id} worked at the organization until {tie.get('ended_on') or 'now'}: "
            f"less than {CONFLICT_YEARS} years ago",
            RECUSAL_BASIS,
            status=409,
        )
    conflict = await effective_conflict(uow, evaluation.org_id, evaluator.sub)
    if conflict is not None:
        raise RuleBroken(
            "assignment.conflict_of_interest",
            f"evaluator {evaluator.id} has a recorded conflict with the organization (conflict "
            f"{conflict.id}, {conflict.reason_code})",
            RECUSAL_BASIS,
            status=409,
        )
    existing = (
        await execute(
            uow,
            select(Assignment).where(
                Assignment.evaluation_id == evaluation.id,
                Assignment.evaluator_sub == evaluator.sub,  # type: ignore[arg-type]
            ),
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise ConflictProblem(
            f"evaluator {evaluator.id} is already assigned ({existing.status})",
            code="assignment.duplicate",
            existing_id=existing.id,
        )
    assignment = Assignment(
        id=str(uuid.uuid4()),
        evaluation_id=evaluation.id,
        evaluator_id=evaluator.id,
        evaluator_sub=evaluator.sub,
        agency_id=evaluator.agency_id,
        status="assigned",
        assigned_at=uow.now,
        assigned_by=principal.sub,
    )
    uow.session.add(assignment)
    uow.stage(_event("assigned", evaluation, evaluator_sub=evaluator.sub, agency_id=evaluator.agency_id))
    uow.audit(
        "evaluation.assigned",
        f"evaluations/{evaluation.id}",
        {"evaluator_sub": evaluator.sub, "agency_id": evaluator.agency_id},
    )
    return assignment


async def _recuse(uow: UnitOfWork, evaluation: Evaluation, evaluator_sub: str) -> None:
    await execute(
        uow,
        update(Assignment)
        .where(Assignment.evaluation_id == evaluation.id, Assignment.evaluator_sub == evaluator_sub)  # type: ignore[arg-type]
        .values(status="recused"),
    )


async def declare_conflict(
    ctx: Context, uow: UnitOfWork, principal: Principal, evaluation_id: str, body: dict[str, Any]
) -> Conflict:
    """An evaluator declares a tie (effective at once: they recuse), or the organization requests recusal."""
    evaluation = await get_evaluation(uow, evaluation_id, lock=True)
    if principal.role == "evaluator":
        evaluator = await evaluator_of(uow, principal)
        declared_by, status = "evaluator", "effective"
    elif principal.role == "org" and principal.org_id == evaluation.org_id:
        target = body.get("evaluator_id")
        evaluator = await uow.session.get(Evaluator, target) if target else None
        if evaluator is None:
            raise NotFound(f"no evaluator {target}")
        assigned = (
            await execute(
                uow,
                select(Assignment.id).where(  # type: ignore[call-overload]
                    Assignment.evaluation_id == evaluation.id, Assignment.evaluator_sub == evaluator.sub
                ),
            )
        ).first()
        if assigned is None:
            raise NotFound(f"evaluator {target} is not assigned to this evaluation")
        declared_by, status = "organization", "pending"
    elif principal.role == "org":
        raise NotFound(f"no evaluation {evaluation_id}")
    else:
        raise Forbidden("conflicts are declared by the evaluator or requested by the organization")
    conflict = Conflict(
        id=str(uuid.uuid4()),
        evaluation_id=evaluation.id,
        org_id=evaluation.org_id,
        evaluator_sub=evaluator.sub,
        evaluator_id=evaluator.id,
        declared_by=declared_by,
        reason_code=body["reason_code"],
        detail=body.get("detail"),
        worked_until=body.get("worked_until"),
        status=status,
        created_at=uow.now,
        created_by=principal.sub,
    )
    uow.session.add(conflict)
    uow.stage(
        _event(
            "conflict_declared",
            evaluation,
            conflict_id=conflict.id,
            declared_by=declared_by,
            evaluator_sub=evaluator.sub,
        )
    )
    if status == "effective":
        await _recuse(uow, evaluation, evaluator.sub)
        uow.stage(
            _event(
                "recusal_decided", evaluation, conflict_id=conflict.id, evaluator_sub=evaluator.sub, decision="upheld"
            )
        )
    uow.audit(
        "evaluation.conflict_declared",
        f"evaluations/{evaluation.id}",
        {
            "conflict_id": conflict.id,
            "declared_by": declared_by,
            "evaluator_sub": evaluator.sub,
            "reason_code": conflict.reason_code,
        },
    )
    return conflict


async def decide_conflict(
    ctx: Context, uow: UnitOfWork, principal: Principal, conflict_id: str, decision: str, reason: str | None
) -> Conflict:
    conflict = await uow.session.get(Conflict, conflict_id, with_for_update=True)
    if conflict is None:
        raise NotFound(f"no conflict {conflict_id}")
    evaluation = await get_evaluation(uow, conflict.evaluation_id, lock=True)
    require_officer(principal, evaluation.region_code)
    if conflict.status != "pending":
        raise ConflictProblem(f"the recusal request is already {conflict.status}", code="conflict.decided")
    conflict.status = decision
    conflict.decided_at, conflict.decided_by, conflict.decision_reason = uow.now, principal.sub, reason
    conflict.version += 1
    if decision == "upheld":
        await _recuse(uow, evaluation, conflict.evaluator_sub)
    uow.stage(
        _event(
            "recusal_decided",
            evaluation,
            conflict_id=conflict.id,
            evaluator_sub=conflict.evaluator_sub,
            decision=decision,
        )
    )
    uow.audit(
        "evaluation.recusal_decided",
        f"evaluations/{evaluation.id}",
        {"conflict_id": conflict.id, "decision": decision, "reason": reason},
    )
    return conflict

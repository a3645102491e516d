"""After publication: downgrade, revocation and expiry of grades (DOMAIN.md §2).

- A grade is *live* while it is `active` or `superseded` and has not ended; it is *in force* on a
  day within `[valid_from, valid_until]` and not after `ended_on`; *pending* before `valid_from`.
- Downgrade (one grade down; 1A → no grade) is proposed by the system (failed inspection, 基本合格
  two years running, an administrative penalty — as the grade's rule set lists) or by an officer
  (falsified materials), and confirmed by an officer of the organization's region.
- A serious listing revokes at once under `on_serious_listing: revoke`, or is proposed for the
  committee under `flag_for_committee`. Deregistration or revocation of the organization ends it.
- Expiry: a daily job ends grades whose validity has passed.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from services.evaluation import events
from services.evaluation.domain.bands import one_grade_down
from services.evaluation.domain.rating import certificate_return_by
from services.evaluation.domain.rulesets import RuleSet
from services.evaluation.handlers.catalog import get_document
from services.evaluation.handlers.context import Context, execute, require_officer, today
from services.evaluation.models import Decision, Grade, RatingProposal
from shared.auth import Principal
from shared.problems import Conflict, NotFound
from shared.uow import UnitOfWork


def in_force(grade: Grade, day: date) -> bool:
    return grade.valid_from <= day <= grade.valid_until and (grade.ended_on is None or day <= grade.ended_on)


async def live_grades(uow: UnitOfWork, org_id: str, day: date, *, lock: bool = False) -> list[Grade]:
    stmt = (
        select(Grade)
        .where(Grade.org_id == org_id, Grade.status.in_(("active", "superseded")))  # type: ignore[attr-defined]
        .where(or_(Grade.ended_on.is_(None), Grade.ended_on >= day))  # type: ignore[union-attr, operator]
        .order_by(Grade.valid_from)  # type: ignore[arg-type]
    )
    if lock:
        stmt = stmt.with_for_update()
    return list((await execute(uow, stmt)).scalars().all())


async def target_grade(uow: UnitOfWork, org_id: str, day: date) -> Grade | None:
    """The grade a downgrade acts on: the one in force, else the pending one."""
    grades = await live_grades(uow, org_id, day, lock=True)
    current = [g for g in grades if in_force(g, day)]
    return (current or grades or [None])[-1]


def _rating_event(verb: str, row: Grade, /, **data: Any) -> Any:
    return events.rating_event(
        verb,
        org_id=row.org_id,
        organization=row.organization,
        region_code=row.region_code,
        evaluation_id=None,
        round_id=None,
        **data,
    )


async def rule_set_of(ctx: Context, uow: UnitOfWork, grade: Grade) -> RuleSet:
    _, rule_set = await get_document(ctx, uow, "rule_set", grade.rule_set_id, grade.rule_set_version)
    assert isinstance(rule_set, RuleSet)
    return rule_set


async def propose(
    uow: UnitOfWork,
    grade: Grade,
    *,
    action: str,
    reason: str,
    facts: dict[str, Any],
    effective_on: date,
    by: str = "system",
) -> RatingProposal | None:
    existing = (
        await execute(
            uow,
            select(RatingProposal).where(
                RatingProposal.grade_id == grade.id,  # type: ignore[arg-type]
                RatingProposal.reason == reason,  # type: ignore[arg-type]
                RatingProposal.status == "proposed",  # type: ignore[arg-type]
            ),
        )
    ).scalar_one_or_none()
    if existing is not None:
        return None
    proposal = RatingProposal(
        id=str(uuid.uuid4()),
        org_id=grade.org_id,
        region_code=grade.region_code,
        grade_id=grade.id,
        action=action,
        reason=reason,
        facts=facts,
        effective_on=effective_on,
        proposed_at=uow.now,
        proposed_by=by,
        status="proposed",
    )
    uow.session.add(proposal)
    uow.audit(
        f"rating.{action}_proposed",
        f"organizations/{grade.org_id}/rating",
        {"proposal_id": proposal.id, "grade_id": grade.id, "reason": reason, **facts},
    )
    return proposal


async def revoke(
    ctx: Context,
    uow: UnitOfWork,
    grade: Grade,
    *,
    reason: str,
    effective_on: date,
    decided_by: str,
    detail: dict[str, Any],
) -> None:
    grade.status = "revoked"
    grade.ended_on = effective_on - timedelta(days=1)
    grade.end_reason = reason
    uow.session.add(
        Decision(
            id=str(uuid.uuid4()),
            evaluation_id=grade.evaluation_id,
            org_id=grade.org_id,
            kind="revocation",
            decided_on=today(uow),
            at=uow.now,
            grade=None,
            previous_grade=grade.grade,
            rule_set_id=grade.rule_set_id,
            rule_set_version=grade.rule_set_version,
            decided_by=decided_by,
            detail={"reason": reason, "effective_on": effective_on.isoformat(), "grade_id": grade.id, **detail},
        )
    )
    uow.stage(_rating_event("revoked", grade, previous_grade=grade.grade, reason=reason, effective_on=effective_on))
    uow.audit(
        "rating.revoked",
        f"organizations/{grade.org_id}/rating",
        {"grade_id": grade.id, "grade": grade.grade, "reason": reason, "effective_on": effective_on.isoformat()},
    )


async def downgrade(
    ctx: Context,
    uow: UnitOfWork,
    grade: Grade,
    *,
    reason: str,
    effective_on: date,
    decided_by: str,
    detail: dict[str, Any],
) -> Grade | None:
    rule_set = await rule_set_of(ctx, uow, grade)
    lower = one_grade_down(grade.grade)
    grade.status = "downgraded"
    grade.ended_on = effective_on - timedelta(days=1)
    grade.end_reason = reason
    new: Grade | None = None
    return_by = certificate_return_by(ctx.calendar, effective_on, rule_set)
    if lower is not None:
        new = Grade(
            id=str(uuid.uuid4()),
            org_id=grade.org_id,
            organization=grade.organization,
            region_code=grade.region_code,
            evaluation_id=grade.evaluation_id,
            round_id=grade.round_id,
            grade=lower,
            decided_on=today(uow),
            announced_on=today(uow),
            valid_from=max(grade.valid_from, effective_on),
            valid_until=grade.valid_until,
            rule_set_id=grade.rule_set_id,
            rule_set_version=grade.rule_set_version,
            status="active",
            previous_grade_id=grade.id,
            certificate_return_by=return_by,
            created_at=uow.now,
        )
        uow.session.add(new)
    uow.session.add(
        Decision(
            id=str(uuid.uuid4()),
            evaluation_id=grade.evaluation_id,
            org_id=grade.org_id,
            kind="downgrade",
            decided_on=today(uow),
            at=uow.now,
            grade=lower,
            previous_grade=grade.grade,
            rule_set_id=grade.rule_set_id,
            rule_set_version=grade.rule_set_version,
            decided_by=decided_by,
            detail={
                "reason": reason,
                "effective_on": effective_on.isoformat(),
                "grade_id": grade.id,
                "certificate_return_by": return_by.isoformat(),
                **detail,
            },
        )
    )
    uow.stage(
        _rating_event(
            "downgraded",
            grade,
            previous_grade=grade.grade,
            grade=lower,
            reason=reason,
            effective_on=effective_on,
            valid_from=new.valid_from if new else None,
            valid_until=new.valid_until if new else None,
        )
    )
    uow.audit(
        "rating.downgraded",
        f"organizations/{grade.org_id}/rating",
        {"grade_id": grade.id, "from": grade.grade, "to": lower, "reason": reason},
    )
    return new


async def propose_by_officer(
    ctx: Context, uow: UnitOfWork, principal: Principal, org_id: str, reason: str, detail: str | None
) -> RatingProposal:
    grade = await target_grade(uow, org_id, today(uow))
    if grade is None:
        raise NotFound(f"organization {org_id} holds no grade")
    require_officer(principal, grade.region_code)
    action = "revoke" if reason == "serious_listing" else "downgrade"
    proposal = await propose(
        uow, grade, action=action, reason=reason, effective_on=today(uow), facts={"detail": detail}, by=principal.sub
    )
    if proposal is None:
        raise Conflict(
            f"a {reason} proposal for this grade is already waiting for a decision", code="rating.proposal_exists"
        )
    return proposal


async def decide_proposal(
    ctx: Context, uow: UnitOfWork, principal: Principal, proposal_id: str, decision: str, reason: str | None
) -> RatingProposal:
    proposal = await uow.session.get(RatingProposal, proposal_id, with_for_update=True)
    if proposal is None:
        raise NotFound(f"no rating proposal {proposal_id}")
    require_officer(principal, proposal.region_code)
    if proposal.status != "proposed":
        raise Conflict(f"the proposal is already {proposal.status}", code="rating.proposal_decided")
    grade = await uow.session.get(Grade, proposal.grade_id, with_for_update=True)
    proposal.status, proposal.decided_at, proposal.decided_by = decision, uow.now, principal.sub
    proposal.decision_reason = reason
    proposal.version += 1
    live = (
        grade is not None
        and grade.status in ("active", "superseded")
        and (grade.ended_on is None or grade.ended_on >= today(uow))
    )
    if decision == "confirmed":
        if grade is None or not live:
            raise Conflict("the grade has ended since the proposal was made", code="rating.grade_ended")
        detail = {"proposal_id": proposal.id, "facts": proposal.facts, "officer_reason": reason}
        effective = today(uow)  # a confirmed downgrade or revocation takes effect when the officer confirms it
        if proposal.action == "revoke":
            await revoke(
                ctx, uow, grade, reason=proposal.reason, effective_on=effective, decided_by=principal.sub, detail=detail
            )
        else:
            await downgrade(
                ctx, uow, grade, reason=proposal.reason, effective_on=effective, decided_by=principal.sub, detail=detail
            )
    uow.audit(
        f"rating.proposal_{decision}",
        f"organizations/{proposal.org_id}/rating",
        {"proposal_id": proposal.id, "reason": reason},
    )
    return proposal


async def expire_grades(ctx: Context, uow: UnitOfWork, key: str, due_at: datetime) -> None:
    """Daily: every active grade whose validity ended before today expires (idempotent)."""
    day = today(uow)
    stmt = (
        select(Grade)
        .where(Grade.status.in_(("active", "superseded")), Grade.valid_until < day)  # type: ignore[attr-defined, operator]
        .with_for_update()
    )
    for grade in (await execute(uow, stmt)).scalars().all():
        superseded_early = grade.ended_on is not None and grade.ended_on < grade.valid_until
        grade.status = "expired"
        grade.ended_on = grade.ended_on or grade.valid_until
        grade.end_reason = grade.end_reason or "validity_ended"
        if superseded_early:
            continue  # a newer grade took over before this one's validity ended: nothing expires for the public
        uow.stage(
            _rating_event(
                "expired",
                grade,
                grade=grade.grade,
                valid_until=grade.valid_until,
                effective_on=grade.valid_until + timedelta(days=1),
            )
        )
        uow.audit(
            "rating.expired",
            f"organizations/{grade.org_id}/rating",
            {"grade_id": grade.id, "grade": grade.grade, "valid_until": grade.valid_until.isoformat()},
        )

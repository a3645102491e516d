"""After confirmation: the agreement (tranches scheduled, the signing tranche released), suspension
and resumption, termination with the unpaid tranches cancelled and a clawback recorded."""

from __future__ import annotations

from datetime import date

from services.grants.domain import DomainError
from services.grants.domain import awards as domain
from services.grants.domain.calls import TrancheRule
from services.grants.domain.money import money
from services.grants.handlers.common import lock_award, require_officer, stage_award_event
from services.grants.handlers.disbursements import cancel_unpaid, create_tranches, resume_tranches, suspend_tranches
from services.grants.models import Application, Award
from shared.auth import Principal
from shared.http import Money
from shared.uow import UnitOfWork
from shared.workdays import WorkingCalendar, local_date


async def sign_agreement(
    uow: UnitOfWork, *, principal: Principal, award_id: str, signed_on: date | None, calendar: WorkingCalendar
) -> Award:
    award, call = await lock_award(uow, award_id)
    require_officer(principal, call.region_code)
    domain.require_status(award.status, ("confirmed",), "sign the agreement of")
    signed = signed_on or local_date(uow.now)
    period_end = None
    if award.application_id:
        app = await uow.session.get(Application, award.application_id)
        period_end = app.period_end if app else None
    plan = domain.assessment_plan(call.assessment, signed, period_end)
    award.status, award.signed_on = "signed", signed
    award.assessment = {**plan, "passed_stages": []}
    award.version += 1
    tranches = domain.tranches_for(
        award.amount_fen, [TrancheRule(t["basis_points"], t["trigger"]) for t in call.tranches]
    )
    stage_award_event(
        uow,
        "agreement_signed",
        award,
        call,
        signed_on=signed.isoformat(),
        tranches=[t.as_event() for t in tranches],
        assessment=plan,
    )
    await create_tranches(uow, award, call, tranches, signed_on=signed, calendar=calendar)
    uow.audit(
        "award.agreement_signed", f"awards/{award.id}", {"signed_on": signed.isoformat(), "tranches": len(tranches)}
    )
    return award


async def suspend_award(uow: UnitOfWork, *, principal: Principal, award_id: str, reason: str) -> Award:
    award, call = await lock_award(uow, award_id)
    require_officer(principal, call.region_code)
    domain.require_status(award.status, ("signed",), "suspend")
    award.status, award.version = "suspended", award.version + 1
    stage_award_event(uow, "suspended", award, call, reason=reason)
    await suspend_tranches(uow, award, call, cause="award", reason=reason)
    uow.audit("award.suspended", f"awards/{award.id}", {"reason": reason})
    return award


async def resume_award(uow: UnitOfWork, *, principal: Principal, award_id: str, reason: str) -> Award:
    award, call = await lock_award(uow, award_id)
    require_officer(principal, call.region_code)
    domain.require_status(award.status, ("suspended",), "resume")
    award.status, award.version = "signed", award.version + 1
    stage_award_event(uow, "resumed", award, call, reason=reason)
    await resume_tranches(uow, award, call, cause="award", reason=reason)
    uow.audit("award.resumed", f"awards/{award.id}", {"reason": reason})
    return award


async def terminate_award(
    uow: UnitOfWork, *, principal: Principal, award_id: str, reason: str, clawback_fen: int | None
) -> Award:
    award, call = await lock_award(uow, award_id)
    require_officer(principal, call.region_code)
    domain.require_status(award.status, ("confirmed", "signed", "suspended"), "terminate")
    if clawback_fen is not None and clawback_fen > award.paid_fen:
        raise DomainError(
            "award.clawback", f"a clawback cannot exceed what was paid ({Money.of_fen(award.paid_fen).amount})"
        )
    cancelled = await cancel_unpaid(uow, award, call, reason=reason)
    if award.signed_on is None:
        cancelled = award.committed_fen - award.paid_fen  # no tranches yet: the whole commitment
    award.committed_fen -= cancelled
    call.committed_fen -= cancelled
    call.version += 1
    award.status, award.ended_on, award.end_reason = "terminated", local_date(uow.now), reason
    award.clawback_due_fen = clawback_fen or 0
    award.version += 1
    stage_award_event(
        uow,
        "terminated",
        award,
        call,
        booking_kind="commitment_release",
        booking_fen=-cancelled,
        reason=reason,
        cancelled_unpaid=money(cancelled),
        clawback=money(clawback_fen) if clawback_fen else None,
    )
    uow.audit(
        "award.terminated",
        f"awards/{award.id}",
        {"reason": reason, "cancelled_unpaid_fen": cancelled, "clawback_fen": clawback_fen},
    )
    return award

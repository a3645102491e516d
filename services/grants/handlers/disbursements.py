"""Tranches and payments: released by their trigger, paid once per tranche, retried without doubling.

Every step publishes a `grants.disbursement` event keyed by the award id, carrying the
`award_sequence` it depends on and, when money moves, a booking entry (also in the ledger table).
Callers hold the call's budget row and the award row locked (see handlers/awards.py).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import col, select

from services.grants.domain import DomainError
from services.grants.domain import disbursements as domain
from services.grants.domain.awards import Tranche, stage_trigger
from services.grants.domain.money import money
from services.grants.events import instant
from services.grants.handlers.common import (
    load,
    lock_award,
    new_id,
    require_officer,
    stage_award_event,
    stage_disbursement_event,
)
from services.grants.models import Award, Call, Disbursement, PaymentAttempt, PaymentPosting
from services.grants.models.io_awards import DisbursementPublic, PaymentIn
from shared.auth import Principal
from shared.envelope import CloudEvent
from shared.http import Money
from shared.problems import NotFound
from shared.uow import UnitOfWork
from shared.workdays import WorkingCalendar, end_of_day_instant, local_date

TRIGGER_ORDER = ("signing", "midterm_passed", "final_passed")


async def tranches_of(uow: UnitOfWork, award_id: str, *, lock: bool = False) -> list[Disbursement]:
    stmt = select(Disbursement).where(Disbursement.award_id == award_id).order_by(col(Disbursement.tranche_no))
    if lock:
        stmt = stmt.with_for_update()
    return list((await uow.session.exec(stmt)).all())


async def create_tranches(
    uow: UnitOfWork, award: Award, call: Call, tranches: list[Tranche], *, signed_on: date, calendar: WorkingCalendar
) -> list[Disbursement]:
    rows = []
    for t in tranches:
        d = Disbursement(
            id=new_id(),
            award_id=award.id,
            call_id=call.id,
            tranche_no=t.tranche_no,
            tranche_count=len(tranches),
            basis_points=t.basis_points,
            trigger=t.trigger,
            amount_fen=t.amount_fen,
            status="scheduled",
        )
        if t.trigger == "signing":
            d.due_on = calendar.add_working_days(signed_on, call.first_tranche_working_days)
        uow.session.add(d)
        rows.append(d)
        stage_disbursement_event(uow, "scheduled", award, call, d, due_on=d.due_on.isoformat() if d.due_on else None)
    for d in rows:
        if d.trigger == "signing":
            release(uow, award, call, d, due_on=d.due_on)
    return rows


def release(uow: UnitOfWork, award: Award, call: Call, d: Disbursement, *, due_on: date | None) -> None:
    """Open payment attempt n+1 with a new instruction id and tell finance (`released`)."""
    previous = d.instruction_id
    d.attempt += 1
    d.instruction_id = new_id()
    d.status, d.released_at, d.due_on, d.overdue = "released", uow.now, due_on, False
    d.finance_reference, d.paid_at = None, None
    d.version += 1
    uow.session.add(
        PaymentAttempt(
            instruction_id=d.instruction_id, disbursement_id=d.id, attempt=d.attempt, status="open", opened_at=uow.now
        )
    )
    stage_disbursement_event(
        uow,
        "released",
        award,
        call,
        d,
        booking_kind="payment_instruction",
        booking_fen=d.amount_fen,
        attempt=d.attempt,
        payment_instruction_id=d.instruction_id,
        due_on=due_on.isoformat() if due_on else None,
        previous_instruction_id=previous,
    )
    if due_on is not None:
        uow.schedule("tranche.due", d.id, end_of_day_instant(due_on))


async def suspend_tranches(
    uow: UnitOfWork, award: Award, call: Call, *, cause: str, reason: str, triggers: tuple[str, ...] = TRIGGER_ORDER
) -> int:
    """Unpaid tranches not yet with finance stop; a released one keeps its open instruction."""
    count = 0
    for d in await tranches_of(uow, award.id, lock=True):
        if d.status in ("scheduled", "failed", "reversed") and d.trigger in triggers:
            d.suspended_from, d.suspension_cause, d.status = d.status, cause, "suspended"
            d.version += 1
            stage_disbursement_event(uow, "suspended", award, call, d, reason=reason)
            count += 1
    return count


async def resume_tranches(uow: UnitOfWork, award: Award, call: Call, *, cause: str, reason: str) -> int:
    count = 0
    for d in await tranches_of(uow, award.id, lock=True):
        if d.status == "suspended" and d.suspension_cause == cause:
            d.status, d.suspended_from, d.suspension_cause = d.suspended_from or "scheduled", None, None
            d.version += 1
            stage_disbursement_event(uow, "resumed", award, call, d, reason=reason)
            count += 1
    return count


async def cancel_unpaid(uow: UnitOfWork, award: Award, call: Call, *, reason: str) -> int:
    """Termination: every unpaid tranche is cancelled, an open instruction voided. Returns the fen."""
    cancelled = 0
    for d in await tranches_of(uow, award.id, lock=True):
        if d.status in domain.UNPAID:
            if d.status == "released" and d.instruction_id:
                attempt = await uow.session.get(PaymentAttempt, d.instruction_id, with_for_update=True)
                if attempt is not None and attempt.status == "open":
                    attempt.status, attempt.closed_at = "voided", uow.now
            d.status = "cancelled"
            d.version += 1
            cancelled += d.amount_fen
            stage_disbursement_event(uow, "cancelled", award, call, d, reason=reason)
    return cancelled


async def _locked(uow: UnitOfWork, disbursement_id: str) -> tuple[Disbursement, Award, Call]:
    peek = await uow.session.get(Disbursement, disbursement_id)
    if peek is None:
        raise NotFound(f"disbursement {disbursement_id} not found")
    award, call = await lock_award(uow, peek.award_id)
    d = await load(uow, Disbursement, disbursement_id, lock=True, what="disbursement")
    return d, award, call


async def post_payment(
    uow: UnitOfWork, *, principal: Principal, disbursement_id: str, body: PaymentIn
) -> tuple[Disbursement, bool]:
    """Finance posts paid / failed / reversed; idempotent on (instruction_id, status, reference).

    Returns the tranche and whether this posting changed anything (False for a repeat)."""
    d, award, call = await _locked(uow, disbursement_id)
    require_officer(principal, call.region_code, roles=("finance", "admin"))
    repeat = (
        await uow.session.exec(
            select(PaymentPosting.id).where(
                PaymentPosting.instruction_id == body.instruction_id,
                PaymentPosting.status == body.status,
                PaymentPosting.finance_reference == body.finance_reference,
            )
        )
    ).first()
    if repeat is not None:
        return d, False
    attempt = await uow.session.get(PaymentAttempt, body.instruction_id, with_for_update=True)
    if attempt is not None and attempt.disbursement_id != d.id:
        attempt = None
    view = domain.Attempt(attempt.instruction_id, attempt.status, attempt.finance_reference) if attempt else None
    new_status = domain.decide_posting(
        d.status, view, domain.Posting(body.instruction_id, body.status, body.finance_reference)
    )
    assert attempt is not None
    at = body.paid_at or uow.now
    if new_status == "paid":
        attempt.status, attempt.finance_reference, attempt.paid_at, attempt.closed_at = (
            "paid",
            body.finance_reference,
            at,
            uow.now,
        )
        d.status, d.finance_reference, d.paid_at, d.overdue = "paid", body.finance_reference, at, False
        award.paid_fen += d.amount_fen
        call.paid_fen += d.amount_fen
        stage_disbursement_event(
            uow,
            "paid",
            award,
            call,
            d,
            booking_kind="payment",
            booking_fen=d.amount_fen,
            payment_instruction_id=attempt.instruction_id,
            finance_reference=body.finance_reference,
            paid_at=instant(at),
        )
    elif new_status == "failed":
        attempt.status, attempt.reason, attempt.closed_at = "failed", body.reason, uow.now
        d.status = "failed"
        stage_disbursement_event(
            uow,
            "payment_failed",
            award,
            call,
            d,
            payment_instruction_id=attempt.instruction_id,
            attempt=attempt.attempt,
            reason=body.reason or body.finance_reference,
        )
    else:
        attempt.status, attempt.reason = "reversed", body.reason
        d.status, d.paid_at = "reversed", None
        award.paid_fen -= d.amount_fen
        call.paid_fen -= d.amount_fen
        stage_disbursement_event(
            uow,
            "payment_reversed",
            award,
            call,
            d,
            booking_kind="payment_reversal",
            booking_fen=-d.amount_fen,
            payment_instruction_id=attempt.instruction_id,
            finance_reference=body.finance_reference,
            reversed_at=instant(at),
        )
    d.version += 1
    uow.session.add(
        PaymentPosting(
            instruction_id=body.instruction_id,
            disbursement_id=d.id,
            status=body.status,
            finance_reference=body.finance_reference,
            posted_at=uow.now,
            posted_by=principal.sub,
        )
    )
    uow.audit(
        f"payment.{body.status}",
        f"disbursements/{d.id}",
        {"instruction_id": body.instruction_id, "finance_reference": body.finance_reference},
    )
    if new_status == "paid":
        await uow.session.flush()
        await complete_if_done(uow, award, call)
    return d, True


async def retry_payment(uow: UnitOfWork, *, principal: Principal, disbursement_id: str) -> Disbursement:
    d, award, call = await _locked(uow, disbursement_id)
    require_officer(principal, call.region_code, roles=("officer", "finance", "admin"))
    domain.require_retryable(d.status, award.status)
    if d.instruction_id:
        old = await uow.session.get(PaymentAttempt, d.instruction_id, with_for_update=True)
        if old is not None and old.status == "open":
            old.status, old.closed_at = "superseded", uow.now
    release(uow, award, call, d, due_on=d.due_on)
    uow.audit("payment.retried", f"disbursements/{d.id}", {"attempt": d.attempt, "instruction_id": d.instruction_id})
    return d


async def complete_if_done(uow: UnitOfWork, award: Award, call: Call) -> None:
    tranches = await tranches_of(uow, award.id)
    passed = set(award.assessment.get("passed_stages") or [])
    if award.status == "signed" and tranches and all(t.status == "paid" for t in tranches) and "final" in passed:
        award.status, award.ended_on, award.version = "completed", local_date(uow.now), award.version + 1
        stage_award_event(uow, "completed", award, call, completed_on=award.ended_on.isoformat())
        uow.audit("award.completed", f"awards/{award.id}")


async def release_on_assessment(uow: UnitOfWork, event: CloudEvent, *, calendar: WorkingCalendar) -> None:
    """`evaluation.assessment.completed`: a pass releases its stage's tranches and resumes those a
    failed assessment held; a failure suspends every unpaid later tranche."""
    if not event.type.endswith(".completed.v1"):
        return
    award_id = str(event.data.get("award_id") or event.partitionkey)
    peek = await uow.session.get(Award, award_id)
    if peek is None:
        return  # not ours (another deployment's award)
    call = await load(uow, Call, peek.call_id, lock=True, what="call")
    award = await load(uow, Award, award_id, lock=True, what="award")
    if award.status not in ("signed", "suspended"):
        return
    stage = str(event.data.get("stage") or "")
    trigger = stage_trigger(stage)
    if trigger is None:
        return
    passed = bool(event.data.get("passed"))
    reason = f"{stage} assessment {'passed' if passed else 'failed'} (score {event.data.get('score')})"
    if not passed:
        later = TRIGGER_ORDER[TRIGGER_ORDER.index(trigger) :]
        await suspend_tranches(uow, award, call, cause="assessment", reason=reason, triggers=later)
        uow.audit("award.assessment_failed", f"awards/{award.id}", {"stage": stage, "score": event.data.get("score")})
        return
    stages = set(award.assessment.get("passed_stages") or []) | {stage}
    award.assessment = {**award.assessment, "passed_stages": sorted(stages)}
    await resume_tranches(uow, award, call, cause="assessment", reason=reason)
    if award.status == "signed":
        satisfied = {"signing"} | {stage_trigger(s) for s in stages}
        completed_on = _date(event.data.get("completed_on")) or local_date(uow.now)
        for d in await tranches_of(uow, award.id, lock=True):
            if d.status == "scheduled" and d.trigger in satisfied:
                release(
                    uow, award, call, d, due_on=calendar.add_working_days(completed_on, call.first_tranche_working_days)
                )
    uow.audit("award.assessment_passed", f"awards/{award.id}", {"stage": stage, "score": event.data.get("score")})
    await uow.session.flush()
    await complete_if_done(uow, award, call)


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


async def tranche_due_job(uow: UnitOfWork, key: str, due_at: datetime) -> None:
    """End of a tranche's due day: still unpaid → marked overdue for the officers (audited)."""
    d = await uow.session.get(Disbursement, key, with_for_update=True)
    if d is None or d.status not in ("released", "failed") or d.overdue:
        return
    if d.due_on is None or end_of_day_instant(d.due_on) > uow.now:
        return
    d.overdue, d.version = True, d.version + 1
    uow.audit("disbursement.overdue", f"disbursements/{d.id}", {"due_on": d.due_on.isoformat(), "attempt": d.attempt})


async def record_clawback(
    uow: UnitOfWork, *, principal: Principal, award_id: str, amount_fen: int, received_on: date
) -> Award:
    award, call = await lock_award(uow, award_id)
    require_officer(principal, call.region_code, roles=("finance", "admin"))
    outstanding = award.clawback_due_fen - award.clawback_received_fen
    if award.status != "terminated" or amount_fen <= 0 or amount_fen > outstanding:
        raise DomainError(
            "clawback.amount",
            f"the outstanding clawback is {Money.of_fen(max(outstanding, 0)).amount}",
            kind="conflict",
        )
    paid = [d for d in await tranches_of(uow, award.id) if d.status == "paid"]
    if not paid:
        raise DomainError("clawback.nothing_paid", "no tranche of this award was paid", kind="conflict")
    award.paid_fen -= amount_fen
    award.clawback_received_fen += amount_fen
    award.version += 1
    call.paid_fen -= amount_fen
    stage_disbursement_event(
        uow,
        "clawback_recorded",
        award,
        call,
        paid[-1],
        booking_kind="clawback",
        booking_fen=-amount_fen,
        amount_fen=amount_fen,
        clawback=money(amount_fen),
        received_on=received_on.isoformat(),
    )
    uow.audit(
        "award.clawback_recorded",
        f"awards/{award.id}",
        {"amount_fen": amount_fen, "received_on": received_on.isoformat()},
    )
    return award


def disbursement_public(d: Disbursement) -> DisbursementPublic:
    return DisbursementPublic(
        id=d.id,
        award_id=d.award_id,
        tranche_no=d.tranche_no,
        tranche_count=d.tranche_count,
        basis_points=d.basis_points,
        trigger=d.trigger,
        amount=Money.of_fen(d.amount_fen),
        status=d.status,
        due_on=d.due_on,
        attempt=d.attempt,
        payment_instruction_id=d.instruction_id,
        finance_reference=d.finance_reference,
        paid_at=d.paid_at,
        overdue=d.overdue,
        version=d.version,
    )

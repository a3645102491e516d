"""Awards: the atomic batch decision within the budget (applications, or award subsidies from the
published ratings), and reading them. Every decision is audited with who, when and the standing
snapshot it relied on. Notice and objections: handlers/objections.py; agreement, suspension and
termination: handlers/agreements.py.

Locking order, everywhere: the call's budget row, then the award row, then its tranches. The
budget row is taken `FOR UPDATE` (PostgreSQL) or under SQLite's single writer, so two officers
deciding at once are serialized and the sum of awards never exceeds the budget.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.grants.domain import DomainError
from services.grants.domain import awards as domain
from services.grants.events import instant
from services.grants.handlers.common import (
    load,
    new_id,
    payee_aad,
    require_officer,
    sees_region,
    stage_award_event,
    within,
)
from services.grants.handlers.standing import read_standing
from services.grants.models import Application, Award, Call, RatingPublication, Screening
from services.grants.models.io_awards import AwardBatch, AwardPublic
from shared.auth import Principal
from shared.http import Money
from shared.pii import FieldCipher
from shared.problems import Forbidden, NotFound
from shared.uow import UnitOfWork
from shared.workdays import WorkingCalendar, local_date


async def decide_awards(
    uow: UnitOfWork,
    *,
    principal: Principal,
    call_id: str,
    body: AwardBatch,
    calendar: WorkingCalendar,
    cipher: FieldCipher,
) -> tuple[Call, list[Award]]:
    call = await load(uow, Call, call_id, lock=True, what="call")  # the budget row
    if call.status == "draft":
        raise NotFound(f"call {call_id} not found")
    require_officer(principal, call.region_code)
    if call.status == "cancelled":
        raise DomainError("call.state", "the call is cancelled", kind="conflict")
    if uow.now < call.closes_at:
        raise DomainError("award.call_open", "awards are decided after the call closes", kind="conflict")
    today = local_date(uow.now)
    notice_ends_at = calendar.period_end_instant(today, call.notice_working_days)
    planned = await (
        _plan_subsidies(uow, call, body) if call.call_type == "award_subsidy" else _plan_applications(uow, call, body)
    )
    domain.fit_budget(call.budget_fen - call.committed_fen, [p["amount_fen"] for p in planned])
    awards = []
    for plan in planned:
        award = Award(
            id=new_id(),
            call_id=call.id,
            application_id=plan.get("application_id"),
            uniqueness_key=plan["key"],
            org_id=plan["org_id"],
            organization=plan["organization"],
            region_code=plan["region_code"],
            call_type=call.call_type,
            project_title=plan.get("project_title") or "",
            amount_fen=plan["amount_fen"],
            committed_fen=plan["amount_fen"],
            status="noticed",
            rank=plan.get("rank"),
            grade=plan.get("grade"),
            decided_at=uow.now,
            decided_on=today,
            decided_by=principal.sub,
            notice_starts_on=today,
            notice_ends_at=notice_ends_at,
            screening_id=plan.get("screening_id"),
            payee_account_name=plan.get("payee_account_name"),
            payee_bank_name=plan.get("payee_bank_name"),
            payee_account_cipher=plan.get("payee_account_cipher"),
        )
        if plan.get("payee") is not None:
            payee = plan["payee"]
            award.payee_account_name, award.payee_bank_name = payee.account_name, payee.bank_name
            award.payee_account_cipher = cipher.encrypt(payee.account_number, associated_data=payee_aad(award.org_id))
        uow.session.add(award)
        call.committed_fen += award.amount_fen
        stage_award_event(
            uow,
            "decided",
            award,
            call,
            booking_kind="commitment",
            booking_fen=award.amount_fen,
            decided_on=today.isoformat(),
            rank=award.rank,
        )
        stage_award_event(
            uow,
            "publicly_noticed",
            award,
            call,
            notice_starts_on=today.isoformat(),
            notice_ends_at=instant(notice_ends_at),
        )
        uow.schedule("award.notice_end", award.id, notice_ends_at)
        uow.audit(
            "award.decided",
            f"awards/{award.id}",
            {
                "call_id": call.id,
                "amount_fen": award.amount_fen,
                "rank": award.rank,
                "application_id": award.application_id,
                "screening_id": plan.get("screening_id"),
                "standing": plan.get("snapshot"),
                "rule_set": plan.get("rule_set"),
            },
        )
        awards.append(award)
    call.version += 1
    try:
        await uow.session.flush()
    except IntegrityError:
        raise DomainError("award.duplicate", "one of these already has an award", kind="conflict") from None
    return call, awards


async def _plan_applications(uow: UnitOfWork, call: Call, body: AwardBatch) -> list[dict[str, Any]]:
    seen: set[str] = set()
    planned = []
    for i, item in enumerate(body.awards):
        if not item.application_id:
            raise DomainError("award.application_required", f"awards.{i}: name the application_id")
        if item.application_id in seen:
            raise DomainError("award.duplicate", f"application {item.application_id} appears twice in the batch")
        seen.add(item.application_id)
        app = await uow.session.get(Application, item.application_id, with_for_update=True)
        if app is None or app.call_id != call.id or app.status == "draft":
            raise NotFound(f"application {item.application_id} not found in call {call.id}")
        if app.status == "awarded" or await _has_award(uow, app.id):
            raise DomainError("award.duplicate", f"application {app.id} already has an award", kind="conflict")
        if app.status != "submitted":
            raise DomainError("award.application_state", f"application {app.id} is {app.status}", kind="conflict")
        if app.eligible is not True:
            raise DomainError(
                "award.ineligible", f"application {app.id} did not pass eligibility screening", kind="conflict"
            )
        amount = item.amount.fen if item.amount else (app.requested_fen or 0)
        domain.check_amount(
            amount, requested_fen=app.requested_fen, min_fen=call.min_award_fen, max_fen=call.max_award_fen
        )
        screening = await uow.session.get(Screening, app.screening_id) if app.screening_id else None
        app.status = "awarded"
        app.version += 1
        planned.append(
            {
                "key": app.id,
                "application_id": app.id,
                "org_id": app.org_id,
                "organization": app.organization,
                "region_code": app.region_code or call.region_code,
                "project_title": app.project_title,
                "amount_fen": amount,
                "rank": app.rank,
                "screening_id": app.screening_id,
                "snapshot": screening.snapshot if screening else None,
                "rule_set": screening.rule_set if screening else None,
                "payee_account_name": app.payee_account_name,
                "payee_bank_name": app.payee_bank_name,
                "payee_account_cipher": app.payee_account_cipher,
                "payee": item.payee,
            }
        )
    return planned


async def _has_award(uow: UnitOfWork, application_id: str) -> bool:
    stmt = select(Award.id).where(Award.uniqueness_key == application_id)
    return (await uow.session.exec(stmt)).first() is not None


async def subsidy_candidates(uow: UnitOfWork, call: Call) -> list[dict[str, Any]]:
    """Organizations newly rated within the call window at a grade the call pays for (以奖代补)."""
    start, end = local_date(call.opens_at), local_date(call.closes_at)
    stmt = (
        select(RatingPublication)
        .where(
            RatingPublication.announced_on >= start,
            RatingPublication.announced_on <= end,
            col(RatingPublication.grade).in_(list(call.amount_per_grade)),
        )
        .order_by(col(RatingPublication.announced_on), col(RatingPublication.org_id))
    )
    out = []
    for pub in (await uow.session.exec(stmt)).all():
        standing = await read_standing(uow, pub.org_id)
        doc = standing["doc"] if standing else {}
        region = doc.get("region_code") or pub.region_code
        if not region or not within(region, call.region_code):
            continue
        out.append(
            {
                "org_id": pub.org_id,
                "organization": doc.get("organization") or {"org_id": pub.org_id},
                "region_code": region,
                "grade": pub.grade,
                "announced_on": pub.announced_on,
                "amount": Money.of_fen(call.amount_per_grade[pub.grade]),
                "evaluation_id": pub.evaluation_id,
                "awarded": await _has_subsidy(uow, call.id, pub.org_id),
                "snapshot": doc,
            }
        )
    return out


async def _has_subsidy(uow: UnitOfWork, call_id: str, org_id: str) -> bool:
    stmt = select(Award.id).where(Award.uniqueness_key == f"{call_id}:{org_id}")
    return (await uow.session.exec(stmt)).first() is not None


async def _plan_subsidies(uow: UnitOfWork, call: Call, body: AwardBatch) -> list[dict[str, Any]]:
    candidates = {c["org_id"]: c for c in await subsidy_candidates(uow, call)}
    planned, seen = [], set()
    for i, item in enumerate(body.awards):
        if not item.org_id:
            raise DomainError("award.org_required", f"awards.{i}: an award subsidy names the org_id")
        if item.org_id in seen:
            raise DomainError("award.duplicate", f"organization {item.org_id} appears twice in the batch")
        seen.add(item.org_id)
        c = candidates.get(item.org_id)
        if c is None:
            raise DomainError(
                "award.not_candidate",
                f"organization {item.org_id} was not newly rated at a funded grade within the call window",
                basis="本次以奖代补通知",
            )
        if c["awarded"]:
            raise DomainError(
                "award.duplicate", f"organization {item.org_id} already has this subsidy", kind="conflict"
            )
        amount = call.amount_per_grade[c["grade"]]
        if item.amount is not None and item.amount.fen != amount:
            raise DomainError("award.amount", f"the subsidy for {c['grade']} is {Money.of_fen(amount).amount}")
        planned.append(
            {
                "key": f"{call.id}:{item.org_id}",
                "org_id": item.org_id,
                "organization": c["organization"],
                "region_code": c["region_code"],
                "project_title": f"以奖代补（{c['grade']}）",
                "amount_fen": amount,
                "grade": c["grade"],
                "snapshot": c["snapshot"],
                "payee": item.payee,
            }
        )
    return planned


# -- reading -------------------------------------------------------------------------------------


async def visible_award(uow: UnitOfWork, principal: Principal, award_id: str) -> Award:
    award = await uow.session.get(Award, award_id)
    if award is None:
        raise NotFound(f"award {award_id} not found")
    if principal.role == "org":
        if principal.org_id != award.org_id:
            raise NotFound(f"award {award_id} not found")
        return award
    call = await uow.session.get(Call, award.call_id)
    if call is None or not sees_region(principal, call.region_code):
        raise NotFound(f"award {award_id} not found")
    return award


async def list_awards(uow: UnitOfWork, *, principal: Principal, call_id: str) -> list[Award]:
    call = await load(uow, Call, call_id, what="call")
    stmt = select(Award).where(Award.call_id == call.id).order_by(col(Award.decided_at), col(Award.id))
    if principal.role == "org":
        stmt = stmt.where(Award.org_id == principal.org_id)
    elif not sees_region(principal, call.region_code):
        raise Forbidden(f"call {call.id} is outside the caller's region")
    return list((await uow.session.exec(stmt)).all())


def award_public(a: Award) -> AwardPublic:
    return AwardPublic(
        id=a.id,
        call_id=a.call_id,
        application_id=a.application_id,
        org_id=a.org_id,
        organization=a.organization,
        call_type=a.call_type,
        project_title=a.project_title,
        amount=Money.of_fen(a.amount_fen),
        committed=Money.of_fen(a.committed_fen),
        paid=Money.of_fen(a.paid_fen),
        status=a.status,
        rank=a.rank,
        grade=a.grade,
        decided_on=a.decided_on,
        notice_starts_on=a.notice_starts_on,
        notice_ends_at=a.notice_ends_at,
        confirmed_on=a.confirmed_on,
        signed_on=a.signed_on,
        ended_on=a.ended_on,
        end_reason=a.end_reason,
        clawback_due=Money.of_fen(a.clawback_due_fen),
        clawback_received=Money.of_fen(a.clawback_received_fen),
        version=a.version,
    )

"""The public notice (公示): objections during it, their decision (an upheld objection cancels the
award and offers the next ranked application as a reserve, 递补), and confirmation when the
notice ends without a pending objection (the `award.notice_end` timer, or the last rejection)."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from services.grants.domain import DomainError
from services.grants.domain import awards as domain
from services.grants.events import instant
from services.grants.handlers.common import load, lock_award, new_id, require_officer, stage_award_event
from services.grants.models import Application, Award, Call, Objection
from services.grants.models.io_awards import ObjectionPublic
from shared.auth import Principal
from shared.problems import NotFound
from shared.uow import UnitOfWork
from shared.workdays import local_date


async def file_objection(uow: UnitOfWork, *, principal: Principal, award_id: str, reason: str) -> Objection:
    award, call = await lock_award(uow, award_id)
    domain.check_objection_window(award.status, award.notice_ends_at, uow.now)
    objection = Objection(
        id=new_id(),
        award_id=award.id,
        filed_by=principal.sub,
        filed_role=principal.role,
        filed_at=uow.now,
        reason=reason,
    )
    uow.session.add(objection)
    stage_award_event(uow, "objection_filed", award, call, objection_id=objection.id)
    award.version += 1
    uow.audit("award.objection_filed", f"awards/{award.id}", {"objection_id": objection.id})
    return objection


async def decide_objection(
    uow: UnitOfWork, *, principal: Principal, objection_id: str, decision: str, reason: str
) -> Objection:
    peek = await uow.session.get(Objection, objection_id)
    if peek is None:
        raise NotFound(f"objection {objection_id} not found")
    award, call = await lock_award(uow, peek.award_id)
    require_officer(principal, call.region_code)
    objection = await load(uow, Objection, objection_id, lock=True, what="objection")
    if objection.status != "filed":
        raise DomainError("objection.decided", f"the objection is already {objection.status}", kind="conflict")
    objection.status, objection.decided_at, objection.decided_by = decision, uow.now, principal.sub
    objection.decision_reason = reason
    if decision == "rejected":
        stage_award_event(uow, "objection_rejected", award, call, objection_id=objection.id)
        await uow.session.flush()
        await _confirm_if_due(uow, award, call)
    else:
        domain.require_status(award.status, ("noticed",), "uphold an objection against")
        reserve = await _next_reserve(uow, call, award)
        objection.reserve_application_id = reserve
        call.committed_fen -= award.committed_fen
        released = award.committed_fen
        award.committed_fen = 0
        award.status, award.ended_on, award.end_reason = "cancelled", local_date(uow.now), reason
        stage_award_event(
            uow,
            "objection_upheld",
            award,
            call,
            booking_kind="commitment_release",
            booking_fen=-released,
            objection_id=objection.id,
            reserve_application_id=reserve,
        )
        if award.application_id:
            app = await load(uow, Application, award.application_id, lock=True, what="application")
            app.status, app.version = "award_cancelled", app.version + 1
        for other in (
            await uow.session.exec(
                select(Objection).where(
                    Objection.award_id == award.id, Objection.status == "filed", Objection.id != objection.id
                )
            )
        ).all():
            other.status, other.decided_at, other.decision_reason = "moot", uow.now, "award cancelled"
        call.version += 1
    award.version += 1
    uow.audit(
        f"award.objection_{decision}",
        f"awards/{award.id}",
        {"objection_id": objection.id, "reason": reason, "reserve_application_id": objection.reserve_application_id},
    )
    return objection


async def _next_reserve(uow: UnitOfWork, call: Call, award: Award) -> str | None:
    """The next ranked eligible application without an award (递补), offered to the officer."""
    stmt = (
        select(Application.id)
        .where(
            Application.call_id == call.id,
            Application.status == "submitted",
            col(Application.eligible).is_(True),
            col(Application.rank).is_not(None),
        )
        .order_by(col(Application.rank))
        .limit(1)
    )
    row = (await uow.session.exec(stmt)).first()
    return None if row is None else str(row)


async def _confirm_if_due(uow: UnitOfWork, award: Award, call: Call) -> bool:
    if award.status != "noticed" or award.notice_ends_at is None or uow.now < award.notice_ends_at:
        return False
    pending = (
        await uow.session.exec(select(Objection.id).where(Objection.award_id == award.id, Objection.status == "filed"))
    ).first()
    if pending is not None:
        return False  # confirmed when the last objection is rejected
    award.status, award.confirmed_on = "confirmed", local_date(uow.now)
    award.version += 1
    stage_award_event(uow, "confirmed", award, call, confirmed_on=award.confirmed_on.isoformat())
    uow.audit("award.confirmed", f"awards/{award.id}", {"notice_ends_at": instant(award.notice_ends_at)})
    return True


async def notice_end_job(uow: UnitOfWork, key: str, due_at: Any) -> None:
    award = await uow.session.get(Award, key)
    if award is None or award.status != "noticed":
        return
    award, call = await lock_award(uow, key)
    await _confirm_if_due(uow, award, call)


def objection_public(o: Objection) -> ObjectionPublic:
    return ObjectionPublic(
        id=o.id,
        award_id=o.award_id,
        status=o.status,
        reason=o.reason,
        filed_at=o.filed_at,
        decided_at=o.decided_at,
        decision_reason=o.decision_reason,
        reserve_application_id=o.reserve_application_id,
    )

"""Credit lists: listing, removal, objections, and the timers that remove (6 months, nothing to
rectify) and escalate (2 full years on the irregular list) by themselves."""

from __future__ import annotations

from datetime import date, datetime, time

import uuid6
from sqlalchemy import func
from sqlmodel import select

from services.registry import events
from services.registry.domain import credit as rules
from services.registry.domain.codes import Finding
from services.registry.domain.organizations import Refusal
from services.registry.handlers.common import conflict, refuse_findings, today, touch, warnings_of
from services.registry.models import CreditListing, ListingObjection, Organization, Penalty, io
from shared.auth import Principal
from shared.problems import Conflict, Forbidden, NotFound
from shared.scheduler import SHANGHAI
from shared.uow import UnitOfWork

AUTO_REMOVAL_JOB = "registry.listing_auto_removal"
ESCALATION_JOB = "registry.listing_escalation"


def listing_public(row: CreditListing, warnings: list[io.Finding] | None = None) -> io.ListingPublic:
    return io.ListingPublic(
        id=row.id,
        org_id=row.org_id,
        list=row.list,
        reason_code=row.reason_code,
        reason=row.reason,  # type: ignore[arg-type]
        listed_on=row.listed_on,
        removed_on=row.removed_on,
        removal_reason=row.removal_reason,
        rectifiable=row.rectifiable,
        rectification_verified_on=row.rectification_verified_on,
        escalated_from=row.escalated_from,
        version=row.version,
        warnings=warnings or [],
    )


def _at(day: date) -> datetime:
    return datetime.combine(day, time(0, 30), SHANGHAI)


async def refresh_listed_flags(uow: UnitOfWork, org: Organization) -> None:
    t = CreditListing.__table__  # type: ignore[attr-defined]
    rows = (
        (await uow.conn.execute(select(t.c.list).where(t.c.org_id == org.id, t.c.removed_on.is_(None)).distinct()))
        .scalars()
        .all()
    )
    org.listed_irregular, org.listed_serious = "irregular" in rows, "serious" in rows


async def _list(
    uow: UnitOfWork,
    org: Organization,
    *,
    list_: str,
    reason_code: str,
    reason: str,
    listed_on: date,
    rectifiable: bool,
    escalated_from: str | None = None,
) -> CreditListing:
    row = CreditListing(
        id=str(uuid6.uuid7()),
        org_id=org.id,
        list=list_,
        reason_code=reason_code,
        reason=reason,
        listed_on=listed_on,
        rectifiable=rectifiable,
        escalated_from=escalated_from,
        recorded_at=uow.now,
    )
    uow.session.add(row)
    await uow.session.flush()
    await refresh_listed_flags(uow, org)
    touch(org, uow)
    uow.session.add(org)
    uow.stage(
        events.organization_event(
            org,
            "listed",
            listing_id=row.id,
            list=list_,
            reason_code=reason_code,
            reason=reason,
            listed_on=listed_on,
            escalated_from=escalated_from,
            effective_on=listed_on,
        )
    )
    uow.audit(
        "credit_listing.listed",
        f"organizations/{org.id}",
        {"listing_id": row.id, "list": list_, "reason_code": reason_code},
    )
    if list_ == rules.IRREGULAR:
        if not rectifiable:
            uow.schedule(AUTO_REMOVAL_JOB, row.id, _at(rules.auto_removal_on(listed_on)))
        uow.schedule(ESCALATION_JOB, row.id, _at(rules.escalation_on(listed_on)))
    return row


async def _remove(
    uow: UnitOfWork, org: Organization, row: CreditListing, *, reason: str, removed_on: date, note: str | None = None
) -> None:
    row.removed_on, row.removal_reason, row.removal_note, row.version = removed_on, reason, note, row.version + 1
    uow.session.add(row)
    await uow.session.flush()
    await refresh_listed_flags(uow, org)
    touch(org, uow)
    uow.session.add(org)
    uow.stage(
        events.organization_event(
            org,
            "delisted",
            listing_id=row.id,
            list=row.list,
            removed_on=removed_on,
            removal_reason=reason,
            effective_on=removed_on,
        )
    )
    uow.audit("credit_listing.delisted", f"organizations/{org.id}", {"listing_id": row.id, "removal_reason": reason})


async def add_listing(
    uow: UnitOfWork, *, principal: Principal, org: Organization, body: io.ListingCreate
) -> io.ListingPublic:
    conflict(rules.listing_refusal(body.list, body.reason_code, status=org.status))
    day = today(uow)
    listed_on = body.listed_on or day
    refuse_findings(rules.check_listing(body.list, body.reason_code, status=org.status, listed_on=listed_on, today=day))
    started = org.registered_on or org.filed_on
    if started is not None and listed_on < started:
        refuse_findings([Finding("listed_on", "date.range", "列入日期不能早于成立登记（备案）日期")])
    same = (
        await uow.session.exec(
            select(CreditListing).where(
                CreditListing.org_id == org.id,
                CreditListing.list == body.list,
                CreditListing.reason_code == body.reason_code,
                CreditListing.removed_on.is_(None),  # type: ignore[union-attr]
            )
        )
    ).first()
    if same is not None:
        raise Conflict(
            f"already listed for this reason since {same.listed_on.isoformat()} (listing {same.id})",
            code="credit_listing.already_listed",
        )
    text, _article, rectifiable = rules.REASONS[body.list][body.reason_code]
    row = await _list(
        uow,
        org,
        list_=body.list,
        reason_code=body.reason_code,
        reason=(body.reason or "").strip() or text,
        listed_on=listed_on,
        rectifiable=rectifiable if body.rectifiable is None else body.rectifiable,
    )
    return listing_public(row)


async def listing_for(uow: UnitOfWork, org: Organization, listing_id: str, *, lock: bool = True) -> CreditListing:
    row = await uow.session.get(CreditListing, listing_id, with_for_update=lock)
    if row is None or row.org_id != org.id:
        raise NotFound(f"no credit listing {listing_id}")
    return row


async def last_trigger_after(uow: UnitOfWork, org_id: str, listing: CreditListing) -> date | None:
    """The latest new trigger after a serious listing: a penalty or another listing restarts the clock."""
    penalty = (
        await uow.conn.execute(
            select(func.max(Penalty.decided_on)).where(Penalty.org_id == org_id, Penalty.decided_on > listing.listed_on)
        )
    ).scalar_one()
    other = (
        await uow.conn.execute(
            select(func.max(CreditListing.listed_on)).where(
                CreditListing.org_id == org_id,
                CreditListing.id != listing.id,
                CreditListing.listed_on > listing.listed_on,
                CreditListing.list == rules.SERIOUS,
            )
        )
    ).scalar_one()
    dates = [d for d in (penalty, other) if d is not None]
    return max(dates) if dates else None


async def remove_listing(
    uow: UnitOfWork,
    *,
    principal: Principal,
    org: Organization,
    listing_id: str,
    body: io.ListingRemoval,
    calendar_add_working_days: object,
) -> io.ListingPublic:
    row = await listing_for(uow, org, listing_id)
    day = today(uow)
    removed_on = body.removed_on or day
    if removed_on > day:
        refuse_findings([Finding("removed_on", "date.future", "移出日期不能晚于今天")])
    facts = rules.ListingFacts(row.list, row.reason_code, row.listed_on, row.removed_on, row.rectifiable)
    refusal: Refusal | None = rules.removal_refusal(
        facts,
        body.reason,
        removed_on=removed_on,
        rectification_verified_on=body.rectification_verified_on,
        org_status=org.status,
        last_trigger_on=await last_trigger_after(uow, org.id, row) if row.list == rules.SERIOUS else None,
    )
    conflict(refusal)
    due = None
    if (
        body.reason == "rectified"
        and body.rectification_verified_on is not None
        and callable(calendar_add_working_days)
    ):
        due = calendar_add_working_days(body.rectification_verified_on, 5)
    warnings = rules.removal_warnings(facts, body.reason, removed_on=removed_on, removal_due=due)  # type: ignore[arg-type]
    row.rectification_verified_on = body.rectification_verified_on
    await _remove(uow, org, row, reason=body.reason, removed_on=removed_on, note=body.note)
    return listing_public(row, warnings_of(warnings))


async def list_listings(uow: UnitOfWork, org_id: str, *, on: date | None = None) -> list[io.ListingPublic]:
    stmt = (
        select(CreditListing).where(CreditListing.org_id == org_id).order_by(CreditListing.listed_on, CreditListing.id)
    )
    rows = (await uow.session.exec(stmt)).all()
    if on is not None:
        rows = [r for r in rows if r.listed_on <= on and (r.removed_on is None or on < r.removed_on)]
    return [listing_public(r) for r in rows]


# -- objections ---------------------------------------------------------------------------------


def objection_public(row: ListingObjection) -> io.ObjectionPublic:
    return io.ObjectionPublic(
        id=row.id,
        listing_id=row.listing_id,
        org_id=row.org_id,
        filed_on=row.filed_on,
        filed_by_role=row.filed_by_role,
        grounds=row.grounds,
        status=row.status,
        decided_on=row.decided_on,
        decision_reason=row.decision_reason,
    )


async def file_objection(
    uow: UnitOfWork, *, principal: Principal, org: Organization, listing_id: str, body: io.ObjectionCreate
) -> io.ObjectionPublic:
    """The organization (or an officer on its behalf) objects to a listing (第二十二条)."""
    row = await listing_for(uow, org, listing_id, lock=False)
    if row.removed_on is not None:
        raise Conflict("the listing was already removed", code="credit_listing.already_removed")
    day = today(uow)
    filed_on = body.filed_on or day
    if filed_on > day or filed_on < row.listed_on:
        refuse_findings([Finding("filed_on", "date.range", "异议日期应在列入日期与今天之间")])
    pending = (
        await uow.session.exec(
            select(ListingObjection).where(ListingObjection.listing_id == row.id, ListingObjection.status == "pending")
        )
    ).first()
    if pending is not None:
        raise Conflict(f"an objection is pending since {pending.filed_on.isoformat()}", code="objection.pending")
    objection = ListingObjection(
        id=str(uuid6.uuid7()),
        listing_id=row.id,
        org_id=org.id,
        filed_on=filed_on,
        filed_by_role=principal.role,
        grounds=body.grounds.strip(),
    )
    uow.session.add(objection)
    uow.audit(
        "credit_listing.objection_filed",
        f"organizations/{org.id}",
        {"listing_id": row.id, "objection_id": objection.id},
    )
    return objection_public(objection)


async def decide_objection(
    uow: UnitOfWork,
    *,
    principal: Principal,
    org: Organization,
    listing_id: str,
    objection_id: str,
    body: io.ObjectionDecision,
) -> io.ObjectionPublic:
    if principal.role not in ("officer", "admin"):
        raise Forbidden("officers decide objections")
    row = await listing_for(uow, org, listing_id)
    objection = await uow.session.get(ListingObjection, objection_id, with_for_update=True)
    if objection is None or objection.listing_id != row.id:
        raise NotFound(f"no objection {objection_id}")
    if objection.status != "pending":
        raise Conflict(f"the objection was already {objection.status}", code="objection.decided")
    day = today(uow)
    decided_on = body.decided_on or day
    if decided_on > day or decided_on < objection.filed_on:
        refuse_findings([Finding("decided_on", "date.range", "决定日期应在异议日期与今天之间")])
    objection.status, objection.decided_on, objection.decision_reason = body.decision, decided_on, body.reason.strip()
    uow.session.add(objection)
    uow.audit(
        "credit_listing.objection_decided",
        f"organizations/{org.id}",
        {"objection_id": objection.id, "decision": body.decision},
    )
    if body.decision == "upheld" and row.removed_on is None:
        # A corrected listing is removed with the reason recorded.
        await _remove(uow, org, row, reason="objection_upheld", removed_on=decided_on, note=objection.decision_reason)
    return objection_public(objection)


async def list_objections(uow: UnitOfWork, org: Organization, listing_id: str) -> list[io.ObjectionPublic]:
    row = await listing_for(uow, org, listing_id, lock=False)
    rows = (
        await uow.session.exec(
            select(ListingObjection).where(ListingObjection.listing_id == row.id).order_by(ListingObjection.filed_on)
        )
    ).all()
    return [objection_public(o) for o in rows]


# -- timers -------------------------------------------------------------------------------------


async def _job_listing(uow: UnitOfWork, listing_id: str) -> tuple[CreditListing, Organization] | None:
    row = await uow.session.get(CreditListing, listing_id, with_for_update=True)
    if row is None or row.removed_on is not None:
        return None
    org = await uow.session.get(Organization, row.org_id, with_for_update=True)
    if org is None:
        return None
    return row, org


async def auto_remove_listing(uow: UnitOfWork, key: str, due_at: datetime) -> None:
    """Nothing to rectify: off the irregular list 6 months after listing."""
    found = await _job_listing(uow, key)
    if found is None:
        return
    row, org = found
    if row.rectifiable or row.list != rules.IRREGULAR:
        return
    await _remove(uow, org, row, reason="expired", removed_on=rules.auto_removal_on(row.listed_on))


async def escalate_listing(uow: UnitOfWork, key: str, due_at: datetime) -> None:
    """Two full years on the irregular list: moved to the serious list."""
    found = await _job_listing(uow, key)
    if found is None:
        return
    row, org = found
    if row.list != rules.IRREGULAR or org.status == "deregistered":
        return
    on = rules.escalation_on(row.listed_on)
    await _remove(uow, org, row, reason="escalated", removed_on=on)
    text = rules.reason_text(rules.SERIOUS, "irregular_two_years")
    await _list(
        uow,
        org,
        list_=rules.SERIOUS,
        reason_code="irregular_two_years",
        reason=text,
        listed_on=on,
        rectifiable=False,
        escalated_from=row.id,
    )

"""The local read model of `registry.organization`, and the reactions registry facts trigger.

Eligibility never calls the registry: it reads this table, built from the registry's events
(registered_on, listings, annual results, penalties, investigations). The consumer runner has
already deduplicated the event and checked its per-key `sequence` when these handlers run.
Reactions on a published grade (DOMAIN.md §2): a serious listing revokes it or flags it for the
committee per the grade's rule set; a failed annual inspection, 基本合格 two years running or an
administrative penalty proposes a downgrade for an officer to confirm; deregistration and
revocation of the organization end the grade.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from services.evaluation.domain.eligibility import (
    AnnualResult,
    Investigation,
    Listing,
    Penalty,
    Standing,
    downgrade_reason_for_annual,
)
from services.evaluation.domain.points import parse_points
from services.evaluation.handlers.after import live_grades, propose, revoke, rule_set_of, target_grade
from services.evaluation.handlers.context import Context, today
from services.evaluation.models import OrgStanding
from shared.consumer import PermanentError
from shared.envelope import CloudEvent
from shared.uow import UnitOfWork


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def to_standing(row: OrgStanding) -> Standing:
    def fine(p: dict[str, Any]) -> int | None:
        money = p.get("fine")
        if isinstance(money, dict) and isinstance(money.get("amount"), str):
            return parse_points(money["amount"], "fine")
        return None

    return Standing(
        org_id=row.org_id,
        kind=row.kind,
        status=row.status,
        registered_on=row.registered_on,
        annual={int(y): AnnualResult(v.get("result"), v.get("report_status")) for y, v in (row.annual or {}).items()},
        penalties=tuple(
            Penalty(
                p["penalty_id"],
                p["penalty_type"],
                fine(p),
                date.fromisoformat(p["decided_on"]),
                _date(p.get("executed_on")),
            )
            for p in row.penalties or []
            if p.get("decided_on") and p.get("penalty_type")
        ),
        investigations=tuple(
            Investigation(i["investigation_id"], date.fromisoformat(i["opened_on"]), _date(i.get("closed_on")))
            for i in row.investigations or []
            if i.get("opened_on")
        ),
        listings=tuple(
            Listing(x["listing_id"], x["list"], date.fromisoformat(x["listed_on"]), _date(x.get("removed_on")))
            for x in row.listings or []
            if x.get("listed_on") and x.get("list")
        ),
    )


async def _row(uow: UnitOfWork, data: dict[str, Any]) -> OrgStanding:
    org_id = data.get("org_id")
    if not isinstance(org_id, str) or not org_id:
        raise PermanentError("registry event without org_id")
    row = await uow.session.get(OrgStanding, org_id, with_for_update=True)
    if row is None:
        row = OrgStanding(
            org_id=org_id,
            organization={},
            kind=str(data.get("kind") or "other"),
            region_code=str(data.get("region_code") or ""),
            status=str(data.get("status") or "active"),
            annual={},
            penalties=[],
            investigations=[],
            listings=[],
            updated_at=uow.now,
        )
        uow.session.add(row)
    if isinstance(data.get("organization"), dict):
        row.organization = data["organization"]
    for attr in ("kind", "region_code", "status"):
        if isinstance(data.get(attr), str) and data[attr]:
            setattr(row, attr, data[attr])
    row.updated_at = uow.now
    return row


def _upsert(items: list[dict[str, Any]], key: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    """A new list (JSON columns change only when reassigned) with `item` replacing its namesake."""
    out = [dict(x) for x in items if x.get(key) != item[key]]
    previous = next((x for x in items if x.get(key) == item[key]), {})
    out.append({**previous, **{k: v for k, v in item.items() if v is not None or k not in previous}})
    return out


async def apply_registry_event(ctx: Context, uow: UnitOfWork, event: CloudEvent) -> None:
    data = event.data
    verb = event.type.split(".")[-2]
    row = await _row(uow, data)
    if verb in ("registered", "upgraded"):
        row.registered_on = _date(data.get("registered_on")) or row.registered_on
    elif verb == "annual_report_recorded":
        year = int(data["year"])
        annual = dict(row.annual or {})
        annual[str(year)] = {
            "result": data.get("result"),
            "report_status": data.get("report_status"),
            "effective_on": data.get("effective_on"),
        }
        row.annual = annual
        await on_annual_result(ctx, uow, row, to_standing(row), year, event)
    elif verb == "penalty_recorded":
        penalty = {k: data.get(k) for k in ("penalty_id", "penalty_type", "fine", "decided_on", "executed_on")}
        row.penalties = _upsert(row.penalties or [], "penalty_id", penalty)
        await on_penalty(ctx, uow, row, penalty, event)
    elif verb in ("investigation_opened", "investigation_closed"):
        item = {
            "investigation_id": data.get("investigation_id"),
            "opened_on": data.get("opened_on"),
            "closed_on": data.get("closed_on"),
        }
        row.investigations = _upsert(row.investigations or [], "investigation_id", item)
    elif verb == "listed":
        item = {k: data.get(k) for k in ("listing_id", "list", "reason_code", "listed_on")}
        item["removed_on"] = None
        row.listings = _upsert(row.listings or [], "listing_id", item)
        if data.get("list") == "serious":
            await on_serious_listing(ctx, uow, row, item, event)
    elif verb == "delisted":
        item = {"listing_id": data.get("listing_id"), "list": data.get("list"), "removed_on": data.get("removed_on")}
        row.listings = _upsert(row.listings or [], "listing_id", item)
    elif verb in ("deregistered", "revoked"):
        on = _date(data.get(f"{verb}_on")) or _date(data.get("effective_on"))
        await on_organization_ended(ctx, uow, row, verb, on, event)


# -- what registry facts do to a published grade ---------------------------------------------------


def _source(event: CloudEvent) -> dict[str, Any]:
    return {"source_event_id": event.id, "source_event_type": event.type}


async def on_annual_result(
    ctx: Context, uow: UnitOfWork, row: OrgStanding, standing: Standing, year: int, event: CloudEvent
) -> None:
    grade = await target_grade(uow, row.org_id, today(uow))
    if grade is None:
        return
    reason = downgrade_reason_for_annual(await rule_set_of(ctx, uow, grade), standing.annual, year)
    if reason is not None:
        effective = date.fromisoformat(event.data["effective_on"]) if event.data.get("effective_on") else today(uow)
        await propose(
            uow,
            grade,
            action="downgrade",
            reason=reason,
            effective_on=effective,
            facts={"year": year, "result": event.data.get("result"), **_source(event)},
        )


async def on_penalty(
    ctx: Context, uow: UnitOfWork, row: OrgStanding, penalty: dict[str, Any], event: CloudEvent
) -> None:
    grade = await target_grade(uow, row.org_id, today(uow))
    if grade is None or "administrative_penalty" not in (await rule_set_of(ctx, uow, grade)).downgrade_on:
        return
    effective = date.fromisoformat(penalty["decided_on"]) if penalty.get("decided_on") else today(uow)
    await propose(
        uow,
        grade,
        action="downgrade",
        reason="administrative_penalty",
        effective_on=max(effective, today(uow)),
        facts={"penalty_id": penalty.get("penalty_id"), "penalty_type": penalty.get("penalty_type"), **_source(event)},
    )


async def on_serious_listing(
    ctx: Context, uow: UnitOfWork, row: OrgStanding, listing: dict[str, Any], event: CloudEvent
) -> None:
    listed_on = date.fromisoformat(listing["listed_on"]) if listing.get("listed_on") else today(uow)
    for grade in await live_grades(uow, row.org_id, listed_on, lock=True):
        rule_set = await rule_set_of(ctx, uow, grade)
        facts = {"listing_id": listing.get("listing_id"), "reason_code": listing.get("reason_code"), **_source(event)}
        if rule_set.on_serious_listing == "revoke":
            await revoke(
                ctx,
                uow,
                grade,
                reason="serious_listing",
                effective_on=listed_on,
                decided_by="system",
                detail={**facts, "policy": "on_serious_listing: revoke", "rule_set": rule_set.ref},
            )
        else:
            await propose(uow, grade, action="revoke", reason="serious_listing", effective_on=listed_on, facts=facts)


async def on_organization_ended(
    ctx: Context, uow: UnitOfWork, row: OrgStanding, verb: str, on: date | None, event: CloudEvent
) -> None:
    effective = on or today(uow)
    for grade in await live_grades(uow, row.org_id, effective, lock=True):
        await revoke(
            ctx,
            uow,
            grade,
            reason=f"organization_{verb}",
            effective_on=effective,
            decided_by="system",
            detail=_source(event),
        )

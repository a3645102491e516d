"""The standing read model: built from registry and evaluation events, seeded once by the registry.

Event handlers run inside the consumer's transaction (inbox + sequence check + effects). When a
standing changes, the organization's open applications are screened again for the continuing
rules and the applicant is told through a `screened` event (`rescreen: true`).
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.grants import events
from services.grants.domain.eligibility import Screening as Answer
from services.grants.domain.eligibility import rescreen, screen
from services.grants.domain.standing import (
    apply_rating_event,
    apply_registry_event,
    new_standing,
    standing_from_registry_answer,
)
from services.grants.handlers.calls import call_rules, rule_set
from services.grants.handlers.common import new_id, within
from services.grants.models import Application, Call, RatingPublication, Screening, Standing
from shared.envelope import CloudEvent
from shared.uow import UnitOfWork
from shared.workdays import local_date

log = logging.getLogger("gongyi.grants.standing")
STANDINGS = Standing.__table__  # type: ignore[attr-defined]
APPLICATIONS = Application.__table__  # type: ignore[attr-defined]
SCREENINGS = Screening.__table__  # type: ignore[attr-defined]


def _verb(event: CloudEvent) -> str:
    parts = event.type.split(".")
    return parts[-2] if len(parts) >= 6 else ""


async def read_standing(uow: UnitOfWork, org_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    stmt = select(
        STANDINGS.c.doc, STANDINGS.c.registry_sequence, STANDINGS.c.rating_sequence, STANDINGS.c.source
    ).where(STANDINGS.c.org_id == org_id)
    if lock:
        stmt = stmt.with_for_update()
    row = (await uow.conn.execute(stmt)).first()
    return None if row is None else dict(row._mapping)


def knows_registry(row: dict[str, Any] | None) -> bool:
    """Whether the read model has seen the organization in the registry (not only its grades)."""
    return row is not None and (row["registry_sequence"] > 0 or row["doc"].get("status") is not None)


async def _ensure_row(uow: UnitOfWork, org_id: str) -> dict[str, Any]:
    dialect = postgresql if uow.dialect == "postgresql" else sqlite
    await uow.conn.execute(
        dialect.insert(STANDINGS)
        .values(
            org_id=org_id,
            doc=new_standing(org_id),
            registry_sequence=0,
            rating_sequence=0,
            source="events",
            updated_at=uow.now,
        )
        .on_conflict_do_nothing()
    )
    row = await read_standing(uow, org_id, lock=True)
    assert row is not None
    return row


async def refresh_standing_on_registry_event(uow: UnitOfWork, event: CloudEvent) -> None:
    org_id = str(event.data.get("org_id") or event.partitionkey)
    row = await _ensure_row(uow, org_id)
    if event.sequence is not None and event.sequence <= row["registry_sequence"]:
        return  # already in the registry's answer that seeded this standing
    doc = apply_registry_event(row["doc"], _verb(event), event.data)
    values: dict[str, Any] = {"doc": doc, "updated_at": uow.now}
    if event.sequence is not None:
        values["registry_sequence"] = event.sequence
    await uow.conn.execute(update(STANDINGS).where(STANDINGS.c.org_id == org_id).values(**values))
    await announce_waiting_drafts(uow, org_id, doc)
    await rescreen_open_applications(uow, org_id, doc)


async def announce_waiting_drafts(uow: UnitOfWork, org_id: str, doc: dict[str, Any]) -> int:
    """Drafts started before grants knew their organization are announced (`drafted`) with it now."""
    if doc.get("status") is None:
        return 0
    rows = (
        await uow.conn.execute(
            select(APPLICATIONS).where(APPLICATIONS.c.org_id == org_id, APPLICATIONS.c.status == "draft")
        )
    ).all()
    announced = 0
    for row in rows:
        app = dict(row._mapping)
        owed = [] if events.announced(app) else events.announcement(app, doc)
        if owed:
            uow.stage(*owed)
            await uow.conn.execute(
                update(APPLICATIONS)
                .where(APPLICATIONS.c.id == app["id"])
                .values(organization=doc["organization"], region_code=doc["region_code"])
            )
            announced += 1
    return announced


async def refresh_standing_on_rating_event(uow: UnitOfWork, event: CloudEvent) -> None:
    org_id = str(event.data.get("org_id") or event.partitionkey)
    verb = _verb(event)
    if verb not in ("published", "downgraded", "revoked", "expired"):
        return  # the rating procedure's steps do not change a standing
    row = await _ensure_row(uow, org_id)
    if event.sequence is not None and event.sequence <= row["rating_sequence"]:
        return
    doc = apply_rating_event(row["doc"], verb, event.data)
    values: dict[str, Any] = {"doc": doc, "updated_at": uow.now}
    if event.sequence is not None:
        values["rating_sequence"] = event.sequence
    await uow.conn.execute(update(STANDINGS).where(STANDINGS.c.org_id == org_id).values(**values))
    if verb == "published" and event.data.get("evaluation_id") and event.data.get("valid_from"):
        await _record_publication(uow, org_id, event.data)
    await rescreen_open_applications(uow, org_id, doc)


async def _record_publication(uow: UnitOfWork, org_id: str, data: dict[str, Any]) -> None:
    table = RatingPublication.__table__  # type: ignore[attr-defined]
    dialect = postgresql if uow.dialect == "postgresql" else sqlite
    announced = data.get("announced_on") or data.get("decided_on") or data["valid_from"]
    await uow.conn.execute(
        dialect.insert(table)
        .values(
            evaluation_id=str(data["evaluation_id"]),
            org_id=org_id,
            grade=str(data.get("grade")),
            region_code=data.get("region_code"),
            announced_on=date.fromisoformat(str(announced)[:10]),
            valid_from=date.fromisoformat(str(data["valid_from"])[:10]),
            valid_until=date.fromisoformat(str(data.get("valid_until") or data["valid_from"])[:10]),
        )
        .on_conflict_do_nothing()
    )


async def seed_standing(uow: UnitOfWork, org_id: str, answer: dict[str, Any]) -> None:
    """The registry's answer for a never-seen organization; its `sequence` orders later events."""
    dialect = postgresql if uow.dialect == "postgresql" else sqlite
    doc = standing_from_registry_answer(org_id, answer)
    sequence = int(answer.get("sequence") or 0)
    row = await read_standing(uow, org_id, lock=True)
    if row is None:
        await uow.conn.execute(
            dialect.insert(STANDINGS)
            .values(
                org_id=org_id,
                doc=doc,
                registry_sequence=sequence,
                rating_sequence=0,
                source="registry_api",
                updated_at=uow.now,
            )
            .on_conflict_do_nothing()
        )
    elif not knows_registry(row):
        # only grades so far: keep them, take the registry's facts
        doc["grades"] = row["doc"].get("grades", [])
        await uow.conn.execute(
            update(STANDINGS)
            .where(STANDINGS.c.org_id == org_id)
            .values(doc=doc, registry_sequence=sequence, source="registry_api", updated_at=uow.now)
        )


async def fetch_registry_standing(
    client: httpx.AsyncClient, base_url: str, org_id: str, *, on: date, authorization: str | None, timeout_s: float
) -> dict[str, Any] | None:
    """`GET /registry/v1/organizations/{id}/standing` with a hard timeout; None when it cannot answer."""
    headers = {"Authorization": authorization} if authorization else {}
    url = f"{base_url.rstrip('/')}/registry/v1/organizations/{org_id}/standing"
    try:
        response = await client.get(url, params={"on": on.isoformat()}, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        log.warning("registry standing of %s unavailable: %r", org_id, exc)
        return None
    if response.status_code != 200:
        log.warning("registry standing of %s: HTTP %s", org_id, response.status_code)
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


# -- screening again when the standing changes ----------------------------------------------------


async def rescreen_open_applications(uow: UnitOfWork, org_id: str, doc: dict[str, Any]) -> int:
    if doc.get("status") is None:
        return 0  # only grades known so far: wait for the registry's record
    rows = (
        await uow.conn.execute(
            select(APPLICATIONS)
            .where(APPLICATIONS.c.org_id == org_id, APPLICATIONS.c.status == "submitted")
            .order_by(APPLICATIONS.c.submitted_at)
            .with_for_update()
        )
    ).all()
    changed = 0
    today = local_date(uow.now)
    calls: dict[str, Call | None] = {}
    for row in rows:
        app = dict(row._mapping)
        if app["call_id"] not in calls:
            calls[app["call_id"]] = await uow.session.get(Call, app["call_id"])
        call = calls[app["call_id"]]
        if call is None:
            continue
        on = local_date(app["submitted_at"])
        others = sum(
            1
            for r in rows
            if r.call_id == app["call_id"] and r.id != app["id"] and r.submitted_at < app["submitted_at"]
        )
        rules = call_rules(call)
        first = app["eligible"] is None
        if first:
            answer = screen(rules, doc, on=on, call_region=call.region_code, within=within, other_applications=others)
        else:
            answer = rescreen(
                rules, doc, on=on, today=today, call_region=call.region_code, within=within, other_applications=others
            )
        previous = await _latest_reasons(uow, app["screening_id"])
        if not first and previous == [r.as_dict() for r in answer.reasons]:
            continue
        if not events.announced(app):  # submitted while the registry could not answer
            uow.stage(*events.announcement(app, doc))
        await store_screening(uow, app, rule_set(call), doc, answer, on=on if first else today, rescreen=not first)
        changed += 1
    return changed


async def _latest_reasons(uow: UnitOfWork, screening_id: str | None) -> list[dict[str, Any]] | None:
    if screening_id is None:
        return None
    row = (await uow.conn.execute(select(SCREENINGS.c.reasons).where(SCREENINGS.c.id == screening_id))).first()
    return None if row is None else list(row[0])


async def store_screening(
    uow: UnitOfWork,
    app: dict[str, Any],
    rule_set_ref: dict[str, Any],
    doc: dict[str, Any],
    answer: Answer,
    *,
    on: date,
    rescreen: bool,
    screening_id: str | None = None,
    update_application: bool = True,
) -> str:
    """Store one screening (reasons, snapshot, rule-set version), point the application at it and
    tell the applicant (`screened`)."""
    screening_id = screening_id or new_id()
    reasons = [r.as_dict() for r in answer.reasons]
    warnings = list(app.get("warnings") or [])
    await uow.conn.execute(
        SCREENINGS.insert().values(
            id=screening_id,
            application_id=app["id"],
            call_id=app["call_id"],
            org_id=app["org_id"],
            screened_at=uow.now,
            on_date=on,
            eligible=answer.eligible,
            reasons=reasons,
            warnings=warnings,
            snapshot=doc,
            rule_set=rule_set_ref,
            rescreen=rescreen,
        )
    )
    organization = doc.get("organization") or app["organization"]
    if update_application:
        await uow.conn.execute(
            update(APPLICATIONS)
            .where(APPLICATIONS.c.id == app["id"])
            .values(
                eligible=answer.eligible,
                screening_id=screening_id,
                organization=organization,
                region_code=doc.get("region_code") or app.get("region_code"),
                version=APPLICATIONS.c.version + 1,
                updated_at=uow.now,
            )
        )
    app = {**app, "organization": organization, "region_code": doc.get("region_code") or app.get("region_code")}
    uow.stage(
        events.application_event(
            "screened",
            app,
            eligible=answer.eligible,
            reasons=reasons,
            warnings=warnings,
            screened_at=events.instant(uow.now),
            rescreen=rescreen,
        )
    )
    uow.audit(
        "application.rescreened" if rescreen else "application.screened",
        f"applications/{app['id']}",
        {
            "screening_id": screening_id,
            "eligible": answer.eligible,
            "rules": [r.rule for r in answer.reasons],
            "rule_set": rule_set_ref,
        },
    )
    return screening_id

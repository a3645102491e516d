"""Webhook subscriptions (EVENTS.md "Webhooks"): created by admins (national) or finance (their
region), a `whsec_` secret shown once, rotation with two valid secrets, 410 disables, delete.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from services.notifications.domain import catalogue
from services.notifications.domain.addresses import DestinationRefused
from services.notifications.domain.webhooks import SECRET_BYTES, format_secret
from services.notifications.handlers.common import new_id, table
from services.notifications.handlers.deps import Deps
from services.notifications.handlers.dispatch import cancel_pending
from services.notifications.handlers.senders import WebhookSender
from services.notifications.models import Subscription
from services.notifications.models.io import SubscriptionCreate, SubscriptionPatch, SubscriptionPublic
from shared.auth import InvalidRegionCode, Principal, authority_prefix, lies_within
from shared.problems import Conflict, NotFound, RuleViolation, Unprocessable
from shared.uow import UnitOfWork


def visible(principal: Principal, region_code: str | None) -> bool:
    if principal.role == "admin":
        return True
    if principal.role != "finance" or region_code is None or principal.region is None:
        return False
    try:
        return lies_within(region_code, principal.region)
    except InvalidRegionCode:
        return False


def region_filter(principal: Principal, column: Any) -> Any:
    """SQL condition for the rows of regions the caller may see (admins: everything)."""
    if principal.role == "admin":
        return None
    prefix = authority_prefix(principal.region or "")
    return column.startswith(prefix) if prefix else column.is_not(None)


def public(row: Any) -> SubscriptionPublic:
    return SubscriptionPublic(
        id=row.id,
        url=row.url,
        event_types=list(row.event_types),
        description=row.description,
        status=row.status,
        disabled_reason=row.disabled_reason,
        region_code=row.region_code,
        owner_role=row.owner_role,
        previous_secret_valid_until=row.previous_secret_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def check_patterns(patterns: list[str]) -> list[str]:
    errors = [
        {"field": f"event_types.{i}", "message": f"{p!r} matches no event type (exact type, '<prefix>.*' or '*')"}
        for i, p in enumerate(patterns)
        if not catalogue.valid_pattern(p)
    ]
    if errors:
        raise Unprocessable("; ".join(e["message"] for e in errors), errors=errors)
    return sorted(set(patterns))


async def check_url(sender: WebhookSender, url: str) -> str:
    try:
        await sender.check_url(url)
    except DestinationRefused as exc:
        raise RuleViolation(
            exc.reason,
            exc.detail,
            basis="EVENTS.md Webhooks: SSRF protection (private, loopback and link-local addresses refused)",
            errors=[{"field": "url", "message": exc.detail}],
        ) from None
    return url.strip()


def new_secret() -> str:
    return format_secret(secrets.token_bytes(SECRET_BYTES))


async def create(
    uow: UnitOfWork, deps: Deps, principal: Principal, body: SubscriptionCreate, url: str
) -> tuple[Any, str]:
    sub_id, secret = new_id(), new_secret()
    row = {
        "id": sub_id,
        "url": url,
        "event_types": check_patterns(body.event_types),
        "description": body.description,
        "owner_sub": principal.sub,
        "owner_role": principal.role,
        "region_code": principal.region if principal.role == "finance" else None,
        "status": "active",
        "disabled_reason": None,
        "secret_enc": deps.cipher.encrypt(secret, associated_data=sub_id),
        "previous_secret_enc": None,
        "previous_secret_until": None,
        "version": 1,
        "created_at": uow.now,
        "updated_at": uow.now,
    }
    await uow.conn.execute(table(Subscription).insert().values(**row))
    uow.after_commit(deps.subscriptions_changed)
    uow.audit("subscription.created", f"subscriptions/{sub_id}", {"event_types": row["event_types"]})
    return await load(uow, principal, sub_id), secret


async def load(uow: UnitOfWork, principal: Principal, sub_id: str, *, lock: bool = False) -> Any:
    s = table(Subscription)
    stmt = select(s).where(s.c.id == sub_id, s.c.status != "deleted")
    if lock and uow.dialect == "postgresql":
        stmt = stmt.with_for_update()
    row = (await uow.conn.execute(stmt)).first()
    if row is None or not visible(principal, row.region_code):
        raise NotFound(f"no subscription {sub_id}")
    return row


async def patch(
    uow: UnitOfWork, deps: Deps, principal: Principal, row: Any, body: SubscriptionPatch, url: str | None
) -> Any:
    s = table(Subscription)
    values: dict[str, Any] = {"version": row.version + 1, "updated_at": uow.now}
    if url is not None:
        values["url"] = url
    if body.event_types is not None:
        values["event_types"] = check_patterns(body.event_types)
    if "description" in body.model_fields_set:
        values["description"] = body.description
    if body.status == "active" and row.status != "active":
        values.update(status="active", disabled_reason=None)
    elif body.status == "disabled" and row.status == "active":
        values.update(status="disabled", disabled_reason=f"disabled by {principal.role}")
        await cancel_pending(uow, row.id, reason="subscription disabled by its owner")
    await uow.conn.execute(update(s).where(s.c.id == row.id).values(**values))
    uow.after_commit(deps.subscriptions_changed)
    changed = sorted(k for k in values if k not in ("version", "updated_at"))
    uow.audit("subscription.updated", f"subscriptions/{row.id}", {"changed": changed})
    return await load(uow, principal, row.id)


async def delete(uow: UnitOfWork, deps: Deps, row: Any) -> None:
    s = table(Subscription)
    await uow.conn.execute(
        update(s).where(s.c.id == row.id).values(status="deleted", version=row.version + 1, updated_at=uow.now)
    )
    await cancel_pending(uow, row.id, reason="subscription deleted")
    uow.after_commit(deps.subscriptions_changed)
    uow.audit("subscription.deleted", f"subscriptions/{row.id}", {})


async def rotate(uow: UnitOfWork, deps: Deps, principal: Principal, row: Any) -> tuple[Any, str]:
    """The current secret becomes the previous one, valid for the overlap; a new one is current."""
    if row.status == "deleted":
        raise Conflict("the subscription is deleted")
    s = table(Subscription)
    secret = new_secret()
    until = uow.now + timedelta(hours=deps.settings.webhook_secret_overlap_hours)
    previous = deps.cipher.decrypt(row.secret_enc, associated_data=row.id)
    await uow.conn.execute(
        update(s)
        .where(s.c.id == row.id)
        .values(
            secret_enc=deps.cipher.encrypt(secret, associated_data=row.id),
            previous_secret_enc=deps.cipher.encrypt(previous, associated_data=row.id),
            previous_secret_until=until,
            version=row.version + 1,
            updated_at=uow.now,
        )
    )
    uow.audit("subscription.secret_rotated", f"subscriptions/{row.id}", {"previous_valid_until": until.isoformat()})
    return await load(uow, principal, row.id), secret

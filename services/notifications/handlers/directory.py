"""The recipient directory and preferences: who a caller is, how to reach them, what they mute.

The directory learns people from their own tokens: on each call the caller's role, organization,
region and the identity provider's `email` claim are brought up to date (a write only when
something changed). An address a person set themselves (`PUT …/recipients/me`) wins over the claim.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select, update

from services.notifications.domain import catalogue
from services.notifications.domain.catalogue import LEGAL_BASIS
from services.notifications.domain.preferences import (
    DEFAULT_CHANNELS,
    PreferenceError,
    default_digest,
    mask_email,
    normalize_email,
    normalize_mobile,
    validate_channels,
    validate_preferences,
)
from services.notifications.handlers.common import prefix_of, table, upsert
from services.notifications.handlers.deps import Deps
from services.notifications.models import Preference, Recipient
from services.notifications.models.io import (
    NotificationTypePublic,
    PreferencesPublic,
    PreferencesUpdate,
    RecipientPublic,
    RecipientUpdate,
)
from shared.auth import Principal
from shared.http import require_version_precondition
from shared.pii import DecryptionError, mask_phone
from shared.problems import RuleViolation, Unprocessable
from shared.uow import UnitOfWork

EMAIL_SCOPE = "notifications/email"


def as_problem(exc: PreferenceError) -> Unprocessable | RuleViolation:
    if exc.rule == "preferences.mandatory_type":
        return RuleViolation(
            exc.rule,
            exc.detail,
            basis="法定告知事项（信用名单、评估结论、资助决定、支付失败）不可屏蔽",
            errors=[{"field": exc.field, "message": exc.detail}],
        )
    return Unprocessable(exc.detail, errors=[{"field": exc.field, "message": exc.detail}], code=exc.rule)


def _claims(principal: Principal) -> dict[str, Any]:
    return {
        "role": principal.role,
        "org_id": principal.org_id,
        "region": principal.region,
        "region_prefix": prefix_of(principal.region),
        "agency_id": principal.agency_id,
    }


async def ensure_recipient(uow: UnitOfWork, deps: Deps, principal: Principal) -> Any:
    """The caller's directory row, created or refreshed from the token (call in a writing uow)."""
    r = table(Recipient)
    row = (await uow.conn.execute(select(r).where(r.c.sub == principal.sub))).first()
    claims = _claims(principal)
    email_values: dict[str, Any] = {}
    if principal.email:
        try:
            email = normalize_email(principal.email)
        except PreferenceError:
            email = None
        if email is not None:
            digest = deps.cipher.blind_index(email.lower(), scope=EMAIL_SCOPE)
            if row is None or (row.email_source != "profile" and row.email_hash != digest):
                email_values = {
                    "email_enc": deps.cipher.encrypt(email, associated_data=principal.sub),
                    "email_hash": digest,
                    "email_source": "claim",
                }
    if row is None:
        await upsert(
            uow,
            Recipient,
            {
                "sub": principal.sub,
                **claims,
                "email_enc": None,
                "email_hash": None,
                "email_source": None,
                "phone_enc": None,
                "locale": "zh-CN",
                "channels": list(DEFAULT_CHANNELS),
                "version": 1,
                "created_at": uow.now,
                "updated_at": uow.now,
                **email_values,
            },
            keys=["sub"],
        )
    elif email_values or any(getattr(row, k) != v for k, v in claims.items()):
        await uow.conn.execute(
            update(r).where(r.c.sub == principal.sub).values(**claims, **email_values, updated_at=uow.now)
        )
    return (await uow.conn.execute(select(r).where(r.c.sub == principal.sub))).first()


async def load_recipient(uow: UnitOfWork, sub: str) -> Any:
    r = table(Recipient)
    return (await uow.conn.execute(select(r).where(r.c.sub == sub))).first()


async def needs_refresh(uow: UnitOfWork, deps: Deps, principal: Principal) -> bool:
    """Cheap read-only check: does the caller's row differ from the token (or not exist)?"""
    r = table(Recipient)
    row = (await uow.conn.execute(select(r).where(r.c.sub == principal.sub))).first()
    if row is None or any(getattr(row, k) != v for k, v in _claims(principal).items()):
        return True
    if principal.email and row.email_source != "profile":
        try:
            email = normalize_email(principal.email)
        except PreferenceError:
            return False
        return bool(row.email_hash != deps.cipher.blind_index(email.lower(), scope=EMAIL_SCOPE))
    return False


def recipient_public(deps: Deps, row: Any) -> RecipientPublic:
    def reveal(token: str | None, mask: Any) -> str | None:
        if token is None:
            return None
        try:
            return str(mask(deps.cipher.decrypt(token, associated_data=row.sub)))
        except DecryptionError:
            return "***"

    return RecipientPublic(
        sub=row.sub,
        role=row.role,
        org_id=row.org_id,
        region=row.region,
        email=reveal(row.email_enc, mask_email),
        email_source=row.email_source if row.email_enc else None,
        phone=reveal(row.phone_enc, mask_phone),
        locale=row.locale,
        channels=list(row.channels or DEFAULT_CHANNELS),
        version=row.version,
    )


async def put_recipient(
    uow: UnitOfWork, deps: Deps, principal: Principal, body: RecipientUpdate, request: Request
) -> Any:
    r = table(Recipient)
    existing = (await uow.conn.execute(select(r.c.version).where(r.c.sub == principal.sub))).scalar_one_or_none()
    require_version_precondition(request, existing)
    try:
        channels = sorted(validate_channels(body.channels))
        email = normalize_email(body.email) if body.email else None
        phone = normalize_mobile(body.phone) if body.phone else None
    except PreferenceError as exc:
        raise as_problem(exc) from None
    row = await ensure_recipient(uow, deps, principal)
    values: dict[str, Any] = {
        "locale": body.locale,
        "channels": channels,
        "phone_enc": deps.cipher.encrypt(phone, associated_data=principal.sub) if phone else None,
        "version": row.version + (1 if existing is not None else 0),
        "updated_at": uow.now,
    }
    if email is not None:
        values.update(
            email_enc=deps.cipher.encrypt(email, associated_data=principal.sub),
            email_hash=deps.cipher.blind_index(email.lower(), scope=EMAIL_SCOPE),
            email_source="profile",
        )
    elif row.email_source == "profile":
        # The person removed their own address: the identity provider's claim applies again.
        values.update(email_enc=None, email_hash=None, email_source=None)
    await uow.conn.execute(update(r).where(r.c.sub == principal.sub).values(**values))
    if email is None and row.email_source == "profile":
        await ensure_recipient(uow, deps, principal)
    uow.audit(
        "recipient.updated",
        f"recipients/{principal.sub}",
        {"locale": body.locale, "channels": channels, "email_set": email is not None, "phone_set": phone is not None},
    )
    return (await uow.conn.execute(select(r).where(r.c.sub == principal.sub))).first()


# -- preferences ---------------------------------------------------------------------------------


def preferences_public(row: Any, role: str) -> PreferencesPublic:
    mandatory = sorted(t.name for t in catalogue.TYPES.values() if t.mandatory)
    if row is None:
        return PreferencesPublic(
            muted_types=[], channels_by_type={}, digest=default_digest(role), mandatory_types=mandatory, version=0
        )
    return PreferencesPublic(
        muted_types=sorted(row.muted_types or []),
        channels_by_type={k: sorted(v) for k, v in (row.channels_by_type or {}).items()},
        digest="daily" if row.digest == "daily" else "off",
        mandatory_types=mandatory,
        version=row.version,
    )


async def get_preferences(uow: UnitOfWork, sub: str) -> Any:
    p = table(Preference)
    return (await uow.conn.execute(select(p).where(p.c.sub == sub))).first()


async def put_preferences(uow: UnitOfWork, principal: Principal, body: PreferencesUpdate, request: Request) -> Any:
    existing = await get_preferences(uow, principal.sub)
    require_version_precondition(request, existing.version if existing is not None else None)
    try:
        prefs = validate_preferences(body.muted_types, body.channels_by_type)
    except PreferenceError as exc:
        raise as_problem(exc) from None
    values = {
        "sub": principal.sub,
        "muted_types": sorted(prefs.muted_types),
        "channels_by_type": {k: sorted(v) for k, v in prefs.channels_by_type.items()},
        "digest": body.digest or default_digest(principal.role),
        "version": (existing.version + 1) if existing is not None else 1,
        "updated_at": uow.now,
    }
    await upsert(uow, Preference, values, keys=["sub"])
    uow.audit(
        "preferences.updated",
        f"recipients/{principal.sub}",
        {"muted_types": values["muted_types"], "digest": values["digest"]},
    )
    return await get_preferences(uow, principal.sub)


def notification_types() -> list[NotificationTypePublic]:
    return [
        NotificationTypePublic(
            name=t.name,
            event_type=t.event_type,
            label_zh=t.label_zh,
            label_en=t.label_en,
            mandatory=t.mandatory,
            legal_basis=LEGAL_BASIS[t.legal] if t.legal else None,
            audiences=list(t.audiences),
        )
        for t in catalogue.TYPES.values()
    ]

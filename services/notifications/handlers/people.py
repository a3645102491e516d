"""Who the directory knows: people of an organization, officers of a region, a person by `sub`.

Only what routing needs is read here (locale, channels, preferences, whether an address exists);
addresses are decrypted by the sender, at the moment it sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from services.notifications.domain.preferences import (
    DEFAULT_CHANNELS,
    DEFAULT_LOCALE,
    Channel,
    Preferences,
    default_digest,
)
from services.notifications.handlers.common import region_prefixes, table
from services.notifications.models import Preference, Recipient
from shared.uow import UnitOfWork

_CHUNK = 500
KIND_OF_ROLE = {"org": "org", "officer": "officer", "evaluator": "evaluator", "admin": "admin", "finance": "finance"}


@dataclass(frozen=True, slots=True)
class Person:
    sub: str
    kind: str  # org | officer | evaluator | admin | finance
    locale: str
    channels: tuple[str, ...]
    preferences: Preferences
    has_email: bool
    has_phone: bool
    org_id: str | None = None

    @classmethod
    def unknown(cls, sub: str, kind: str) -> Person:
        """Someone named by an event who never used the service: inbox only, in Chinese."""
        return cls(sub, kind, DEFAULT_LOCALE, ("inbox",), Preferences(digest=default_digest(kind)), False, False)


def _select() -> Any:
    r, p = table(Recipient), table(Preference)
    return select(
        r.c.sub,
        r.c.role,
        r.c.org_id,
        r.c.locale,
        r.c.channels,
        r.c.email_enc.is_not(None).label("has_email"),
        r.c.phone_enc.is_not(None).label("has_phone"),
        p.c.muted_types,
        p.c.channels_by_type,
        p.c.digest,
    ).select_from(r.outerjoin(p, p.c.sub == r.c.sub))


def _person(row: Any) -> Person:
    by_type: dict[str, frozenset[Channel]] = {
        k: frozenset(v) for k, v in (row.channels_by_type or {}).items() if isinstance(v, list)
    }
    prefs = Preferences(
        muted_types=frozenset(row.muted_types or ()),
        channels_by_type=by_type,
        digest="daily" if (row.digest or default_digest(row.role)) == "daily" else "off",
    )
    return Person(
        sub=row.sub,
        kind=KIND_OF_ROLE.get(row.role, row.role),
        locale=row.locale or DEFAULT_LOCALE,
        channels=tuple(row.channels or DEFAULT_CHANNELS),
        preferences=prefs,
        has_email=bool(row.has_email),
        has_phone=bool(row.has_phone),
        org_id=row.org_id,
    )


async def people_of_orgs(uow: UnitOfWork, org_ids: Iterable[str]) -> dict[str, list[Person]]:
    r = table(Recipient)
    wanted = sorted(set(org_ids))
    found: dict[str, list[Person]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = await uow.conn.execute(_select().where(r.c.role == "org", r.c.org_id.in_(chunk)).order_by(r.c.sub))
        for row in rows:
            found.setdefault(row.org_id, []).append(_person(row))
    return found


async def officers_of_region(uow: UnitOfWork, region_code: str | None) -> list[Person]:
    prefixes = region_prefixes(region_code)
    if not prefixes:
        return []
    r = table(Recipient)
    rows = await uow.conn.execute(
        _select().where(r.c.role == "officer", r.c.region_prefix.in_(prefixes)).order_by(r.c.sub)
    )
    return [_person(row) for row in rows]


async def admins(uow: UnitOfWork) -> list[Person]:
    r = table(Recipient)
    return [_person(row) for row in await uow.conn.execute(_select().where(r.c.role == "admin").order_by(r.c.sub))]


async def people_by_sub(uow: UnitOfWork, subs: Sequence[str], *, kind: str) -> list[Person]:
    """Named people; those the directory does not know yet still get their inbox."""
    wanted = sorted({s for s in subs if s})
    if not wanted:
        return []
    r = table(Recipient)
    rows = await uow.conn.execute(_select().where(r.c.sub.in_(wanted)))
    known = {row.sub: _person(row) for row in rows}
    return [known.get(sub) or Person.unknown(sub, kind) for sub in wanted]

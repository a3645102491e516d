"""Turn one notice into inbox items and deliveries, inside the caller's unit of work.

Called by the consumer (inside its inbox transaction), by reminder jobs and by the sender (for
officers' dead-letter notices). Only rows are written here — inbox items (delivered at once) and
pending email, SMS and webhook deliveries, unique per (cause, recipient, channel) — plus one
`notifications.delivery.delivered` event per inbox item. Nothing is sent from here: the sender
claims pending deliveries after this transaction commits, so a rolled-back transaction sends
nothing and a redelivered event creates nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from services.notifications.domain import catalogue
from services.notifications.domain.catalogue import NotificationType
from services.notifications.domain.preferences import choose_channels
from services.notifications.domain.rendering import Rendered, render
from services.notifications.events import delivery_event
from services.notifications.handlers.common import insert_ignore, new_id, table
from services.notifications.handlers.deps import Deps
from services.notifications.handlers.people import Person
from services.notifications.models import Delivery, EventBody, InboxItem, Subscription
from shared.auth import InvalidRegionCode, lies_within
from shared.uow import UnitOfWork

FOOTER = {
    "zh-CN": "——\n此邮件由公益平台自动发送，请勿直接回复。通知设置可在系统“通知偏好”中修改。",
    "en": "--\nSent automatically by Gongyi; please do not reply. Change your notification settings in the system.",
}
LEGAL_FOOTER = {
    "zh-CN": "本通知为法定告知事项，不可退订。",
    "en": "This is a legal notice; it cannot be unsubscribed.",
}
SMS_PREFIX = {"zh-CN": "【公益平台】", "en": "[Gongyi] "}
SMS_SUFFIX = {"zh-CN": "详情请登录系统查看。", "en": " Details in the system."}
SMS_MAX = 200


@dataclass(frozen=True)
class Notice:
    ntype: NotificationType
    cause_id: str
    cause_type: str
    resource: str | None
    region_code: str | None
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Group:
    """People who share one rendering context (e.g. the users of one organization)."""

    people: Sequence[Person]
    context: Mapping[str, Any] = field(default_factory=dict)


def email_text(rendered: Rendered, *, mandatory: bool) -> str:
    footer = FOOTER.get(rendered.locale, FOOTER["en"])
    if mandatory:
        footer += "\n" + LEGAL_FOOTER.get(rendered.locale, LEGAL_FOOTER["en"])
    return f"{rendered.body}\n\n{footer}\n"


def sms_text(rendered: Rendered) -> str:
    prefix = SMS_PREFIX.get(rendered.locale, SMS_PREFIX["en"])
    suffix = SMS_SUFFIX.get(rendered.locale, SMS_SUFFIX["en"])
    room = SMS_MAX - len(prefix) - len(suffix)
    subject = rendered.subject if len(rendered.subject) <= room else rendered.subject[: room - 1] + "…"
    return f"{prefix}{subject}{suffix}"


class Notifier:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def to_people(self, uow: UnitOfWork, notice: Notice, groups: Sequence[Group]) -> int:
        """Inbox items and deliveries for everyone in the groups; returns deliveries created."""
        deps, ntype, now = self.deps, notice.ntype, uow.now
        items: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        for group in groups:
            context = {**notice.context, **group.context}
            rendered: dict[str, Rendered] = {}
            for person in group.people:
                channels = choose_channels(
                    ntype,
                    channels=person.channels,
                    preferences=person.preferences,
                    has_email=person.has_email and deps.settings.email_enabled,
                    has_phone=person.has_phone and deps.sms_enabled,
                )
                if not channels:
                    continue  # muted
                text = rendered.get(person.locale)
                if text is None:
                    text = rendered[person.locale] = render(ntype.name, person.locale, context)
                items.append(
                    {
                        "id": new_id(),
                        "recipient_sub": person.sub,
                        "notification_type": ntype.name,
                        "cause_event_id": notice.cause_id,
                        "mandatory": ntype.mandatory,
                        "title": text.subject[:300],
                        "body": text.body,
                        "resource": (notice.resource or "")[:200] or None,
                        "created_at": now,
                        "read_at": None,
                    }
                )
                for channel in channels:
                    rows.append(self._person_row(notice, person, channel, text, now))
        if not rows:
            return 0
        await uow.conn.execute(insert_ignore(uow, InboxItem, items))
        inserted = {r[0] for r in await uow.conn.execute(insert_ignore(uow, Delivery, rows, returning="id"))}
        pending = False
        for row in rows:
            if row["id"] not in inserted:
                continue
            if row["channel"] == "inbox":
                uow.stage(
                    delivery_event(
                        "delivered",
                        delivery_id=row["id"],
                        cause_event_id=notice.cause_id,
                        cause_event_type=notice.cause_type,
                        channel="inbox",
                        recipient_kind=row["recipient_kind"],
                        attempts=1,
                    )
                )
            else:
                pending = True
        if pending:
            uow.after_commit(deps.wake)
        return len(inserted)

    def _person_row(self, notice: Notice, person: Person, channel: str, text: Rendered, now: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": new_id(),
            "cause_event_id": notice.cause_id,
            "cause_event_type": notice.cause_type,
            "notification_type": notice.ntype.name,
            "channel": channel,
            "recipient_kind": person.kind,
            "recipient_ref": person.sub,
            "subscription_id": None,
            "region_code": notice.region_code,
            "attempts": 0,
            "round_attempts": 0,
            "lease_until": None,
            "lease_token": None,
            "subject": None,
            "body": None,
            "message_id": None,
            "last_error": None,
            "last_status_code": None,
            "created_at": now,
            "updated_at": now,
            "delivered_at": None,
            "next_attempt_at": None,
        }
        if channel == "inbox":
            row.update(status="delivered", attempts=1, round_attempts=1, delivered_at=now)
            return row
        identity = f"{notice.cause_id}.{self.deps.recipient_hash(person.sub)}"
        row.update(status="pending", next_attempt_at=now, subject=text.subject[:300])
        if channel == "email":
            row.update(message_id=f"<{identity}@gongyi>", body=email_text(text, mandatory=notice.ntype.mandatory))
        else:
            row.update(message_id=identity, body=sms_text(text))
        return row

    async def email_only(self, uow: UnitOfWork, notice: Notice, person: Person, text: Rendered) -> int:
        """A pending email and nothing in the inbox (the digest summarises what the inbox holds)."""
        row = self._person_row(notice, person, "email", text, uow.now)
        inserted = list(await uow.conn.execute(insert_ignore(uow, Delivery, [row], returning="id")))
        if inserted:
            uow.after_commit(self.deps.wake)
        return len(inserted)

    async def to_subscriptions(
        self,
        uow: UnitOfWork,
        *,
        event_id: str,
        event_type: str,
        body: bytes,
        subscriptions: Sequence[tuple[str, str]],
        region_code: str | None,
    ) -> int:
        """One pending webhook delivery per (subscription id, recipient kind); webhook-id = event id."""
        if not subscriptions:
            return 0
        now = uow.now
        await uow.conn.execute(
            insert_ignore(
                uow, EventBody, [{"event_id": event_id, "event_type": event_type, "body": body, "received_at": now}]
            )
        )
        rows = [
            {
                "id": new_id(),
                "cause_event_id": event_id,
                "cause_event_type": event_type,
                "notification_type": catalogue.short_name(event_type),
                "channel": "webhook",
                "recipient_kind": "subscription",
                "recipient_ref": sub_id,
                "subscription_id": sub_id,
                "region_code": region_code,
                "status": "pending",
                "attempts": 0,
                "round_attempts": 0,
                "next_attempt_at": now,
                "lease_until": None,
                "lease_token": None,
                "message_id": event_id,
                "subject": None,
                "body": None,
                "last_error": None,
                "last_status_code": None,
                "created_at": now,
                "updated_at": now,
                "delivered_at": None,
            }
            for sub_id, _kind in subscriptions
        ]
        inserted = list(await uow.conn.execute(insert_ignore(uow, Delivery, rows, returning="id")))
        if inserted:
            uow.after_commit(self.deps.wake)
        return len(inserted)


async def matching_subscriptions(
    uow: UnitOfWork, event_type: str, region_code: str | None
) -> tuple[list[tuple[str, str]], bool]:
    """Active subscriptions whose patterns match the type and whose region contains the event's;
    and whether a regional subscription matched the type but the event's region is unknown."""
    s = table(Subscription)
    rows = await uow.conn.execute(
        select(s.c.id, s.c.event_types, s.c.region_code, s.c.owner_role).where(s.c.status == "active")
    )
    out: list[tuple[str, str]] = []
    undecided = False
    for row in rows:
        if not any(catalogue.matches(p, event_type) for p in row.event_types or ()):
            continue
        if row.region_code:
            if not region_code:
                undecided = True
                continue
            try:
                if not lies_within(region_code, row.region_code):
                    continue
            except InvalidRegionCode:
                continue
        out.append((row.id, row.owner_role))
    return out, undecided

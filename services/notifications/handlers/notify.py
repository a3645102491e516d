"""Turn one notice into inbox items and deliveries, inside the caller's unit of work.

Called by the consumer (inside its inbox transaction), by reminder jobs and by the sender (for
officers' dead-letter notices). Only rows are written here — inbox items (delivered at once) and
pending email, SMS and webhook deliveries, unique per (cause, recipient, channel) — plus one
`notifications.delivery.delivered` event per inbox item. Nothing is sent from here: the sender
claims pending deliveries after this transaction commits, so a rolled-back transaction sends
nothing and a redelivered event creates nothing new.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
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
from services.notifications.models import Delivery, InboxItem, Subscription
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


@dataclass
class Plan:
    """Rows one notice creates, written together: inbox items, then every delivery in one statement."""

    notice: Notice
    items: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


class Notifier:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def to_people(self, uow: UnitOfWork, notice: Notice, groups: Sequence[Group]) -> int:
        """Inbox items and deliveries for everyone in the groups; returns deliveries created."""
        plan = Plan(notice)
        self.plan_people(plan, groups, uow.now)
        return await self.write(uow, plan)

    def plan_people(self, plan: Plan, groups: Sequence[Group], now: datetime) -> None:
        deps, notice, ntype = self.deps, plan.notice, plan.notice.ntype
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
                plan.items.append(
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
                    plan.rows.append(self._person_row(notice, person, channel, text, now))

    def plan_webhooks(self, plan: Plan, subscriptions: Sequence[str], body: bytes, now: datetime) -> None:
        """One pending webhook per subscription: webhook-id = the event id, body = the bus bytes."""
        notice = plan.notice
        text = body.decode("utf-8")  # CloudEvents JSON is UTF-8: decoding and encoding again is exact
        for sub_id in subscriptions:
            row = _row(notice, channel="webhook", kind="subscription", ref=sub_id, now=now)
            row.update(
                notification_type=catalogue.short_name(notice.cause_type),
                subscription_id=sub_id,
                status="pending",
                next_attempt_at=now,
                message_id=notice.cause_id,
                body=text,
            )
            plan.rows.append(row)

    async def write(self, uow: UnitOfWork, plan: Plan) -> int:
        if not plan.rows:
            return 0
        notice = plan.notice
        await insert_ignore(uow, InboxItem, plan.items)
        inserted = await insert_ignore(uow, Delivery, plan.rows, returning="id")
        pending = False
        for row in plan.rows:
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
            uow.after_commit(self.deps.wake)
        return len(inserted)

    def _person_row(
        self, notice: Notice, person: Person, channel: str, text: Rendered, now: datetime
    ) -> dict[str, Any]:
        row = _row(notice, channel=channel, kind=person.kind, ref=person.sub, now=now)
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
        plan = Plan(notice, rows=[self._person_row(notice, person, "email", text, uow.now)])
        return await self.write(uow, plan)


def _row(notice: Notice, *, channel: str, kind: str, ref: str, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "cause_event_id": notice.cause_id,
        "cause_event_type": notice.cause_type,
        "notification_type": notice.ntype.name,
        "channel": channel,
        "recipient_kind": kind,
        "recipient_ref": ref,
        "subscription_id": None,
        "region_code": notice.region_code,
        "status": "pending",
        "attempts": 0,
        "round_attempts": 0,
        "next_attempt_at": None,
        "lease_until": None,
        "lease_token": None,
        "message_id": None,
        "subject": None,
        "body": None,
        "last_error": None,
        "last_status_code": None,
        "created_at": now,
        "updated_at": now,
        "delivered_at": None,
    }


class SubscriptionCache:
    """Active subscriptions, read at most once per `ttl_s` (every event needs them).

    A subscription created or changed in another process is seen within `ttl_s`; changes made in
    this process are seen at once. A delivery created for a subscription disabled meanwhile is
    cancelled by the sender, never sent.
    """

    def __init__(self, ttl_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.monotonic = ttl_s, monotonic
        self._rows: list[Any] | None = None
        self._read_at = 0.0

    def invalidate(self) -> None:
        self._rows = None

    async def active(self, uow: UnitOfWork) -> list[Any]:
        if self._rows is None or self.monotonic() - self._read_at > self.ttl_s:
            s = table(Subscription)
            rows = await uow.conn.execute(
                select(s.c.id, s.c.event_types, s.c.region_code).where(s.c.status == "active")
            )
            self._rows, self._read_at = list(rows), self.monotonic()
        return self._rows


async def matching_subscriptions(
    uow: UnitOfWork, cache: SubscriptionCache, event_type: str, region_code: str | None
) -> tuple[list[str], bool]:
    """Active subscriptions whose patterns match the type and whose region contains the event's;
    and whether a regional subscription matched the type but the event's region is unknown."""
    out: list[str] = []
    undecided = False
    for row in await cache.active(uow):
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
        out.append(row.id)
    return out, undecided

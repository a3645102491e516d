"""The sender: claims due deliveries, sends them outside any transaction, records what happened.

1. Claim (one short transaction): due `pending` rows whose lease is free (`FOR UPDATE SKIP LOCKED`
   on PostgreSQL, the single writer on SQLite) get a lease token and expiry and one more attempt
   counted; everything the send needs is read with them.
2. Send (no transaction): webhooks concurrently, emails over one SMTP session, SMS through the port.
3. Record (one short transaction): each outcome is written only if the lease is still ours — the
   delivery's status, its attempt log, its `notifications.delivery` event, the next attempt time,
   a 410's disabled subscription, and an officer notice for a delivery that failed for good.

A crash between 2 and 3 leaves the lease to expire; the row is claimed again and re-sent with the
same identity (webhook-id = CloudEvent id, the stored email Message-ID): at-least-once with stable
ids, never a new id. Time is the runtime clock, so tests drive retries by moving a fixed clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update

from services.notifications.domain import catalogue, retries, webhooks
from services.notifications.events import delivery_event
from services.notifications.handlers.common import new_id, synthetic_cause, table
from services.notifications.handlers.deps import Deps
from services.notifications.handlers.notify import Group, Notice, Notifier
from services.notifications.handlers.people import admins, officers_of_region
from services.notifications.handlers.senders import (
    Email,
    EmailSender,
    Result,
    SmsGateway,
    WebhookSender,
    send_sms,
)
from services.notifications.models import Delivery, DeliveryAttempt, Recipient, Subscription
from shared.pii import DecryptionError
from shared.uow import UnitOfWork

log = logging.getLogger("gongyi.notifications.dispatch")
DEAD_LETTER_NOTICE = "notifications.delivery.dead_lettered"


@dataclass
class Claimed:
    id: str
    token: str
    channel: str
    attempts: int
    round_attempts: int
    cause_event_id: str
    cause_event_type: str
    notification_type: str
    recipient_kind: str
    recipient_ref: str
    region_code: str | None
    subscription_id: str | None
    message_id: str | None
    subject: str | None
    body: str | None
    created_at: datetime
    address_enc: str | None = None
    url: str | None = None
    subscription_status: str | None = None
    secrets_enc: tuple[str, ...] = ()
    event_body: bytes | None = None
    locale: str = "zh-CN"


@dataclass
class Senders:
    webhooks: WebhookSender
    email: EmailSender | None
    sms: SmsGateway | None


class Dispatcher:
    def __init__(
        self,
        *,
        deps: Deps,
        notifier: Notifier,
        senders: Senders,
        uow_factory: Callable[[], UnitOfWork],
        now: Callable[[], datetime],
    ) -> None:
        self.deps, self.notifier, self.senders = deps, notifier, senders
        self.uow_factory, self.now = uow_factory, now
        self.batch_size = deps.settings.dispatch_batch_size
        self.lease = timedelta(seconds=max(deps.settings.dispatch_lease_s, deps.settings.webhook_timeout_s * 4))
        self._semaphore = asyncio.Semaphore(deps.settings.dispatch_concurrency)

    async def run_once(self) -> int:
        """One claim–send–record pass; returns how many deliveries it attempted."""
        claimed = await self.claim()
        if not claimed:
            return 0
        results = await self.send(claimed)
        await self.record(claimed, results)
        return len(claimed)

    # -- 1. claim ------------------------------------------------------------------------------

    async def claim(self, limit: int | None = None) -> list[Claimed]:
        d, s, r = table(Delivery), table(Subscription), table(Recipient)
        async with self.uow_factory() as uow:
            now = uow.now
            due = (
                select(d.c.id)
                .where(d.c.status == "pending", d.c.next_attempt_at <= now)
                .where(d.c.lease_until.is_(None) | (d.c.lease_until <= now))
                .order_by(d.c.next_attempt_at)
                .limit(limit or self.batch_size)
            )
            if uow.dialect == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ids = [row[0] for row in await uow.conn.execute(due)]
            if not ids:
                return []
            token = new_id()
            await uow.conn.execute(
                update(d)
                .where(d.c.id.in_(ids))
                .values(
                    lease_until=now + self.lease,
                    lease_token=token,
                    attempts=d.c.attempts + 1,
                    round_attempts=d.c.round_attempts + 1,
                    updated_at=now,
                )
            )
            rows = await uow.conn.execute(
                select(
                    d,
                    s.c.url,
                    s.c.status.label("subscription_status"),
                    s.c.secret_enc,
                    s.c.previous_secret_enc,
                    s.c.previous_secret_until,
                    r.c.email_enc,
                    r.c.phone_enc,
                    r.c.locale.label("recipient_locale"),
                )
                .select_from(
                    d.outerjoin(s, s.c.id == d.c.subscription_id).outerjoin(
                        r, (r.c.sub == d.c.recipient_ref) & (d.c.channel != "webhook")
                    )
                )
                .where(d.c.id.in_(ids))
            )
            claimed = [self._claimed(row, token, now) for row in rows]
            await uow.commit()
        return claimed

    @staticmethod
    def _claimed(row: Any, token: str, now: datetime) -> Claimed:
        secrets: list[str] = []
        if row.secret_enc:
            secrets.append(row.secret_enc)
        if row.previous_secret_enc and row.previous_secret_until is not None and row.previous_secret_until > now:
            secrets.append(row.previous_secret_enc)
        address = row.email_enc if row.channel == "email" else row.phone_enc if row.channel == "sms" else None
        return Claimed(
            id=row.id,
            token=token,
            channel=row.channel,
            attempts=row.attempts,
            round_attempts=row.round_attempts,
            cause_event_id=row.cause_event_id,
            cause_event_type=row.cause_event_type,
            notification_type=row.notification_type,
            recipient_kind=row.recipient_kind,
            recipient_ref=row.recipient_ref,
            region_code=row.region_code,
            subscription_id=row.subscription_id,
            message_id=row.message_id,
            subject=row.subject,
            body=row.body,
            created_at=row.created_at,
            address_enc=address,
            url=row.url,
            subscription_status=row.subscription_status,
            secrets_enc=tuple(secrets),
            event_body=row.body.encode() if row.channel == "webhook" and row.body is not None else None,
            locale=row.recipient_locale or "zh-CN",
        )

    # -- 2. send -------------------------------------------------------------------------------

    async def send(self, claimed: Sequence[Claimed]) -> list[Result]:
        results: list[Result | None] = [None] * len(claimed)
        emails: list[tuple[int, Email]] = []
        tasks: list[Any] = []
        for i, item in enumerate(claimed):
            if item.channel == "webhook":
                tasks.append(self._webhook(i, item, results))
            elif item.channel == "email":
                email = self._email(item)
                if isinstance(email, Result):
                    results[i] = email
                else:
                    emails.append((i, email))
            elif item.channel == "sms":
                tasks.append(self._sms(i, item, results))
            else:
                results[i] = Result("cancelled", error=f"unknown channel {item.channel}")
        tasks.append(self._emails(emails, results))
        await asyncio.gather(*tasks)
        return [r if r is not None else Result("retry", error="not attempted") for r in results]

    async def _webhook(self, i: int, item: Claimed, results: list[Result | None]) -> None:
        if item.subscription_status != "active" or item.url is None:
            results[i] = Result("cancelled", error=f"subscription {item.subscription_status or 'missing'}")
            return
        if item.event_body is None or not item.message_id:
            results[i] = Result("failed", error="event body missing")
            return
        try:
            secrets = [
                self.deps.cipher.decrypt(enc, associated_data=item.subscription_id or "") for enc in item.secrets_enc
            ]
        except DecryptionError:
            results[i] = Result("failed", error="subscription secret unreadable (key changed?)")
            return
        async with self._semaphore:
            now = self.now()
            headers = webhooks.webhook_headers(secrets, item.message_id, int(now.timestamp()), item.event_body)
            results[i] = await self.senders.webhooks.send(item.url, item.event_body, headers, now=now)

    def _email(self, item: Claimed) -> Email | Result:
        if self.senders.email is None:
            return Result("cancelled", error="email is not configured")
        if item.address_enc is None:
            return Result("cancelled", error="no email address on record")
        try:
            address = self.deps.cipher.decrypt(item.address_enc, associated_data=item.recipient_ref)
        except DecryptionError:
            return Result("failed", error="address unreadable (key changed?)")
        return Email(
            to=address,
            subject=item.subject or "",
            body=item.body or "",
            message_id=item.message_id or f"<{item.id}@gongyi>",
            date=item.created_at,
            locale=item.locale,
            notification_type=item.notification_type,
        )

    async def _emails(self, emails: list[tuple[int, Email]], results: list[Result | None]) -> None:
        if not emails or self.senders.email is None:
            return
        sent = await self.senders.email.send_all([e for _, e in emails])
        for (i, _), result in zip(emails, sent, strict=True):
            results[i] = result

    async def _sms(self, i: int, item: Claimed, results: list[Result | None]) -> None:
        if self.senders.sms is None:
            results[i] = Result("cancelled", error="SMS is switched off")
            return
        if item.address_enc is None:
            results[i] = Result("cancelled", error="no phone number on record")
            return
        try:
            phone = self.deps.cipher.decrypt(item.address_enc, associated_data=item.recipient_ref)
        except DecryptionError:
            results[i] = Result("failed", error="phone unreadable (key changed?)")
            return
        async with self._semaphore:
            results[i] = await send_sms(self.senders.sms, phone, item.body or "", item.message_id or item.id)

    # -- 3. record -----------------------------------------------------------------------------

    async def record(self, claimed: Sequence[Claimed], results: Sequence[Result]) -> None:
        d, a = table(Delivery), table(DeliveryAttempt)
        async with self.uow_factory() as uow:
            now = uow.now
            tokens = {c.id: c.token for c in claimed}
            held = {
                row.id
                for row in await uow.conn.execute(select(d.c.id, d.c.lease_token).where(d.c.id.in_(list(tokens))))
                if row.lease_token == tokens[row.id]
            }
            updates: list[dict[str, Any]] = []
            attempts: list[dict[str, Any]] = []
            gone: set[str] = set()
            dead: list[Claimed] = []
            for item, result in zip(claimed, results, strict=True):
                if item.id not in held:
                    log.warning("delivery %s: lease lost before its outcome was recorded", item.id)
                    continue
                status, next_at, event = self._next(item, result, now)
                updates.append(
                    {
                        "b_id": item.id,
                        "status": status,
                        "next_attempt_at": next_at,
                        "lease_until": None,
                        "lease_token": None,
                        "last_error": result.error[:500] if result.error else None,
                        "last_status_code": result.status_code,
                        "updated_at": now,
                        "delivered_at": now if status == "delivered" else None,
                    }
                )
                attempts.append(
                    {
                        "delivery_id": item.id,
                        "attempt": item.attempts,
                        "at": now,
                        "outcome": "failed" if result.verdict == "retry" else result.verdict,
                        "status_code": result.status_code,
                        "error": result.error[:500] if result.error else None,
                        "duration_ms": result.duration_ms,
                    }
                )
                if event is not None:
                    uow.stage(
                        delivery_event(
                            event,
                            delivery_id=item.id,
                            cause_event_id=item.cause_event_id,
                            cause_event_type=item.cause_event_type,
                            channel=item.channel,
                            recipient_kind=item.recipient_kind,
                            attempts=item.attempts,
                        )
                    )
                if result.verdict == "gone" and item.subscription_id:
                    gone.add(item.subscription_id)
                if event == "dead_lettered" and item.notification_type != DEAD_LETTER_NOTICE:
                    dead.append(item)
            if updates:
                await uow.conn.execute(
                    update(d)
                    .where(d.c.id == bindparam("b_id"))
                    .values(
                        status=bindparam("status"),
                        next_attempt_at=bindparam("next_attempt_at"),
                        lease_until=bindparam("lease_until"),
                        lease_token=bindparam("lease_token"),
                        last_error=bindparam("last_error"),
                        last_status_code=bindparam("last_status_code"),
                        updated_at=bindparam("updated_at"),
                        delivered_at=bindparam("delivered_at"),
                    ),
                    updates,
                )
                await uow.conn.execute(a.insert(), attempts)
            for subscription_id in sorted(gone):
                await disable_subscription(uow, subscription_id, reason="the endpoint answered 410 Gone")
                uow.after_commit(self.deps.subscriptions_changed)
            for item in dead:
                await self._tell_officers(uow, item)
            await uow.commit()

    def _next(self, item: Claimed, result: Result, now: datetime) -> tuple[str, datetime | None, Any]:
        if result.verdict == "cancelled":
            return "cancelled", None, None
        step = retries.after_attempt(
            result.verdict,
            item.round_attempts,
            jitter=self.deps.jitter(),
            status_code=result.status_code,
            retry_after=result.retry_after,
        )
        if step.status == "delivered":
            return "delivered", None, "delivered"
        if step.status == "pending" and step.delay is not None:
            return "pending", now + step.delay, "failed"
        return "failed", None, "dead_lettered"

    async def _tell_officers(self, uow: UnitOfWork, item: Claimed) -> None:
        """Officers of the region (administrators when there is none) hear of a dead delivery."""
        ntype = catalogue.TYPES[DEAD_LETTER_NOTICE]
        people = await officers_of_region(uow, item.region_code) if item.region_code else []
        if not people:
            people = await admins(uow)
        context = {
            "d": {
                "delivery_id": item.id,
                "cause_event_id": item.cause_event_id,
                "cause_event_type": item.cause_event_type,
                "channel": item.channel,
                "recipient_kind": item.recipient_kind,
                "attempts": item.attempts,
                "status": "failed",
            },
            "org": "",
        }
        notice = Notice(
            ntype,
            synthetic_cause("dead_lettered", item.id, item.attempts),
            ntype.event_type or ntype.name,
            f"deliveries/{item.id}",
            item.region_code,
            context,
        )
        await self.notifier.to_people(uow, notice, [Group(people)])


async def disable_subscription(uow: UnitOfWork, subscription_id: str, *, reason: str) -> None:
    """Stop a subscription and cancel what still waits for it (410 Gone, or deleted by its owner)."""
    s = table(Subscription)
    await uow.conn.execute(
        update(s)
        .where(s.c.id == subscription_id, s.c.status == "active")
        .values(status="disabled", disabled_reason=reason[:200], version=s.c.version + 1, updated_at=uow.now)
    )
    await cancel_pending(uow, subscription_id, reason=f"subscription disabled: {reason}")
    uow.audit("subscription.disabled", f"subscriptions/{subscription_id}", {"reason": reason})


async def cancel_pending(uow: UnitOfWork, subscription_id: str, *, reason: str) -> None:
    d = table(Delivery)
    await uow.conn.execute(
        update(d)
        .where(d.c.subscription_id == subscription_id, d.c.status == "pending", d.c.lease_token.is_(None))
        .values(status="cancelled", last_error=reason[:500], updated_at=uow.now, next_attempt_at=None)
    )

"""Inbox items, deliveries with their attempt log, webhook subscriptions.

A delivery is unique per (cause event id, recipient or subscription, channel) and is created in
the consumer's inbox transaction; the sender claims due rows with a lease, sends outside any
transaction and records the outcome. `message_id` is fixed at creation (webhook-id = the
CloudEvent id; email `<ce-id>.<recipient-hash>@gongyi>`) so a resend keeps its identity.
"""

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, Text, UniqueConstraint, text
from sqlmodel import Field

from services.notifications.models.base import NotificationsModel, instant, json_list


class InboxItem(NotificationsModel, table=True):
    __tablename__ = "inbox_items"
    __table_args__ = (
        UniqueConstraint("cause_event_id", "recipient_sub", name="uq_inbox_items_cause_recipient"),
        Index("ix_inbox_items_recipient", "recipient_sub", "id"),
    )

    id: str = Field(primary_key=True, max_length=36)  # UUIDv7: time-ordered, the list's keyset
    recipient_sub: str = Field(max_length=200)
    notification_type: str = Field(max_length=100)
    cause_event_id: str = Field(max_length=64)
    mandatory: bool = False
    title: str = Field(max_length=300)
    body: str = Field(sa_type=Text)
    resource: str | None = Field(default=None, max_length=200)
    created_at: datetime = instant()
    read_at: datetime | None = instant(nullable=True)


class Delivery(NotificationsModel, table=True):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("cause_event_id", "recipient_ref", "channel", name="uq_deliveries_cause_recipient_channel"),
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_deliveries_status", "status", "id"),
        Index("ix_deliveries_subscription", "subscription_id", "id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    cause_event_id: str = Field(max_length=64)
    cause_event_type: str = Field(max_length=200)
    notification_type: str = Field(max_length=100)
    channel: str = Field(max_length=10)  # inbox | email | sms | webhook
    recipient_kind: str = Field(max_length=20)  # org | officer | evaluator | finance | admin | subscription
    recipient_ref: str = Field(max_length=200)  # the sub, or the subscription id
    subscription_id: str | None = Field(default=None, max_length=36)
    region_code: str | None = Field(default=None, max_length=9)
    status: str = Field(max_length=12)  # pending | delivered | failed | cancelled
    attempts: int = 0
    round_attempts: int = 0  # attempts since creation or the last manual retry
    next_attempt_at: datetime | None = instant(nullable=True)
    lease_until: datetime | None = instant(nullable=True)
    lease_token: str | None = Field(default=None, max_length=36)
    message_id: str | None = Field(default=None, max_length=300)
    subject: str | None = Field(default=None, max_length=300)
    body: str | None = Field(default=None, sa_type=Text)  # email/SMS text; a webhook's CloudEvent JSON
    last_error: str | None = Field(default=None, max_length=500)
    last_status_code: int | None = None
    created_at: datetime = instant()
    updated_at: datetime = instant()
    delivered_at: datetime | None = instant(nullable=True)


class DeliveryAttempt(NotificationsModel, table=True):
    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_delivery", "delivery_id", "attempt"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    )
    delivery_id: str = Field(max_length=36)
    attempt: int
    at: datetime = instant()
    outcome: str = Field(max_length=20)  # delivered | retry | failed | gone | refused | cancelled
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int | None = None


class Subscription(NotificationsModel, table=True):
    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_status", "status"),)

    id: str = Field(primary_key=True, max_length=36)
    url: str = Field(max_length=2000)
    event_types: list[str] = json_list()
    description: str | None = Field(default=None, max_length=500)
    owner_sub: str = Field(max_length=200)
    owner_role: str = Field(max_length=20)
    region_code: str | None = Field(default=None, max_length=9)  # None: national (admin)
    status: str = Field(max_length=10)  # active | disabled | deleted
    disabled_reason: str | None = Field(default=None, max_length=200)
    secret_enc: str = Field(sa_type=Text)
    previous_secret_enc: str | None = Field(default=None, sa_type=Text)
    previous_secret_until: datetime | None = instant(nullable=True)
    version: int = 1
    created_at: datetime = instant()
    updated_at: datetime = instant()

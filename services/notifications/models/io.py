"""Request and response bodies of the notifications API (never the tables themselves)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

ChannelName = Literal["inbox", "email", "sms"]
TypeName = Annotated[str, Field(min_length=1, max_length=100)]
Pattern = Annotated[str, Field(min_length=1, max_length=200, examples=["cn.gongyi.grants.award.confirmed.v1"])]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- directory -----------------------------------------------------------------------------------


class RecipientUpdate(_In):
    """Replaces the caller's directory entry. `email: null` falls back to the token's email claim."""

    email: Annotated[str | None, Field(max_length=254, examples=["contact@example.org"])] = None
    phone: Annotated[str | None, Field(max_length=32, examples=["13800000000"])] = None
    locale: Literal["zh-CN", "en"] = "zh-CN"
    channels: Annotated[list[ChannelName], Field(max_length=3)] = ["inbox", "email"]


class RecipientPublic(BaseModel):
    sub: str
    role: str
    org_id: str | None
    region: str | None
    email: str | None = Field(description="masked")
    email_source: Literal["claim", "profile"] | None
    phone: str | None = Field(description="masked")
    locale: str
    channels: list[str]
    version: int


class PreferencesUpdate(_In):
    muted_types: Annotated[list[TypeName], Field(max_length=100)] = []
    channels_by_type: Annotated[dict[TypeName, list[ChannelName]], Field(max_length=100)] = {}
    digest: Literal["off", "daily"] | None = Field(default=None, description="null: the role's default")


class PreferencesPublic(BaseModel):
    muted_types: list[str]
    channels_by_type: dict[str, list[str]]
    digest: Literal["off", "daily"]
    mandatory_types: list[str] = Field(description="legal notices: never muted, always inbox and email")
    version: int


class NotificationTypePublic(BaseModel):
    name: str
    event_type: str | None
    label_zh: str
    label_en: str
    mandatory: bool
    legal_basis: str | None
    audiences: list[str]


# -- inbox ---------------------------------------------------------------------------------------


class InboxItemPublic(BaseModel):
    id: str
    notification_type: str
    title: str
    body: str
    resource: str | None
    mandatory: bool
    created_at: datetime
    read_at: datetime | None


class UnreadCount(BaseModel):
    unread: int


class MarkedRead(BaseModel):
    marked: int


# -- subscriptions -------------------------------------------------------------------------------


class SubscriptionCreate(_In):
    url: Annotated[str, Field(min_length=8, max_length=2000, examples=["https://finance.example.gov.cn/hooks/gongyi"])]
    event_types: Annotated[list[Pattern], Field(min_length=1, max_length=100)]
    description: Annotated[str | None, Field(max_length=500)] = None


class SubscriptionPatch(_In):
    url: Annotated[str | None, Field(min_length=8, max_length=2000)] = None
    event_types: Annotated[list[Pattern] | None, Field(min_length=1, max_length=100)] = None
    description: Annotated[str | None, Field(max_length=500)] = None
    status: Literal["active", "disabled"] | None = None


class SubscriptionPublic(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str | None
    status: str
    disabled_reason: str | None
    region_code: str | None
    owner_role: str
    previous_secret_valid_until: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class SubscriptionCreated(SubscriptionPublic):
    secret: str | None = Field(
        description="whsec_… shown once; an idempotent replay of the creation does not show it again"
    )


class SecretRotated(BaseModel):
    id: str
    secret: str = Field(description="the new whsec_ secret, shown once")
    previous_secret_valid_until: datetime
    version: int


# -- deliveries ----------------------------------------------------------------------------------


class AttemptPublic(BaseModel):
    attempt: int
    at: datetime
    outcome: str
    status_code: int | None
    error: str | None
    duration_ms: int | None


class DeliveryPublic(BaseModel):
    id: str
    cause_event_id: str
    cause_event_type: str
    notification_type: str
    channel: str
    recipient_kind: str
    recipient_ref: str
    subscription_id: str | None
    region_code: str | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    last_status_code: int | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


class DeliveryDetail(DeliveryPublic):
    attempt_log: list[AttemptPublic]

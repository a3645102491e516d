"""The recipient directory (ARCHITECTURE.md "Recipients") and each person's preferences.

Email and phone are personal data: stored encrypted with the runtime's field cipher (associated
data = the `sub`), shown masked, never logged and never put in events.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlmodel import Field

from services.notifications.models.base import NotificationsModel, instant, json_dict, json_list


class Recipient(NotificationsModel, table=True):
    __tablename__ = "recipients"
    __table_args__ = (
        Index("ix_recipients_org", "role", "org_id"),
        Index("ix_recipients_region", "role", "region_prefix"),
    )

    sub: str = Field(primary_key=True, max_length=200)
    role: str = Field(max_length=20)
    org_id: str | None = Field(default=None, max_length=36)
    region: str | None = Field(default=None, max_length=9)
    region_prefix: str | None = Field(default=None, max_length=9)
    agency_id: str | None = Field(default=None, max_length=100)
    email_enc: str | None = Field(default=None, sa_type=Text)
    email_hash: str | None = Field(default=None, max_length=64)
    email_source: str | None = Field(default=None, max_length=10)  # claim | profile
    phone_enc: str | None = Field(default=None, sa_type=Text)
    locale: str = Field(default="zh-CN", max_length=10)
    channels: list[str] = json_list()
    last_digest_at: datetime | None = instant(nullable=True)
    version: int = 1
    created_at: datetime = instant()
    updated_at: datetime = instant()


class Preference(NotificationsModel, table=True):
    __tablename__ = "preferences"

    sub: str = Field(primary_key=True, max_length=200)
    muted_types: list[str] = json_list()
    channels_by_type: dict[str, Any] = json_dict()
    digest: str = Field(default="off", sa_type=String(10))
    version: int = 1
    updated_at: datetime = instant()

"""The base of every notifications table: schema `notifications`, on its own MetaData."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, MetaData
from sqlmodel import Field, SQLModel

from shared.tables import UtcDateTime, infrastructure


class NotificationsModel(SQLModel):
    # Every table of this service lives in schema `notifications`, on its own MetaData (never the global
    # SQLModel.metadata): four services share a process in embedded mode.
    metadata = MetaData(schema="notifications")


infra = infrastructure(NotificationsModel.metadata)


def instant(*, nullable: bool = False, index: bool = False) -> Any:
    """An aware UTC instant column (UtcDateTime on both databases)."""
    return Field(default=None, sa_column=Column(UtcDateTime(), nullable=nullable, index=index))


def json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


def json_dict() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


__all__ = ["NotificationsModel", "datetime", "infra", "instant", "json_dict", "json_list"]

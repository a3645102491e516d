"""Tables of the notifications service (schema `notifications`) and its I/O models."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlmodel import SQLModel

from shared.tables import infrastructure


class NotificationsModel(SQLModel):
    # Every table of this service lives in schema `notifications`, on its own MetaData (never the global
    # SQLModel.metadata): four services share a process in embedded mode.
    metadata = MetaData(schema="notifications")


infra = infrastructure(NotificationsModel.metadata)

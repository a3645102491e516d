"""Tables of the grants service (schema `grants`) and its I/O models."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlmodel import SQLModel

from shared.tables import infrastructure


class GrantsModel(SQLModel):
    # Every table of this service lives in schema `grants`, on its own MetaData (never the global
    # SQLModel.metadata): four services share a process in embedded mode.
    metadata = MetaData(schema="grants")


infra = infrastructure(GrantsModel.metadata)

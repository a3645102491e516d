"""The registry's own MetaData (schema `registry`) and its infrastructure tables."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlmodel import SQLModel

from shared.tables import infrastructure


class RegistryModel(SQLModel):
    # Every table of this service lives in schema `registry`, on its own MetaData (never the global
    # SQLModel.metadata): four services share a process in embedded mode.
    metadata = MetaData(schema="registry")


infra = infrastructure(RegistryModel.metadata)

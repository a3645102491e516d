"""The grants schema's base class, the shared column types and the strict input base."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import MetaData
from sqlmodel import Field, SQLModel

from shared.tables import infrastructure


class GrantsModel(SQLModel):
    # Every table of this service lives in schema `grants`, on its own MetaData (never the global
    # SQLModel.metadata): four services share a process in embedded mode.
    metadata = MetaData(schema="grants")


infra = infrastructure(GrantsModel.metadata)


class Strict(BaseModel):
    """Request bodies refuse unknown fields (a typo never silently drops a rule)."""

    model_config = ConfigDict(extra="forbid")


def id_field(**kw: Any) -> Any:
    return Field(primary_key=True, max_length=36, **kw)

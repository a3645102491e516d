"""The evaluation service's own MetaData (schema `evaluation`) and its infrastructure tables."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlmodel import SQLModel

from shared.tables import infrastructure


class EvaluationModel(SQLModel):
    # Every table of this service lives in schema `evaluation`, on its own MetaData (never the global
    # SQLModel.metadata): four services share a process in embedded mode.
    metadata = MetaData(schema="evaluation")


infra = infrastructure(EvaluationModel.metadata)

"""Tables of the evaluation service (schema `evaluation`) and its I/O models."""

from __future__ import annotations

from services.evaluation.models.base import EvaluationModel, infra
from services.evaluation.models.tables import (
    Agency,
    Appeal,
    Assignment,
    CatalogDocument,
    Conflict,
    Decision,
    Evaluation,
    Evaluator,
    Grade,
    OrgStanding,
    RatingProposal,
    Round,
    ScoreHistory,
    ScoreSheet,
)

__all__ = [
    "Agency",
    "Appeal",
    "Assignment",
    "CatalogDocument",
    "Conflict",
    "Decision",
    "Evaluation",
    "EvaluationModel",
    "Evaluator",
    "Grade",
    "OrgStanding",
    "RatingProposal",
    "Round",
    "ScoreHistory",
    "ScoreSheet",
    "infra",
]

"""Tables of the grants service (schema `grants`) and its I/O models."""

from __future__ import annotations

from services.grants.models.base import GrantsModel, Strict, infra
from services.grants.models.tables import (
    Application,
    Award,
    Call,
    Disbursement,
    LedgerEntry,
    Objection,
    PaymentAttempt,
    PaymentPosting,
    RatingPublication,
    ReviewAssignment,
    Reviewer,
    Screening,
    Standing,
)

__all__ = [
    "Application",
    "Award",
    "Call",
    "Disbursement",
    "GrantsModel",
    "LedgerEntry",
    "Objection",
    "PaymentAttempt",
    "PaymentPosting",
    "RatingPublication",
    "ReviewAssignment",
    "Reviewer",
    "Screening",
    "Standing",
    "Strict",
    "infra",
]

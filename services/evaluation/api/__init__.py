"""HTTP routes of the evaluation service under `/evaluation/v1`, one module per aggregate."""

from __future__ import annotations

from fastapi import APIRouter

from services.evaluation.api import catalog, people, rating, rounds, scoring
from services.evaluation.api.common import install_error_mapping

router = APIRouter(prefix="/evaluation/v1")
for module in (scoring, rating, people, rounds, catalog):  # the score PUT, the hot path, matches first
    router.include_router(module.router)

__all__ = ["install_error_mapping", "router"]

"""HTTP routes of the evaluation service under `/evaluation/v1`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/evaluation/v1")

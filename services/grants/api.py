"""HTTP routes of the grants service under `/grants/v1`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/grants/v1")

"""HTTP routes of the grants service under `/grants/v1`, one module per aggregate."""

from __future__ import annotations

from fastapi import APIRouter

from services.grants.api import applications, awards, calls

router = APIRouter(prefix="/grants/v1")
router.include_router(applications.router)  # first: the submission route is the hot path
router.include_router(calls.router)
router.include_router(awards.router)

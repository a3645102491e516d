"""HTTP routes of the registry service under `/registry/v1`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/registry/v1")

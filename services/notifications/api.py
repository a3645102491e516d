"""HTTP routes of the notifications service under `/notifications/v1`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/notifications/v1")

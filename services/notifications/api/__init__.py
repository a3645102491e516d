"""HTTP routes of the notifications service under `/notifications/v1`."""

from __future__ import annotations

from fastapi import APIRouter

from services.notifications.api import deliveries, me, subscriptions

router = APIRouter(prefix="/notifications/v1")
router.include_router(me.router)
router.include_router(subscriptions.router)
router.include_router(deliveries.router)

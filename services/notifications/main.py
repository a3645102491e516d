"""Composition root of the notifications service: `create_app(settings, *, bus=None, clock=None)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.notifications import api
from services.notifications.events import PUBLISHES
from services.notifications.models import NotificationsModel
from services.notifications.settings import NotificationsSettings
from shared.app import create_service_app
from shared.runtime import Runtime

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
TITLE = "Gongyi Notifications"
DESCRIPTION = "通知 — inbox, email, SMS and signed webhooks for every party"
Settings = NotificationsSettings


def build_runtime(settings: NotificationsSettings | None = None, **kwargs: Any) -> Runtime:
    runtime = Runtime(
        settings or NotificationsSettings(),
        metadata=NotificationsModel.metadata,
        migrations=MIGRATIONS,
        publishes=PUBLISHES,
        **kwargs,
    )
    return runtime


def create_app(
    settings: NotificationsSettings | None = None,
    *,
    role: str = "api",
    standalone: bool = True,
    runtime: Runtime | None = None,
    **kwargs: Any,
) -> FastAPI:
    runtime = runtime or build_runtime(settings, **kwargs)
    return create_service_app(
        runtime, title=TITLE, description=DESCRIPTION, routers=[api.router], role=role, standalone=standalone
    )

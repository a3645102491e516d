"""Composition root of the grants service: `create_app(settings, *, bus=None, clock=None)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.grants import api
from services.grants.events import PUBLISHES
from services.grants.models import GrantsModel
from services.grants.settings import GrantsSettings
from shared.app import create_service_app
from shared.runtime import Runtime

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
TITLE = "Gongyi Grants"
DESCRIPTION = (
    "公益创投与政府购买服务 — calls, applications, eligibility, review, awards within budget, tranches and payments"
)
Settings = GrantsSettings


def build_runtime(settings: GrantsSettings | None = None, **kwargs: Any) -> Runtime:
    runtime = Runtime(
        settings or GrantsSettings(),
        metadata=GrantsModel.metadata,
        migrations=MIGRATIONS,
        publishes=PUBLISHES,
        **kwargs,
    )
    return runtime


def create_app(
    settings: GrantsSettings | None = None,
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

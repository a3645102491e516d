"""Composition root of the registry service: `create_app(settings, *, bus=None, clock=None)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.registry import api
from services.registry.events import PUBLISHES
from services.registry.models import RegistryModel
from services.registry.settings import RegistrySettings
from shared.app import create_service_app
from shared.runtime import Runtime

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
TITLE = "Gongyi Registry"
DESCRIPTION = (
    "登记管理 — the register of social organizations (登记 and 备案), annual duties, penalties and credit lists"
)
Settings = RegistrySettings


def build_runtime(settings: RegistrySettings | None = None, **kwargs: Any) -> Runtime:
    runtime = Runtime(
        settings or RegistrySettings(),
        metadata=RegistryModel.metadata,
        migrations=MIGRATIONS,
        publishes=PUBLISHES,
        **kwargs,
    )
    return runtime


def create_app(
    settings: RegistrySettings | None = None,
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

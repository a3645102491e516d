"""Composition root of the grants service: `create_app(settings, *, bus=None, clock=None)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from services.grants import api, consumers
from services.grants.api.applications import REGISTRY_CLIENT
from services.grants.api.common import install_error_mapping
from services.grants.events import PUBLISHES
from services.grants.handlers import calls, disbursements, objections
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


def build_runtime(
    settings: GrantsSettings | None = None, *, registry_transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any
) -> Runtime:
    """`registry_transport` lets a test answer the registry's standing route without a registry."""
    settings = settings or GrantsSettings()
    runtime = Runtime(settings, metadata=GrantsModel.metadata, migrations=MIGRATIONS, publishes=PUBLISHES, **kwargs)
    runtime.resources[REGISTRY_CLIENT] = httpx.AsyncClient(transport=registry_transport)
    runtime.add_consumer("", topics=consumers.CONSUMES, handlers=consumers.handlers(lambda: runtime.calendar.calendar))
    runtime.add_job("call.open", calls.open_call_job)
    runtime.add_job("call.close", calls.close_call_job)
    runtime.add_job("award.notice_end", objections.notice_end_job)
    runtime.add_job("tranche.due", disbursements.tranche_due_job)
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
    app = create_service_app(
        runtime, title=TITLE, description=DESCRIPTION, routers=[api.router], role=role, standalone=standalone
    )
    install_error_mapping(app)
    return app

"""Composition root of the registry service: `build_runtime` wires the consumer of grades and the
jobs (annual-report deadline sweep, credit-list timers, imports); `create_app` serves the routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.registry import api
from services.registry.consumers import CONSUMES, rating_handlers
from services.registry.events import PUBLISHES
from services.registry.handlers import credit, duties, imports
from services.registry.handlers.organizations import ANNUAL_DEADLINE_JOB
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
    runtime.add_consumer("", topics=list(CONSUMES), handlers=rating_handlers())
    runtime.add_job(ANNUAL_DEADLINE_JOB, duties.sweep_missed_annual_reports)
    runtime.add_job(credit.AUTO_REMOVAL_JOB, credit.auto_remove_listing)
    runtime.add_job(credit.ESCALATION_JOB, credit.escalate_listing)

    def import_context() -> imports.ImportContext:
        settings = runtime.settings
        assert isinstance(settings, RegistrySettings)
        return imports.ImportContext(
            cipher=runtime.cipher,
            county_filing_prefixes=settings.county_filing_prefixes,
            chunk_rows=settings.import_chunk_rows,
        )

    runtime.add_job(imports.IMPORT_JOB, imports.job_handler(import_context))
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

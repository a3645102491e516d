"""Composition root of the evaluation service: `build_runtime(settings)` and `create_app(...)`.

The runtime loads the shipped presets (rule sets, band tables, indicator templates) into the
catalogue when it starts, registers the consumers of `registry.organization` and `grants.award`,
the jobs that close rounds and end public notices, and the daily grade-expiry sweep.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.evaluation import api, consumers
from services.evaluation.events import PUBLISHES
from services.evaluation.handlers import after, catalog, rating, rounds
from services.evaluation.handlers.context import Context, context_of
from services.evaluation.models import EvaluationModel
from services.evaluation.settings import EvaluationSettings
from shared.app import create_service_app
from shared.runtime import Runtime
from shared.scheduler import Recurring
from shared.uow import UnitOfWork

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
TITLE = "Gongyi Evaluation"
DESCRIPTION = "等级评估 — third-party rating of organizations (1A–5A) and assessment of funded projects"
Settings = EvaluationSettings


class EvaluationRuntime(Runtime):
    async def start(self, role: str = "api") -> None:
        await super().start(role)
        async with self.uow() as uow:
            await catalog.load_presets(uow)
            await uow.commit()


def _job(ctx: Context, fn: Any) -> Any:
    async def handler(uow: UnitOfWork, key: str, due_at: datetime) -> None:
        await fn(ctx, uow, key, due_at)

    return handler


def build_runtime(settings: EvaluationSettings | None = None, **kwargs: Any) -> Runtime:
    settings = settings or EvaluationSettings()
    runtime = EvaluationRuntime(
        settings,
        metadata=EvaluationModel.metadata,
        migrations=MIGRATIONS,
        publishes=PUBLISHES,
        **kwargs,
    )
    ctx = context_of(runtime)
    runtime.add_consumer("", topics=["registry.organization"], handlers=consumers.registry_handlers(ctx))
    runtime.add_consumer("grants", topics=["grants.award"], handlers=consumers.grants_handlers(ctx))
    runtime.add_job("round.close", _job(ctx, rounds.close_round_job))
    runtime.add_job("rating.notice_end", _job(ctx, rating.notice_end_job))
    runtime.add_job("grade.expire", _job(ctx, after.expire_grades))
    at = (
        settings.expiry_sweep_at
        if isinstance(settings, EvaluationSettings)
        else EvaluationSettings.model_fields["expiry_sweep_at"].default
    )
    runtime.add_recurring(Recurring("grade.expire", at))
    return runtime


def create_app(
    settings: EvaluationSettings | None = None,
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
    api.install_error_mapping(app)
    return app

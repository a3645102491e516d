"""Composition root of the evaluation service: `create_app(settings, *, bus=None, clock=None)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.evaluation import api
from services.evaluation.events import PUBLISHES
from services.evaluation.models import EvaluationModel
from services.evaluation.settings import EvaluationSettings
from shared.app import create_service_app
from shared.runtime import Runtime

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
TITLE = "Gongyi Evaluation"
DESCRIPTION = "等级评估 — third-party rating of organizations (1A–5A) and assessment of funded projects"
Settings = EvaluationSettings


def build_runtime(settings: EvaluationSettings | None = None, **kwargs: Any) -> Runtime:
    runtime = Runtime(
        settings or EvaluationSettings(),
        metadata=EvaluationModel.metadata,
        migrations=MIGRATIONS,
        publishes=PUBLISHES,
        **kwargs,
    )
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
    return create_service_app(
        runtime, title=TITLE, description=DESCRIPTION, routers=[api.router], role=role, standalone=standalone
    )

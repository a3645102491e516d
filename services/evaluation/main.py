"""Composition root of the evaluation service: `build_runtime(settings)` and `create_app(...)`.

The runtime loads the shipped presets (rule sets, band tables, indicator templates) into the
catalogue when it starts, registers the consumers of `registry.organization` and `grants.award`,
the jobs that close rounds and end public notices, and the daily grade-expiry sweep.
"""

from __future__ import annotations

import time
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


class CachedVerifier:
    """Remembers verified bearer tokens for a few minutes (never past their `exp`).

    Agencies' systems send hundreds of requests with the same machine credential; verifying the
    RS256 signature each time is a sizeable part of a score PUT. A cached token is still checked
    for `exp`/`nbf` on every use; a key withdrawn at the identity provider stops being honoured
    within `ttl_s`. Anything not cached goes to the real verifier.
    """

    def __init__(self, inner: Any, *, ttl_s: float = 300.0, size: int = 20_000, leeway_s: float = 60.0) -> None:
        self.inner, self.ttl_s, self.size, self.leeway_s = inner, ttl_s, size, leeway_s
        self._cache: dict[str, tuple[float, Any]] = {}

    async def verify(self, token: str) -> Any:
        now = time.time()
        hit = self._cache.get(token)
        if hit is not None:
            until, principal = hit
            exp, nbf = principal.claims.get("exp", 0), principal.claims.get("nbf")
            if now < until and exp > now - self.leeway_s and (nbf is None or nbf <= now + self.leeway_s):
                return principal
            self._cache.pop(token, None)
        principal = await self.inner.verify(token)
        if len(self._cache) >= self.size:
            self._cache.clear()
        self._cache[token] = (now + self.ttl_s, principal)
        return principal

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


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
    runtime.verifier = CachedVerifier(runtime.verifier)  # type: ignore[assignment]
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

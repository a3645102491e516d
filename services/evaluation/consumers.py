"""What the evaluation service reads from other services' topics (tolerant readers).

- `registry.organization`: every type feeds the local read model used for eligibility; listings,
  annual results, penalties, deregistration and revocation also act on published grades.
- `grants.award`: `agreement_signed` schedules the mid-term and final assessments from its
  `assessment {template_id, pass_threshold, midterm_due, final_due}`; `terminated` cancels the
  ones not yet done. Other types are skipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.evaluation.handlers import assessments, standing
from services.evaluation.handlers.context import Context
from shared.envelope import CloudEvent, event_type
from shared.uow import UnitOfWork

CONSUMES: tuple[str, ...] = ("registry.organization", "grants.award")

REGISTRY_TYPES = (
    "registered",
    "filed",
    "upgraded",
    "updated",
    "annual_report_recorded",
    "penalty_recorded",
    "investigation_opened",
    "investigation_closed",
    "listed",
    "delisted",
    "deregistered",
    "revoked",
)

Handler = Callable[[UnitOfWork, CloudEvent], Awaitable[None]]


def _bind(ctx: Context, fn: Callable[[Context, UnitOfWork, CloudEvent], Awaitable[None]]) -> Handler:
    async def handler(uow: UnitOfWork, event: CloudEvent) -> None:
        await fn(ctx, uow, event)

    handler.__name__ = fn.__name__
    return handler


def registry_handlers(ctx: Context) -> dict[str, Handler]:
    return {
        event_type("registry", "organization", verb): _bind(ctx, standing.apply_registry_event)
        for verb in REGISTRY_TYPES
    }


def grants_handlers(ctx: Context) -> dict[str, Handler]:
    return {
        event_type("grants", "award", "agreement_signed"): _bind(ctx, assessments.schedule_from_agreement),
        event_type("grants", "award", "terminated"): _bind(ctx, assessments.cancel_for_award),
    }

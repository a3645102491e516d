"""What the grants service reads from other services' topics (tolerant readers: only the fields
it uses, unknown types skipped)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.grants.handlers.disbursements import release_on_assessment
from services.grants.handlers.standing import refresh_standing_on_rating_event, refresh_standing_on_registry_event
from shared.envelope import CloudEvent, event_type
from shared.uow import UnitOfWork
from shared.workdays import WorkingCalendar

CONSUMES: tuple[str, ...] = ("registry.organization", "evaluation.rating", "evaluation.assessment")

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
RATING_TYPES = ("published", "downgraded", "revoked", "expired")

Handler = Callable[[UnitOfWork, CloudEvent], Awaitable[None]]


def handlers(calendar: Callable[[], WorkingCalendar]) -> dict[str, Handler]:
    """Event type → handler; `calendar` reads the runtime's current working-day calendar."""

    async def release_tranches_on_assessment_completed(uow: UnitOfWork, event: CloudEvent) -> None:
        await release_on_assessment(uow, event, calendar=calendar())

    table: dict[str, Handler] = {}
    for verb in REGISTRY_TYPES:
        table[event_type("registry", "organization", verb)] = refresh_standing_on_registry_event
    for verb in RATING_TYPES:
        table[event_type("evaluation", "rating", verb)] = refresh_standing_on_rating_event
    table[event_type("evaluation", "assessment", "completed")] = release_tranches_on_assessment_completed
    return table

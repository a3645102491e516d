"""What the registry reads from other services: grades from `evaluation.rating` (tolerant reader:
only `org_id`, `grade`, the validity dates and `effective_on` are used; other types are skipped)."""

from __future__ import annotations

from services.registry.handlers import grades
from shared.consumer import EventHandler
from shared.envelope import event_type

CONSUMES: tuple[str, ...] = ("evaluation.rating",)


def rating_handlers() -> dict[str, EventHandler]:
    def rating(verb: str) -> str:
        return event_type("evaluation", "rating", verb)

    return {
        rating("published"): grades.record_grade_on_rating_published,
        rating("downgraded"): grades.record_grade_on_rating_downgraded,
        rating("revoked"): grades.end_grade_on_rating_revoked,
        rating("expired"): grades.end_grade_on_rating_expired,
    }

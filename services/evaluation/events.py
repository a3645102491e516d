"""What the evaluation service publishes (docs/events.md): topics, types and `data` builders.

- `evaluation.round` (key round id): `opened`, `closed`.
- `evaluation.rating` (key org_id): every step of a rating; each carries `org_id`, `organization`,
  `region_code`, `evaluation_id`, `round_id` (null outside a round: downgrade, revocation, expiry).
- `evaluation.assessment` (key award id): `scheduled`, `completed`.
No personal data: evaluators are `sub`s, organizations `org_id`s; points are decimal strings.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from shared.envelope import event_type
from shared.outbox import PendingEvent

ROUND = "evaluation.round"
RATING = "evaluation.rating"
ASSESSMENT = "evaluation.assessment"
PUBLISHES: tuple[str, ...] = (ROUND, RATING, ASSESSMENT)

RATING_TYPES = (
    "applied",
    "assigned",
    "conflict_declared",
    "recusal_decided",
    "scored",
    "proposed",
    "publicly_noticed",
    "appealed",
    "appeal_decided",
    "published",
    "downgraded",
    "revoked",
    "expired",
)


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value.isoformat()


def round_event(verb: str, round_id: str, data: dict[str, Any]) -> PendingEvent:
    return PendingEvent(
        topic=ROUND,
        key=round_id,
        type=event_type("evaluation", "round", verb),
        subject=f"rounds/{round_id}",
        data={"round_id": round_id, **data},
    )


def rating_event(
    verb: str,
    *,
    org_id: str,
    organization: dict[str, Any],
    region_code: str,
    evaluation_id: str | None,
    round_id: str | None,
    **data: Any,
) -> PendingEvent:
    if verb not in RATING_TYPES:
        raise ValueError(f"unknown evaluation.rating type {verb}")
    body = {
        "org_id": org_id,
        "organization": organization,
        "region_code": region_code,
        "evaluation_id": evaluation_id,
        "round_id": round_id,
    }
    body.update({k: _iso(v) if isinstance(v, date | datetime) else v for k, v in data.items()})
    return PendingEvent(
        topic=RATING,
        key=org_id,
        type=event_type("evaluation", "rating", verb),
        subject=f"organizations/{org_id}",
        data=body,
    )


def assessment_event(verb: str, *, award_id: str, **data: Any) -> PendingEvent:
    body = {"award_id": award_id}
    body.update({k: _iso(v) if isinstance(v, date | datetime) else v for k, v in data.items()})
    return PendingEvent(
        topic=ASSESSMENT,
        key=award_id,
        type=event_type("evaluation", "assessment", verb),
        subject=f"awards/{award_id}",
        data=body,
    )

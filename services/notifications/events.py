"""What the notifications service publishes (EVENTS.md, docs/events.md `notifications.delivery`).

One event per delivery outcome: `delivered` (an inbox item stored, an email accepted by the SMTP
server, an SMS accepted by the gateway, a webhook answered 2xx), `failed` (an attempt failed; it
will be retried) and `dead_lettered` (no attempt left, or a permanent refusal; officers see it and
can retry). Keyed by delivery id; no personal data — recipients are a kind, never an address.
"""

from __future__ import annotations

from typing import Literal

from shared.envelope import event_type
from shared.outbox import PendingEvent

TOPIC = "notifications.delivery"
PUBLISHES: tuple[str, ...] = (TOPIC,)

DeliveryOutcome = Literal["delivered", "failed", "dead_lettered"]
DELIVERED = event_type("notifications", "delivery", "delivered")
FAILED = event_type("notifications", "delivery", "failed")
DEAD_LETTERED = event_type("notifications", "delivery", "dead_lettered")
_TYPES: dict[DeliveryOutcome, str] = {"delivered": DELIVERED, "failed": FAILED, "dead_lettered": DEAD_LETTERED}
_STATUS: dict[DeliveryOutcome, str] = {"delivered": "delivered", "failed": "pending", "dead_lettered": "failed"}


def delivery_event(
    outcome: DeliveryOutcome,
    *,
    delivery_id: str,
    cause_event_id: str,
    cause_event_type: str,
    channel: str,
    recipient_kind: str,
    attempts: int,
) -> PendingEvent:
    return PendingEvent(
        topic=TOPIC,
        key=delivery_id,
        type=_TYPES[outcome],
        subject=f"deliveries/{delivery_id}",
        data={
            "delivery_id": delivery_id,
            "cause_event_id": cause_event_id,
            "cause_event_type": cause_event_type,
            "channel": channel,
            "recipient_kind": recipient_kind,
            "attempts": attempts,
            "status": _STATUS[outcome],
        },
    )

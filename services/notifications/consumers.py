"""What the notifications service reads from other services' topics (tolerant readers).

Every type of every topic in docs/events.md is consumed by one handler (`fan_out_event`): it keeps
the few facts reminders and routing need, then creates inbox items and deliveries for whoever
hears of the event (domain.catalogue) and for matching webhook subscriptions. `Incoming` reads only
the fields used and never fails on a missing or unexpected one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from services.notifications.domain import catalogue
from shared import envelope
from shared.consumer import current_record
from shared.envelope import CloudEvent

CONSUMES: tuple[str, ...] = (
    "registry.organization",
    "evaluation.round",
    "evaluation.rating",
    "evaluation.assessment",
    "grants.call",
    "grants.application",
    "grants.award",
    "grants.disbursement",
)
HANDLED_TYPES: tuple[str, ...] = catalogue.CONSUMED_EVENT_TYPES


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Incoming:
    event: CloudEvent

    @property
    def data(self) -> Mapping[str, Any]:
        return self.event.data

    @property
    def name(self) -> str:
        return catalogue.short_name(self.event.type)

    def text(self, key: str) -> str | None:
        return _str(self.data.get(key))

    def instant(self, key: str) -> datetime | None:
        raw = self.text(key)
        if raw is None:
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            return None
        return value if value.tzinfo is not None else None

    def day(self, key: str) -> date | None:
        raw = self.text(key)
        try:
            return date.fromisoformat(raw[:10]) if raw else None
        except ValueError:
            return None

    @property
    def org_id(self) -> str | None:
        org = self.data.get("organization")
        return self.text("org_id") or (_str(org.get("org_id")) if isinstance(org, Mapping) else None)

    @property
    def org_name(self) -> str:
        org = self.data.get("organization")
        name = _str(org.get("name")) if isinstance(org, Mapping) else None
        return name or self.text("name") or ""

    @property
    def region_code(self) -> str | None:
        return self.text("region_code")

    def context(self) -> dict[str, Any]:
        """The template context of an event-caused notification."""
        return {
            "d": dict(self.data),
            "org": self.org_name,
            "event": {
                "id": self.event.id,
                "type": self.event.type,
                "subject": self.event.subject,
                "time": self.event.time.isoformat(),
            },
        }

    def body(self) -> bytes:
        """The structured CloudEvent exactly as it is on the bus (a webhook sends these bytes)."""
        record = current_record.get()
        if record is not None:
            header = record.header("ce_id")
            if header is None or header.decode(errors="replace") == self.event.id:
                return record.value
        # Outside the consumer (tests calling a handler directly): the bytes the relay would send.
        plain = envelope.encode_without_sequence(replace(self.event, sequence=None))
        return envelope.render(plain, self.event.sequence) if self.event.sequence is not None else plain

"""What the notifications service publishes (EVENTS.md)."""

from __future__ import annotations

PUBLISHES: tuple[str, ...] = ("notifications.delivery",)

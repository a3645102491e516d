"""What the registry service publishes (EVENTS.md)."""

from __future__ import annotations

PUBLISHES: tuple[str, ...] = ("registry.organization",)

"""What the grants service publishes (EVENTS.md)."""

from __future__ import annotations

PUBLISHES: tuple[str, ...] = ("grants.call", "grants.application", "grants.award", "grants.disbursement")

"""What the evaluation service publishes (EVENTS.md)."""

from __future__ import annotations

PUBLISHES: tuple[str, ...] = ("evaluation.round", "evaluation.rating", "evaluation.assessment")

"""What the notifications service reads from other services' topics (tolerant readers)."""

from __future__ import annotations

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

"""What the evaluation service reads from other services' topics (tolerant readers)."""

from __future__ import annotations

CONSUMES: tuple[str, ...] = ("registry.organization", "grants.award")

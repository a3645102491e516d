"""Pure rules of the grants service (DOMAIN.md §3): no I/O, time passed in, decisions returned.

One module per aggregate: `money` (fen arithmetic, caps, tranches), `calls`, `eligibility`
(standing read model and screening), `applications`, `review`, `awards`, `disbursements`.
A refusal is a `DomainError` naming its rule and basis; the handlers map it to problem+json.
"""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal["rule", "conflict", "not_found"]


class DomainError(Exception):
    """A business rule refused the command (`kind` picks 422, 409 or 404 at the HTTP edge)."""

    def __init__(
        self,
        rule: str,
        detail: str,
        *,
        basis: str | None = None,
        kind: ErrorKind = "rule",
        extra: dict[str, object] | None = None,
    ) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail
        self.basis = basis
        self.kind = kind
        self.extra = dict(extra or {})


class FieldErrors(Exception):
    """Input that is well-formed JSON but incoherent: every `{field, message}` at once (422)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors

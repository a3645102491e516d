"""Points as exact integer hundredths, and the errors the pure rules raise.

Scores are never floats: a score is entered as a decimal string (or an integer) with at most two
decimals and kept as integer hundredths (`"912.5"` → 91250). Means round half-up to 0.01.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

_POINTS_RE = re.compile(r"^(0|[1-9][0-9]{0,5})(\.[0-9]{1,2})?$")


class DomainError(Exception):
    """Base of every refusal the pure rules make; handlers map them to problems once."""


@dataclass
class RuleBroken(DomainError):
    """A business rule refused the command: names the rule and its basis (the article or notice)."""

    rule: str
    detail: str
    basis: str | None = None
    status: int = 422

    def __post_init__(self) -> None:
        super().__init__(self.detail)


@dataclass
class Invalid(DomainError):
    """Input that does not fit a document's shape: a list of `{field, message}` in dotted paths."""

    errors: list[dict[str, str]] = field(default_factory=list)
    rule: str | None = None

    def __post_init__(self) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in self.errors[:5]))


def parse_points(value: Any, where: str) -> int:
    """A decimal string ("45", "45.5", "45.50") or an integer → hundredths; floats are refused."""
    if isinstance(value, bool):
        raise Invalid([{"field": where, "message": 'expected a decimal string such as "45.50"'}])
    if isinstance(value, int):
        if value < 0 or value > 999_999:
            raise Invalid([{"field": where, "message": "points must be between 0 and 999999"}])
        return value * 100
    if isinstance(value, Decimal):
        value = format(value, "f")
    if not isinstance(value, str):
        raise Invalid(
            [
                {
                    "field": where,
                    "message": 'points are decimal strings such as "45.50" (JSON numbers with a '
                    "fraction are refused: they are not exact)",
                }
            ]
        )
    if not _POINTS_RE.match(value):
        raise Invalid([{"field": where, "message": f"{value!r} is not a non-negative decimal with at most 2 decimals"}])
    whole, _, frac = value.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def fmt(hundredths: int) -> str:
    """91250 → "912.50" (always two decimals)."""
    sign = "-" if hundredths < 0 else ""
    v = abs(hundredths)
    return f"{sign}{v // 100}.{v % 100:02d}"


def to_decimal(hundredths: int) -> Decimal:
    return Decimal(hundredths) / 100


def mean_half_up(values: Sequence[int]) -> int:
    """Mean of hundredths, rounded half-up to a hundredth (0.005 → 0.01)."""
    if not values:
        raise ValueError("mean of nothing")
    return int((Decimal(sum(values)) / len(values)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def median(values: Sequence[int]) -> Decimal:
    """Exact median in hundredths (a half-hundredth when the count is even and the middle differs)."""
    if not values:
        raise ValueError("median of nothing")
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return Decimal(ordered[mid])
    return (Decimal(ordered[mid - 1]) + Decimal(ordered[mid])) / 2

"""Money exactly as DOMAIN.md §3: integer fen, ratios in basis points, caps as integer comparisons."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date

BP_WHOLE = 10_000


def fen_text(fen: int) -> str:
    """`1234567` → `"12345.67"`; the wire form of an amount (negative deltas keep their sign)."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def yuan(fen: int) -> str:
    """`1234567` → `"¥12,345.67"`, for details people read."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}¥{fen // 100:,}.{fen % 100:02d}"


def money(fen: int) -> dict[str, str]:
    """The wire and event form `{"amount": "50000.00", "currency": "CNY"}`."""
    return {"amount": fen_text(fen), "currency": "CNY"}


def share_within(part: int, whole: int, cap_bp: int) -> bool:
    """`part × 10000 ≤ cap_bp × whole`: a cap on a share, without a single division."""
    return part * BP_WHOLE <= cap_bp * whole


def split_tranches(amount_fen: int, basis_points: Sequence[int]) -> list[int]:
    """Tranche k < last = floor(amount × bp_k / 10000); the last takes the remainder."""
    if not basis_points:
        raise ValueError("a tranche schedule has at least one tranche")
    if sum(basis_points) != BP_WHOLE:
        raise ValueError(f"tranche basis points sum to {sum(basis_points)}, not {BP_WHOLE}")
    head = [amount_fen * bp // BP_WHOLE for bp in basis_points[:-1]]
    return [*head, amount_fen - sum(head)]


def add_months(day: date, months: int) -> date:
    """Calendar months, clipped to the month's end: 2025-03-31 − 1 month = 2025-02-28."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def mean_half_up(values: Sequence[int]) -> int:
    """Mean of integer hundredths, to the hundredth, half-up (scores are never negative)."""
    if not values:
        raise ValueError("mean of nothing")
    total, n = sum(values), len(values)
    return (2 * total + n) // (2 * n)


def weighted_half_up(value: int, weight_bp: int) -> int:
    """`value × weight / 10000` to the unit, half-up (non-negative inputs)."""
    return (2 * value * weight_bp + BP_WHOLE) // (2 * BP_WHOLE)


def score_text(hundredths: int) -> str:
    """Scores travel as decimal strings with two places: `8550` → `"85.50"`."""
    return f"{hundredths // 100}.{hundredths % 100:02d}"

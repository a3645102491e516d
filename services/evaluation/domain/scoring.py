"""Aggregation of the evaluators' sheets (DOMAIN.md §2).

- Each evaluator's total = leaf scores + bonus points, capped by the rule set (computed when the
  sheet is saved, see `Template.total_of`).
- The evaluation's total is the mean of the evaluators' totals to 0.01, half-up; per leaf likewise.
- Spread = max − min of the evaluators' totals (and per leaf).
- An evaluator is an outlier when their total differs from the median of the *others'* totals by
  more than `max_spread` points: flagged for the committee, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from services.evaluation.domain.bands import BandTable
from services.evaluation.domain.points import mean_half_up, median


@dataclass(frozen=True)
class Sheet:
    evaluator_sub: str
    scores: Mapping[str, int]
    total: int


@dataclass(frozen=True)
class LeafAggregate:
    mean: int
    spread: int


@dataclass(frozen=True)
class Aggregate:
    total: int
    spread: int
    outliers: tuple[str, ...]
    totals: Mapping[str, int]  # evaluator sub → total
    leaves: Mapping[str, LeafAggregate]
    proposed_grade: str | None
    evaluators: int


def outliers(totals: Mapping[str, int], max_spread: int) -> tuple[str, ...]:
    flagged = []
    for sub, total in totals.items():
        others = [t for s, t in totals.items() if s != sub]
        if others and abs(Decimal(total) - median(others)) > max_spread:
            flagged.append(sub)
    return tuple(sorted(flagged))


def aggregate(sheets: Sequence[Sheet], *, max_spread: int, bands: BandTable | None) -> Aggregate:
    if not sheets:
        raise ValueError("nothing to aggregate: no submitted sheet")
    totals = {s.evaluator_sub: s.total for s in sheets}
    values = list(totals.values())
    codes = sorted({code for s in sheets for code in s.scores})
    leaves = {}
    for code in codes:
        scores = [s.scores[code] for s in sheets if code in s.scores]
        leaves[code] = LeafAggregate(mean=mean_half_up(scores), spread=max(scores) - min(scores))
    total = mean_half_up(values)
    return Aggregate(
        total=total,
        spread=max(values) - min(values),
        outliers=outliers(totals, max_spread),
        totals=totals,
        leaves=leaves,
        proposed_grade=bands.grade_for(total) if bands is not None else None,
        evaluators=len(sheets),
    )

"""Score → grade band tables (DOMAIN.md §2): half-open intervals `[from, to)` without gaps or overlaps.

A band table is data (presets under `presets/band-tables/`, copies made by officers). Each band has
a `grade` and `from` (inclusive); `to` is exclusive unless `to_inclusive` (Shenzhen's 5A [91, 100]),
and only the top band may leave `to` open (∞). Below the lowest `from` there is no grade.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.evaluation.domain.points import Invalid, fmt, parse_points

GRADES: tuple[str, ...] = ("5A", "4A", "3A", "2A", "1A")  # best first


def grade_rank(grade: str | None) -> int:
    """5A → 5 … 1A → 1; no grade → 0."""
    return 0 if grade is None else 5 - GRADES.index(grade)


def grade_of_rank(rank: int) -> str | None:
    return None if rank <= 0 else GRADES[5 - rank]


def one_grade_down(grade: str) -> str | None:
    """5A → 4A … 1A → no grade (DOMAIN.md §2: downgrade is one grade)."""
    return grade_of_rank(grade_rank(grade) - 1)


@dataclass(frozen=True)
class Band:
    grade: str
    lower: int  # hundredths, inclusive
    upper: int | None  # hundredths; None = no upper bound
    upper_inclusive: bool = False

    def contains(self, total: int) -> bool:
        if total < self.lower:
            return False
        if self.upper is None:
            return True
        return total <= self.upper if self.upper_inclusive else total < self.upper

    def describe(self) -> str:
        right = "∞)" if self.upper is None else f"{fmt(self.upper)}{']' if self.upper_inclusive else ')'}"
        return f"{self.grade} [{fmt(self.lower)}, {right}"


@dataclass(frozen=True)
class BandTable:
    scale: int  # total points of the templates it applies to (1000 or 100), in points
    bands: tuple[Band, ...]  # best first

    def grade_for(self, total: int) -> str | None:
        """The grade of a total in hundredths; None below the lowest band."""
        for band in self.bands:
            if band.contains(total):
                return band.grade
        top = self.bands[0]
        if top.upper is not None and total > top.upper:
            return top.grade  # totals are capped at the scale; never reached in practice
        return None


def parse_band_table(document: Mapping[str, Any]) -> BandTable:
    """Validate a band table document; refuses gaps, overlaps, unknown or repeated grades."""
    errors: list[dict[str, str]] = []
    scale = document.get("scale")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale <= 0:
        errors.append({"field": "scale", "message": "scale is the template's total points, e.g. 1000 or 100"})
        scale = 0
    raw = document.get("bands")
    if not isinstance(raw, list) or not raw:
        raise Invalid([*errors, {"field": "bands", "message": "a band table needs at least one band"}])
    bands: list[Band] = []
    for i, item in enumerate(raw):
        where = f"bands.{i}"
        if not isinstance(item, Mapping):
            errors.append({"field": where, "message": "a band is {grade, from, to, to_inclusive}"})
            continue
        grade = item.get("grade")
        if grade not in GRADES:
            errors.append({"field": f"{where}.grade", "message": f"grade must be one of {', '.join(GRADES)}"})
            continue
        try:
            lower = parse_points(item.get("from"), f"{where}.from")
            upper = None if item.get("to") is None else parse_points(item.get("to"), f"{where}.to")
        except Invalid as e:
            errors.extend(e.errors)
            continue
        bands.append(Band(str(grade), lower, upper, bool(item.get("to_inclusive", False))))
    if errors:
        raise Invalid(errors)
    bands.sort(key=lambda b: b.lower, reverse=True)
    seen: set[str] = set()
    for i, band in enumerate(bands):
        if band.grade in seen:
            errors.append({"field": "bands", "message": f"grade {band.grade} appears twice"})
        seen.add(band.grade)
        if band.upper is not None and band.upper <= band.lower:
            errors.append({"field": "bands", "message": f"{band.describe()} is empty"})
        if i == 0:
            continue
        above = bands[i - 1]
        if grade_rank(above.grade) <= grade_rank(band.grade):
            errors.append(
                {
                    "field": "bands",
                    "message": f"{above.grade} starts at {fmt(above.lower)}, above {band.grade}: "
                    "a better grade needs a higher score",
                }
            )
        if band.upper is None or band.upper_inclusive:
            errors.append(
                {
                    "field": "bands",
                    "message": f"{band.describe()} overlaps {above.describe()}: only the top band "
                    "may be open or closed on the right",
                }
            )
        elif band.upper < above.lower:
            errors.append(
                {
                    "field": "bands",
                    "message": f"gap between {band.describe()} and {above.describe()}: "
                    f"[{fmt(band.upper)}, {fmt(above.lower)}) has no grade",
                }
            )
        elif band.upper > above.lower:
            errors.append({"field": "bands", "message": f"{band.describe()} overlaps {above.describe()}"})
    top = bands[0]
    if scale and top.upper is not None and top.upper < scale * 100:
        errors.append(
            {
                "field": "bands",
                "message": f"the top band {top.describe()} ends below the scale {scale}: "
                "the best scores would have no grade",
            }
        )
    if errors:
        raise Invalid(errors)
    return BandTable(scale=scale, bands=tuple(bands))

"""What a call or rating round sees of an organization on a date (DOMAIN.md §1–2): status,
listings, grades in force and pending."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

GRADES = ("5A", "4A", "3A", "2A", "1A")


@dataclass(frozen=True, slots=True)
class GradeSpan:
    """A grade and the days it is in force: [valid_from, min(valid_until, ended_on)]."""

    grade: str
    valid_from: date
    valid_until: date
    ended_on: date | None = None

    @property
    def last_day(self) -> date:
        return min(self.valid_until, self.ended_on) if self.ended_on is not None else self.valid_until

    def in_force_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.last_day

    @property
    def void(self) -> bool:
        return self.last_day < self.valid_from


def grade_on(spans: list[GradeSpan], day: date) -> GradeSpan | None:
    """The grade in force on `day` (the latest starting one if spans overlap)."""
    live = [s for s in spans if s.in_force_on(day)]
    return max(live, key=lambda s: s.valid_from) if live else None


def pending_grade(spans: list[GradeSpan], day: date) -> GradeSpan | None:
    """A grade already decided whose validity starts after `day` (national-2026: 1 January next)."""
    future = [s for s in spans if s.valid_from > day and not s.void]
    return min(future, key=lambda s: s.valid_from) if future else None


def end_before(day: date) -> date:
    return day - timedelta(days=1)


def status_on(
    day: date,
    *,
    started_on: date,
    deregistered_on: date | None,
    revoked_on: date | None,
) -> str:
    """`not_registered` before registration (or filing), then active, deregistered or revoked."""
    if day < started_on:
        return "not_registered"
    if revoked_on is not None and revoked_on <= day:
        return "revoked"
    if deregistered_on is not None and deregistered_on <= day:
        return "deregistered"
    return "active"


def listed_on_date(listed_on: date, removed_on: date | None, day: date) -> bool:
    """Listed on `day` iff listed_on ≤ day < removed_on."""
    return listed_on <= day and (removed_on is None or day < removed_on)

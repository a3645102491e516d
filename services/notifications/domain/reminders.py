"""When reminders fire (DOMAIN.md §4, §5): Asia/Shanghai dates, State Council working days.

Every reminder goes out at a fixed local hour (09:00 by default) on a working day counted back
from the deadline's own day; one that falls in the past when it is scheduled is sent at once if
the deadline is still ahead, and not at all otherwise. A year the calendar does not know falls back
to calendar days rather than losing the reminder.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Protocol

from shared.workdays import SHANGHAI, CalendarYearUnknown, local_date

_ONE_DAY = timedelta(days=1)
_EPSILON = timedelta(microseconds=1)


class Calendar(Protocol):
    def is_working_day(self, day: date) -> bool: ...


def last_day(deadline: datetime) -> date:
    """The local day a deadline belongs to: 24:00 ends the day before, like a period end."""
    return local_date(deadline - _EPSILON)


def working_days_before(day: date, n: int, calendar: Calendar) -> date:
    """The working day with exactly `n` working days in (result, day]; calendar days if unknown."""
    try:
        current, counted = day, 0
        while counted < n:
            if calendar.is_working_day(current):
                counted += 1
            current -= _ONE_DAY
        while not calendar.is_working_day(current):
            current -= _ONE_DAY
        return current
    except CalendarYearUnknown:
        return day - timedelta(days=n)


def at_local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI)


def fire_at(planned: datetime, deadline: datetime, now: datetime) -> datetime | None:
    """The planned instant, or now when it has passed but the deadline has not; else None."""
    if planned > now:
        return planned
    return now if now < deadline else None


def before_deadline(
    deadline: datetime, *, working_days: int, hour: int, calendar: Calendar, now: datetime
) -> datetime | None:
    """`working_days` working days before the deadline's day, at `hour` local time."""
    day = working_days_before(last_day(deadline), working_days, calendar)
    return fire_at(at_local(day, hour), deadline, now)


def on_last_day(deadline: datetime, *, hour: int, now: datetime) -> datetime | None:
    """The morning of the last day of a period (public notices end at 24:00 of a working day)."""
    return fire_at(at_local(last_day(deadline), hour), deadline, now)


def due_on_deadline(due_on: date) -> datetime:
    """A due date means: by 24:00 of that day."""
    return datetime.combine(due_on + _ONE_DAY, time(), tzinfo=SHANGHAI)


def annual_report_deadline(year: int, *, kind: str, dual_managed: bool) -> date | None:
    """The first annual-report deadline of `year` for the report on `year - 1`.

    Foundations (with an audit report) and dual-managed organizations (first to the supervising
    unit) by 31 March; directly registered groups and agencies by 31 May; filed community groups
    have no annual report.
    """
    if kind == "community_filed":
        return None
    if kind == "foundation" or dual_managed:
        return date(year, 3, 31)
    return date(year, 5, 31)


def annual_report_window(
    today: date, *, kind: str, dual_managed: bool, working_days: int, calendar: Calendar
) -> tuple[int, date] | None:
    """(report year, deadline) when `today` lies between the reminder day and the deadline."""
    deadline = annual_report_deadline(today.year, kind=kind, dual_managed=dual_managed)
    if deadline is None:
        return None
    start = working_days_before(deadline, working_days, calendar)
    if start <= today <= deadline:
        return today.year - 1, deadline
    return None

"""When reminders fire: Asia/Shanghai dates and the State Council's working days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.notifications.domain import reminders
from shared.workdays import WorkingCalendar

CAL = WorkingCalendar.from_package()


def test_three_working_days_before_a_tuesday_deadline_is_the_thursday_before():
    closes = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)  # 24:00 of Tuesday 31 March in Beijing
    assert reminders.last_day(closes) == date(2026, 3, 31)
    at = reminders.before_deadline(closes, working_days=3, hour=9, calendar=CAL, now=datetime(2026, 3, 2, tzinfo=UTC))
    assert at == datetime(2026, 3, 26, 1, 0, tzinfo=UTC)  # Thursday 09:00 Beijing


def test_holidays_are_skipped_when_counting_back():
    # National Day 2026: 1–7 October off, Saturday 10 October an adjusted working day.
    assert reminders.working_days_before(date(2026, 10, 12), 3, CAL) == date(2026, 10, 8)  # 9, 10 (Sat), 12
    assert reminders.working_days_before(date(2026, 10, 12), 4, CAL) == date(2026, 9, 30)  # over the holiday


def test_a_reminder_whose_time_has_passed_goes_at_once_while_the_deadline_is_ahead():
    closes = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    now = datetime(2026, 3, 30, 2, 0, tzinfo=UTC)
    assert reminders.before_deadline(closes, working_days=3, hour=9, calendar=CAL, now=now) == now
    late = datetime(2026, 4, 1, tzinfo=UTC)
    assert reminders.before_deadline(closes, working_days=3, hour=9, calendar=CAL, now=late) is None


def test_notice_ending_reminds_on_the_morning_of_its_last_day():
    ends = datetime(2026, 4, 27, 16, 0, tzinfo=UTC)
    at = reminders.on_last_day(ends, hour=9, now=datetime(2026, 4, 21, tzinfo=UTC))
    assert at == datetime(2026, 4, 27, 1, 0, tzinfo=UTC)


def test_an_unknown_year_counts_calendar_days_instead_of_failing():
    assert reminders.working_days_before(date(2031, 5, 20), 3, CAL) == date(2031, 5, 17)


@pytest.mark.parametrize(
    ("kind", "dual", "deadline"),
    [
        ("social_service_agency", False, date(2026, 5, 31)),
        ("social_group", True, date(2026, 3, 31)),
        ("foundation", False, date(2026, 3, 31)),
        ("community_filed", False, None),
    ],
)
def test_annual_report_deadlines(kind, dual, deadline):
    assert reminders.annual_report_deadline(2026, kind=kind, dual_managed=dual) == deadline


def test_the_annual_report_window_opens_ten_working_days_before_the_deadline():
    args = {"kind": "social_service_agency", "dual_managed": False, "working_days": 10, "calendar": CAL}
    # 31 May 2026 is a Sunday; the ten working days before it end on Friday 29 May.
    start = reminders.working_days_before(date(2026, 5, 31), 10, CAL)
    assert start == date(2026, 5, 15)
    assert reminders.annual_report_window(date(2026, 5, 14), **args) is None
    assert reminders.annual_report_window(date(2026, 5, 15), **args) == (2025, date(2026, 5, 31))
    assert reminders.annual_report_window(date(2026, 6, 1), **args) is None

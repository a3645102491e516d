"""Working days and legal periods under the State Council's calendar (DOMAIN.md §5)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chinese_calendar  # type: ignore[import-untyped, unused-ignore]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.workdays import (
    ADJUSTED_WORKING_DAY,
    SHANGHAI,
    CalendarFileError,
    CalendarRow,
    CalendarYearUnknown,
    WorkingCalendar,
    YearOverrides,
    calendar_rows,
    dump_year_yaml,
    end_of_day_instant,
    load_year_dir,
    load_year_file,
    local_date,
    parse_year_yaml,
)

CAL = WorkingCalendar.from_package()

# TEST FIXTURE — a fictional year. 2031 is far enough ahead that no published notice exists for it;
# these dates test the file format and must never be copied into holidays/.
FICTIONAL_2031 = """\
# TEST FIXTURE: fictional calendar, not a State Council notice.
year: 2031
source: "TEST FIXTURE: fictional notice for unit tests"
holidays:
  - name: 元旦
    date: 2031-01-01
  - name: 春节
    from: 2031-01-22
    to: 2031-01-28
  - name: 国庆节
    from: 2031-10-01
    to: 2031-10-07
adjusted_working_days:
  - 2031-01-19
  - 2031-02-08
  - 2031-09-27
  - 2031-10-11
"""


@pytest.fixture
def fictional_2031(tmp_path: Path) -> Path:
    path = tmp_path / "2031.yaml"
    path.write_text(FICTIONAL_2031, encoding="utf-8")
    return path


def test_five_working_days_from_thursday_12_february_2026_end_on_26_february() -> None:
    # Fri 13th, the adjusted Saturday 14th, then 15th–23rd off, then Tue 24th, Wed 25th, Thu 26th.
    assert CAL.add_working_days(date(2026, 2, 12), 5) == date(2026, 2, 26)


def test_the_period_ends_at_midnight_shanghai_after_its_last_day() -> None:
    end = CAL.period_end_instant(date(2026, 2, 12), 5)
    assert end == datetime(2026, 2, 26, 16, 0, tzinfo=UTC)
    assert end.tzinfo is UTC
    assert end.astimezone(SHANGHAI) == datetime(2026, 2, 27, 0, 0, tzinfo=SHANGHAI)


def test_adjusted_saturdays_are_working_days_and_festival_weekdays_are_not() -> None:
    assert CAL.is_working_day(date(2026, 2, 14))  # Saturday, 调休上班
    assert CAL.is_working_day(date(2026, 10, 10))  # Saturday, 调休上班
    assert not CAL.is_working_day(date(2026, 2, 16))  # Monday, 春节
    assert not CAL.is_working_day(date(2026, 10, 5))  # Monday, 国庆节
    assert not CAL.is_working_day(date(2026, 10, 17))  # an ordinary Saturday
    assert CAL.is_working_day(date(2026, 10, 9))  # an ordinary Friday


def test_a_period_across_national_day_2026_counts_the_adjusted_saturday() -> None:
    # From Tue 29 Sept: Wed 30th (1), 1st–7th off, Thu 8th (2), Fri 9th (3), Sat 10th (4), Mon 12th (5)
    assert CAL.add_working_days(date(2026, 9, 29), 5) == date(2026, 10, 12)
    assert CAL.add_working_days(date(2026, 9, 29), 4) == date(2026, 10, 10)
    assert CAL.working_days_between(date(2026, 9, 30), date(2026, 10, 7)) == 0


def test_a_period_starting_on_a_holiday_counts_from_the_next_working_day() -> None:
    assert CAL.add_working_days(date(2026, 10, 3), 1) == date(2026, 10, 8)


def test_the_calendar_agrees_with_the_package_on_every_day_it_knows() -> None:
    day = date(2004, 1, 1)
    while day.year <= 2026:
        assert CAL.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)
    assert CAL.known_years == frozenset(range(2004, 2027))


def test_calendar_days_ending_on_a_holiday_move_to_the_next_working_day() -> None:
    # 15 days from 16 Sept 2026 is Thu 1 Oct (国庆节); the holiday runs to the 7th.
    assert CAL.calendar_days_end(date(2026, 9, 16), 15) == date(2026, 10, 8)
    # 15 days from 30 Jan 2026 is Sat 14 Feb, an adjusted working day: it stays.
    assert CAL.calendar_days_end(date(2026, 1, 30), 15) == date(2026, 2, 14)
    # an ordinary Sunday moves to the Monday
    assert CAL.calendar_days_end(date(2026, 3, 7), 15) == date(2026, 3, 23)
    assert CAL.calendar_days_end(date(2026, 3, 2), 15) == date(2026, 3, 17)


def test_a_period_reaching_into_2027_without_a_file_is_refused() -> None:
    with pytest.raises(CalendarYearUnknown) as e:
        CAL.add_working_days(date(2026, 12, 28), 10)
    assert e.value.year == 2027
    assert e.value.code == "calendar.year_unknown"
    with pytest.raises(CalendarYearUnknown):
        CAL.calendar_days_end(date(2026, 12, 20), 15)
    with pytest.raises(CalendarYearUnknown):
        CAL.is_working_day(date(2003, 12, 31))


def test_a_year_file_extends_the_calendar_beyond_the_package(fictional_2031: Path) -> None:
    cal = WorkingCalendar.from_package(y for y in [load_year_file(fictional_2031)])
    assert 2031 in cal.known_years
    # Tue 30 Sept 2031 + 3: 1st–7th off, Wed 8th, Thu 9th, Fri 10th
    assert cal.add_working_days(date(2031, 9, 30), 3) == date(2031, 10, 10)
    assert cal.add_working_days(date(2031, 9, 30), 4) == date(2031, 10, 11)  # adjusted Saturday
    assert cal.is_working_day(date(2031, 9, 27))
    assert not cal.is_working_day(date(2031, 1, 1))
    with pytest.raises(CalendarYearUnknown):
        cal.is_working_day(date(2030, 6, 3))  # the years between stay unknown


def test_a_year_file_replaces_the_package_for_its_year(tmp_path: Path) -> None:
    path = tmp_path / "2026.yaml"
    path.write_text("year: 2026\nsource: TEST FIXTURE\n", encoding="utf-8")
    cal = WorkingCalendar.from_package([load_year_file(path)])
    assert cal.is_working_day(date(2026, 10, 1))
    assert not cal.is_working_day(date(2026, 10, 10))


def test_load_year_dir_reads_year_files_only(tmp_path: Path, fictional_2031: Path) -> None:
    (tmp_path / "README.md").write_text("# not a year\n", encoding="utf-8")
    assert [y.year for y in load_year_dir(tmp_path)] == [2031]


def test_every_year_file_the_repository_ships_is_valid() -> None:
    holidays = Path(__file__).resolve().parents[2] / "holidays"
    WorkingCalendar.from_package(load_year_dir(holidays))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("year: 2031\nsource: s\nholidays: [{name: x, date: 2030-12-31}]", "not a date in 2031"),
        (
            (
                "year: 2031\nsource: s\nholidays: [{name: a, date: 2031-10-01},"
                " {name: b, from: 2031-09-30, to: 2031-10-02}]"
            ),
            "appears twice",
        ),
        ("year: 2031\nsource: s\nadjusted_working_days: [2031-10-11, 2031-10-11]", "twice"),
        (
            (
                "year: 2031\nsource: s\nholidays: [{name: x, date: 2031-10-11}]\n"
                "adjusted_working_days: [2031-10-11]"
            ),
            "both a holiday and an adjusted working day",
        ),
        ("year: 2031\nsource: s\nadjusted_working_days: [2031-10-10]", "is a weekday"),
        ("year: 2031\nholidays: []", "source"),
        ("source: s", "year must be"),
        ("year: 2031\nsource: s\nholiday: []", "unknown keys"),
        (
            "year: 2031\nsource: s\nholidays: [{name: x, from: 2031-10-07, to: 2031-10-01}]",
            "earlier",
        ),
        ("year: 2031\nsource: s\nholidays: [{date: 2031-10-01}]", "a holiday is"),
        ("year: 2031\nsource: s\nadjusted_working_days: [2031-02-30]", "not a valid YAML"),
        ("year: 2031\nsource: s\nadjusted_working_days: ['2031/10/11']", "not a date"),
        ("- 1\n- 2", "mapping"),
    ],
)
def test_an_inconsistent_year_file_is_refused_with_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(CalendarFileError, match=message):
        parse_year_yaml(text)


def test_a_file_named_for_another_year_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "2032.yaml"
    path.write_text(FICTIONAL_2031, encoding="utf-8")
    with pytest.raises(CalendarFileError, match=r"2032\.yaml"):
        load_year_file(path)


def test_dates_may_also_be_quoted_strings_as_in_a_json_body() -> None:
    text = '{"year": 2031, "source": "s", "holidays": [{"name": "元旦", "date": "2031-01-01"}]}'
    year = parse_year_yaml(text)
    assert dict(year.holidays) == {date(2031, 1, 1): "元旦"}


def test_dump_writes_ranges_and_reads_back_identically(fictional_2031: Path) -> None:
    year = load_year_file(fictional_2031)
    text = dump_year_yaml(year)
    assert "from: 2031-10-01\n    to: 2031-10-07" in text
    assert parse_year_yaml(text) == year
    package_2026 = CAL.year(2026)
    assert parse_year_yaml(dump_year_yaml(package_2026)) == package_2026


def test_calendar_rows_hold_every_day_with_its_name_and_source() -> None:
    rows = calendar_rows(CAL.year(2026))
    assert len(rows) == 365
    by_day = {r.day: r for r in rows}
    assert by_day[date(2026, 2, 14)] == CalendarRow(
        date(2026, 2, 14), True, ADJUSTED_WORKING_DAY, "chinesecalendar 1.11.0"
    )
    assert by_day[date(2026, 10, 1)][1:3] == (False, "国庆节")
    assert by_day[date(2026, 3, 2)][1:3] == (True, None)
    assert by_day[date(2026, 3, 7)][1:3] == (False, None)


def test_rows_rebuild_the_same_calendar(fictional_2031: Path) -> None:
    cal = CAL.with_year(load_year_file(fictional_2031))
    rows = [tuple(r) for r in cal.rows()]
    rebuilt = WorkingCalendar.from_rows(rows)  # type: ignore[arg-type]
    assert rebuilt.known_years == cal.known_years
    assert rebuilt.rows() == cal.rows()


def test_incomplete_or_mixed_rows_are_refused() -> None:
    rows = calendar_rows(CAL.year(2026))
    with pytest.raises(CalendarFileError, match="every day"):
        WorkingCalendar.from_rows(rows[:-1])
    with pytest.raises(CalendarFileError, match="one source"):
        WorkingCalendar.from_rows([*rows[:-1], rows[-1]._replace(source="other")])


def test_local_date_and_end_of_day_use_shanghai_time() -> None:
    assert local_date(datetime(2026, 2, 26, 15, 59, tzinfo=UTC)) == date(2026, 2, 26)
    assert local_date(datetime(2026, 2, 26, 16, 0, tzinfo=UTC)) == date(2026, 2, 27)
    assert end_of_day_instant(date(2026, 12, 31)) == datetime(2026, 12, 31, 16, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        local_date(datetime(2026, 2, 26, 12))


def test_an_instant_is_not_accepted_where_a_date_is_meant() -> None:
    with pytest.raises(TypeError):
        CAL.is_working_day(datetime(2026, 2, 14, tzinfo=UTC))


def test_periods_have_at_least_one_day() -> None:
    with pytest.raises(ValueError):
        CAL.add_working_days(date(2026, 3, 2), 0)
    with pytest.raises(ValueError):
        CAL.calendar_days_end(date(2026, 3, 2), 0)


def test_working_days_between_is_signed() -> None:
    assert CAL.working_days_between(date(2026, 2, 12), date(2026, 2, 26)) == 5
    assert CAL.working_days_between(date(2026, 2, 26), date(2026, 2, 12)) == -5
    assert CAL.working_days_between(date(2026, 2, 12), date(2026, 2, 12)) == 0


def test_year_overrides_reject_a_weekday_made_a_working_day() -> None:
    with pytest.raises(CalendarFileError, match="weekday"):
        YearOverrides(2031, "s", {}, frozenset({date(2031, 10, 10)}))


known_days = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 9, 30))
period_lengths = st.integers(min_value=1, max_value=40)


@given(known_days, period_lengths)
def test_the_nth_working_day_is_a_working_day_after_the_start(start: date, n: int) -> None:
    end = CAL.add_working_days(start, n)
    assert end > start
    assert CAL.is_working_day(end)


@given(known_days, period_lengths)
def test_exactly_n_working_days_lie_in_the_period(start: date, n: int) -> None:
    end = CAL.add_working_days(start, n)
    days = [start + timedelta(days=i) for i in range(1, (end - start).days + 1)]
    assert sum(map(CAL.is_working_day, days)) == n
    assert CAL.working_days_between(start, end) == n


@given(known_days, st.integers(min_value=1, max_value=60))
def test_calendar_day_periods_end_on_the_first_working_day_not_before_start_plus_n(
    start: date, n: int
) -> None:
    end = CAL.calendar_days_end(start, n)
    assert CAL.is_working_day(end)
    nominal = start + timedelta(days=n)
    assert end >= nominal
    assert CAL.working_days_between(nominal, end) == (0 if end == nominal else 1)

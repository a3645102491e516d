"""Working days under the State Council's holiday calendar (DOMAIN.md §5), as pure functions.

Contract:
- A `WorkingCalendar` knows whole years only. A year is known from chinesecalendar (2004–2026 in
  1.11.0) or from a year file `holidays/<year>.yaml`; a year file replaces the package's knowledge
  of its year. Asking about a day of any other year raises `CalendarYearUnknown` (problem
  `calendar.year_unknown`): the weekday is never used as a guess.
- Inside a known year a day is a working day iff it is an adjusted working day (调休上班), or a
  Monday to Friday that is not a holiday.
- Periods (DOMAIN.md §5; Civil Code arts. 201 and 203): the start day is never counted. N working
  days end on the N-th working day after the start; N calendar days end on start + N, moved to the
  next working day when that day is not one. A period ends at 24:00 Asia/Shanghai of its last day:
  the instant returned is the first instant that is already too late.
- Dates are Asia/Shanghai calendar dates (`datetime.date`, never a `datetime`); instants are aware
  datetimes and are returned in UTC.
- Year files (and the same document as JSON) and `holiday_calendar` rows convert to and from
  `YearOverrides`; anything inconsistent is a `CalendarFileError` naming the year and the entry.
  Files are read only when asked (`load_year_file`, `load_year_dir`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped, unused-ignore]
import yaml

SHANGHAI = ZoneInfo("Asia/Shanghai")
ADJUSTED_WORKING_DAY = "调休上班"
_ONE_DAY = timedelta(days=1)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FILE_KEYS = frozenset({"year", "source", "holidays", "adjusted_working_days"})
_RANGE_KEYS = {"name", "from", "to"}


class CalendarYearUnknown(LookupError):
    """A computation needed a day of a year that no source knows."""

    code = "calendar.year_unknown"

    def __init__(self, year: int) -> None:
        super().__init__(
            f"no working-day calendar for {year}: add holidays/{year}.yaml "
            "once the State Council has published its notice"
        )
        self.year = year


class CalendarFileError(ValueError):
    """A year file, year document or set of calendar rows that cannot be trusted."""


class CalendarRow(NamedTuple):
    """One day of a `holiday_calendar` table: every day of every known year has one."""

    day: date
    is_working_day: bool
    name: str | None
    source: str


@dataclass(frozen=True)
class YearOverrides:
    """One whole year: the days that differ from "Monday to Friday work", and their source."""

    year: int
    source: str
    holidays: Mapping[date, str]
    adjusted_working_days: frozenset[date]

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", MappingProxyType(dict(self.holidays)))
        object.__setattr__(self, "adjusted_working_days", frozenset(self.adjusted_working_days))
        _check_year(self)

    @property
    def overrides(self) -> dict[date, bool]:
        """`{day: is_working_day}` for every day this year's source names."""
        days = dict.fromkeys(self.holidays, False)
        days.update(dict.fromkeys(self.adjusted_working_days, True))
        return days


def _check_year(y: YearOverrides) -> None:
    if isinstance(y.year, bool) or not isinstance(y.year, int) or not 1949 < y.year < 10000:
        raise CalendarFileError(f"year must be a four-digit integer, got {y.year!r}")
    if not isinstance(y.source, str) or not y.source.strip():
        raise CalendarFileError(f"{y.year}: source (the notice's number and title) is required")
    for day in (*y.holidays, *y.adjusted_working_days):
        if isinstance(day, datetime) or not isinstance(day, date) or day.year != y.year:
            raise CalendarFileError(f"{y.year}: {day!r} is not a date in {y.year}")
    for day, name in y.holidays.items():
        if not isinstance(name, str) or not name.strip():
            raise CalendarFileError(f"{y.year}: holiday {day} needs a name")
        if day in y.adjusted_working_days:
            raise CalendarFileError(
                f"{y.year}: {day} is both a holiday and an adjusted working day"
            )
    for day in sorted(y.adjusted_working_days):
        if day.weekday() < 5:
            raise CalendarFileError(
                f"{y.year}: adjusted working day {day} is a weekday; only a Saturday or "
                "Sunday can be made a working day"
            )


class WorkingCalendar:
    """Working days over the known years; immutable, so one instance can be shared freely."""

    def __init__(self, years: Iterable[YearOverrides]) -> None:
        self._years: dict[int, YearOverrides] = {}
        for y in years:
            if y.year in self._years:
                raise ValueError(f"year {y.year} given twice")
            self._years[y.year] = y
        self._days = {d: w for y in self._years.values() for d, w in y.overrides.items()}

    @classmethod
    def from_package(cls, extra: Iterable[YearOverrides] = ()) -> WorkingCalendar:
        """The package's years, each replaced or extended by the year files in `extra`."""
        files = list(extra)
        file_years = [y.year for y in files]
        if len(set(file_years)) != len(file_years):
            raise ValueError(f"a year is given twice among {sorted(file_years)}")
        years = {y.year: y for y in package_years()} | {y.year: y for y in files}
        return cls(years.values())

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[date, bool, str | None, str]]) -> WorkingCalendar:
        """Rebuild a calendar from `holiday_calendar` rows (see `calendar_rows`)."""
        by_year: dict[int, list[CalendarRow]] = {}
        for row in rows:
            r = CalendarRow(*row)
            by_year.setdefault(r.day.year, []).append(r)
        return cls(_year_from_rows(year, rs) for year, rs in sorted(by_year.items()))

    @property
    def known_years(self) -> frozenset[int]:
        return frozenset(self._years)

    def year(self, year: int) -> YearOverrides:
        if year not in self._years:
            raise CalendarYearUnknown(year)
        return self._years[year]

    def with_year(self, year: YearOverrides) -> WorkingCalendar:
        """A new calendar in which `year` replaces (or adds) its year."""
        return WorkingCalendar({**self._years, year.year: year}.values())

    def rows(self) -> list[CalendarRow]:
        """Every day of every known year, in order: the seed of a `holiday_calendar` table."""
        return [row for y in sorted(self._years) for row in calendar_rows(self._years[y])]

    def is_working_day(self, day: date) -> bool:
        if isinstance(day, datetime):
            raise TypeError("pass a date; use local_date(instant) for an instant")
        if day.year not in self._years:
            raise CalendarYearUnknown(day.year)
        return self._days.get(day, day.weekday() < 5)

    def add_working_days(self, start: date, n: int) -> date:
        """The N-th working day after `start` (which is not counted); N ≥ 1."""
        if n < 1:
            raise ValueError(f"a period has at least one working day, got {n}")
        day = start
        while n:
            day += _ONE_DAY
            n -= self.is_working_day(day)
        return day

    def period_end_instant(self, start: date, n_working_days: int) -> datetime:
        """24:00 Asia/Shanghai of the last day of an N-working-day period, in UTC."""
        return end_of_day_instant(self.add_working_days(start, n_working_days))

    def calendar_days_end(self, start: date, n: int) -> date:
        """Last day of an N-calendar-day period, moved to the next working day if need be."""
        if n < 1:
            raise ValueError(f"a period has at least one day, got {n}")
        day = start + timedelta(days=n)
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in (a, b]; negative, (b, a] counted, when b is before a."""
        if b < a:
            return -self.working_days_between(b, a)
        return sum(self.is_working_day(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))


def local_date(instant: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware instant."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(SHANGHAI).date()


def end_of_day_instant(day: date) -> datetime:
    """24:00 Asia/Shanghai at the end of `day` (00:00 of the next day), as an aware UTC instant."""
    return datetime.combine(day + _ONE_DAY, time(), tzinfo=SHANGHAI).astimezone(UTC)


@functools.cache
def package_years() -> tuple[YearOverrides, ...]:
    """Every year chinesecalendar knows, as `YearOverrides` with Chinese holiday names."""
    source = f"chinesecalendar {chinese_calendar.__version__}"
    holidays: dict[date, str] = dict(chinese_calendar.holidays)
    workdays: dict[date, str] = dict(chinese_calendar.workdays)
    years = range(min(holidays).year, max(holidays).year + 1)
    return tuple(
        YearOverrides(
            year=y,
            source=source,
            holidays={
                d: chinese_calendar.Holiday(n).chinese for d, n in holidays.items() if d.year == y
            },
            adjusted_working_days=frozenset(d for d in workdays if d.year == y),
        )
        for y in years
    )


def calendar_rows(year: YearOverrides) -> list[CalendarRow]:
    """One row per day of the year: its working status, holiday name if any, and source."""
    rows = []
    for day in _days_of(year.year):
        if day in year.adjusted_working_days:
            rows.append(CalendarRow(day, True, ADJUSTED_WORKING_DAY, year.source))
        else:
            name = year.holidays.get(day)
            rows.append(CalendarRow(day, name is None and day.weekday() < 5, name, year.source))
    return rows


def _year_from_rows(year: int, rows: list[CalendarRow]) -> YearOverrides:
    days = [r.day for r in rows]
    if len(days) != len(set(days)) or set(days) != set(_days_of(year)):
        raise CalendarFileError(f"{year}: rows must hold every day of the year exactly once")
    sources = {r.source for r in rows}
    if len(sources) != 1:
        raise CalendarFileError(f"{year}: rows of one year share one source, got {sorted(sources)}")
    holidays: dict[date, str] = {}
    for r in rows:
        if not r.is_working_day and (r.name is not None or r.day.weekday() < 5):
            if not r.name:
                raise CalendarFileError(f"{year}: non-working weekday {r.day} needs a name")
            holidays[r.day] = r.name
    adjusted = frozenset(r.day for r in rows if r.is_working_day and r.day.weekday() >= 5)
    return YearOverrides(year, sources.pop(), holidays, adjusted)


def _days_of(year: int) -> Iterator[date]:
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += _ONE_DAY


def parse_year(document: Any) -> YearOverrides:
    """Validate a decoded year document (a year file's YAML, or the same shape as JSON)."""
    if not isinstance(document, Mapping):
        raise CalendarFileError("a year document is a mapping with year, source, holidays, …")
    unknown = set(document) - _FILE_KEYS
    if unknown:
        allowed = sorted(_FILE_KEYS)
        raise CalendarFileError(f"unknown keys {sorted(map(str, unknown))}; allowed: {allowed}")
    year: Any = document.get("year")
    source: Any = document.get("source")
    where = f"{year}"
    holidays: dict[date, str] = {}
    for entry in _list(document.get("holidays", []), f"{where}: holidays"):
        name, days = _holiday_entry(entry, where)
        for day in days:
            if day in holidays:
                raise CalendarFileError(f"{where}: {day} appears twice among the holidays")
            holidays[day] = name
    key = f"{where}: adjusted_working_days"
    adjusted = [_date(d, key) for d in _list(document.get("adjusted_working_days", []), key)]
    for day in adjusted:
        if adjusted.count(day) > 1:
            raise CalendarFileError(f"{where}: {day} appears twice among the adjusted working days")
    return YearOverrides(year, source, holidays, frozenset(adjusted))


def _holiday_entry(entry: Any, where: str) -> tuple[str, list[date]]:
    if not isinstance(entry, Mapping) or set(entry) not in ({"name", "date"}, _RANGE_KEYS):
        raise CalendarFileError(
            f"{where}: a holiday is {{name, date}} or {{name, from, to}}, got {entry!r}"
        )
    name = entry["name"]
    if not isinstance(name, str) or not name.strip():
        raise CalendarFileError(f"{where}: holiday {entry!r} needs a name")
    if "date" in entry:
        return name, [_date(entry["date"], f"{where}: {name}")]
    first, last = _date(entry["from"], f"{where}: {name}"), _date(entry["to"], f"{where}: {name}")
    if last < first:
        raise CalendarFileError(f"{where}: {name} runs from {first} to an earlier {last}")
    return name, [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _date(value: Any, where: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise CalendarFileError(f"{where}: {value!r} is not a date (YYYY-MM-DD)")


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise CalendarFileError(f"{where} must be a list")
    return value


def parse_year_yaml(text: str) -> YearOverrides:
    try:
        document = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as e:  # PyYAML raises ValueError for 2027-02-30
        raise CalendarFileError(f"not a valid YAML year file: {e}") from e
    return parse_year(document)


def load_year_file(path: str | Path) -> YearOverrides:
    """Read and validate `holidays/<year>.yaml`; a numeric file name must match its year."""
    path = Path(path)
    try:
        year = parse_year_yaml(path.read_text(encoding="utf-8"))
    except CalendarFileError as e:
        raise CalendarFileError(f"{path}: {e}") from e
    if path.stem.isdigit() and int(path.stem) != year.year:
        raise CalendarFileError(f"{path}: the file is named {path.name} but declares {year.year}")
    return year


def load_year_dir(directory: str | Path) -> list[YearOverrides]:
    """Every `<year>.yaml` in a directory (other files, such as the README, are ignored)."""
    files = sorted(p for p in Path(directory).glob("*.yaml") if p.stem.isdigit())
    return [load_year_file(p) for p in files]


def dump_year_yaml(year: YearOverrides) -> str:
    """The year file for `year`; consecutive days of one holiday become a from/to range."""
    entries: list[dict[str, Any]] = []
    for day in sorted(year.holidays):
        name = year.holidays[day]
        last = entries[-1] if entries else None
        if last and last["name"] == name and last.get("to", last.get("date")) == day - _ONE_DAY:
            last["from"] = last.pop("date", last.get("from"))
            last["to"] = day
        else:
            entries.append({"name": name, "date": day})
    document = {
        "year": year.year,
        "source": year.source,
        "holidays": entries,
        "adjusted_working_days": sorted(year.adjusted_working_days),
    }
    return yaml.dump(document, Dumper=_IndentedDumper, allow_unicode=True, sort_keys=False)


class _IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key, as people write the year files."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

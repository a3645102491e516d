"""The `holiday_calendar` table of a service and the `WorkingCalendar` built from it.

Contract:
- `CalendarStore.load(uow)` reads the table; a writing unit of work first seeds every year the
  table does not know yet from chinesecalendar and the repo's `holidays/<year>.yaml` files (a year
  file replaces the package's knowledge of its year), so a year file shipped in a new release
  reaches existing deployments; years already in the table (possibly loaded by an officer) are kept.
  Domain code receives `store.calendar` (an immutable `WorkingCalendar`).
- `put_year(uow, year)` replaces one year (from `PUT /<svc>/v1/admin/calendar/{year}` or
  `gongyi calendar load FILE`) in the caller's transaction and refreshes the in-memory calendar
  after commit. Other processes pick it up on their next `refresh` (every few minutes).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from shared.uow import UnitOfWork
from shared.workdays import CalendarRow, WorkingCalendar, YearOverrides, calendar_rows, load_year_dir

HOLIDAYS_DIR = Path(__file__).resolve().parents[1] / "holidays"
_CHUNK = 1000


class CalendarStore:
    def __init__(self, holidays_dir: Path = HOLIDAYS_DIR) -> None:
        self.holidays_dir = holidays_dir
        self.calendar: WorkingCalendar = WorkingCalendar.from_package(self._files())

    def _files(self) -> list[YearOverrides]:
        return load_year_dir(self.holidays_dir) if self.holidays_dir.is_dir() else []

    async def load(self, uow: UnitOfWork) -> WorkingCalendar:
        table = uow.infra.holiday_calendar
        if not uow.readonly:
            years = (await uow.conn.execute(select(table.c.day).distinct())).scalars().all()
            known = {day.year for day in years}
            shipped = WorkingCalendar.from_package(self._files())
            missing = sorted(shipped.known_years - known)
            if missing:
                await self._write(uow, [row for year in missing for row in calendar_rows(shipped.year(year))])
        rows = (await uow.conn.execute(select(table.c.day, table.c.is_working_day, table.c.name, table.c.source))).all()
        if rows:
            self.calendar = WorkingCalendar.from_rows([tuple(r) for r in rows])
        return self.calendar

    async def put_year(self, uow: UnitOfWork, year: YearOverrides) -> None:
        table = uow.infra.holiday_calendar
        await uow.conn.execute(
            delete(table).where(table.c.day >= date(year.year, 1, 1), table.c.day <= date(year.year, 12, 31))
        )
        await self._write(uow, calendar_rows(year))
        updated = self.calendar.with_year(year)
        uow.after_commit(lambda: setattr(self, "calendar", updated))
        uow.audit("calendar.year_loaded", f"calendar/{year.year}", {"source": year.source})

    @staticmethod
    async def _write(uow: UnitOfWork, rows: list[CalendarRow]) -> None:
        table = uow.infra.holiday_calendar
        dialect = postgresql if uow.dialect == "postgresql" else sqlite
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            # Two workers starting together may both seed a year: the second one's rows are the same.
            await uow.conn.execute(
                dialect.insert(table).on_conflict_do_nothing(index_elements=["day"]),
                [{"day": r.day, "is_working_day": r.is_working_day, "name": r.name, "source": r.source} for r in chunk],
            )

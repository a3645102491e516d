"""Loading the street / township table (`gongyi regions load FILE`)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy.dialects import postgresql, sqlite

from services.registry.domain import codes
from services.registry.models import Street
from shared.uow import UnitOfWork


@dataclass
class StreetLoad:
    rows: list[dict[str, str]]
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (line, code, why)
    unknown_counties: set[str] = field(default_factory=set)


def parse_streets(content: bytes, *, source: str) -> StreetLoad:
    """Rows `code,name,areaCode,…` (the statistics bureau's list as compiled); a street whose
    county python-stdnum does not know is still loaded (renumberings happen) and reported."""
    text = content.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    load = StreetLoad(rows=[])
    for line, row in enumerate(reader, start=2):
        code = (row.get("code") or "").strip()
        name = (row.get("name") or "").strip()
        if not codes.is_street_code(code) or code.endswith("000") or not name:
            load.refused.append((line, code, "not a 9-digit street code with a name"))
            continue
        if not codes.is_known_division(code[:6]):
            load.unknown_counties.add(code[:6])
        load.rows.append({"code": code, "name": name[:100], "county_code": code[:6], "source": source[:200]})
    return load


async def store_streets(uow: UnitOfWork, load: StreetLoad) -> int:
    table = Street.__table__  # type: ignore[attr-defined]
    dialect = postgresql if uow.dialect == "postgresql" else sqlite
    for start in range(0, len(load.rows), 2000):
        stmt = dialect.insert(table).values(load.rows[start : start + 2000])
        stmt = stmt.on_conflict_do_update(
            index_elements=["code"],
            set_={"name": stmt.excluded.name, "county_code": stmt.excluded.county_code, "source": stmt.excluded.source},
        )
        await uow.conn.execute(stmt)
    uow.audit("regions.loaded", "regions/streets", {"rows": len(load.rows), "refused": len(load.refused)})
    return len(load.rows)

"""Small helpers every notifications handler uses: ids, upserts, region prefixes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import uuid6
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from shared.auth import InvalidRegionCode, authority_prefix
from shared.uow import UnitOfWork

# Synthetic causes (reminders, digests) get name-based ids in this namespace: deterministic, so a
# job that runs twice creates nothing twice.
CAUSE_NAMESPACE = uuid.UUID("6f1c3a52-8f0e-4c55-9d1e-0b7a4c1e9a10")


def new_id() -> str:
    return str(uuid6.uuid7())


def synthetic_cause(*parts: object) -> str:
    return str(uuid.uuid5(CAUSE_NAMESPACE, ":".join(str(p) for p in parts)))


def table(model: Any) -> Table:
    t: Table = model.__table__
    return t


def insert_ignore(
    uow: UnitOfWork, model: Any, rows: Sequence[Mapping[str, Any]], *, returning: str | None = None
) -> Any:
    """INSERT … ON CONFLICT DO NOTHING as one statement; with `returning`, the inserted keys."""
    dialect = postgresql if uow.dialect == "postgresql" else sqlite
    stmt = dialect.insert(table(model)).values(list(rows)).on_conflict_do_nothing()
    if returning is not None:
        stmt = stmt.returning(table(model).c[returning])
    return stmt


async def upsert(uow: UnitOfWork, model: Any, values: Mapping[str, Any], *, keys: Sequence[str]) -> None:
    """Insert or update the row with these key values (the other given columns are overwritten)."""
    dialect = postgresql if uow.dialect == "postgresql" else sqlite
    stmt = dialect.insert(table(model)).values(dict(values))
    updates = {k: stmt.excluded[k] for k in values if k not in keys}
    stmt = (
        stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)
        if updates
        else stmt.on_conflict_do_nothing()
    )
    await uow.conn.execute(stmt)


def region_prefixes(code: str | None) -> list[str]:
    """Every authority prefix a region containing `code` can have: '' (national), 2, 4, 6, 9 digits."""
    if not code:
        return []
    return [code[:n] for n in (0, 2, 4, 6, 9) if n <= len(code)]


def prefix_of(region: str | None) -> str | None:
    if not region:
        return None
    try:
        return authority_prefix(region)
    except InvalidRegionCode:
        return None


def text_or(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default

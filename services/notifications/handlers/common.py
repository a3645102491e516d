"""Small helpers every notifications handler uses: ids, upserts, region prefixes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import uuid6
from sqlalchemy import Table, TextClause, bindparam, text

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


# Dialect-specific ON CONFLICT constructs carry no SQLAlchemy cache key (they would be compiled
# again on every execution); these hot-path statements are text with typed bind parameters,
# built once per shape, so they are compiled once and typed values (instants, JSON) still apply.
_STATEMENTS: dict[tuple[Any, ...], TextClause] = {}
_MAX_ROWS = 50


def _insert_sql(t: Table, columns: Sequence[str], rows: int, tail: str, returning: str | None) -> TextClause:
    key = (t.fullname, tuple(columns), rows, tail, returning)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        values = ", ".join("(" + ", ".join(f":{c}__{i}" for c in columns) + ")" for i in range(rows))
        sql = f"INSERT INTO {t.fullname} ({', '.join(columns)}) VALUES {values} {tail}"
        if returning is not None:
            sql += f" RETURNING {returning}"
        stmt = text(sql).bindparams(*(bindparam(f"{c}__{i}", type_=t.c[c].type) for i in range(rows) for c in columns))
        _STATEMENTS[key] = stmt
    return stmt


def _params(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {f"{c}__{i}": row[c] for i, row in enumerate(rows) for c in columns}


async def insert_ignore(
    uow: UnitOfWork, model: Any, rows: Sequence[Mapping[str, Any]], *, returning: str | None = None
) -> set[Any]:
    """INSERT … ON CONFLICT DO NOTHING of many rows; with `returning`, that column of the rows inserted."""
    t, inserted = table(model), set[Any]()
    if not rows:
        return inserted
    rows = [with_defaults(t, r) for r in rows]
    columns = list(rows[0])
    for start in range(0, len(rows), _MAX_ROWS):
        chunk = rows[start : start + _MAX_ROWS]
        stmt = _insert_sql(t, columns, len(chunk), "ON CONFLICT DO NOTHING", returning)
        result = await uow.conn.execute(stmt, _params(columns, chunk))
        if returning is not None:
            inserted.update(row[0] for row in result)
    return inserted


async def upsert(uow: UnitOfWork, model: Any, values: Mapping[str, Any], *, keys: Sequence[str]) -> None:
    """Insert or update the row with these key values (the other given columns are overwritten)."""
    t = table(model)
    updates = ", ".join(f"{c} = excluded.{c}" for c in sorted(values) if c not in keys)
    conflict = f"ON CONFLICT ({', '.join(keys)}) " + (f"DO UPDATE SET {updates}" if updates else "DO NOTHING")
    row = with_defaults(t, values)
    columns = sorted(row)
    await uow.conn.execute(_insert_sql(t, columns, 1, conflict, None), _params(columns, [row]))


def with_defaults(t: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """The row to insert: the given values plus the scalar defaults of the columns not given."""
    row = dict(values)
    for column in t.columns:
        if column.name not in row and column.default is not None and column.default.is_scalar:
            row[column.name] = getattr(column.default, "arg", None)
    return row


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

"""Rule sets, band tables and indicator templates: presets loaded from files, copies made by officers.

Each document is stored once per `{kind, id, version}` and never changed. A new version of an
officer's document is a new row; shipped presets are read-only (copy them under a new id). Without
an explicit version, the version in force is the newest whose `effective_from` is on or before
the day asked.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from services.evaluation.domain.bands import parse_band_table
from services.evaluation.domain.points import Invalid
from services.evaluation.domain.rulesets import parse_rule_set
from services.evaluation.domain.templates import parse_template
from services.evaluation.handlers.context import Context, execute, require_officer
from services.evaluation.models import CatalogDocument
from shared.auth import Principal
from shared.problems import Conflict, NotFound
from shared.uow import UnitOfWork

log = logging.getLogger("gongyi.evaluation.catalog")

PRESETS = Path(__file__).resolve().parents[1] / "presets"
PARSERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "rule_set": parse_rule_set,
    "band_table": parse_band_table,
    "template": parse_template,
}
PRESET_DIRS = {"rule_set": "rule-sets", "band_table": "band-tables", "template": "templates"}
LABELS = {"rule_set": "rule set", "band_table": "band table", "template": "indicator template"}


def plain(value: Any) -> Any:
    """YAML dates → ISO strings, so a document stores as JSON and compares equal after a round trip."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _effective(document: Mapping[str, Any]) -> date | None:
    value = document.get("effective_from")
    return date.fromisoformat(value) if isinstance(value, str) else None


def preset_documents(root: Path = PRESETS) -> list[tuple[str, dict[str, Any]]]:
    out = []
    if not all((root / folder).is_dir() for folder in PRESET_DIRS.values()):
        # an installation without its data files would start with no rule sets at all: refuse to
        raise FileNotFoundError(f"the evaluation presets are missing under {root}")
    for kind, folder in PRESET_DIRS.items():
        for path in sorted((root / folder).glob("*.yaml")):
            document = plain(yaml.safe_load(path.read_text(encoding="utf-8")))
            try:
                PARSERS[kind](document)
            except Invalid as e:
                raise ValueError(f"preset {path.name} is invalid: {e}") from e
            out.append((kind, document))
    return out


async def load_presets(uow: UnitOfWork, root: Path = PRESETS) -> int:
    """Insert every preset `{kind, id, version}` not yet in the table; never overwrites one."""
    table = CatalogDocument.__table__  # type: ignore[attr-defined]
    rows = [
        {
            "kind": kind,
            "id": doc["id"],
            "version": doc["version"],
            "name": doc["name"],
            "effective_from": _effective(doc),
            "preset": True,
            "region_code": doc.get("region_code") or doc.get("jurisdiction"),
            "copy_of": None,
            "document": doc,
            "created_at": uow.now,
            "created_by": "preset",
        }
        for kind, doc in preset_documents(root)
    ]
    dialect = postgresql if uow.dialect == "postgresql" else sqlite
    stmt = dialect.insert(table).values(rows).on_conflict_do_nothing(index_elements=["kind", "id", "version"])
    result = await uow.conn.execute(stmt)
    return int(result.rowcount or 0)


async def get_document(
    ctx: Context, uow: UnitOfWork, kind: str, doc_id: str, version: int | None = None, *, on: date | None = None
) -> tuple[CatalogDocument, Any]:
    """The row and its parsed form: the given version, or the one in force on `on`.

    A `{kind, id, version}` never changes once written, so both are cached per runtime: the hot
    paths (every score PUT) do not reload templates.
    """
    if version is not None:
        cached = ctx.documents.get((kind, doc_id, version))
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        row = await uow.session.get(CatalogDocument, (kind, doc_id, version))
    else:
        stmt = select(CatalogDocument).where(CatalogDocument.kind == kind, CatalogDocument.id == doc_id)  # type: ignore[arg-type]
        rows = (await execute(uow, stmt.order_by(CatalogDocument.version.desc()))).scalars().all()  # type: ignore[attr-defined]
        row = next((r for r in rows if on is None or r.effective_from is None or r.effective_from <= on), None)
        if row is None and rows:
            raise NotFound(f"{LABELS[kind]} {doc_id} has no version in force on {on}")
    if row is None:
        raise NotFound(f"no {LABELS[kind]} {doc_id}" + (f" version {version}" if version is not None else ""))
    key = (kind, row.id, row.version)
    cached = ctx.documents.get(key)
    if cached is None:
        uow.session.expunge(row)
        cached = ctx.documents[key] = (row, PARSERS[kind](row.document))
    return cached  # type: ignore[no-any-return]


def _merge(base: Any, changes: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(changes, Mapping):
        out = dict(base)
        for k, v in changes.items():
            out[k] = _merge(base.get(k), v) if k in base else v
        return out
    return copy.deepcopy(changes)


async def create_document(
    ctx: Context, uow: UnitOfWork, principal: Principal, kind: str, body: Mapping[str, Any]
) -> CatalogDocument:
    """A new document, a copy of another one with changes, or a new version of an officer's own."""
    require_officer(principal)
    body = plain(body)
    source = body.get("copy_of")
    if source is not None:
        if not isinstance(source, Mapping) or not isinstance(source.get("id"), str):
            raise Invalid([{"field": "copy_of", "message": "copy_of is {id, version?}"}])
        base_row, _ = await get_document(ctx, uow, kind, source["id"], source.get("version"))
        document = _merge(copy.deepcopy(base_row.document), body.get("changes") or {})
        for key in ("id", "name", "effective_from"):
            if key in body:
                document[key] = body[key]
        copy_of = f"{base_row.id}@{base_row.version}"
    else:
        document = dict(body.get("document") or body)
        document.pop("copy_of", None)
        copy_of = None
    doc_id = document.get("id")
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise Invalid([{"field": "id", "message": "the new document needs an id"}])
    existing = (
        await execute(
            uow,
            select(CatalogDocument.preset, func.max(CatalogDocument.version))  # type: ignore[call-overload]
            .where(CatalogDocument.kind == kind, CatalogDocument.id == doc_id)
            .group_by(CatalogDocument.preset),
        )
    ).all()
    if any(preset for preset, _ in existing):
        raise Conflict(
            f"{LABELS[kind]} {doc_id} is a shipped preset and read-only: copy it under a new id "
            '(POST with {"copy_of": {"id": …}, "id": "<new id>", "changes": {…}})',
            code="catalog.preset_read_only",
        )
    document["version"] = max((v for _, v in existing), default=0) + 1
    if not isinstance(document.get("name"), str):
        raise Invalid([{"field": "name", "message": "a name is required"}])
    parsed = PARSERS[kind](document)
    row = CatalogDocument(
        kind=kind,
        id=doc_id,
        version=document["version"],
        name=document["name"],
        effective_from=_effective(document),
        preset=False,
        region_code=principal.region if principal.role == "officer" else None,
        copy_of=copy_of,
        document=document,
        created_at=uow.now,
        created_by=principal.sub,
    )
    uow.session.add(row)
    cache_key = (kind, doc_id, row.version)
    uow.after_commit(lambda: ctx.documents.__setitem__(cache_key, (row, parsed)))
    uow.audit(f"{kind}.created", f"{kind}s/{doc_id}@{row.version}", {"copy_of": copy_of})
    return row

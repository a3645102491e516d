"""Bulk import of organizations from the CSV or XLSX files bureaus hold (Chinese column headers).

A job in chunks: the upload is parsed at once into staging rows (a file without the required
columns is refused then); each chunk then runs as a scheduled job in one transaction with its own
completion, so progress is visible and a crash repeats at most the chunk. Mode `per_row` (default):
every valid row is imported atomically (organization, legal representative, outbox and audit rows
together) and every invalid row is skipped and reported; `all_or_nothing`: the whole file in one
transaction, nothing imported if any row is refused. Re-importing a file is idempotent: a row whose
USCC (or filing number) is already on the register under the same name counts as `existing`."""

from __future__ import annotations

import csv
import io as _io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

import uuid6
from pydantic import ValidationError
from sqlalchemy import bindparam, delete, insert, text
from sqlmodel import select

from services.registry import events
from services.registry.domain import codes
from services.registry.domain import organizations as rules
from services.registry.domain.codes import Finding
from services.registry.domain.organizations import Actor
from services.registry.handlers.common import streets_loaded
from services.registry.handlers.organizations import (
    Prepared,
    next_filing_number,
    org_values,
    prepare,
    representative_of,
    schedule_annual_deadline,
)
from services.registry.models import ImportError_, ImportJob, ImportRow, LegalRepresentative, Organization, Street, io
from shared.pii import FieldCipher, mask_id_number, mask_phone
from shared.problems import Unprocessable
from shared.uow import UnitOfWork
from shared.workdays import local_date

IMPORT_JOB = "registry.import"

COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("名称", "社会组织名称", "组织名称", "单位名称"),
    "kind": ("类型", "组织类型", "社会组织类型", "类别"),
    "uscc": ("统一社会信用代码", "信用代码"),
    "region_code": ("所在区划代码", "行政区划代码", "区划代码", "所属区划代码"),
    "registered_on": ("成立登记日期", "登记日期", "成立日期"),
    "filed_on": ("备案日期",),
    "filing_number": ("备案编号",),
    "category": ("直接登记类别", "登记类别"),
    "supervising_unit": ("业务主管单位",),
    "service_domains": ("服务领域", "业务范围领域"),
    "lr_name": ("法定代表人", "法定代表人姓名", "负责人"),
    "lr_id": ("法定代表人身份证号", "法定代表人身份证号码", "法定代表人公民身份号码", "身份证号码"),
    "lr_phone": ("法定代表人电话", "法定代表人联系电话"),
    "address": ("住所", "地址", "办公地址"),
    "contact_name": ("联系人",),
    "contact_phone": ("联系电话", "联系人电话"),
    "contact_email": ("电子邮箱", "邮箱"),
}
REQUIRED = ("name", "kind")
KIND_LABELS = {
    "社会团体": "social_group",
    "社团": "social_group",
    "民办非企业单位": "social_service_agency",
    "社会服务机构": "social_service_agency",
    "民非": "social_service_agency",
    "基金会": "foundation",
    "其他": "other",
    "社区社会组织": "community_filed",
    "备案社区社会组织": "community_filed",
    "备案": "community_filed",
    **{k: k for k in rules.KINDS},
}
CATEGORY_LABELS = {**{v: k for k, v in rules.CATEGORY_NAMES.items()}, **{k: k for k in rules.CATEGORIES}}
DOMAIN_LABELS = {
    "养老": "elderly",
    "老年人": "elderly",
    "为老服务": "elderly",
    "助残": "disability",
    "残疾人": "disability",
    "儿童": "children",
    "青少年": "youth",
    "妇女": "women",
    "家庭": "family",
    "扶贫": "poverty_relief",
    "济困": "poverty_relief",
    "教育": "education",
    "卫生": "health",
    "健康": "health",
    "文化": "culture",
    "体育": "sports",
    "环保": "environment",
    "环境保护": "environment",
    "社区": "community",
    "社区服务": "community",
    "法律援助": "legal_aid",
    "救灾": "disaster_relief",
    "社会工作": "social_work",
    "社工": "social_work",
    "志愿服务": "volunteering",
    "行业": "industry",
    "科技": "science_technology",
    "乡村": "rural",
    "农村": "rural",
    **{d: d for d in rules.SERVICE_DOMAINS},
}
HEADER_OF = {field: names[0] for field, names in COLUMNS.items()}
_SPLIT = re.compile(r"[,，、;；/|\s]+")
_DATE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")
PII_FIELDS = ("lr_id", "lr_phone", "contact_phone")


# -- reading files --------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _rows_of_csv(content: bytes) -> Iterator[tuple[int, list[str]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("gb18030")
    reader = csv.reader(_io.StringIO(text, newline=""))
    for row in reader:
        yield reader.line_num, [c.strip() for c in row]


def _rows_of_xlsx(content: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    workbook = load_workbook(_io.BytesIO(content), read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_cell_text(v) for v in row]
    finally:
        workbook.close()


def file_format(filename: str, content: bytes) -> str:
    if content[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        return "xlsx"
    return "csv"


def read_rows(filename: str, content: bytes) -> tuple[str, list[tuple[int, dict[str, str]]]]:
    """The file's rows as {field: text} keyed by the column they came from (422 for a file that
    cannot be read or lacks the required columns)."""
    fmt = file_format(filename, content)
    try:
        rows = _rows_of_xlsx(content) if fmt == "xlsx" else _rows_of_csv(content)
        header: dict[int, str] | None = None
        out: list[tuple[int, dict[str, str]]] = []
        for number, cells in rows:
            if not any(cells):
                continue
            if header is None:
                header = _header(cells)
                continue
            out.append((number, {field: cells[i] for i, field in header.items() if i < len(cells) and cells[i]}))
    except Unprocessable:
        raise
    except Exception as exc:  # any unreadable upload is the client's: never a 500
        raise Unprocessable(
            f"the file cannot be read as {fmt.upper()}: {type(exc).__name__}",
            errors=[{"field": "file", "message": f"无法读取 {fmt.upper()} 文件"}],
            rule="import.unreadable",
        ) from None
    if header is None:
        raise Unprocessable("the file is empty", errors=[{"field": "file", "message": "文件为空"}], rule="import.empty")
    return fmt, out


def _header(cells: list[str]) -> dict[int, str]:
    lookup = {alias: field for field, aliases in COLUMNS.items() for alias in aliases}
    header = {i: lookup[c.strip()] for i, c in enumerate(cells) if c.strip() in lookup}
    missing = [HEADER_OF[f] for f in REQUIRED if f not in header.values()]
    if missing:
        raise Unprocessable(
            f"missing columns: {', '.join(missing)}",
            errors=[{"field": "file", "message": f"缺少必需的列：{'、'.join(missing)}"}],
            rule="import.columns_missing",
        )
    return header


# -- one row --------------------------------------------------------------------------------------


def _date_of(text: str | None) -> str | None:
    if not text:
        return None
    m = _DATE.match(text)
    if m:
        return f"{int(m.group(1)):04d}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    return text  # pydantic reports it


def row_body(data: dict[str, str]) -> tuple[io.OrganizationCreate | None, list[Finding]]:
    """The row as the same body the API takes; findings name the file's own column headers."""
    findings: list[Finding] = []
    kind = KIND_LABELS.get(data.get("kind", "").strip())
    if kind is None:
        findings.append(Finding(HEADER_OF["kind"], "import.kind_unknown", f"未知的类型：{data.get('kind', '')}"))
    category = None
    if data.get("category"):
        category = CATEGORY_LABELS.get(data["category"])
        if category is None:
            findings.append(
                Finding(
                    HEADER_OF["category"], "registration.category_unknown", f"未知的直接登记类别：{data['category']}"
                )
            )
    domains = []
    for label in _SPLIT.split(data.get("service_domains", "")):
        if label:
            code = DOMAIN_LABELS.get(label)
            if code is None:
                findings.append(
                    Finding(HEADER_OF["service_domains"], "service_domain.unknown", f"未知的服务领域：{label}")
                )
            else:
                domains.append(code)
    uscc = data.get("uscc") or None
    region = data.get("region_code") or (codes.normalise_code(uscc)[2:8] if uscc and kind != rules.FILED else "")
    if findings:
        return None, findings
    lr = None
    if data.get("lr_name") or data.get("lr_id"):
        lr = {"name": data.get("lr_name", ""), "id_number": data.get("lr_id", ""), "phone": data.get("lr_phone")}
    contact = None
    if data.get("contact_name") or data.get("contact_phone") or data.get("contact_email"):
        contact = {
            "name": data.get("contact_name"),
            "phone": data.get("contact_phone"),
            "email": data.get("contact_email"),
        }
    try:
        body = io.OrganizationCreate.model_validate(
            {
                "name": data.get("name", ""),
                "kind": kind,
                "uscc": uscc,
                "region_code": region or "",
                "registered_on": _date_of(data.get("registered_on")),
                "filed_on": _date_of(data.get("filed_on")),
                "category": category,
                "supervising_unit": data.get("supervising_unit"),
                "service_domains": domains,
                "legal_representative": lr,
                "address": data.get("address"),
                "contact": contact,
            }
        )
    except ValidationError as exc:
        for err in exc.errors():
            field = _column_of(err.get("loc", ()))
            findings.append(
                Finding(field, "import.invalid_value", str(err.get("msg", "invalid")).removeprefix("Value error, "))
            )
        return None, findings
    return body, findings


_BODY_TO_FIELD = {
    "legal_representative.name": "lr_name",
    "legal_representative.id_number": "lr_id",
    "legal_representative.phone": "lr_phone",
    "contact.name": "contact_name",
    "contact.phone": "contact_phone",
    "contact.email": "contact_email",
    "legal_representative": "lr_name",
}


def _column_of(loc: Any) -> str:
    path = ".".join(str(p) for p in loc if not isinstance(p, int))
    field = _BODY_TO_FIELD.get(path, path)
    return HEADER_OF.get(field, field or "行")


def _masked(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    if field == HEADER_OF["lr_id"]:
        return mask_id_number(value)
    if field in (HEADER_OF["lr_phone"], HEADER_OF["contact_phone"]):
        return mask_phone(value)
    return value[:200]


def _column_value(data: dict[str, str], column: str) -> str | None:
    for field, header in HEADER_OF.items():
        if header == column:
            return _masked(column, data.get(field))
    return None


# -- the job --------------------------------------------------------------------------------------


@dataclass
class ImportContext:
    cipher: FieldCipher
    county_filing_prefixes: tuple[str, ...]
    chunk_rows: int


async def create_import(
    uow: UnitOfWork, *, actor_sub: str, actor: Actor, filename: str, content: bytes, mode: str, schedule: bool = True
) -> ImportJob:
    fmt, rows = read_rows(filename, content)
    job = ImportJob(
        id=str(uuid6.uuid7()),
        status="queued",
        mode=mode,
        filename=filename[:255],
        file_format=fmt,
        total_rows=len(rows),
        actor_sub=actor_sub,
        actor_role=actor.role,
        actor_region=actor.region,
        request_id=uow.request_id,
        created_at=uow.now,
    )
    uow.session.add(job)
    await uow.session.flush()
    table = ImportRow.__table__  # type: ignore[attr-defined]
    for start in range(0, len(rows), 5000):
        await uow.conn.execute(
            insert(table), [{"import_id": job.id, "row_number": n, "data": d} for n, d in rows[start : start + 5000]]
        )
    uow.audit("import.created", f"imports/{job.id}", {"filename": job.filename, "rows": len(rows), "mode": mode})
    if schedule:
        uow.schedule(IMPORT_JOB, f"{job.id}:0", uow.now)
    return job


async def process_chunk(uow: UnitOfWork, ctx: ImportContext, import_id: str, chunk: int) -> bool:
    """Import one chunk of rows; True when more rows remain."""
    job = await uow.session.get(ImportJob, import_id, with_for_update=True)
    if job is None or job.status in ("completed", "failed"):
        return False
    if job.status == "queued":
        job.status, job.started_at = "running", uow.now
    actor = Actor(role=job.actor_role, region=job.actor_region)
    rows_t = ImportRow.__table__  # type: ignore[attr-defined]
    limit = None if job.mode == "all_or_nothing" else ctx.chunk_rows
    query = (
        select(rows_t.c.row_number, rows_t.c.data).where(rows_t.c.import_id == import_id).order_by(rows_t.c.row_number)
    )
    if limit is not None:
        query = query.limit(limit)
    rows = [(int(n), dict(d)) for n, d in (await uow.conn.execute(query)).all()]
    outcome = await _import_rows(uow, ctx, job, actor, rows, write=job.mode != "all_or_nothing")
    if job.mode == "all_or_nothing" and not outcome.errors:
        outcome = await _import_rows(uow, ctx, job, actor, rows, write=True)
    if rows:
        await uow.conn.execute(
            delete(rows_t).where(rows_t.c.import_id == import_id, rows_t.c.row_number <= rows[-1][0])
        )
    if outcome.errors:
        await uow.conn.execute(insert(ImportError_.__table__), outcome.errors)  # type: ignore[attr-defined]
    job.processed_rows += len(rows)
    job.failed += len({e["row_number"] for e in outcome.errors})
    job.existing += outcome.existing
    job.imported += outcome.imported
    more = limit is not None and len(rows) == limit and job.processed_rows < job.total_rows
    if not more:
        job.finished_at = uow.now
        if job.mode == "all_or_nothing" and outcome.errors:
            job.status, job.imported, job.existing = "failed", 0, 0
            job.message = f"{job.failed} 行有误，整个文件未导入（all_or_nothing）"
        else:
            job.status = "completed"
            job.message = f"导入 {job.imported} 行，已存在 {job.existing} 行，出错 {job.failed} 行"
        job.content = None
        if uow.dialect == "postgresql" and job.imported >= 1000:
            # A bulk load changes the table's statistics at once; search plans should not wait for
            # autovacuum to notice (ANALYZE, unlike VACUUM, runs inside the transaction).
            await uow.conn.execute(text("ANALYZE registry.organizations"))
        uow.audit(
            "import.finished",
            f"imports/{job.id}",
            {"imported": job.imported, "existing": job.existing, "failed": job.failed},
        )
    uow.session.add(job)
    await uow.session.flush()
    return more


@dataclass
class _Outcome:
    imported: int
    existing: int
    errors: list[dict[str, Any]]


async def _import_rows(
    uow: UnitOfWork,
    ctx: ImportContext,
    job: ImportJob,
    actor: Actor,
    rows: list[tuple[int, dict[str, str]]],
    *,
    write: bool,
) -> _Outcome:
    day = local_date(uow.now)
    errors: list[dict[str, Any]] = []

    def fail(number: int, data: dict[str, str], findings: list[Finding]) -> None:
        for f in findings:
            column = (
                _column_of(f.field.split("."))
                if "." in f.field or f.field in io.OrganizationCreate.model_fields
                else f.field
            )
            errors.append(
                {
                    "import_id": job.id,
                    "row_number": number,
                    "field": column,
                    "rule": f.rule,
                    "message": f.message,
                    "value": _column_value(data, column),
                }
            )

    have_streets = await streets_loaded(uow)
    street_codes = {d.get("region_code", "") for _, d in rows if len(d.get("region_code", "")) == 9}
    known_streets: set[str] = set()
    if street_codes:
        found = await uow.conn.execute(select(Street.code).where(Street.code.in_(street_codes)))  # type: ignore[attr-defined]
        known_streets = set(found.scalars().all())
    candidates: list[tuple[int, dict[str, str], Prepared]] = []
    for number, data in rows:
        body, findings = row_body(data)
        if body is None:
            fail(number, data, findings)
            continue
        region = codes.normalise_code(body.region_code)
        street = (region in known_streets) if have_streets else None
        prepared, findings, refusal = prepare(
            body,
            actor,
            today=day,
            street_is_known=street if len(region) == 9 else True,
            county_filing_prefixes=ctx.county_filing_prefixes,
        )
        if refusal is not None:
            fail(
                number,
                data,
                [Finding("region_code" if "region" in refusal.rule else "类型", refusal.rule, refusal.message)],
            )
            continue
        if prepared is None:
            fail(number, data, [f for f in findings if not f.warning])
            continue
        if data.get("filing_number"):
            prepared.filing_number = codes.normalise_code(data["filing_number"])[:24]
        candidates.append((number, data, prepared))
    ORGS = Organization.__table__  # type: ignore[attr-defined]
    usccs = {p.uscc for _, _, p in candidates if p.uscc}
    filings = {p.filing_number for _, _, p in candidates if p.filing_number}
    keys = {(p.region_code, p.name_key) for _, _, p in candidates}
    # One indexed look-up per kind of key (an OR of them would scan the table).
    columns = [ORGS.c[c] for c in ("id", "uscc", "filing_number", "region_code", "name_key", "name", "kind", "status")]
    existing_rows: list[Any] = []
    postgres = uow.dialect == "postgresql"
    if postgres:
        # pg_trgm's GIN index also answers `=`, and the planner picks it for a long IN list (16 s
        # for 1,000 keys on 90k rows); GIN works only through bitmap scans, so switching them off
        # for these look-ups leaves the b-tree indexes.
        await uow.conn.execute(text("SET LOCAL enable_bitmapscan = off"))
    lookups = ((ORGS.c.uscc, usccs), (ORGS.c.filing_number, filings), (ORGS.c.name_key, {k for _, k in keys}))
    for column, wanted_values in lookups:
        if wanted_values:
            # Literal values: a cached generic plan for 1,000 parameters chose a sequential scan
            # once the table had grown (seconds per chunk); a literal list is planned as it is.
            wanted = bindparam("wanted", expanding=True, literal_execute=True)
            found = await uow.conn.execute(
                select(*columns).where(column.in_(wanted)), {"wanted": sorted(wanted_values)}
            )
            existing_rows += found.all()
    if postgres:
        await uow.conn.execute(text("SET LOCAL enable_bitmapscan = on"))
    by_code = {r.uscc: r for r in existing_rows if r.uscc}
    by_filing = {r.filing_number: r for r in existing_rows if r.filing_number}
    by_key = {(r.region_code, r.name_key): r for r in existing_rows if r.status != "deregistered"}
    imported: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    existing = 0
    for number, data, p in candidates:
        same_code = by_code.get(p.uscc) if p.uscc else by_filing.get(p.filing_number) if p.filing_number else None
        same_key = by_key.get((p.region_code, p.name_key))
        if same_code is not None:
            if same_code.name_key == p.name_key:
                existing += 1  # re-import of the same organization: idempotent
            else:
                fail(
                    number,
                    data,
                    [
                        Finding(
                            "uscc",
                            "organization.duplicate_code",
                            f"统一社会信用代码与已有记录重复：{same_code.name}（id {same_code.id}）",
                        )
                    ],
                )
            continue
        if same_key is not None:
            if not p.uscc and not p.filing_number and same_key.kind == p.kind == rules.FILED:
                existing += 1
            else:
                fail(
                    number,
                    data,
                    [
                        Finding(
                            "name",
                            "organization.duplicate_name",
                            f"同一区划内名称与已有记录重复：{same_key.name}（id {same_key.id}）",
                        )
                    ],
                )
            continue
        org_id = str(uuid6.uuid7())
        if p.kind == rules.FILED and not p.filing_number:
            p.filing_number = (
                await next_filing_number(uow, p.region_code, (p.filed_on or day).year) if write else f"pending-{number}"
            )
        values = org_values(p, org_id=org_id, actor=actor, cipher=ctx.cipher, now=uow.now)
        lr = representative_of(p, org_id, ctx.cipher)
        marker = _Marker(org_id, p.uscc, p.filing_number, p.region_code, p.name_key, p.name, p.kind)
        if p.uscc:
            by_code[p.uscc] = marker
        if p.filing_number:
            by_filing[p.filing_number] = marker
        by_key[(p.region_code, p.name_key)] = marker
        imported.append((values, lr))
    if write and imported:
        await uow.conn.execute(insert(ORGS), [values for values, _ in imported])
        lrs = [lr for _, lr in imported if lr is not None]
        if lrs:
            await uow.conn.execute(insert(LegalRepresentative.__table__), lrs)  # type: ignore[attr-defined]
        scheduled: set[tuple[str, int]] = set()
        for values, _ in imported:
            org = SimpleNamespace(**values)  # the event and audit builders only read attributes
            uow.stage(events.created(org))
            uow.audit(
                "organization.registered" if org.uscc else "organization.filed",
                f"organizations/{org.id}",
                {"import_id": job.id, "kind": org.kind, "region_code": org.region_code},
            )
            started = org.registered_on or org.filed_on or day
            if (org.kind, started.year) not in scheduled:
                scheduled.add((org.kind, started.year))
                schedule_annual_deadline(uow, org.kind, started)
    return _Outcome(imported=len(imported), existing=existing, errors=errors)


@dataclass
class _Marker:
    id: str
    uscc: str | None
    filing_number: str | None
    region_code: str
    name_key: str
    name: str
    kind: str


def job_handler(ctx_of: Callable[[], ImportContext]) -> Callable[[UnitOfWork, str, datetime], Any]:
    async def run_import_chunk(uow: UnitOfWork, key: str, due_at: datetime) -> None:
        import_id, _, chunk = key.partition(":")
        if await process_chunk(uow, ctx_of(), import_id, int(chunk or 0)):
            uow.schedule(IMPORT_JOB, f"{import_id}:{int(chunk or 0) + 1}", uow.now)

    return run_import_chunk


def import_public(job: ImportJob) -> io.ImportPublic:
    return io.ImportPublic(
        id=job.id,
        status=job.status,
        mode=job.mode,
        filename=job.filename,
        total_rows=job.total_rows,  # type: ignore[arg-type]
        processed_rows=job.processed_rows,
        imported=job.imported,
        existing=job.existing,
        failed=job.failed,
        progress=round(job.processed_rows / job.total_rows, 4) if job.total_rows else 1.0,
        message=job.message,
        created_at=job.created_at,
        finished_at=job.finished_at,
        errors_url=f"/registry/v1/imports/{job.id}/errors",
    )


async def import_errors(uow: UnitOfWork, import_id: str) -> list[io.ImportErrorPublic]:
    t = ImportError_.__table__  # type: ignore[attr-defined]
    rows = (
        (await uow.conn.execute(select(t).where(t.c.import_id == import_id).order_by(t.c.row_number, t.c.id)))
        .mappings()
        .all()
    )
    return [
        io.ImportErrorPublic(
            row_number=r["row_number"], field=r["field"], rule=r["rule"], message=r["message"], value=r["value"]
        )
        for r in rows
    ]


__all__ = [
    "IMPORT_JOB",
    "ImportContext",
    "create_import",
    "import_errors",
    "import_public",
    "job_handler",
    "process_chunk",
]

"""Reads: search and list with cursor pagination, standing on a date, statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, String, and_, case, cast, func, literal, not_, or_
from sqlalchemy.dialects import postgresql
from sqlmodel import select

from services.registry.domain import codes, names
from services.registry.domain import standing as rules
from services.registry.domain.standing import GradeSpan
from services.registry.handlers.credit import listing_public
from services.registry.handlers.duties import investigation_public, penalty_public, report_public
from services.registry.models import AnnualReport, CreditListing, Grade, Investigation, Organization, Penalty, io
from shared.auth import Principal
from shared.http import Cursor
from shared.problems import BadRequest, Forbidden
from shared.uow import UnitOfWork

ORGS = Organization.__table__  # type: ignore[attr-defined]
SUMMARY_COLUMNS = (
    ORGS.c.id,
    ORGS.c.name,
    ORGS.c.kind,
    ORGS.c.status,
    ORGS.c.region_code,
    ORGS.c.uscc,
    ORGS.c.filing_number,
    ORGS.c.registered_on,
    ORGS.c.filed_on,
    ORGS.c.service_domains,
    ORGS.c.listed_irregular,
    ORGS.c.listed_serious,
)


@dataclass(frozen=True)
class Filters:
    region: str | None = None
    kind: str | None = None
    status: str | None = None
    listed: str | None = None
    service_domain: str | None = None
    q: str | None = None


def region_range(prefix: str) -> Any:
    """`region_code` starts with `prefix`, as a range (a plain b-tree answers it in any collation
    that orders digits by code point: C.UTF-8 on PostgreSQL, BINARY on SQLite)."""
    if not prefix:
        return literal(True)
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(ORGS.c.region_code >= prefix, ORGS.c.region_code < upper)


def scope_prefixes(principal: Principal, region: str | None) -> str | None:
    """The prefix the caller may list (None: nothing); 400 for a malformed region filter."""
    if region is not None and not codes.region_shape_ok(region):
        raise BadRequest(f"region must be a 6- or 9-digit region code, got {region!r}", code="filter.region")
    wanted = codes.authority_prefix(region) if region else ""
    if principal.role in ("admin", "evaluator"):
        return wanted
    if principal.role in ("officer", "finance") and principal.region:
        own = codes.authority_prefix(principal.region)
        if wanted.startswith(own):
            return wanted
        if own.startswith(wanted):
            return own
        return None
    raise Forbidden("lists of organizations are for officers, finance, evaluators and admins")


def _varchar_array(value: str) -> Any:
    return cast(postgresql.array([value]), postgresql.ARRAY(String(100)))


def name_condition(q: str, dialect: str) -> Any:
    key = names.search_key(q)
    if not key:
        return None
    if dialect == "postgresql" and len(key) <= 2:
        # 1–2 characters (养老, 社工): the GIN-indexed array of characters and bigrams.
        return ORGS.c.name_grams.op("@>")(_varchar_array(key))
    # 3+ characters: on PostgreSQL the pg_trgm GIN index answers this LIKE; on SQLite a scan.
    return ORGS.c.name_key.like(f"%{names.escape_like(key)}%", escape="\\")


def domain_condition(domain: str, dialect: str) -> Any:
    if dialect == "postgresql":
        return ORGS.c.service_domains.op("@>")(_varchar_array(domain))
    return func.cast(ORGS.c.service_domains, ORGS.c.name.type).like(f'%"{names.escape_like(domain)}"%', escape="\\")


def list_statement(
    principal: Principal, filters: Filters, *, dialect: str, after: str | None, limit: int
) -> Select[Any] | None:
    prefix = scope_prefixes(principal, filters.region)
    if prefix is None:
        return None
    stmt = select(*SUMMARY_COLUMNS).where(region_range(prefix))
    if filters.kind:
        stmt = stmt.where(ORGS.c.kind == filters.kind)
    if filters.status:
        stmt = stmt.where(ORGS.c.status == filters.status)
    if filters.listed == "irregular":
        stmt = stmt.where(ORGS.c.listed_irregular.is_(True))
    elif filters.listed == "serious":
        stmt = stmt.where(ORGS.c.listed_serious.is_(True))
    elif filters.listed == "any":
        stmt = stmt.where(or_(ORGS.c.listed_irregular.is_(True), ORGS.c.listed_serious.is_(True)))
    elif filters.listed == "none":
        stmt = stmt.where(not_(ORGS.c.listed_irregular), not_(ORGS.c.listed_serious))
    if filters.service_domain:
        stmt = stmt.where(domain_condition(filters.service_domain, dialect))
    if filters.q:
        condition = name_condition(filters.q, dialect)
        if condition is not None:
            stmt = stmt.where(condition)
    if after is not None:
        stmt = stmt.where(ORGS.c.id > after)
    return stmt.order_by(ORGS.c.id).limit(limit + 1)


def summary_of(r: Any) -> dict[str, Any]:
    """A list item as plain data (the shape of `io.OrganizationSummary`): lists are the hot read
    path, so they skip building a model per row."""
    return {
        "id": r.id,
        "name": r.name,
        "kind": r.kind,
        "status": r.status,
        "region_code": r.region_code,
        "uscc": r.uscc,
        "filing_number": r.filing_number,
        "registered_on": r.registered_on,
        "filed_on": r.filed_on,
        "service_domains": list(r.service_domains or []),
        "listed": {"irregular": r.listed_irregular, "serious": r.listed_serious},
    }


async def list_organizations(
    uow: UnitOfWork, principal: Principal, filters: Filters, *, cursor: str | None, limit: int
) -> dict[str, Any]:
    """`{items, next_cursor}` with items shaped like `io.OrganizationSummary`."""
    decoded = Cursor.decode(cursor)
    after = None
    if decoded is not None:
        if len(decoded) != 1 or not isinstance(decoded[0], str):
            raise BadRequest("the cursor is malformed; start again without it", code="cursor.invalid")
        after = decoded[0]
    stmt = list_statement(principal, filters, dialect=uow.dialect, after=after, limit=limit)
    if stmt is None:
        return {"items": [], "next_cursor": None}
    rows = (await uow.conn.execute(stmt)).all()
    items = [summary_of(r) for r in rows[:limit]]
    next_cursor = Cursor.encode([items[-1]["id"]]) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}


# -- standing -------------------------------------------------------------------------------------


def grade_public(span: GradeSpan | None, row: Grade | None) -> io.GradePublic | None:
    if span is None:
        return None
    return io.GradePublic(
        grade=span.grade,
        valid_from=span.valid_from,
        valid_until=span.last_day,
        evaluation_id=row.evaluation_id if row else None,
    )


async def grade_spans(uow: UnitOfWork, org_id: str) -> list[tuple[GradeSpan, Grade]]:
    rows = (await uow.session.exec(select(Grade).where(Grade.org_id == org_id).order_by(Grade.id))).all()
    return [(GradeSpan(r.grade, r.valid_from, r.valid_until, r.ended_on), r) for r in rows]


async def aggregate_sequence(uow: UnitOfWork, org_id: str) -> int:
    t = uow.infra.outbox_sequences
    value = (
        await uow.conn.execute(select(t.c.last_sequence).where(t.c.topic == "registry.organization", t.c.key == org_id))
    ).scalar_one_or_none()
    return int(value or 0)


def _as_of(listing: io.ListingPublic, on: date) -> io.ListingPublic:
    if listing.removed_on is not None and listing.removed_on > on:
        return listing.model_copy(update={"removed_on": None, "removal_reason": None})
    return listing


def _closed_as_of(investigation: io.InvestigationPublic, on: date) -> io.InvestigationPublic:
    if investigation.closed_on is not None and investigation.closed_on > on:
        return investigation.model_copy(update={"closed_on": None, "outcome": None})
    return investigation


async def standing(uow: UnitOfWork, org: Organization, on: date) -> io.Standing:
    from services.registry.events import organization_ref

    listings_all = (
        await uow.session.exec(
            select(CreditListing).where(CreditListing.org_id == org.id).order_by(CreditListing.listed_on)
        )
    ).all()
    active = [r for r in listings_all if rules.listed_on_date(r.listed_on, r.removed_on, on)]
    history = [_as_of(listing_public(r), on) for r in listings_all if r.listed_on <= on]
    reports = (
        await uow.session.exec(
            select(AnnualReport)
            .where(AnnualReport.org_id == org.id, AnnualReport.effective_on <= on)
            .order_by(AnnualReport.year)
        )
    ).all()
    penalties = (
        await uow.session.exec(
            select(Penalty).where(Penalty.org_id == org.id, Penalty.decided_on <= on).order_by(Penalty.decided_on)
        )
    ).all()
    investigations = (
        await uow.session.exec(
            select(Investigation).where(Investigation.org_id == org.id, Investigation.opened_on <= on)
        )
    ).all()
    spans = await grade_spans(uow, org.id)
    by_span = {id(s): g for s, g in spans}
    plain = [s for s, _ in spans]
    current = rules.grade_on(plain, on)
    pending = rules.pending_grade(plain, on)
    started = org.registered_on or org.filed_on or on
    return io.Standing(
        org_id=org.id,
        on=on,
        organization=organization_ref(org),
        kind=org.kind,  # type: ignore[arg-type]
        region_code=org.region_code,
        status=rules.status_on(on, started_on=started, deregistered_on=org.deregistered_on, revoked_on=org.revoked_on),
        registered_on=org.registered_on if org.registered_on and org.registered_on <= on else None,
        filed_on=org.filed_on if org.filed_on and org.filed_on <= on else None,
        deregistered_on=org.deregistered_on if org.deregistered_on and org.deregistered_on <= on else None,
        revoked_on=org.revoked_on if org.revoked_on and org.revoked_on <= on else None,
        listings=history,
        listed=io.Listed(
            irregular=any(r.list == "irregular" for r in active), serious=any(r.list == "serious" for r in active)
        ),
        annual_results=[report_public(r, org.kind) for r in reports],
        penalties=[penalty_public(p) for p in penalties],
        investigations=[_closed_as_of(investigation_public(i), on) for i in investigations],
        open_investigations=[
            investigation_public(i) for i in investigations if i.closed_on is None or on < i.closed_on
        ],
        current_grade=grade_public(current, by_span.get(id(current)) if current else None),
        pending_grade=grade_public(pending, by_span.get(id(pending)) if pending else None),
        sequence=await aggregate_sequence(uow, org.id),
    )


# -- statistics -----------------------------------------------------------------------------------


async def stats(uow: UnitOfWork, principal: Principal, *, region: str | None, year: int, on: date) -> dict[str, Any]:
    prefix = scope_prefixes(principal, region)
    if prefix is None:
        raise Forbidden("the region lies outside yours")
    scope = region_range(prefix)
    live = and_(scope, ORGS.c.status == "active")
    by_kind = dict((await uow.conn.execute(select(ORGS.c.kind, func.count()).where(live).group_by(ORGS.c.kind))).all())
    by_status = dict(
        (await uow.conn.execute(select(ORGS.c.status, func.count()).where(scope).group_by(ORGS.c.status))).all()
    )
    child = len(prefix) + 2 if len(prefix) < 6 else 9
    region_key = func.substr(ORGS.c.region_code, 1, child)
    by_region = dict((await uow.conn.execute(select(region_key, func.count()).where(live).group_by(region_key))).all())
    listed = (
        await uow.conn.execute(
            select(
                func.sum(case((ORGS.c.listed_irregular, 1), else_=0)),
                func.sum(case((ORGS.c.listed_serious, 1), else_=0)),
            ).where(live)
        )
    ).one()
    G = Grade.__table__  # type: ignore[attr-defined]
    in_force = and_(G.c.valid_from <= on, G.c.valid_until >= on, or_(G.c.ended_on.is_(None), G.c.ended_on >= on))
    latest = select(G.c.org_id, func.max(G.c.valid_from).label("vf")).where(in_force).group_by(G.c.org_id).subquery()
    grade_rows = (
        await uow.conn.execute(
            select(G.c.grade, func.count(func.distinct(G.c.org_id)))
            .join(latest, and_(latest.c.org_id == G.c.org_id, latest.c.vf == G.c.valid_from))
            .join(ORGS, ORGS.c.id == G.c.org_id)
            .where(in_force, live)
            .group_by(G.c.grade)
        )
    ).all()
    by_grade = {g: n for g, n in grade_rows}
    graded = sum(by_grade.values())
    total_live = sum(by_kind.values())
    by_grade["none"] = total_live - graded
    R = AnnualReport.__table__  # type: ignore[attr-defined]
    started = func.coalesce(ORGS.c.registered_on, ORGS.c.filed_on)
    due = and_(live, ORGS.c.kind != "community_filed", started <= date(year, 12, 31))
    required = (await uow.conn.execute(select(func.count()).where(due))).scalar_one()
    results = dict(
        (
            await uow.conn.execute(
                select(R.c.result, func.count())
                .join(ORGS, ORGS.c.id == R.c.org_id)
                .where(due, R.c.year == year)
                .group_by(R.c.result)
            )
        ).all()
    )
    inspected = sum(n for r, n in results.items() if r != "not_inspected")
    return {
        "region": region or principal.region or "100000",
        "on": on.isoformat(),
        "total": total_live,
        "by_kind": by_kind,
        "by_status": by_status,
        "by_region": by_region,
        "by_grade": by_grade,
        "listed": {"irregular": int(listed[0] or 0), "serious": int(listed[1] or 0)},
        "annual_inspection": {
            "year": year,
            "required": required,
            "inspected": inspected,
            "by_result": results,
            "rate_bp": (inspected * 10000 // required) if required else None,
        },
    }

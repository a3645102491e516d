"""Routes: standing on a date, statistics, who missed the annual report deadline."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import and_, func, select

from services.registry.api.common import PREFIX, RegistryRuntime, json
from services.registry.domain import organizations as rules
from services.registry.handlers import queries
from services.registry.handlers.common import org_for_read, today
from services.registry.models import AnnualReport, io
from shared import problems
from shared.deps import CurrentPrincipal, actor_of, require_role
from shared.http import Cursor, Limit, Page, list_response
from shared.problems import BadRequest

router = APIRouter(prefix=PREFIX, tags=["standing and statistics"])


@router.get("/organizations/{org_id}/standing", response_model=io.Standing, responses=problems.responses(401, 404))
async def standing(
    org_id: str,
    principal: CurrentPrincipal,
    runtime: RegistryRuntime,
    on: Annotated[date | None, Query(description="the date a call or rating round asks about (default today)")] = None,
) -> Response:
    """What a call or rating round sees on a date: status, listings, annual results, grades, sequence."""
    async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
        org = await org_for_read(uow, principal, org_id)
        public = await queries.standing(uow, org, on or today(uow))
    return json(public)


@router.get("/stats", responses=problems.responses(400, 401, 403))
async def stats(
    principal: CurrentPrincipal,
    runtime: RegistryRuntime,
    region: Annotated[str | None, Query(max_length=9)] = None,
    year: Annotated[
        int | None, Query(ge=1988, le=2100, description="annual inspection year (default last year)")
    ] = None,
) -> Response:
    """Counts by kind, status, grade and region; the annual-inspection rate (basis points)."""
    require_role(principal, "officer", "admin", "finance", "evaluator")
    async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
        day = today(uow)
        body: dict[str, Any] = await queries.stats(uow, principal, region=region, year=year or day.year - 1, on=day)
    return json(body)


@router.get(
    "/annual-reports/missing", response_model=Page[io.OrganizationSummary], responses=problems.responses(400, 401, 403)
)
async def missing_annual_reports(
    request: Request,
    principal: CurrentPrincipal,
    runtime: RegistryRuntime,
    year: Annotated[int, Query(ge=1988, le=2100)],
    region: Annotated[str | None, Query(max_length=9)] = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Organizations past the registry's deadline for `year` with no report (or recorded 未报送)."""
    require_role(principal, "officer", "admin")
    prefix = queries.scope_prefixes(principal, region)
    decoded = Cursor.decode(cursor)
    if decoded is not None and (len(decoded) != 1 or not isinstance(decoded[0], str)):
        raise BadRequest("the cursor is malformed", code="cursor.invalid")
    async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
        day = today(uow)
        ORGS, R = queries.ORGS, AnnualReport.__table__  # type: ignore[attr-defined]
        kinds = [
            k
            for k in rules.REGISTERED_KINDS
            if (d := rules.annual_report_deadline(k, direct=True, year=year)) and d < day
        ]
        items: list[dict[str, Any]] = []
        next_cursor = None
        if prefix is not None and kinds:
            started = func.coalesce(ORGS.c.registered_on, ORGS.c.filed_on)
            stmt = (
                select(*queries.SUMMARY_COLUMNS)
                .outerjoin(R, and_(R.c.org_id == ORGS.c.id, R.c.year == year))
                .where(
                    queries.region_range(prefix),
                    ORGS.c.kind.in_(kinds),
                    ORGS.c.status == "active",
                    started <= date(year, 12, 31),
                )
                .where((R.c.id.is_(None)) | (R.c.report_status == "not_filed"))
                .order_by(ORGS.c.id)
                .limit(limit + 1)
            )
            if decoded:
                stmt = stmt.where(ORGS.c.id > decoded[0])
            rows = (await uow.conn.execute(stmt)).all()
            items = [queries.summary_of(r) for r in rows[:limit]]
            next_cursor = Cursor.encode([items[-1]["id"]]) if len(rows) > limit else None
    return list_response(request, Page[dict[str, Any]](items=items, next_cursor=next_cursor), sheet="missing")

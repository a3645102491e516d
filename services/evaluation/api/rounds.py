"""Rounds, applications and the round's aggregation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select, tuple_

from services.evaluation.api.common import command, dump, listing, page, query, versioned
from services.evaluation.domain.points import fmt
from services.evaluation.handlers import aggregation, rounds
from services.evaluation.handlers.context import Context, execute, require_officer
from services.evaluation.handlers.queries import evaluation_public
from services.evaluation.models import Evaluation, Round
from services.evaluation.models.io import ApplicationCreate, RoundCreate
from shared import problems
from shared.deps import CurrentPrincipal
from shared.http import Cursor, Limit, json_response
from shared.uow import UnitOfWork

router = APIRouter()


def round_public(r: Round) -> dict[str, Any]:
    return {
        "id": r.id,
        "title": r.title,
        "year": r.year,
        "region_code": r.region_code,
        "kinds": r.kinds,
        "template": {"id": r.template_id, "version": r.template_version},
        "rule_set": {"id": r.rule_set_id, "version": r.rule_set_version},
        "band_table": {"id": r.band_table_id, "version": r.band_table_version},
        "notice_working_days": r.notice_working_days,
        "max_spread": fmt(r.max_spread),
        "applications_close_on": r.applications_close_on,
        "status": r.status,
        "closed_on": r.closed_on,
        "version": r.version,
        "created_at": r.created_at,
    }


@router.post(
    "/rounds",
    status_code=201,
    summary="Open a rating round (officer)",
    responses=problems.responses(400, 401, 403, 404, 422),
)
async def open_round(request: Request, principal: CurrentPrincipal, body: RoundCreate) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        row = await rounds.open_round(ctx, uow, principal, body.model_dump())
        payload, headers = versioned(round_public(row))
        return payload, {**headers, "Location": f"/evaluation/v1/rounds/{row.id}"}

    return await command(request, principal, work, body=dump(body), status_code=201, idempotency="required")


@router.get("/rounds", summary="List rounds (newest first)", responses=problems.responses(400, 401))
async def list_rounds(
    request: Request,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: str | None = None,
    status: str | None = None,
) -> Response:
    after = Cursor.decode(cursor)

    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        stmt = select(Round)
        if status:
            stmt = stmt.where(Round.status == status)  # type: ignore[arg-type]
        if after:
            stmt = stmt.where(tuple_(Round.year, Round.id) < tuple_(*after))
        rows = (await execute(uow, stmt.order_by(Round.year.desc(), Round.id.desc()).limit(limit + 1))).scalars().all()  # type: ignore[attr-defined]
        return page([round_public(r) for r in rows], limit, lambda r: [r["year"], r["id"]])

    return listing(request, await query(request, work), sheet="rounds")


@router.get("/rounds/{round_id}", summary="One round", responses=problems.responses(401, 404))
async def get_round(request: Request, principal: CurrentPrincipal, round_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        return round_public(await rounds.get_round(uow, round_id))

    payload, headers = versioned(await query(request, work))
    return json_response(payload, headers=headers)


@router.post(
    "/rounds/{round_id}/closure",
    summary="Close applications now (officer)",
    responses=problems.responses(401, 403, 404),
)
async def close_round(request: Request, principal: CurrentPrincipal, round_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        row = await rounds.get_round(uow, round_id, lock=True)
        require_officer(principal, row.region_code)
        await rounds.close_round(uow, row, closed_by=principal.sub)
        return versioned(round_public(row))

    return await command(request, principal, work)


@router.post(
    "/rounds/{round_id}/applications",
    status_code=201,
    summary="Apply to a round (organization, or an officer naming org_id); eligibility checked at once",
    responses=problems.responses(400, 401, 403, 404, 409, 422),
)
async def apply(request: Request, principal: CurrentPrincipal, round_id: str, body: ApplicationCreate) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        ev = await rounds.apply(ctx, uow, principal, round_id, body.org_id)
        payload, headers = versioned(evaluation_public(ev))
        return payload, {**headers, "Location": f"/evaluation/v1/evaluations/{ev.id}"}

    return await command(request, principal, work, body=dump(body), status_code=201, idempotency="required")


@router.get(
    "/rounds/{round_id}/evaluations",
    summary="The round's evaluations (officer)",
    responses=problems.responses(400, 401, 403, 404),
)
async def round_evaluations(
    request: Request,
    principal: CurrentPrincipal,
    round_id: str,
    limit: Limit = 200,
    cursor: str | None = None,
    status: str | None = None,
) -> Response:
    after = Cursor.decode(cursor)

    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        rnd = await rounds.get_round(uow, round_id)
        require_officer(principal, rnd.region_code)
        stmt = select(Evaluation).where(Evaluation.round_id == round_id)  # type: ignore[arg-type]
        if status:
            stmt = stmt.where(Evaluation.status == status)  # type: ignore[arg-type]
        if after:
            stmt = stmt.where(Evaluation.id > after[0])  # type: ignore[arg-type]
        rows = (await execute(uow, stmt.order_by(Evaluation.id).limit(limit + 1))).scalars().all()  # type: ignore[arg-type]
        return page([evaluation_public(e) for e in rows], limit, lambda e: [e["id"]])

    return listing(request, await query(request, work), sheet="evaluations")


@router.post(
    "/rounds/{round_id}/aggregation",
    summary="Aggregate every evaluation whose evaluators have all submitted and propose its grade (officer)",
    responses=problems.responses(401, 403, 404),
)
async def aggregate_round(request: Request, principal: CurrentPrincipal, round_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        rnd = await rounds.get_round(uow, round_id)
        require_officer(principal, rnd.region_code)
        return await aggregation.propose_round(ctx, uow, round_id), {}

    return await command(request, principal, work)

"""Agencies, evaluators, assignments, conflicts and recusal decisions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from services.evaluation.api.common import command, dump, listing, query, versioned
from services.evaluation.handlers import people
from services.evaluation.handlers.context import Context, execute
from services.evaluation.handlers.queries import conflict_public
from services.evaluation.models import Agency, Assignment, Evaluator
from services.evaluation.models.io import (
    AgencyCreate,
    AssignmentCreate,
    ConflictCreate,
    ConflictDecision,
    EvaluatorCreate,
)
from shared import problems
from shared.deps import CurrentPrincipal
from shared.http import json_response
from shared.uow import UnitOfWork

router = APIRouter()


def agency_public(a: Agency) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "uscc": a.uscc,
        "region_code": a.region_code,
        "status": a.status,
        "version": a.version,
        "created_at": a.created_at,
    }


def evaluator_public(e: Evaluator) -> dict[str, Any]:
    return {
        "id": e.id,
        "agency_id": e.agency_id,
        "sub": e.sub,
        "name": e.name,
        "qualifications": e.qualifications,
        "affiliations": e.affiliations,
        "active": e.active,
        "version": e.version,
        "created_at": e.created_at,
    }


def assignment_public(a: Assignment) -> dict[str, Any]:
    return {
        "id": a.id,
        "evaluation_id": a.evaluation_id,
        "evaluator_id": a.evaluator_id,
        "evaluator_sub": a.evaluator_sub,
        "agency_id": a.agency_id,
        "status": a.status,
        "assigned_at": a.assigned_at,
        "assigned_by": a.assigned_by,
    }


@router.post(
    "/agencies",
    status_code=201,
    summary="Register a third-party evaluation agency (officer, admin)",
    responses=problems.responses(400, 401, 403, 422),
)
async def create_agency(request: Request, principal: CurrentPrincipal, body: AgencyCreate) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        agency = await people.create_agency(uow, principal, body.model_dump())
        payload, headers = versioned(agency_public(agency))
        return payload, {**headers, "Location": f"/evaluation/v1/agencies/{agency.id}"}

    return await command(request, principal, work, body=dump(body), status_code=201, idempotency="required")


@router.get("/agencies/{agency_id}", summary="One agency", responses=problems.responses(401, 404))
async def get_agency(request: Request, principal: CurrentPrincipal, agency_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        return agency_public(await people.get_agency(uow, agency_id))

    return json_response(await query(request, work))


@router.post(
    "/agencies/{agency_id}/evaluators",
    status_code=201,
    summary="Register an evaluator of the agency (admin, officer, the agency's administrator)",
    responses=problems.responses(400, 401, 403, 404, 409, 422),
)
async def create_evaluator(
    request: Request, principal: CurrentPrincipal, agency_id: str, body: EvaluatorCreate
) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        evaluator = await people.register_evaluator(uow, principal, agency_id, body.model_dump())
        payload, headers = versioned(evaluator_public(evaluator))
        return payload, {**headers, "Location": f"/evaluation/v1/agencies/{agency_id}/evaluators/{evaluator.id}"}

    return await command(request, principal, work, body=dump(body), status_code=201, idempotency="required")


@router.get(
    "/agencies/{agency_id}/evaluators",
    summary="The agency's evaluators (agency administrator, officer)",
    responses=problems.responses(401, 403, 404),
)
async def list_evaluators(request: Request, principal: CurrentPrincipal, agency_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        people.require_agency_manager(principal, await people.get_agency(uow, agency_id))
        rows = (
            (
                await execute(
                    uow,
                    select(Evaluator).where(Evaluator.agency_id == agency_id).order_by(Evaluator.id),  # type: ignore[arg-type]
                )
            )
            .scalars()
            .all()
        )
        return {"items": [evaluator_public(e) for e in rows], "next_cursor": None}

    return listing(request, await query(request, work), sheet="evaluators")


@router.post(
    "/evaluations/{evaluation_id}/assignments",
    status_code=201,
    summary="Assign an evaluator (officer, or the evaluator's agency administrator); a recorded conflict refuses",
    responses=problems.responses(400, 401, 403, 404, 409, 422),
)
async def assign(request: Request, principal: CurrentPrincipal, evaluation_id: str, body: AssignmentCreate) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        return assignment_public(await people.assign(ctx, uow, principal, evaluation_id, body.evaluator_id)), {}

    return await command(request, principal, work, body=dump(body), status_code=201, idempotency="required")


@router.post(
    "/evaluations/{evaluation_id}/conflicts",
    status_code=201,
    summary="Declare a conflict (evaluator: recuses at once) or request recusal (organization)",
    responses=problems.responses(400, 401, 403, 404, 422),
)
async def declare_conflict(
    request: Request, principal: CurrentPrincipal, evaluation_id: str, body: ConflictCreate
) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        conflict = await people.declare_conflict(ctx, uow, principal, evaluation_id, body.model_dump())
        return versioned(conflict_public(conflict))

    return await command(request, principal, work, body=dump(body), status_code=201, idempotency="required")


@router.post(
    "/conflicts/{conflict_id}/decision",
    summary="Decide an organization's recusal request (officer)",
    responses=problems.responses(401, 403, 404, 409, 422),
)
async def decide_conflict(
    request: Request, principal: CurrentPrincipal, conflict_id: str, body: ConflictDecision
) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        conflict = await people.decide_conflict(ctx, uow, principal, conflict_id, body.decision, body.reason)
        return versioned(conflict_public(conflict))

    return await command(request, principal, work, body=dump(body))

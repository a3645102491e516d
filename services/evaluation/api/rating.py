"""Committee decisions, appeals, an organization's rating, downgrade/revocation proposals, assessments."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from services.evaluation.api.common import command, dump, listing, page, query, versioned
from services.evaluation.handlers import after, assessments, rating
from services.evaluation.handlers.context import Context, can_read_evaluation, execute, get_evaluation
from services.evaluation.handlers.queries import appeal_public, evaluation_public, proposal_public, rating_of
from services.evaluation.models import Evaluation, RatingProposal
from services.evaluation.models.io import AppealCreate, AppealDecision, DecisionCreate, ProposalCreate, ProposalDecision
from shared import problems
from shared.auth import lies_within
from shared.deps import CurrentPrincipal, require_role
from shared.http import Cursor, Limit, json_response
from shared.problems import NotFound
from shared.uow import UnitOfWork
from shared.workdays import local_date

router = APIRouter()


@router.post(
    "/evaluations/{evaluation_id}/decision",
    summary="Record the committee's decision with its quorum; starts the public notice (officer)",
    responses=problems.responses(401, 403, 404, 409, 422),
)
async def decide(request: Request, principal: CurrentPrincipal, evaluation_id: str, body: DecisionCreate) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        values = body.model_dump(exclude_unset=True)
        values["quorum"] = body.quorum.model_dump()
        return versioned(evaluation_public(await rating.decide(ctx, uow, principal, evaluation_id, values)))

    return await command(request, principal, work, body=dump(body))


@router.post(
    "/evaluations/{evaluation_id}/appeals",
    status_code=201,
    summary="Appeal (复核) during the public notice (the organization)",
    responses=problems.responses(400, 401, 404, 409, 422),
)
async def file_appeal(
    request: Request, principal: CurrentPrincipal, evaluation_id: str, body: AppealCreate
) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        return versioned(appeal_public(await rating.file_appeal(ctx, uow, principal, evaluation_id, body.grounds)))

    return await command(request, principal, work, body=dump(body), status_code=201, idempotency="required")


@router.post(
    "/appeals/{appeal_id}/decision",
    summary="Record the appeal decision (officer)",
    responses=problems.responses(401, 403, 404, 409, 422),
)
async def decide_appeal(
    request: Request, principal: CurrentPrincipal, appeal_id: str, body: AppealDecision
) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        values = body.model_dump(exclude_unset=True)
        return versioned(appeal_public(await rating.decide_appeal(ctx, uow, principal, appeal_id, values)))

    return await command(request, principal, work, body=dump(body))


@router.get(
    "/organizations/{org_id}/rating",
    summary="The grade in force on a date (default today), the pending grade and the history",
    responses=problems.responses(401),
)
async def get_rating(request: Request, principal: CurrentPrincipal, org_id: str, on: date | None = None) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        return await rating_of(ctx, uow, org_id, on or local_date(uow.now))

    return json_response(await query(request, work))


@router.post(
    "/organizations/{org_id}/rating/proposals",
    status_code=201,
    summary="Propose a downgrade (e.g. falsified materials) or a revocation for an officer to confirm",
    responses=problems.responses(400, 401, 403, 404, 409, 422),
)
async def propose(request: Request, principal: CurrentPrincipal, org_id: str, body: ProposalCreate) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        proposal = await after.propose_by_officer(ctx, uow, principal, org_id, body.reason, body.detail)
        return versioned(proposal_public(proposal))

    return await command(request, principal, work, body=dump(body), status_code=201, idempotency="required")


@router.get(
    "/rating-proposals",
    summary="Downgrade and revocation proposals in the caller's region (officer)",
    responses=problems.responses(400, 401, 403),
)
async def list_proposals(
    request: Request,
    principal: CurrentPrincipal,
    status: str = "proposed",
    limit: Limit = 50,
    cursor: str | None = None,
) -> Response:
    require_role(principal, "officer", "admin")
    after_key = Cursor.decode(cursor)

    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        stmt = select(RatingProposal).where(RatingProposal.status == status)  # type: ignore[arg-type]
        if after_key:
            stmt = stmt.where(RatingProposal.id > after_key[0])  # type: ignore[arg-type]
        rows = (await execute(uow, stmt.order_by(RatingProposal.id))).scalars().all()  # type: ignore[arg-type]
        mine = [p for p in rows if principal.role == "admin" or lies_within(p.region_code, principal.region or "")]
        return page([proposal_public(p) for p in mine[: limit + 1]], limit, lambda p: [p["id"]])

    return listing(request, await query(request, work), sheet="rating-proposals")


@router.post(
    "/rating-proposals/{proposal_id}/decision",
    summary="Confirm or dismiss a proposal (officer)",
    responses=problems.responses(401, 403, 404, 409, 422),
)
async def decide_proposal(
    request: Request, principal: CurrentPrincipal, proposal_id: str, body: ProposalDecision
) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        proposal = await after.decide_proposal(ctx, uow, principal, proposal_id, body.decision, body.reason)
        return versioned(proposal_public(proposal))

    return await command(request, principal, work, body=dump(body))


@router.get(
    "/project-assessments",
    summary="Assessments of funded projects (officer, finance, the organization)",
    responses=problems.responses(400, 401),
)
async def list_assessments(
    request: Request,
    principal: CurrentPrincipal,
    award_id: str | None = None,
    status: str | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Response:
    after_key = Cursor.decode(cursor)

    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        stmt = select(Evaluation).where(Evaluation.purpose == "assessment")  # type: ignore[arg-type]
        if award_id:
            stmt = stmt.where(Evaluation.award_id == award_id)  # type: ignore[arg-type]
        if status:
            stmt = stmt.where(Evaluation.status == status)  # type: ignore[arg-type]
        if after_key:
            stmt = stmt.where(Evaluation.id > after_key[0])  # type: ignore[arg-type]
        rows = (await execute(uow, stmt.order_by(Evaluation.id).limit(limit + 1))).scalars().all()  # type: ignore[arg-type]
        visible = [evaluation_public(e) for e in rows if can_read_evaluation(principal, e)]
        return page(visible, limit, lambda e: [e["id"]])

    return listing(request, await query(request, work), sheet="project-assessments")


@router.get(
    "/project-assessments/{assessment_id}", summary="One project assessment", responses=problems.responses(401, 404)
)
async def get_assessment(request: Request, principal: CurrentPrincipal, assessment_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        ev = await get_evaluation(uow, assessment_id)
        if ev.purpose != "assessment" or not can_read_evaluation(principal, ev):
            raise NotFound(f"no project assessment {assessment_id}")
        return evaluation_public(ev)

    payload, headers = versioned(await query(request, work))
    return json_response(payload, headers=headers)


@router.post(
    "/project-assessments/{assessment_id}/completion",
    summary="Complete the assessment from the submitted sheets: score, pass/fail (officer)",
    responses=problems.responses(401, 403, 404, 409),
)
async def complete(request: Request, principal: CurrentPrincipal, assessment_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        ev, agg = await assessments.complete(ctx, uow, principal, assessment_id)
        payload, headers = versioned(evaluation_public(ev))
        return {**payload, "aggregate": agg}, headers

    return await command(request, principal, work)


__all__ = ["dump", "router"]

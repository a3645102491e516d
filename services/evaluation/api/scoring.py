"""An evaluation, its score sheets, submission, aggregation and replayable history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Request, Response, UploadFile
from sqlalchemy import select

from services.evaluation.api.common import command, dump, listing, query, versioned
from services.evaluation.handlers import aggregation, scoring, workbook
from services.evaluation.handlers.context import Context, can_read_evaluation, execute, get_evaluation, require_officer
from services.evaluation.handlers.queries import evaluation_public, replay
from services.evaluation.models import Assignment, Evaluation, ScoreSheet
from services.evaluation.models.io import ScoresPut
from shared import problems
from shared.auth import Principal
from shared.deps import CurrentPrincipal
from shared.http import XLSX, etag, json_response, require_version_precondition
from shared.problems import NotFound
from shared.uow import UnitOfWork

router = APIRouter()


async def readable(uow: UnitOfWork, principal: Principal, evaluation_id: str) -> Evaluation:
    ev = await get_evaluation(uow, evaluation_id)
    assigned = False
    if principal.role == "evaluator":
        rows = (
            await execute(
                uow,
                select(Assignment.evaluator_sub, Assignment.agency_id).where(Assignment.evaluation_id == ev.id),  # type: ignore[call-overload]
            )
        ).all()
        assigned = any(
            sub == principal.sub or (principal.agency_admin and agency == principal.agency_id) for sub, agency in rows
        )
    if not can_read_evaluation(principal, ev, assigned=assigned):
        raise NotFound(f"no evaluation {evaluation_id}")
    return ev


@router.get(
    "/evaluations/{evaluation_id}",
    summary="One evaluation (officer, the organization, assigned evaluators)",
    responses=problems.responses(401, 404),
)
async def get_one(request: Request, principal: CurrentPrincipal, evaluation_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        return evaluation_public(await readable(uow, principal, evaluation_id))

    payload, headers = versioned(await query(request, work))
    return json_response(payload, headers=headers)


@router.put(
    "/evaluations/{evaluation_id}/scores",
    summary="Enter or replace the caller's scores (evaluator; If-None-Match: * to create, If-Match to replace)",
    responses=problems.responses(401, 403, 404, 409, 412, 422, 428),
)
async def put_scores(request: Request, principal: CurrentPrincipal, evaluation_id: str, body: ScoresPut) -> Response:
    created: list[bool] = []

    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        sheet, was_created = await scoring.put_scores(
            ctx,
            uow,
            principal,
            evaluation_id,
            body.model_dump(),
            lambda version: require_version_precondition(request, version),
        )
        created.append(was_created)
        return sheet, {"ETag": etag(sheet["version"])}

    response = await command(request, principal, work, body=dump(body))
    if created and created[0]:
        response.status_code = 201
    return response


@router.get(
    "/evaluations/{evaluation_id}/scores/me",
    summary="The caller's sheet (evaluator)",
    responses=problems.responses(401, 403, 404),
)
async def my_scores(request: Request, principal: CurrentPrincipal, evaluation_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        await readable(uow, principal, evaluation_id)
        return await scoring.get_sheet(uow, evaluation_id, principal.sub)

    sheet = await query(request, work)
    return json_response(sheet, headers={"ETag": etag(sheet["version"])})


@router.get(
    "/evaluations/{evaluation_id}/scores",
    summary="Every sheet of the evaluation (officer)",
    responses=problems.responses(401, 403, 404),
)
async def all_scores(request: Request, principal: CurrentPrincipal, evaluation_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        ev = await get_evaluation(uow, evaluation_id)
        require_officer(principal, ev.region_code)
        table = ScoreSheet.__table__  # type: ignore[attr-defined]
        rows = (await uow.conn.execute(select(table).where(table.c.evaluation_id == ev.id))).mappings().all()
        return {"items": [scoring.sheet_public(r) for r in rows], "next_cursor": None}

    return listing(request, await query(request, work), sheet="score-sheets")


@router.post(
    "/evaluations/{evaluation_id}/submission",
    summary="Submit the caller's sheet: no change after this",
    responses=problems.responses(401, 403, 404, 409, 422),
)
async def submit(request: Request, principal: CurrentPrincipal, evaluation_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        sheet = await scoring.submit(ctx, uow, principal, evaluation_id)
        return sheet, {"ETag": etag(sheet["version"])}

    return await command(request, principal, work)


@router.get(
    "/evaluations/{evaluation_id}/aggregate",
    summary="Mean per leaf and total, spreads, outliers and the proposed grade so far (officer)",
    responses=problems.responses(401, 403, 404),
)
async def get_aggregate(request: Request, principal: CurrentPrincipal, evaluation_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        ev = await get_evaluation(uow, evaluation_id)
        require_officer(principal, ev.region_code)
        agg, assigned, submitted = await aggregation.aggregate_one(ctx, uow, ev)
        return {
            "evaluation_id": ev.id,
            "assigned": assigned,
            "submitted": submitted,
            "aggregate": aggregation.public_aggregate(agg) if agg else None,
        }

    return json_response(await query(request, work))


@router.post(
    "/evaluations/{evaluation_id}/proposal",
    summary="Aggregate this evaluation and propose its grade once every assigned evaluator has submitted",
    responses=problems.responses(401, 403, 404, 409),
)
async def propose(request: Request, principal: CurrentPrincipal, evaluation_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        ev = await get_evaluation(uow, evaluation_id)
        require_officer(principal, ev.region_code)
        result = await aggregation.propose_round(ctx, uow, ev.round_id or "", only=ev.id)
        if not result["proposed"]:
            from services.evaluation.domain.points import RuleBroken

            raise RuleBroken(
                "evaluation.incomplete",
                f"not every assigned evaluator has submitted, or the evaluation is {ev.status}: {result['incomplete']}",
                status=409,
            )
        await uow.session.refresh(ev)
        return versioned(evaluation_public(ev))

    return await command(request, principal, work)


@router.get(
    "/evaluations/{evaluation_id}/history",
    summary="Replay for an appeal: every score entered (when, by whom, under which template and rule set), "
    "assignments, conflicts, decisions and appeals (officer)",
    responses=problems.responses(401, 403, 404),
)
async def history(request: Request, principal: CurrentPrincipal, evaluation_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        ev = await get_evaluation(uow, evaluation_id)
        require_officer(principal, ev.region_code)
        return await replay(uow, ev)

    return json_response(await query(request, work))


@router.post(
    "/evaluations/{evaluation_id}/scores/upload",
    summary="Enter the caller's scores from an XLSX sheet in the template's layout (same rules as the PUT)",
    responses=problems.responses(400, 401, 403, 404, 409, 412, 413, 422, 428),
)
async def upload_scores(
    request: Request, principal: CurrentPrincipal, evaluation_id: str, file: Annotated[UploadFile, File()]
) -> Response:
    scores, comments = workbook.parse_upload(await file.read())
    created: list[bool] = []

    async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
        sheet, was_created = await scoring.put_scores(
            ctx,
            uow,
            principal,
            evaluation_id,
            {"scores": scores, "comments": comments},
            lambda version: require_version_precondition(request, version),
        )
        created.append(was_created)
        return sheet, {"ETag": etag(sheet["version"])}

    response = await command(request, principal, work, body={"scores": scores, "comments": comments})
    if created and created[0]:
        response.status_code = 201
    return response


@router.get(
    "/evaluations/{evaluation_id}/scores/sheet.xlsx",
    summary="The blank score sheet of the evaluation's template (XLSX), to fill in and upload",
    response_class=Response,
    responses={
        200: {"description": "The score sheet", "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}},
        **problems.responses(401, 404),
    },
)
async def blank_sheet(request: Request, principal: CurrentPrincipal, evaluation_id: str) -> Response:
    async def work(uow: UnitOfWork, ctx: Context) -> Any:
        ev = await readable(uow, principal, evaluation_id)
        template, _, _ = await scoring.documents_of(ctx, uow, ev)
        return workbook.blank_sheet(template, title=f"{ev.organization.get('name', ev.org_id)} 评分表")

    return Response(
        await query(request, work),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="score-sheet.xlsx"'},
    )


__all__ = ["dump", "router"]

"""Routes of applications (organizations) and of their review (evaluators, officers)."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Query, Request, Response

from services.grants.api.common import idempotent, runtime_of, uow_for
from services.grants.handlers import applications, reviews, submission
from services.grants.handlers.standing import fetch_registry_standing, knows_registry, read_standing, seed_standing
from services.grants.handlers.submission import StandingUnknown
from services.grants.models import Application
from services.grants.models.io_applications import (
    ApplicationCreate,
    ApplicationPublic,
    ApplicationUpdate,
    ConflictIn,
    EligibilityPublic,
    ReviewIn,
    ReviewPublic,
    RoadshowIn,
    SubmissionRequest,
    WithdrawalRequest,
)
from services.grants.settings import GrantsSettings
from shared import problems
from shared.deps import CurrentPrincipal
from shared.http import (
    Idempotency,
    Page,
    etag,
    json_response,
    list_response,
    require_if_match,
    require_version_precondition,
)
from shared.workdays import local_date

router = APIRouter(tags=["applications"])
REGISTRY_CLIENT = "registry_http"


def _app_response(app: Application | dict[str, Any], status_code: int = 200) -> Response:
    public = applications.application_public(app)
    return json_response(
        public,
        status_code=status_code,
        headers={"ETag": etag(public.version), "Location": f"/grants/v1/applications/{public.id}"},
    )


# The deadline rush's route comes first: FastAPI matches routes in order.
@router.post(
    "/applications/{application_id}/submission",
    response_model=ApplicationPublic,
    responses=problems.responses(400, 401, 404, 409, 412, 422),
)
async def submit_application(
    application_id: str, body: SubmissionRequest, request: Request, principal: CurrentPrincipal
) -> Response:
    """Submit: accepted iff received strictly before `closes_at`; screened at once (Idempotency-Key)."""
    idem = Idempotency(request, sub=principal.sub, body={"path": dict(request.path_params), "body": body.model_dump()})
    received_at = None
    for attempt in (1, 2):
        unknown: str | None = None
        async with uow_for(request, principal) as uow:
            if received_at is not None:
                uow.now = received_at  # the receive instant is the first attempt's, read once
            received_at = uow.now
            replay = await idem.begin(uow)
            if replay is not None:
                return replay.to_response()
            try:
                row = await submission.submit(
                    uow, principal=principal, application_id=application_id, version=body.version
                )
            except StandingUnknown as exc:
                if attempt == 1:
                    unknown = exc.org_id
                else:
                    row = await submission.submit_pending(uow, principal=principal, application_id=application_id)
            if unknown is None:
                response = _app_response(row)
                await idem.store(uow, response)
                await uow.commit()
                return response
        await _seed_from_registry(request, unknown, on=local_date(received_at))
    raise AssertionError("unreachable")


@router.post(
    "/calls/{call_id}/applications",
    status_code=201,
    response_model=ApplicationPublic,
    responses=problems.responses(400, 401, 403, 404, 409, 422),
)
async def create_application(
    call_id: str, body: ApplicationCreate, request: Request, principal: CurrentPrincipal
) -> Response:
    """Start an application (a draft) to a published call — the organization's users."""
    cipher = runtime_of(request).cipher

    async def work(uow: Any) -> Response:
        app = await applications.create_draft(uow, principal=principal, call_id=call_id, body=body, cipher=cipher)
        await uow.session.flush()
        return _app_response(app, 201)

    return await idempotent(request, principal, body.model_dump(mode="json"), work)


@router.get("/applications", response_model=Page[ApplicationPublic], responses=problems.responses(400, 401, 403, 404))
async def list_applications(
    request: Request,
    principal: CurrentPrincipal,
    call_id: Annotated[str | None, Query(max_length=36)] = None,
    status: Annotated[str | None, Query(pattern="^(draft|submitted|withdrawn|awarded|award_cancelled)$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """An organization's own applications; an officer's view of one call's (`call_id`)."""
    async with uow_for(request, principal, readonly=True) as uow:
        page = await applications.list_applications(
            uow, principal=principal, call_id=call_id, status=status, cursor=cursor, limit=limit
        )
    return list_response(request, page, sheet="applications")


@router.get("/applications/{application_id}", response_model=ApplicationPublic, responses=problems.responses(401, 404))
async def get_application(application_id: str, request: Request, principal: CurrentPrincipal) -> Response:
    """One application: its applicant, the call's officers and its reviewers see it."""
    async with uow_for(request, principal, readonly=True) as uow:
        app = await applications.visible_application(uow, principal, application_id)
    return _app_response(app)


@router.patch(
    "/applications/{application_id}",
    response_model=ApplicationPublic,
    responses=problems.responses(401, 404, 409, 412, 422, 428),
)
async def update_application(
    application_id: str, body: ApplicationUpdate, request: Request, principal: CurrentPrincipal
) -> Response:
    """Amend a draft (If-Match)."""
    async with uow_for(request, principal) as uow:
        app = await applications.own_application(uow, principal, application_id, lock=True)
        require_if_match(request, app.version)
        app = await applications.update_draft(uow, app=app, body=body, cipher=runtime_of(request).cipher)
        await uow.commit()
    return _app_response(app)


async def _seed_from_registry(request: Request, org_id: str, *, on: Any) -> None:
    """Only for an organization never seen: the registry's standing, outside any transaction."""
    runtime = runtime_of(request)
    settings = runtime.settings
    assert isinstance(settings, GrantsSettings)
    client: httpx.AsyncClient = runtime.resources[REGISTRY_CLIENT]
    answer = await fetch_registry_standing(
        client,
        settings.registry_base_url,
        org_id,
        on=on,
        authorization=request.headers.get("authorization"),
        timeout_s=settings.registry_timeout_s,
    )
    if answer is None:
        return
    async with runtime.uow() as uow:
        await seed_standing(uow, org_id, answer)
        await uow.commit()


@router.post(
    "/applications/{application_id}/withdrawal",
    response_model=ApplicationPublic,
    responses=problems.responses(401, 404, 409),
)
async def withdraw_application(
    application_id: str, body: WithdrawalRequest, request: Request, principal: CurrentPrincipal
) -> Response:
    """Withdraw a draft or a submitted application before the award decision."""
    async with uow_for(request, principal) as uow:
        app = await applications.withdraw(uow, principal=principal, application_id=application_id)
        await uow.commit()
    return _app_response(app)


@router.get(
    "/applications/{application_id}/eligibility",
    response_model=EligibilityPublic,
    responses=problems.responses(401, 404),
)
async def get_eligibility(application_id: str, request: Request, principal: CurrentPrincipal) -> EligibilityPublic:
    """Why (in)eligible: every failed rule with its basis; for a draft, what a submission now would hear."""
    async with uow_for(request, principal, readonly=True) as uow:
        app = await applications.visible_application(uow, principal, application_id)
        known = app.status != "draft" or knows_registry(await read_standing(uow, app.org_id))
    if not known:
        await _seed_from_registry(request, app.org_id, on=local_date(runtime_of(request).clock.now()))
    async with uow_for(request, principal, readonly=True) as uow:
        return await applications.eligibility(uow, app=app)


@router.put(
    "/applications/{application_id}/reviews/me",
    response_model=ReviewPublic,
    tags=["review"],
    responses=problems.responses(401, 403, 404, 409, 412, 422, 428),
)
async def put_my_review(application_id: str, body: ReviewIn, request: Request, principal: CurrentPrincipal) -> Response:
    """The reviewer's weighted rubric scores (If-None-Match: * the first time, then If-Match)."""
    async with uow_for(request, principal) as uow:
        mine = await reviews._my_assignment(uow, principal, application_id)
        require_version_precondition(request, mine.version if mine.scores or mine.comment else None)
        mine = await reviews.put_review(uow, principal=principal, application_id=application_id, body=body)
        await uow.commit()
    return json_response(reviews.review_public(mine), headers={"ETag": etag(mine.version)})


@router.post("/applications/{application_id}/conflicts", tags=["review"], responses=problems.responses(401, 403, 404))
async def declare_conflict(
    application_id: str, body: ConflictIn, request: Request, principal: CurrentPrincipal
) -> dict[str, Any]:
    """A reviewer declares a conflict: excluded from this application, replaced from the pool."""
    async with uow_for(request, principal) as uow:
        result = await reviews.declare_conflict(
            uow, principal=principal, application_id=application_id, reason=body.reason
        )
        await uow.commit()
    return result


@router.get(
    "/applications/{application_id}/reviews",
    response_model=list[ReviewPublic],
    tags=["review"],
    responses=problems.responses(401, 403, 404),
)
async def list_reviews(application_id: str, request: Request, principal: CurrentPrincipal) -> list[ReviewPublic]:
    """Every reviewer's scores of one application (officers)."""
    async with uow_for(request, principal, readonly=True) as uow:
        return await reviews.list_reviews(uow, principal=principal, application_id=application_id)


@router.put(
    "/applications/{application_id}/roadshow",
    response_model=ApplicationPublic,
    tags=["review"],
    responses=problems.responses(401, 403, 404, 409, 412, 428),
)
async def put_roadshow(
    application_id: str, body: RoadshowIn, request: Request, principal: CurrentPrincipal
) -> Response:
    """The roadshow (路演) score, weighted into the ranking by the call's roadshow weight."""
    async with uow_for(request, principal) as uow:
        current = await uow.session.get(Application, application_id)
        if current is None:
            raise problems.NotFound(f"application {application_id} not found")
        require_version_precondition(request, current.version if current.roadshow_score is not None else None)
        app = await reviews.set_roadshow(uow, principal=principal, application_id=application_id, score=body.score)
        await uow.commit()
    return _app_response(app)

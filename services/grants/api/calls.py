"""Routes of calls: officers create and publish; anyone lists the open ones; open data is public."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from services.grants.api.common import idempotent, runtime_of, uow_for
from services.grants.domain import DomainError
from services.grants.handlers import awards, calls, opendata, reviews
from services.grants.handlers.common import load, require_officer
from services.grants.models import Call
from services.grants.models.io_awards import PublicNotice
from services.grants.models.io_calls import (
    AssignmentRequest,
    BudgetPublic,
    CallCreate,
    CallFields,
    CallPublic,
    CancelRequest,
    RankingPublic,
    ReviewerPublic,
    ReviewersIn,
)
from services.grants.settings import GrantsSettings
from shared import problems
from shared.deps import CurrentPrincipal, OptionalPrincipal
from shared.http import Page, etag, json_response, list_response, require_if_match, wants_xlsx

router = APIRouter(tags=["calls"])
CallStatus = Annotated[str | None, Query(pattern="^(draft|published|open|closed|cancelled)$")]


def _call_response(call: Call, status_code: int = 200) -> Response:
    return json_response(
        calls.call_public(call),
        status_code=status_code,
        headers={"ETag": etag(call.version), "Location": f"/grants/v1/calls/{call.id}"},
    )


@router.post(
    "/calls", status_code=201, response_model=CallPublic, responses=problems.responses(400, 401, 403, 409, 422)
)
async def create_call(body: CallCreate, request: Request, principal: CurrentPrincipal) -> Response:
    """Create a call (draft) — officer of the call's region."""

    async def work(uow: Any) -> Response:
        call = await calls.create_call(uow, principal=principal, body=body)
        await uow.session.flush()
        return _call_response(call, 201)

    return await idempotent(request, principal, body.model_dump(mode="json"), work)


@router.get("/calls", response_model=Page[CallPublic], responses=problems.responses(400))
async def list_calls(
    request: Request,
    principal: OptionalPrincipal,
    status: CallStatus = None,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3})?$")] = None,
    call_type: Annotated[str | None, Query(max_length=30)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Calls; without a token the published ones (`?status=open` for those accepting applications)."""
    async with uow_for(request, principal, readonly=True) as uow:
        page = await calls.list_calls(
            uow, principal=principal, status=status, region=region, call_type=call_type, cursor=cursor, limit=limit
        )
    return list_response(request, page, sheet="calls")


@router.get("/calls/{call_id}", response_model=CallPublic, responses=problems.responses(404))
async def get_call(call_id: str, request: Request, principal: OptionalPrincipal) -> Response:
    """One call (public once published)."""
    async with uow_for(request, principal, readonly=True) as uow:
        call = await calls.get_call(uow, principal=principal, call_id=call_id)
    return _call_response(call)


# The body is any subset of a call's fields; the merged call is validated as a whole (update_call).
CALL_CHANGES = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "The fields of the call to change (those of CallCreate but call_type)",
                "properties": {name: {} for name in CallFields.model_fields},
                "additionalProperties": False,
            }
        }
    },
}


@router.patch(
    "/calls/{call_id}",
    response_model=CallPublic,
    responses=problems.responses(400, 401, 403, 404, 409, 412, 422, 428),
    openapi_extra={"requestBody": CALL_CHANGES},
)
async def update_call(call_id: str, request: Request, principal: CurrentPrincipal) -> Response:
    """Amend a draft call (If-Match); the whole call is validated again."""
    try:
        changes = await request.json()
    except ValueError:  # an empty body or not JSON: a malformed request, as for every other route
        raise problems.BadRequest("the body is not valid JSON") from None
    if not isinstance(changes, dict):
        raise problems.Unprocessable(
            "a PATCH body is an object", errors=[{"field": "body", "message": "object expected"}]
        )
    unknown = sorted(set(changes) - set(CallFields.model_fields))
    if unknown:
        raise problems.Unprocessable(
            f"unknown or immutable fields: {', '.join(unknown)}",
            errors=[{"field": f, "message": "not a field of a call"} for f in unknown],
        )
    async with uow_for(request, principal) as uow:
        call = await load(uow, Call, call_id, lock=True, what="call")
        calls.visible_or_404(principal, call)
        require_if_match(request, call.version)
        call = await calls.update_call(uow, principal=principal, call=call, changes=changes)
        await uow.commit()
    return _call_response(call)


@router.post(
    "/calls/{call_id}/publication", response_model=CallPublic, responses=problems.responses(401, 403, 404, 409, 422)
)
async def publish_call(call_id: str, request: Request, principal: CurrentPrincipal) -> Response:
    """Publish a draft: it opens at `opens_at` and closes at `closes_at` (timers)."""
    async with uow_for(request, principal) as uow:
        call = await calls.publish_call(uow, principal=principal, call_id=call_id)
        await uow.commit()
    return _call_response(call)


@router.post(
    "/calls/{call_id}/cancellation", response_model=CallPublic, responses=problems.responses(401, 403, 404, 409)
)
async def cancel_call(call_id: str, body: CancelRequest, request: Request, principal: CurrentPrincipal) -> Response:
    """Cancel a call that has no awards."""
    async with uow_for(request, principal) as uow:
        call = await calls.cancel_call(uow, principal=principal, call_id=call_id, reason=body.reason)
        await uow.commit()
    return _call_response(call)


@router.get("/calls/{call_id}/budget", response_model=BudgetPublic, responses=problems.responses(401, 403, 404))
async def get_budget(call_id: str, request: Request, principal: CurrentPrincipal) -> BudgetPublic:
    """Total, committed, paid and remaining — the same numbers the ledger adds up to."""
    async with uow_for(request, principal, readonly=True) as uow:
        return await calls.get_budget(uow, principal=principal, call_id=call_id)


@router.post(
    "/calls/{call_id}/reviewers",
    response_model=list[ReviewerPublic],
    tags=["review"],
    responses=problems.responses(401, 403, 404, 409, 422),
)
async def add_reviewers(
    call_id: str, body: ReviewersIn, request: Request, principal: CurrentPrincipal
) -> list[ReviewerPublic]:
    """Add evaluators to the call's reviewer pool, with the organizations each has a tie with."""
    async with uow_for(request, principal) as uow:
        pool = await reviews.add_reviewers(uow, principal=principal, call_id=call_id, body=body)
        await uow.commit()
    return pool


@router.get(
    "/calls/{call_id}/reviewers",
    response_model=list[ReviewerPublic],
    tags=["review"],
    responses=problems.responses(401, 403, 404),
)
async def list_reviewers(call_id: str, request: Request, principal: CurrentPrincipal) -> list[ReviewerPublic]:
    """The call's reviewer pool."""
    async with uow_for(request, principal, readonly=True) as uow:
        call = await load(uow, Call, call_id, what="call")
        require_officer(principal, call.region_code)
        return await reviews.list_reviewers(uow, call_id=call_id)


@router.post("/calls/{call_id}/assignments", tags=["review"], responses=problems.responses(401, 403, 404, 409))
async def assign_reviewers(
    call_id: str, body: AssignmentRequest, request: Request, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Assign N reviewers to every eligible application, never one with a declared conflict."""
    async with uow_for(request, principal) as uow:
        result = await reviews.assign_reviewers(
            uow, principal=principal, call_id=call_id, per_application=body.per_application
        )
        await uow.commit()
    return result


@router.get(
    "/calls/{call_id}/ranking",
    response_model=RankingPublic,
    tags=["review"],
    responses=problems.responses(401, 403, 404),
)
async def get_ranking(call_id: str, request: Request, principal: CurrentPrincipal) -> RankingPublic:
    """Weighted scores (and roadshow), highest first, ties broken by the call's rule."""
    async with uow_for(request, principal, readonly=True) as uow:
        return await reviews.ranking(uow, principal=principal, call_id=call_id)


@router.post(
    "/calls/{call_id}/ranking",
    response_model=RankingPublic,
    tags=["review"],
    responses=problems.responses(401, 403, 404, 409),
)
async def freeze_ranking(call_id: str, request: Request, principal: CurrentPrincipal) -> RankingPublic:
    """Record the ranking (the order reserves are offered in) and announce each rank."""
    async with uow_for(request, principal) as uow:
        result = await reviews.freeze_ranking(uow, principal=principal, call_id=call_id)
        await uow.commit()
    return result


@router.get("/calls/{call_id}/subsidy-candidates", tags=["awards"], responses=problems.responses(401, 403, 404, 409))
async def subsidy_candidates(call_id: str, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """以奖代补: organizations newly rated at a funded grade within the call window."""
    async with uow_for(request, principal, readonly=True) as uow:
        call = await load(uow, Call, call_id, what="call")
        calls.visible_or_404(principal, call)
        require_officer(principal, call.region_code)
        if call.call_type != "award_subsidy":
            raise DomainError("call.not_subsidy", "only award-subsidy calls have candidates", kind="conflict")
        items = await awards.subsidy_candidates(uow, call)
    for item in items:
        item.pop("snapshot", None)
        item["amount"] = item["amount"].model_dump()
        item["announced_on"] = item["announced_on"].isoformat()
    return {"call_id": call_id, "items": items}


def _settings(request: Request) -> GrantsSettings:
    settings = runtime_of(request).settings
    assert isinstance(settings, GrantsSettings)
    return settings


@router.get("/calls/{call_id}/ocds", tags=["open data"], responses=problems.responses(404, 409))
async def ocds(call_id: str, request: Request) -> Response:
    """OCDS 1.1 release package of a service-purchase call (public)."""
    async with uow_for(request, None, readonly=True) as uow:
        package = await opendata.ocds_package(uow, call_id=call_id, settings=_settings(request))
    return json_response(package)


@router.get("/calls/{call_id}/360giving", tags=["open data"], responses=problems.responses(404, 409))
async def giving(call_id: str, request: Request) -> Response:
    """360Giving 1.4 grants of a venture-philanthropy, micro-venture or award-subsidy call (public)."""
    async with uow_for(request, None, readonly=True) as uow:
        package = await opendata.giving_package(uow, call_id=call_id, settings=_settings(request))
    return json_response(package)


@router.get(
    "/calls/{call_id}/public-notice", response_model=PublicNotice, tags=["open data"], responses=problems.responses(404)
)
async def public_notice(call_id: str, request: Request) -> Response:
    """公示名单: the awards decided in this call, their amounts and notice periods (public)."""
    async with uow_for(request, None, readonly=True) as uow:
        notice = await opendata.public_notice(uow, call_id=call_id)
    if wants_xlsx(request):
        return list_response(request, Page(items=notice.items), sheet="public-notice")
    return json_response(notice)

"""The delivery log: officers (their region), administrators (all), finance (their subscriptions)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from services.notifications.api.common import before_id, page, wiring
from services.notifications.handlers import deliveries
from services.notifications.models.io import DeliveryDetail, DeliveryPublic
from shared import problems
from shared.deps import CurrentPrincipal, RuntimeDep, actor_of, request_id, require_role
from shared.http import Page, json_response, list_response

router = APIRouter(tags=["deliveries"])
ROLES = ("officer", "admin", "finance")


@router.get("/deliveries", response_model=Page[DeliveryPublic], responses=problems.responses(400, 401, 403))
async def list_deliveries(
    request: Request,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    status: Literal["pending", "delivered", "failed", "cancelled"] | None = None,
    channel: Literal["inbox", "email", "sms", "webhook"] | None = None,
    subscription_id: Annotated[str | None, Query(max_length=36)] = None,
    cause_event_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Deliveries, newest first; `?status=failed` lists what failed for good and can be retried."""
    require_role(principal, *ROLES)
    async with runtime.uow(readonly=True) as uow:
        rows = await deliveries.listing(
            uow,
            principal,
            status=status,
            channel=channel,
            subscription_id=subscription_id,
            cause_event_id=cause_event_id,
            before=before_id(cursor),
            limit=limit,
        )
    items, next_cursor = page(rows, limit)
    body = Page[DeliveryPublic](items=[deliveries.public(r) for r in items], next_cursor=next_cursor)
    return list_response(request, body, sheet="deliveries")


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail, responses=problems.responses(401, 403, 404))
async def get_delivery(delivery_id: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> DeliveryDetail:
    """One delivery with its attempt log."""
    require_role(principal, *ROLES)
    async with runtime.uow(readonly=True) as uow:
        return await deliveries.detail(uow, principal, delivery_id)


@router.post(
    "/deliveries/{delivery_id}/retry",
    status_code=202,
    response_model=DeliveryPublic,
    responses=problems.responses(401, 403, 404, 409),
)
async def retry_delivery(
    delivery_id: str, request: Request, runtime: RuntimeDep, principal: CurrentPrincipal
) -> Response:
    """Try a failed delivery again now, with the same webhook-id or Message-ID (409 unless failed)."""
    require_role(principal, *ROLES)
    w = wiring(request)
    async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
        row = await deliveries.retry(uow, principal, delivery_id)
        uow.after_commit(w.deps.wake)
        await uow.commit()
    return json_response(deliveries.public(row), status_code=202)

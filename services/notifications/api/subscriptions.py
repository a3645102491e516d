"""Webhook subscriptions (admin: national; finance: their region). The secret is shown once."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from services.notifications.api.common import before_id, page, wiring
from services.notifications.handlers import subscriptions as subs
from services.notifications.handlers.common import table
from services.notifications.models import Subscription
from services.notifications.models.io import (
    SecretRotated,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionPatch,
    SubscriptionPublic,
)
from shared import problems
from shared.deps import CurrentPrincipal, RuntimeDep, actor_of, request_id, require_role
from shared.http import Idempotency, Page, etag, json_response, list_response, require_if_match

router = APIRouter(tags=["webhook subscriptions"])
ROLES = ("admin", "finance")


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    responses=problems.responses(400, 401, 403, 409, 422),
)
async def create_subscription(
    body: SubscriptionCreate, request: Request, runtime: RuntimeDep, principal: CurrentPrincipal
) -> Response:
    """Subscribe a URL to event types (Idempotency-Key); the `whsec_` secret is in this answer only."""
    require_role(principal, *ROLES)
    w = wiring(request)
    idem = Idempotency(request, sub=principal.sub, body=body.model_dump(mode="json"))
    url = await subs.check_url(w.senders.webhooks, body.url)  # resolves DNS: before the transaction
    async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
        if (replay := await idem.begin(uow)) is not None:
            return replay.to_response()
        row, secret = await subs.create(uow, w.deps, principal, body, url)
        public = subs.public(row)
        headers = {"ETag": etag(row.version), "Location": f"/notifications/v1/subscriptions/{row.id}"}
        # The stored replay never holds the secret (idempotency rows are not encrypted).
        await idem.store(
            uow,
            json_response(SubscriptionCreated(**public.model_dump(), secret=None), status_code=201, headers=headers),
        )
        await uow.commit()
    return json_response(SubscriptionCreated(**public.model_dump(), secret=secret), status_code=201, headers=headers)


@router.get("/subscriptions", response_model=Page[SubscriptionPublic], responses=problems.responses(400, 401, 403))
async def list_subscriptions(
    request: Request,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    status: Literal["active", "disabled"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Subscriptions I may manage (admins: all; finance: those of my region)."""
    require_role(principal, *ROLES)
    s = table(Subscription)
    stmt = select(s).where(s.c.status != "deleted").order_by(s.c.id.desc()).limit(limit + 1)
    if (condition := subs.region_filter(principal, s.c.region_code)) is not None:
        stmt = stmt.where(condition)
    if status:
        stmt = stmt.where(s.c.status == status)
    if before := before_id(cursor):
        stmt = stmt.where(s.c.id < before)
    async with runtime.uow(readonly=True) as uow:
        rows = list(await uow.conn.execute(stmt))
    items, next_cursor = page(rows, limit)
    return list_response(
        request,
        Page[SubscriptionPublic](items=[subs.public(r) for r in items], next_cursor=next_cursor),
        sheet="subscriptions",
    )


@router.get(
    "/subscriptions/{subscription_id}", response_model=SubscriptionPublic, responses=problems.responses(401, 403, 404)
)
async def get_subscription(subscription_id: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> Response:
    """One subscription (never its secret)."""
    require_role(principal, *ROLES)
    async with runtime.uow(readonly=True) as uow:
        row = await subs.load(uow, principal, subscription_id)
    return json_response(subs.public(row), headers={"ETag": etag(row.version)})


@router.patch(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionPublic,
    responses=problems.responses(401, 403, 404, 412, 422, 428),
)
async def patch_subscription(
    subscription_id: str, body: SubscriptionPatch, request: Request, runtime: RuntimeDep, principal: CurrentPrincipal
) -> Response:
    """Change the URL, types or description, or re-enable a disabled subscription (If-Match)."""
    require_role(principal, *ROLES)
    w = wiring(request)
    url = await subs.check_url(w.senders.webhooks, body.url) if body.url is not None else None
    async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
        row = await subs.load(uow, principal, subscription_id, lock=True)
        require_if_match(request, row.version)
        row = await subs.patch(uow, w.deps, principal, row, body, url)
        await uow.commit()
    return json_response(subs.public(row), headers={"ETag": etag(row.version)})


@router.delete(
    "/subscriptions/{subscription_id}", status_code=204, responses=problems.responses(401, 403, 404, 412, 428)
)
async def delete_subscription(
    subscription_id: str, request: Request, runtime: RuntimeDep, principal: CurrentPrincipal
) -> Response:
    """Delete a subscription; what still waits for it is cancelled (If-Match)."""
    require_role(principal, *ROLES)
    w = wiring(request)
    async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
        row = await subs.load(uow, principal, subscription_id, lock=True)
        require_if_match(request, row.version)
        await subs.delete(uow, w.deps, row)
        await uow.commit()
    return Response(status_code=204)


@router.post(
    "/subscriptions/{subscription_id}/secret-rotation",
    response_model=SecretRotated,
    responses=problems.responses(401, 403, 404, 409, 412, 428),
)
async def rotate_secret(
    subscription_id: str, request: Request, runtime: RuntimeDep, principal: CurrentPrincipal
) -> Response:
    """A new secret (shown once); the old one keeps signing alongside it for the overlap (If-Match)."""
    require_role(principal, *ROLES)
    w = wiring(request)
    async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
        row = await subs.load(uow, principal, subscription_id, lock=True)
        require_if_match(request, row.version)  # a retried rotation gets 412 instead of losing a secret
        row, secret = await subs.rotate(uow, w.deps, principal, row)
        await uow.commit()
    assert row.previous_secret_until is not None
    return json_response(
        SecretRotated(
            id=row.id, secret=secret, previous_secret_valid_until=row.previous_secret_until, version=row.version
        ),
        headers={"ETag": etag(row.version)},
    )

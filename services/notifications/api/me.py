"""The caller's own resources: inbox, directory entry, preferences; and the notification types."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.notifications.api.common import before_id, page, refresh_caller, wiring
from services.notifications.handlers import directory, inbox
from services.notifications.models.io import (
    InboxItemPublic,
    MarkedRead,
    NotificationTypePublic,
    PreferencesPublic,
    PreferencesUpdate,
    RecipientPublic,
    RecipientUpdate,
    UnreadCount,
)
from shared import problems
from shared.deps import CurrentPrincipal, RuntimeDep, actor_of, request_id
from shared.http import Page, etag, json_response, list_response
from shared.problems import NotFound

router = APIRouter(tags=["inbox and preferences"])
MAX_ID = 64


@router.get("/inbox", response_model=Page[InboxItemPublic], responses=problems.responses(400, 401))
async def list_inbox(
    request: Request,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """My inbox, newest first (`?unread=true` for unread items only)."""
    w = wiring(request)
    await refresh_caller(runtime, w, principal, request)
    async with runtime.uow(readonly=True) as uow:
        rows = await inbox.listing(uow, principal.sub, unread=unread, before=before_id(cursor), limit=limit)
    items, next_cursor = page(rows, limit)
    body = Page[InboxItemPublic](
        items=[InboxItemPublic.model_validate(r, from_attributes=True) for r in items], next_cursor=next_cursor
    )
    return list_response(request, body, sheet="inbox")


@router.get("/inbox/unread-count", response_model=UnreadCount, responses=problems.responses(401))
async def unread_count(request: Request, runtime: RuntimeDep, principal: CurrentPrincipal) -> UnreadCount:
    """How many items of my inbox are unread."""
    await refresh_caller(runtime, wiring(request), principal, request)
    async with runtime.uow(readonly=True) as uow:
        return UnreadCount(unread=await inbox.unread_count(uow, principal.sub))


@router.post("/inbox/{item_id}/read", response_model=InboxItemPublic, responses=problems.responses(401, 404))
async def mark_read(
    item_id: str,
    request: Request,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
) -> InboxItemPublic:
    """Mark one of my inbox items read (idempotent)."""
    if len(item_id) > MAX_ID:
        raise NotFound(f"no inbox item {item_id[:MAX_ID]}…")
    async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
        row = await inbox.mark_read(uow, principal.sub, item_id)
        await uow.commit()
    return InboxItemPublic.model_validate(row, from_attributes=True)


@router.post("/inbox/read-all", response_model=MarkedRead, responses=problems.responses(401))
async def mark_all_read(request: Request, runtime: RuntimeDep, principal: CurrentPrincipal) -> MarkedRead:
    """Mark every item of my inbox read."""
    async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
        marked = await inbox.mark_all_read(uow, principal.sub)
        await uow.commit()
    return MarkedRead(marked=marked)


@router.get("/recipients/me", response_model=RecipientPublic, responses=problems.responses(401))
async def get_me(request: Request, runtime: RuntimeDep, principal: CurrentPrincipal) -> Response:
    """My directory entry (addresses masked)."""
    w = wiring(request)
    await refresh_caller(runtime, w, principal, request)
    async with runtime.uow(readonly=True) as uow:
        row = await directory.load_recipient(uow, principal.sub)
    return json_response(directory.recipient_public(w.deps, row), headers={"ETag": etag(row.version)})


@router.put("/recipients/me", response_model=RecipientPublic, responses=problems.responses(401, 412, 422, 428))
async def put_me(body: RecipientUpdate, request: Request, runtime: RuntimeDep, principal: CurrentPrincipal) -> Response:
    """Set how I am reached: email, mobile (for SMS), language, channels (If-None-Match: * or If-Match)."""
    w = wiring(request)
    async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
        row = await directory.put_recipient(uow, w.deps, principal, body, request)
        await uow.commit()
    return json_response(directory.recipient_public(w.deps, row), headers={"ETag": etag(row.version)})


@router.get("/preferences", response_model=PreferencesPublic, responses=problems.responses(401))
async def get_preferences(request: Request, runtime: RuntimeDep, principal: CurrentPrincipal) -> Response:
    """My mutes, per-type channels and digest (defaults until I save them)."""
    await refresh_caller(runtime, wiring(request), principal, request)
    async with runtime.uow(readonly=True) as uow:
        row = await directory.get_preferences(uow, principal.sub)
    public = directory.preferences_public(row, principal.role)
    return json_response(public, headers={"ETag": etag(public.version)} if row is not None else None)


@router.put("/preferences", response_model=PreferencesPublic, responses=problems.responses(401, 412, 422, 428))
async def put_preferences(
    body: PreferencesUpdate, request: Request, runtime: RuntimeDep, principal: CurrentPrincipal
) -> Response:
    """Save my preferences; legal notices cannot be muted (422 `preferences.mandatory_type`)."""
    w = wiring(request)
    async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
        await directory.ensure_recipient(uow, w.deps, principal)
        row = await directory.put_preferences(uow, principal, body, request)
        await uow.commit()
    public = directory.preferences_public(row, principal.role)
    return json_response(public, headers={"ETag": etag(public.version)})


@router.get("/notification-types", response_model=list[NotificationTypePublic], responses=problems.responses(401))
async def notification_types(principal: CurrentPrincipal) -> list[NotificationTypePublic]:
    """Every notification type, who hears it and whether it is a legal notice."""
    return directory.notification_types()

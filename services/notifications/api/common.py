"""What every notifications route shares: the wiring, the caller's directory entry, pagination."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from services.notifications.handlers.directory import ensure_recipient, needs_refresh
from services.notifications.handlers.wiring import Wiring, wiring_of
from shared.auth import Principal
from shared.deps import actor_of, request_id
from shared.http import Cursor
from shared.problems import BadRequest
from shared.runtime import Runtime


def wiring(request: Request) -> Wiring:
    runtime: Runtime = request.app.state.runtime
    return wiring_of(runtime)


async def refresh_caller(runtime: Runtime, w: Wiring, principal: Principal, request: Request) -> None:
    """First use (and any change of the token's claims) updates the directory; reads stay reads."""
    async with runtime.uow(readonly=True) as uow:
        stale = await needs_refresh(uow, w.deps, principal)
    if stale:
        async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
            await ensure_recipient(uow, w.deps, principal)
            await uow.commit()


def before_id(cursor: str | None) -> str | None:
    values = Cursor.decode(cursor)
    if values is None:
        return None
    if len(values) != 1 or not isinstance(values[0], str):
        raise BadRequest("the cursor is malformed; start again without it", code="cursor.invalid")
    return values[0]


def page(rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    items = rows[:limit]
    return items, Cursor.encode([items[-1].id]) if len(rows) > limit and items else None

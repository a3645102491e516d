"""How a registry route runs a command: authorize, one unit of work, idempotency, ETag."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import BaseModel

from services.registry.handlers.common import org_for_write
from services.registry.models import Organization
from shared.auth import Principal
from shared.deps import actor_of, request_id, require_role
from shared.http import Idempotency, etag, json_response
from shared.problems import PreconditionFailed
from shared.runtime import Runtime
from shared.uow import UnitOfWork

PREFIX = "/registry/v1"


async def registry_runtime(request: Request) -> Runtime:
    """The app's runtime, as an async dependency: a sync one costs a thread-pool hop per request."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RegistryRuntime = Annotated[Runtime, Depends(registry_runtime)]
Action = Callable[[UnitOfWork], Awaitable[tuple[BaseModel, int | None]]]


async def run_command(
    request: Request,
    principal: Principal,
    runtime: Runtime,
    *,
    body: BaseModel | None,
    action: Action,
    status_code: int = 200,
    location: Callable[[BaseModel], str] | None = None,
    idempotent: bool | None = True,
) -> Response:
    """`action(uow)` returns the response model and the organization's version (for the ETag).
    `idempotent`: True — Idempotency-Key required (POSTs that create); None — honoured when sent
    (state transitions such as a removal); False — not used (PATCH, guarded by If-Match)."""
    if idempotent is None:
        idempotent = "idempotency-key" in request.headers
    idem = (
        Idempotency(request, sub=principal.sub, body=body.model_dump(mode="json") if body else {})
        if idempotent
        else None
    )
    async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
        if idem is not None and (replay := await idem.begin(uow)) is not None:
            return replay.to_response()
        public, version = await action(uow)
        headers: dict[str, str] = {}
        if version is not None:
            headers["ETag"] = etag(version)
        if location is not None:
            headers["Location"] = location(public)
        response = json_response(public, status_code=status_code, headers=headers)
        if idem is not None:
            await idem.store(uow, response)
        await uow.commit()
    return response


def check_optional_if_match(request: Request, org: Organization) -> None:
    """Commands posted to an organization honour If-Match when sent (412 when stale)."""
    header = request.headers.get("if-match")
    if header is None:
        return
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    if "*" not in tags and etag(org.version) not in tags:
        raise PreconditionFailed(f"the organization is at version {org.version}; reload it and retry")


async def writable_org(uow: UnitOfWork, request: Request, principal: Principal, org_id: str) -> Organization:
    require_role(principal, "officer", "admin")
    org = await org_for_write(uow, principal, org_id)
    check_optional_if_match(request, org)
    return org


def json(model: Any, version: int | None = None) -> Response:
    return json_response(model, headers={"ETag": etag(version)} if version is not None else None)

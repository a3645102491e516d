"""FastAPI dependencies every service uses: the runtime, the caller, role checks.

Contract:
- `RuntimeDep` is the app's `Runtime` (set on `app.state.runtime` by the composition root).
- `CurrentPrincipal` requires a valid bearer token (401 problem otherwise; 503 when the identity
  provider's keys cannot be fetched). `OptionalPrincipal` is None without an Authorization header.
- `require_role(principal, *roles)` raises 403 naming the roles allowed.
- `actor_of(principal)` is the audit identity handed to the unit of work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth import InvalidToken, KeySetUnavailable, Principal
from shared.problems import Forbidden, ServiceUnavailable, Unauthorized
from shared.uow import Actor

if TYPE_CHECKING:
    from shared.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="JWT (RS256) from the identity provider")


async def get_runtime(request: Request) -> Runtime:
    # async on purpose: FastAPI runs a sync dependency in the thread pool, a hop on every request.
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated["Runtime", Depends(get_runtime)]


async def _principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
    if credentials is None:
        if request.headers.get("authorization"):
            raise Unauthorized("expected Authorization: Bearer <token>")
        return None
    runtime: Runtime = request.app.state.runtime
    try:
        principal = await runtime.verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from None
    except KeySetUnavailable as exc:
        raise ServiceUnavailable(f"cannot verify tokens now: {exc}") from None
    request.state.principal = principal
    return principal


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    principal = await _principal(request, credentials)
    if principal is None:
        raise Unauthorized("this route needs a bearer token")
    return principal


async def optional_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    return await _principal(request, credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise Forbidden(f"this action needs one of the roles: {', '.join(roles)}; the token has {principal.role}")


def actor_of(principal: Principal | None) -> Actor:
    if principal is None:
        return Actor(sub="anonymous", role="anonymous")
    return Actor(sub=principal.sub, role=principal.role)


def request_id(request: Request) -> str | None:
    value: Any = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None

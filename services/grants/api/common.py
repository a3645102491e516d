"""What every route module uses: the runtime, idempotent command execution, error mapping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response

from services.grants.domain import DomainError, FieldErrors
from shared import problems
from shared.auth import Principal
from shared.deps import actor_of, request_id
from shared.http import Idempotency
from shared.uow import UnitOfWork
from shared.workdays import CalendarYearUnknown

if TYPE_CHECKING:
    from shared.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def uow_for(request: Request, principal: Principal | None, *, readonly: bool = False) -> UnitOfWork:
    return runtime_of(request).uow(actor=actor_of(principal), request_id=request_id(request), readonly=readonly)


async def idempotent(
    request: Request,
    principal: Principal,
    fingerprint_body: Any,
    work: Callable[[UnitOfWork], Awaitable[Response]],
) -> Response:
    """Run a creating / money-moving command once per Idempotency-Key (API.md "Idempotency").

    The path parameters are part of the fingerprint: the key scope is the route template, so the
    same key sent for another resource is a different body (422), never a replay of the first.
    """
    body = {"path": dict(request.path_params), "body": fingerprint_body}
    idem = Idempotency(request, sub=principal.sub, body=body)
    async with uow_for(request, principal) as uow:
        replay = await idem.begin(uow)
        if replay is not None:
            return replay.to_response()
        response = await work(uow)
        await idem.store(uow, response)
        await uow.commit()
    return response


def install_error_mapping(app: FastAPI) -> None:
    """Domain refusals become problem+json: rule → 422, state conflict → 409, not found → 404."""

    async def on_domain(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        status = {"rule": 422, "conflict": 409, "not_found": 404}[exc.kind]
        problem = problems.RuleViolation(exc.rule, exc.detail, basis=exc.basis, status=status)
        problem.extra.update(exc.extra)
        return problems.problem_response(problem, request)

    async def on_fields(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FieldErrors)
        return problems.problem_response(problems.Unprocessable(str(exc), errors=exc.errors), request)

    async def on_calendar(request: Request, exc: Exception) -> Response:
        problem = problems.Conflict(
            str(exc), code="calendar.year_unknown", title_zh="工作日历未知", title_en="Working-day calendar unknown"
        )
        return problems.problem_response(problem, request)

    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(FieldErrors, on_fields)
    app.add_exception_handler(CalendarYearUnknown, on_calendar)

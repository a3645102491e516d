"""What every route module of the evaluation API shares: running a command, mapping domain errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from services.evaluation.domain.points import DomainError, Invalid, RuleBroken
from services.evaluation.handlers.context import Context, context_of
from shared.auth import Principal
from shared.deps import actor_of, request_id
from shared.http import XLSX, Cursor, Idempotency, etag, json_response, wants_xlsx, xlsx_bytes
from shared.problems import Conflict, Problem, RuleViolation, Unprocessable, problem_response
from shared.runtime import Runtime
from shared.uow import UnitOfWork
from shared.workdays import CalendarYearUnknown

Work = Callable[[UnitOfWork, Context], Awaitable[tuple[Any, dict[str, str]]]]


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def dump(body: BaseModel | None) -> Any:
    return body.model_dump(mode="json") if body is not None else {}


async def command(
    request: Request,
    principal: Principal,
    work: Work,
    *,
    body: Any = None,
    status_code: int = 200,
    idempotency: str = "optional",  # required | optional
) -> Response:
    """One unit of work: idempotency (required for creating POSTs, honoured when sent otherwise), the
    handler's work, the response stored with the key, one commit."""
    runtime = runtime_of(request)
    ctx = context_of(runtime)
    idem = None
    if idempotency == "required" or request.headers.get("idempotency-key") is not None:
        idem = Idempotency(request, sub=principal.sub, body=body if body is not None else {})
    async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
        if idem is not None and (replay := await idem.begin(uow)) is not None:
            return replay.to_response()
        try:
            payload, headers = await work(uow, ctx)
            response = json_response(payload, status_code=status_code, headers=headers)
            if idem is not None:
                await idem.store(uow, response)
            await uow.commit()
        except IntegrityError:
            # two requests raced to create the same thing (a unique key): the loser is told, never a 500
            raise Conflict(
                "a concurrent request changed or created the same resource; reload and retry",
                code="conflict.concurrent",
            ) from None
    return response


async def query(request: Request, work: Callable[[UnitOfWork, Context], Awaitable[Any]]) -> Any:
    runtime = runtime_of(request)
    async with runtime.uow(readonly=True, request_id=request_id(request)) as uow:
        return await work(uow, context_of(runtime))


def versioned(payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    return payload, {"ETag": etag(int(payload.get("version", 1)))}


def page(items: list[Any], limit: int, key: Callable[[Any], list[Any]]) -> dict[str, Any]:
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": Cursor.encode(key(items[-1])) if more and items else None}


def listing(request: Request, result: dict[str, Any], *, sheet: str) -> Response:
    """A list as `{items, next_cursor}`, or as XLSX when the client asks for it (API.md "Lists")."""
    if wants_xlsx(request):
        return Response(
            xlsx_bytes(result["items"], sheet=sheet),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{sheet}.xlsx"'},
        )
    return json_response(result)


def to_problem(exc: Exception) -> Problem:
    if isinstance(exc, RuleBroken):
        return RuleViolation(exc.rule, exc.detail, basis=exc.basis, status=exc.status)
    if isinstance(exc, Invalid):
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors[:5])
        if exc.rule:
            return RuleViolation(exc.rule, detail, errors=exc.errors)
        return Unprocessable(detail, errors=exc.errors)
    if isinstance(exc, CalendarYearUnknown):
        return Conflict(
            str(exc),
            code=CalendarYearUnknown.code,
            title_zh="工作日历缺少该年度",
            title_en="Working-day calendar does not know the year",
        )
    raise TypeError(exc)


def install_error_mapping(app: FastAPI) -> None:
    async def on_domain(request: Request, exc: Exception) -> Response:
        return problem_response(to_problem(exc), request)

    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(CalendarYearUnknown, on_domain)

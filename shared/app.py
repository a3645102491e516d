"""App defaults every service gets from `create_service_app` (API.md).

Contract:
- Routes: `/<svc>/healthz` (process alive), `/<svc>/readyz` (database answers), `/<svc>/metrics`
  (this app's own Prometheus registry), `/<svc>/openapi.json`, `/<svc>/docs` (Swagger UI served
  from vendored assets: intranets cannot reach a CDN), `GET /<svc>/v1/audit?resource=` (officer,
  admin), `GET|PUT /<svc>/v1/admin/calendar/{year}` (admin), `GET /<svc>/v1/admin/event-positions
  ?topic=&key=` (admin: the last `sequence` this service produced for that key, and the last each of
  its consumers applied — so a client can wait until an effect has reached the services that react
  to it); a standalone service also answers bare
  `/healthz` and `/readyz`; in development mode `POST /_dev/clock` (admin) moves the clock.
- `RequestMiddleware` (pure ASGI, one per app): request id, body limits (JSON ≤ 1 MiB and nesting
  ≤ 32, uploads ≤ 20 MiB → 413/400 problems before the route runs), invalid UTF-8 in JSON → 400,
  unsupported body media types → 415, one server span per request, request metrics by route
  template.
- The lifespan starts and stops the runtime in the role it was given (api, worker or all).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from opentelemetry import context as otel_context
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, text

from shared import problems
from shared.deps import CurrentPrincipal, actor_of, require_role
from shared.http import Cursor, Page, list_response
from shared.problems import MEDIA_TYPE, BadRequest, NotFound, PayloadTooLarge, Problem, UnsupportedMediaType
from shared.telemetry import parent_context
from shared.workdays import CalendarFileError, CalendarYearUnknown, parse_year

if TYPE_CHECKING:
    from shared.runtime import Runtime

STATIC = Path(__file__).resolve().parent / "static" / "swagger-ui"
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BODY_TYPES = (
    "application/json",
    "multipart/form-data",
    "application/x-www-form-urlencoded",
    "text/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/octet-stream",
)


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True when JSON nesting goes deeper than `limit` (strings are skipped)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


class RequestMiddleware:
    def __init__(self, app: ASGIApp, *, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status_holder = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", request_id.encode())]
            await send(message)

        tracer = self.runtime.telemetry.tracer
        ctx = parent_context(headers.get("traceparent")) if "traceparent" in headers else None
        started = time.perf_counter()
        method = scope["method"]
        span = tracer.start_span(f"HTTP {method}", context=ctx, kind=trace.SpanKind.SERVER)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            problem, receive = await self._check_body(scope, headers, receive)
            if problem is not None:
                await self._send_problem(scope, send_wrapper, problem, headers)
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            otel_context.detach(token)
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            if span.is_recording():
                span.update_name(f"{method} {template}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", status_holder[0])
                if status_holder[0] >= 500:
                    span.set_status(trace.StatusCode.ERROR)
            span.end()
            metrics = self.runtime.metrics
            metrics.http_requests.labels(method, template, str(status_holder[0])).inc()
            metrics.http_duration.labels(method, template).observe(time.perf_counter() - started)

    async def _check_body(
        self, scope: Scope, headers: dict[str, str], receive: Receive
    ) -> tuple[Problem | None, Receive]:
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return None, receive
        settings = self.runtime.settings
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        is_json = content_type == "application/json" or content_type.endswith("+json") or not content_type
        limit = settings.max_body_bytes if is_json else settings.max_upload_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}"), receive
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return PayloadTooLarge(f"the body exceeds the limit of {limit} bytes"), receive
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body and content_type and not is_json and not content_type.startswith(_BODY_TYPES):
            return UnsupportedMediaType(f"unsupported Content-Type {content_type!r}; send application/json"), receive
        if body and is_json:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                return BadRequest("the body is not valid UTF-8", code="body.invalid_utf8"), receive
            if json_depth_exceeds(body, settings.max_json_depth):
                return BadRequest(f"JSON nesting deeper than {settings.max_json_depth}", code="body.too_deep"), receive
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return None, replay

    @staticmethod
    async def _send_problem(scope: Scope, send: Send, problem: Problem, headers: dict[str, str]) -> None:
        language = "en" if headers.get("accept-language", "").lower().startswith("en") else "zh"
        body = orjson.dumps(problem.body(instance=scope["path"], language=language))
        await send(
            {
                "type": "http.response.start",
                "status": problem.status,
                "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


# -- default routes ------------------------------------------------------------------------------


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor_sub: str
    actor_role: str
    action: str
    resource: str
    request_id: str | None
    detail: dict[str, Any]


class CalendarDay(BaseModel):
    day: date
    is_working_day: bool
    name: str | None = None


class CalendarYear(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int
    source: str = Field(min_length=1, max_length=300)
    holidays: list[dict[str, Any]] = Field(default_factory=list, max_length=400)
    adjusted_working_days: list[date] = Field(default_factory=list, max_length=100)


class CalendarYearPublic(BaseModel):
    year: int
    source: str
    working_days: int
    holidays: list[CalendarDay]
    adjusted_working_days: list[date]


class ConsumerPosition(BaseModel):
    consumer: str
    sequence: int


class EventPositions(BaseModel):
    topic: str
    key: str
    produced: int | None = Field(description="the last sequence this service staged for the key (null: none)")
    consumed: list[ConsumerPosition] = Field(description="the last sequence each of its consumers applied")


class ClockMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    set: datetime | None = Field(default=None, description="jump to this instant (with offset)")
    advance_seconds: float | None = Field(default=None, ge=0, le=10 * 366 * 86400)
    reset: bool = False


class ClockPublic(BaseModel):
    now: datetime
    moved: bool


def _default_router(runtime: Runtime) -> APIRouter:
    svc = runtime.settings.service
    router = APIRouter()

    @router.get(f"/{svc}/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": svc}

    @router.get(f"/{svc}/readyz", include_in_schema=False)
    async def readyz() -> Response:
        ready, detail = await runtime.ready()
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "detail": detail}, status_code=200 if ready else 503
        )

    @router.get(f"/{svc}/metrics", include_in_schema=False)
    async def metrics() -> Response:
        await runtime.refresh_gauges()
        return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4")

    @router.get(
        f"/{svc}/v1/audit", response_model=Page[AuditEntry], tags=["audit"], responses=problems.responses(400, 401, 403)
    )
    async def audit(
        request: Request,
        principal: CurrentPrincipal,
        resource: Annotated[str, Query(min_length=1, max_length=200, description="e.g. organizations/<id>")],
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        """Audit trail of a resource, oldest first (officers, admins)."""
        require_role(principal, "officer", "admin")
        after = Cursor.decode(cursor)
        table = runtime.infra.audit_log
        stmt = select(table).where(table.c.resource == resource).order_by(table.c.id).limit(limit + 1)
        if after:
            if not isinstance(after[0], int):
                raise BadRequest("the cursor is malformed", code="cursor.invalid")
            stmt = stmt.where(table.c.id > after[0])
        async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
            rows = (await uow.conn.execute(stmt)).mappings().all()
        items = [AuditEntry(**row) for row in rows[:limit]]
        next_cursor = Cursor.encode([items[-1].id]) if len(rows) > limit else None
        return list_response(request, Page[AuditEntry](items=items, next_cursor=next_cursor), sheet="audit")

    @router.get(
        f"/{svc}/v1/admin/calendar/{{year}}",
        response_model=CalendarYearPublic,
        tags=["calendar"],
        responses=problems.responses(401, 404),
    )
    async def get_calendar(year: int, principal: CurrentPrincipal) -> CalendarYearPublic:
        """The working-day calendar of one year."""
        try:
            overrides = runtime.calendar.calendar.year(year)
        except CalendarYearUnknown:
            raise NotFound(f"no calendar for {year}", code="calendar.year_unknown") from None
        return _calendar_public(runtime, overrides)

    @router.put(
        f"/{svc}/v1/admin/calendar/{{year}}",
        response_model=CalendarYearPublic,
        tags=["calendar"],
        responses=problems.responses(401, 403, 412, 422, 428),
    )
    async def put_calendar(year: int, body: CalendarYear, request: Request, principal: CurrentPrincipal) -> Response:
        """Load or replace one year of the holiday calendar (admin)."""
        require_role(principal, "admin")
        if body.year != year:
            raise problems.Unprocessable(
                "year in the body differs from the path", errors=[{"field": "year", "message": f"must be {year}"}]
            )
        try:
            overrides = parse_year(body.model_dump(mode="json"))
        except CalendarFileError as exc:
            raise problems.Unprocessable(str(exc), errors=[{"field": "holidays", "message": str(exc)}]) from None
        exists = year in runtime.calendar.calendar.known_years
        if exists and request.headers.get("if-match") is None and request.headers.get("if-none-match") is None:
            raise problems.PreconditionRequired("this year exists: send If-Match: *")
        if not exists and request.headers.get("if-none-match") is None and request.headers.get("if-match") is None:
            raise problems.PreconditionRequired("this PUT creates the year: send If-None-Match: *")
        async with runtime.uow(actor=actor_of(principal)) as uow:
            await runtime.calendar.put_year(uow, overrides)
            await uow.commit()
        return JSONResponse(_calendar_public(runtime, overrides).model_dump(mode="json"))

    @router.get(
        f"/{svc}/v1/admin/event-positions",
        response_model=EventPositions,
        tags=["operations"],
        responses=problems.responses(401, 403),
    )
    async def event_positions(
        principal: CurrentPrincipal,
        topic: Annotated[str, Query(min_length=1, max_length=200, description="e.g. registry.organization")],
        key: Annotated[str, Query(min_length=1, max_length=200, description="the record key, e.g. an org_id")],
    ) -> EventPositions:
        """How far one key of a topic got here: the last sequence produced and applied per consumer (admin)."""
        require_role(principal, "admin")
        produced_t, consumed_t = runtime.infra.outbox_sequences, runtime.infra.consumer_positions
        async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
            produced = (
                await uow.conn.execute(
                    select(produced_t.c.last_sequence).where(produced_t.c.topic == topic, produced_t.c.key == key)
                )
            ).scalar_one_or_none()
            rows = (
                await uow.conn.execute(
                    select(consumed_t.c.consumer, consumed_t.c.sequence)
                    .where(consumed_t.c.topic == topic, consumed_t.c.key == key)
                    .order_by(consumed_t.c.consumer)
                )
            ).all()
        return EventPositions(
            topic=topic,
            key=key,
            produced=produced,
            consumed=[ConsumerPosition(consumer=r.consumer, sequence=r.sequence) for r in rows],
        )

    return router


def _calendar_public(runtime: Runtime, overrides: Any) -> CalendarYearPublic:
    calendar = runtime.calendar.calendar
    first = date(overrides.year, 1, 1)
    days = [first + timedelta(days=i) for i in range((date(overrides.year + 1, 1, 1) - first).days)]
    return CalendarYearPublic(
        year=overrides.year,
        source=overrides.source,
        working_days=sum(calendar.is_working_day(d) for d in days),
        holidays=[CalendarDay(day=d, is_working_day=False, name=n) for d, n in sorted(overrides.holidays.items())],
        adjusted_working_days=sorted(overrides.adjusted_working_days),
    )


def dev_clock_router(runtimes: Sequence[Runtime]) -> APIRouter:
    """`POST /_dev/clock` (admin, development only): moves the clock all given runtimes share."""
    router = APIRouter()
    first = runtimes[0]

    @router.get("/_dev/clock", response_model=ClockPublic, include_in_schema=False)
    async def read_clock() -> ClockPublic:
        clock: Any = first.clock
        return ClockPublic(now=clock.now(), moved=bool(getattr(clock, "moved", False)))

    @router.post("/_dev/clock", response_model=ClockPublic, include_in_schema=False)
    async def move_clock(body: ClockMove, principal: CurrentPrincipal) -> ClockPublic:
        require_role(principal, "admin")
        clock: Any = first.clock
        if body.reset:
            clock.reset()
        if body.set is not None:
            if body.set.tzinfo is None:
                raise problems.Unprocessable(
                    "set needs a UTC offset", errors=[{"field": "set", "message": "instant without offset"}]
                )
            clock.set(body.set)
        if body.advance_seconds:
            clock.advance(timedelta(seconds=body.advance_seconds))
        for runtime in runtimes:
            runtime.clock_moved()
        return ClockPublic(now=clock.now(), moved=bool(getattr(clock, "moved", False)))

    return router


def _install_docs(app: FastAPI, svc: str, title: str) -> None:
    app.mount(f"/{svc}/docs/assets", StaticFiles(directory=STATIC), name=f"{svc}-docs-assets")

    @app.get(f"/{svc}/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"/{svc}/openapi.json",
            title=f"{title} — API",
            swagger_js_url=f"/{svc}/docs/assets/swagger-ui-bundle.js",
            swagger_css_url=f"/{svc}/docs/assets/swagger-ui.css",
            swagger_favicon_url=f"/{svc}/docs/assets/favicon-32x32.png",
        )


def _install_problem_schema(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = problems.PROBLEM_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_service_app(
    runtime: Runtime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    role: str = "api",
    standalone: bool = True,
) -> FastAPI:
    svc = runtime.settings.service

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start(role)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        openapi_url=f"/{svc}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    problems.install(app)
    _install_problem_schema(app)
    _install_docs(app, svc, title)
    app.include_router(_default_router(runtime))
    for router in routers:
        app.include_router(router)
    if standalone:

        @app.get("/healthz", include_in_schema=False)
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/readyz", include_in_schema=False)
        async def readyz() -> Response:
            ready, detail = await runtime.ready()
            return JSONResponse(
                {"status": "ready" if ready else "not_ready", "detail": detail}, status_code=200 if ready else 503
            )

        if runtime.settings.development:
            app.include_router(dev_clock_router([runtime]))
    app.add_middleware(RequestMiddleware, runtime=runtime)
    return app


async def database_ready(runtime: Runtime) -> tuple[bool, str]:
    try:
        async with runtime.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True, "database answers"
    except Exception as exc:  # readiness reports, it never raises
        return False, f"database: {type(exc).__name__}"

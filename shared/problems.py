"""Errors as `application/problem+json` (RFC 9457), mapped once for every service (API.md).

Contract:
- Domain code raises `Problem` subclasses (`NotFound`, `Conflict`, `RuleViolation`, `Forbidden`,
  `Unauthorized`, `PreconditionFailed`, `PreconditionRequired`, `BadRequest`, `Unprocessable`,
  `PayloadTooLarge`, `ServiceUnavailable`) carrying a stable `code` (becomes the `type` URI and,
  for rule violations, `rule`), a Chinese and an English title, a detail, and for rule violations
  the `basis` (regulation article or the call's own notice).
- `install(app)` maps them, FastAPI's validation errors (422 with `errors[{field, message}]` in
  dotted body paths), HTTP errors, SQLite busy and serialization failures (503 with Retry-After,
  never 500) and anything unexpected (500, logged, no internals leaked); and documents in the
  OpenAPI document the problems the shared layers answer on any route (`shared_responses`), so a
  route's own `responses=problems.responses(...)` lists only what its handler raises.
- The title follows `Accept-Language` (zh-CN default, en); `title_en` is always present.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("gongyi.problems")

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:gongyi:problem:"


class Problem(Exception):
    status = 500
    code = "internal"
    title_zh = "服务器内部错误"
    title_en = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        title_zh: str | None = None,
        title_en: str | None = None,
        rule: str | None = None,
        basis: str | None = None,
        errors: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title_en)
        self.detail = detail
        if code:
            self.code = code
        if title_zh:
            self.title_zh = title_zh
        if title_en:
            self.title_en = title_en
        self.rule = rule
        self.basis = basis
        self.errors = list(errors) if errors else None
        self.headers = headers or {}
        self.extra = extra

    def body(self, *, instance: str, language: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.code,
            "title": self.title_en if language == "en" else self.title_zh,
            "title_en": self.title_en,
            "status": self.status,
            "detail": self.detail or self.title_en,
            "instance": instance,
        }
        if self.rule:
            body["rule"] = self.rule
        if self.basis:
            body["basis"] = self.basis
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class BadRequest(Problem):
    status, code, title_zh, title_en = 400, "bad_request", "请求格式错误", "Malformed request"


class Unauthorized(Problem):
    status, code, title_zh, title_en = 401, "unauthorized", "未认证或令牌无效", "Missing or invalid credentials"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="gongyi"'})
        super().__init__(detail, **kw)


class Forbidden(Problem):
    status, code, title_zh, title_en = 403, "forbidden", "无权执行此操作", "Forbidden"


class NotFound(Problem):
    status, code, title_zh, title_en = 404, "not_found", "资源不存在", "Not found"


class Conflict(Problem):
    status, code, title_zh, title_en = 409, "conflict", "与当前状态冲突", "Conflict with the current state"


class PreconditionFailed(Problem):
    status, code, title_zh, title_en = (
        412,
        "precondition.stale",
        "资源已被他人修改，请刷新后重试",
        "The resource changed; If-Match is stale",
    )


class PayloadTooLarge(Problem):
    status, code, title_zh, title_en = 413, "payload.too_large", "请求体过大", "Request body too large"


class UnsupportedMediaType(Problem):
    status, code, title_zh, title_en = 415, "media_type.unsupported", "不支持的媒体类型", "Unsupported media type"


class Unprocessable(Problem):
    status, code, title_zh, title_en = 422, "validation", "请求内容校验失败", "Validation failed"


class RuleViolation(Problem):
    """A business rule refused the request; names the rule and its basis."""

    status, code, title_zh, title_en = 422, "rule", "不符合业务规则", "Rule violation"

    def __init__(
        self,
        rule: str,
        detail: str,
        *,
        basis: str | None = None,
        status: int | None = None,
        title_zh: str | None = None,
        title_en: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(detail, code=rule, rule=rule, basis=basis, title_zh=title_zh, title_en=title_en, **kw)
        if status is not None:
            self.status = status


class PreconditionRequired(Problem):
    status, code, title_zh, title_en = (
        428,
        "precondition.required",
        "缺少 If-Match 请求头",
        "If-Match is required",
    )


class ServiceUnavailable(Problem):
    status, code, title_zh, title_en = 503, "unavailable", "服务繁忙，请稍后重试", "Busy, retry later"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": "1"})
        super().__init__(detail, **kw)


def language(request: Request) -> str:
    accept = request.headers.get("accept-language", "")
    first = accept.split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh"


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        problem.body(instance=str(request.url.path), language=language(request)),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=problem.headers,
    )


def _field_path(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where, parts = parts[0], parts[1:]
        if where != "body" and parts:
            return f"{where}.{'.'.join(parts)}"
    return ".".join(parts) or "body"


def validation_problem(errors: Sequence[Any]) -> Unprocessable:
    items = []
    for err in errors:
        message = str(err.get("msg", "invalid"))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        items.append({"field": _field_path(err.get("loc", ())), "message": message})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in items[:5])
    return Unprocessable(detail, errors=items)


_STATUS_PROBLEMS: dict[int, type[Problem]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: Unprocessable,
    428: PreconditionRequired,
    503: ServiceUnavailable,
}


def install(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc, request)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        # FastAPI reports an unparsable JSON body as a validation error; it is a malformed request.
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem_response(BadRequest("the body is not valid JSON"), request)
        return problem_response(validation_problem(errors), request)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        cls = _STATUS_PROBLEMS.get(exc.status_code)
        if cls is None:
            problem = Problem(str(exc.detail))
            problem.status = exc.status_code
            problem.code = f"http.{exc.status_code}"
            problem.title_zh = problem.title_en = str(exc.detail)
        else:
            problem = cls(str(exc.detail) if exc.detail else None)
        if exc.status_code == 405:
            problem.code, problem.title_zh, problem.title_en = "method_not_allowed", "方法不允许", "Method not allowed"
        problem.headers.update(getattr(exc, "headers", None) or {})
        return problem_response(problem, request)

    async def on_database(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DBAPIError)
        from shared.consumer import is_transient

        if is_transient(exc):
            # SQLite busy beyond its timeout, a serialization failure or a lost connection: the
            # client retries; a busy database never surfaces as a 500.
            return problem_response(ServiceUnavailable("the database is busy; retry the request"), request)
        log.exception("database error on %s %s", request.method, request.url.path)
        return problem_response(Problem("unexpected database error"), request)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(Problem("unexpected error; it has been logged"), request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(OperationalError, on_database)
    app.add_exception_handler(DBAPIError, on_database)
    app.add_exception_handler(Exception, on_unexpected)

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_shared_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "title_en", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "title_en": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "rule": {"type": "string"},
        "basis": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}},
        },
    },
    "additionalProperties": True,
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting a route's problem responses."""
    return {
        status: {
            "description": (_STATUS_PROBLEMS.get(status) or Problem).title_en,
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


_PROBLEM_REF = "#/components/schemas/Problem"
_FASTAPI_VALIDATION_REF = "#/components/schemas/HTTPValidationError"


def document_shared_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Document, on every operation of an OpenAPI document, the problems the shared layers answer
    before or around the route (in place; returns the document):

    - 422: FastAPI documents its validation error as `application/json` `HTTPValidationError`; the
      answer is this module's problem (`errors[{field, message}]`), so that is what is documented.
    - 400, 413, 415 where a request body is read: malformed JSON, invalid UTF-8 or nesting too deep,
      a body over the limit, an unsupported media type (`shared.app.RequestMiddleware`).
    - 401 where a bearer token is read (`shared.deps`): a token that does not verify.
    - 503 everywhere: a busy database or an unreachable identity provider (retry after `Retry-After`).
    """
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            answers: dict[str, Any] = operation["responses"]
            for status, answer in list(answers.items()):
                content = answer.get("content", {})
                if content.get("application/json", {}).get("schema", {}).get("$ref") == _FASTAPI_VALIDATION_REF:
                    answers[status] = responses(int(status))[int(status)]
            shared = [503]
            if "requestBody" in operation:
                shared += [400, 413, 415]
            if operation.get("security"):
                shared.append(401)
            if operation.get("parameters") or "requestBody" in operation:
                shared.append(422)
            for code, answer in responses(*shared).items():
                answers.setdefault(str(code), answer)
            operation["responses"] = dict(sorted(answers.items()))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Problem", PROBLEM_SCHEMA)
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's, now unreferenced
        if f'"#/components/schemas/{name}"' not in json.dumps({**schema, "components": {}}) + json.dumps(
            {k: v for k, v in components.items() if k != name}
        ):
            components.pop(name, None)
    return schema

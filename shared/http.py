"""HTTP conventions shared by every route (API.md "Conventions").

Contract:
- Idempotency: `idempotency_key(request)` reads `Idempotency-Key` (1–255 printable characters,
  400 otherwise). `Idempotency.begin(uow, ...)` inside the business unit of work either returns the
  stored response (same key, same body fingerprint → replay with `Idempotent-Replayed: true`),
  refuses another body under the same key (422 `idempotency.key_reused`) or a retry while the
  first is still running (409 `idempotency.in_progress`, PostgreSQL advisory lock), or lets the
  command run; `store(...)` writes the key row in the same transaction. Keys are scoped to
  (token `sub`, method, route template) and honoured for 7 days.
- Optimistic concurrency: `etag(version)`, `require_if_match(request, version)` (428 absent,
  412 stale), `require_if_none_match(request)` for a PUT that creates its resource.
- Lists: `Cursor` encodes/decodes opaque cursors (400 when tampered), `Page` is `{items,
  next_cursor}`, and `list_response` answers XLSX instead of JSON when the client asks for it.
- Money on the wire (`Money`): `{"amount": "<decimal string>", "currency": "CNY"}`, amount matching
  DOMAIN.md §3's grammar, converted exactly to integer fen; numbers, exponents, signs and a third
  decimal are refused naming the field.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zlib
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any, Generic, Literal, TypeVar

import orjson
from fastapi import Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import delete, select, text

from shared.problems import BadRequest, Conflict, PreconditionFailed, PreconditionRequired, RuleViolation
from shared.uow import UnitOfWork

IDEMPOTENCY_TTL = timedelta(days=7)
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key")
    if key is None:
        raise BadRequest(
            "this request creates a resource or moves money: send an Idempotency-Key header",
            code="idempotency.key_missing",
        )
    if not _KEY_RE.match(key):
        raise BadRequest("Idempotency-Key must be 1–255 printable ASCII characters", code="idempotency.key_invalid")
    return key


def fingerprint(body: Any) -> str:
    """SHA-256 of the canonical JSON of the body (sorted keys, no whitespace)."""
    if isinstance(body, bytes):
        return hashlib.sha256(body).hexdigest()
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class StoredResponse(BaseModel):
    status_code: int
    body: bytes
    headers: dict[str, str]

    def to_response(self) -> Response:
        headers = dict(self.headers)
        headers["Idempotent-Replayed"] = "true"
        return Response(
            content=self.body,
            status_code=self.status_code,
            headers=headers,
            media_type=headers.pop("content-type", "application/json"),
        )


class Idempotency:
    def __init__(self, request: Request, *, sub: str, body: Any) -> None:
        self.key = idempotency_key(request)
        route = request.scope.get("route")
        template = getattr(route, "path", request.url.path)
        self.scope = f"{sub}|{request.method}|{template}"
        self.fingerprint = fingerprint(body)

    async def begin(self, uow: UnitOfWork) -> StoredResponse | None:
        table = uow.infra.idempotency_keys
        if uow.dialect == "postgresql":
            lock_id = zlib.crc32(f"{self.scope}|{self.key}".encode())
            got = (await uow.conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_id})).scalar_one()
            if not got:
                raise Conflict(
                    "a request with this Idempotency-Key is still being processed", code="idempotency.in_progress"
                )
        row = (
            await uow.conn.execute(
                select(
                    table.c.fingerprint,
                    table.c.status_code,
                    table.c.response_body,
                    table.c.response_headers,
                    table.c.created_at,
                ).where(table.c.scope == self.scope, table.c.key == self.key)
            )
        ).first()
        if row is None:
            return None
        if row.created_at < uow.now - IDEMPOTENCY_TTL:
            await uow.conn.execute(delete(table).where(table.c.scope == self.scope, table.c.key == self.key))
            return None
        if row.fingerprint != self.fingerprint:
            raise RuleViolation(
                "idempotency.key_reused",
                "this Idempotency-Key was used with a different request body",
                title_zh="幂等键已用于不同的请求内容",
                title_en="Idempotency-Key reused with another body",
            )
        return StoredResponse(status_code=row.status_code, body=row.response_body, headers=row.response_headers)

    async def store(self, uow: UnitOfWork, response: Response) -> None:
        keep = {k: v for k, v in response.headers.items() if k.lower() in ("etag", "location", "content-type")}
        await uow.conn.execute(
            uow.infra.idempotency_keys.insert().values(
                scope=self.scope,
                key=self.key,
                fingerprint=self.fingerprint,
                status_code=response.status_code,
                response_body=bytes(response.body),
                response_headers=keep,
                created_at=uow.now,
            )
        )


def json_response(
    model: BaseModel | Mapping[str, Any] | Sequence[Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    if isinstance(model, BaseModel):
        content = model.model_dump_json().encode()
    else:
        content = orjson.dumps(model)
    return Response(content=content, status_code=status_code, media_type="application/json", headers=headers)


# -- optimistic concurrency ----------------------------------------------------------------------


def etag(version: int) -> str:
    return f'"{version}"'


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def require_if_match(request: Request, version: int) -> None:
    header = request.headers.get("if-match")
    if header is None:
        raise PreconditionRequired("send If-Match with the ETag you last read")
    tags = _tags(header)
    if "*" not in tags and etag(version) not in tags:
        raise PreconditionFailed(f"the resource is at version {version}; reload it and retry")


def require_if_none_match(request: Request) -> None:
    """A PUT that creates its resource must say so with `If-None-Match: *`."""
    header = request.headers.get("if-none-match")
    if header is None:
        raise PreconditionRequired(
            "this PUT creates the resource: send If-None-Match: *", code="precondition.required_if_none_match"
        )
    if header.strip() != "*":
        raise PreconditionFailed("If-None-Match must be *")


def require_version_precondition(request: Request, version: int | None) -> None:
    """For PUTs that create or replace: If-None-Match: * when absent, If-Match when present."""
    if version is None:
        require_if_none_match(request)
    elif request.headers.get("if-none-match", "").strip() == "*":
        raise PreconditionFailed("the resource already exists; send If-Match with its ETag")
    else:
        require_if_match(request, version)


# -- lists ---------------------------------------------------------------------------------------

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class Cursor:
    """Opaque, tamper-evident (checksummed) keyset cursors."""

    @staticmethod
    def encode(values: Sequence[Any]) -> str:
        raw = orjson.dumps(list(values))
        return base64.urlsafe_b64encode(zlib.crc32(raw).to_bytes(4, "big") + raw).decode().rstrip("=")

    @staticmethod
    def decode(cursor: str | None) -> list[Any] | None:
        if not cursor:
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            check, payload = raw[:4], raw[4:]
            if zlib.crc32(payload).to_bytes(4, "big") != check:
                raise ValueError("checksum")
            values = orjson.loads(payload)
            if not isinstance(values, list):
                raise ValueError("shape")
            return values
        except (ValueError, orjson.JSONDecodeError):
            raise BadRequest("the cursor is malformed; start again without it", code="cursor.invalid") from None


Limit = Annotated[int, Field(ge=1, le=200)]


def wants_xlsx(request: Request) -> bool:
    return XLSX in request.headers.get("accept", "")


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list):
        out[prefix] = ", ".join(str(v) if not isinstance(v, dict) else orjson.dumps(v).decode() for v in value)
    else:
        out[prefix] = value


def xlsx_bytes(rows: Sequence[Mapping[str, Any]], *, sheet: str = "export") -> bytes:
    from openpyxl import Workbook

    flat: list[dict[str, Any]] = []
    columns: list[str] = []
    for row in rows:
        item: dict[str, Any] = {}
        _flatten("", dict(row), item)
        for column in item:
            if column not in columns:
                columns.append(column)
        flat.append(item)
    workbook = Workbook(write_only=True)
    ws = workbook.create_sheet(sheet[:31])
    ws.append(columns)
    for item in flat:
        ws.append([_cell(item.get(c)) for c in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str | bool):
        return value
    return str(value)


def list_response(request: Request, page: Page[Any], *, sheet: str = "export") -> Response:
    if wants_xlsx(request):
        rows = [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in page.items]
        return Response(
            content=xlsx_bytes(rows, sheet=sheet),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{sheet}.xlsx"'},
        )
    return json_response(page)


# -- money ---------------------------------------------------------------------------------------

AMOUNT_RE = re.compile(r"^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$")


def _strict_amount(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError('amount must be a decimal string such as "50000.00" (JSON numbers are refused)')
    if not AMOUNT_RE.match(value):
        raise ValueError(
            "amount must match ^(0|[1-9][0-9]{0,12})(\\.[0-9]{1,2})?$ (no sign, exponent or third decimal)"
        )
    return value


AmountStr = Annotated[str, BeforeValidator(_strict_amount)]


class Money(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: AmountStr = Field(examples=["50000.00"])
    currency: Literal["CNY"] = "CNY"

    @property
    def fen(self) -> int:
        return to_fen(self.amount)

    @classmethod
    def of_fen(cls, fen: int) -> Money:
        return cls(amount=from_fen(fen))


def to_fen(amount: str) -> int:
    whole, _, frac = amount.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def from_fen(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"

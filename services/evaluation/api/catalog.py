"""Rule sets, band tables and indicator templates: read by anyone signed in, created by officers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from sqlalchemy import select, tuple_

from services.evaluation.api.common import command, listing, page, query
from services.evaluation.handlers.catalog import create_document, get_document
from services.evaluation.handlers.context import Context, execute
from services.evaluation.models import CatalogDocument
from shared import problems
from shared.deps import CurrentPrincipal
from shared.http import Cursor, Limit, json_response
from shared.uow import UnitOfWork
from shared.workdays import local_date

router = APIRouter()
ROUTES = {"rule-sets": "rule_set", "band-tables": "band_table", "indicator-templates": "template"}


def public(row: CatalogDocument) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "id": row.id,
        "version": row.version,
        "name": row.name,
        "effective_from": row.effective_from,
        "preset": row.preset,
        "region_code": row.region_code,
        "copy_of": row.copy_of,
        "created_at": row.created_at,
        "document": row.document,
    }


def _routes(path: str, kind: str) -> None:
    @router.get(f"/{path}", summary=f"List {path} (every version)", responses=problems.responses(400, 401))
    async def list_documents(
        request: Request, principal: CurrentPrincipal, limit: Limit = 50, cursor: str | None = None
    ) -> Response:
        after = Cursor.decode(cursor)

        async def work(uow: UnitOfWork, ctx: Context) -> Any:
            stmt = select(CatalogDocument).where(CatalogDocument.kind == kind)  # type: ignore[arg-type]
            if after:
                stmt = stmt.where(tuple_(CatalogDocument.id, CatalogDocument.version) > tuple_(*after))
            stmt = stmt.order_by(CatalogDocument.id, CatalogDocument.version).limit(limit + 1)  # type: ignore[arg-type]
            rows = (await execute(uow, stmt)).scalars().all()
            return page([public(r) for r in rows], limit, lambda d: [d["id"], d["version"]])

        return listing(request, await query(request, work), sheet="catalog")

    @router.get(
        f"/{path}/{{doc_id}}",
        summary=f"One of the {path}: the version in force, or ?version=",
        responses=problems.responses(401, 404),
    )
    async def get_one(
        request: Request, principal: CurrentPrincipal, doc_id: str, version: Annotated[int | None, Query(ge=1)] = None
    ) -> Response:
        async def work(uow: UnitOfWork, ctx: Context) -> Any:
            row, _ = await get_document(ctx, uow, kind, doc_id, version, on=local_date(uow.now))
            return public(row)

        return json_response(await query(request, work))

    @router.post(
        f"/{path}",
        status_code=201,
        summary=f"Create one of the {path}, a copy with changes, or a new version",
        responses=problems.responses(400, 401, 403, 404, 409, 422),
    )
    async def create(
        request: Request, principal: CurrentPrincipal, body: Annotated[dict[str, Any], Body()]
    ) -> Response:
        async def work(uow: UnitOfWork, ctx: Context) -> tuple[Any, dict[str, str]]:
            row = await create_document(ctx, uow, principal, kind, body)
            return public(row), {"Location": f"{request.url.path}/{row.id}?version={row.version}"}

        return await command(request, principal, work, body=body, status_code=201, idempotency="required")


for _path, _kind in ROUTES.items():
    _routes(_path, _kind)

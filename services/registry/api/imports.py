"""Routes: bulk import as a job with progress, and its per-row error report."""

from __future__ import annotations

import csv
import io as _io
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from services.registry.api.common import PREFIX, RegistryRuntime, json
from services.registry.handlers import imports
from services.registry.handlers.common import actor_of_principal
from services.registry.models import ImportJob, io
from shared import problems
from shared.auth import Principal
from shared.deps import CurrentPrincipal, actor_of, request_id, require_role
from shared.http import XLSX, Idempotency, json_response, xlsx_bytes
from shared.problems import NotFound
from shared.uow import UnitOfWork

router = APIRouter(prefix=PREFIX, tags=["imports"])


async def _job_for(uow: UnitOfWork, principal: Principal, import_id: str) -> ImportJob:
    job = await uow.session.get(ImportJob, import_id[:36])
    if job is None or (principal.role != "admin" and job.actor_sub != principal.sub):
        raise NotFound(f"no import {import_id}")
    return job


@router.post(
    "/imports", status_code=202, response_model=io.ImportPublic, responses=problems.responses(400, 401, 403, 413, 422)
)
async def start_import(
    request: Request,
    principal: CurrentPrincipal,
    runtime: RegistryRuntime,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GB18030) or XLSX with Chinese column headers")],
    mode: Annotated[Literal["per_row", "all_or_nothing"], Form()] = "per_row",
) -> Response:
    """Import organizations from a file, as a job (progress at /imports/{id} and /jobs/{id})."""
    require_role(principal, "officer", "admin")
    content = await file.read()
    idem = Idempotency(request, sub=principal.sub, body=imports_fingerprint(content, mode))
    async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
        if (replay := await idem.begin(uow)) is not None:
            return replay.to_response()
        job = await imports.create_import(
            uow,
            actor_sub=principal.sub,
            actor=actor_of_principal(principal),
            filename=file.filename or "upload",
            content=content,
            mode=mode,
        )
        response = json_response(
            imports.import_public(job), status_code=202, headers={"Location": f"{PREFIX}/imports/{job.id}"}
        )
        await idem.store(uow, response)
        await uow.commit()
    return response


def imports_fingerprint(content: bytes, mode: str) -> bytes:
    return mode.encode() + b"\x00" + content


@router.get("/imports/{import_id}", response_model=io.ImportPublic, responses=problems.responses(401, 404))
@router.get(
    "/jobs/{import_id}", response_model=io.ImportPublic, responses=problems.responses(401, 404), include_in_schema=True
)
async def import_status(import_id: str, principal: CurrentPrincipal, runtime: RegistryRuntime) -> Response:
    """Progress of an import job."""
    async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
        job = await _job_for(uow, principal, import_id)
        public = imports.import_public(job)
    return json(public)


@router.get(
    "/imports/{import_id}/errors", response_model=list[io.ImportErrorPublic], responses=problems.responses(401, 404)
)
async def import_error_report(
    import_id: str, request: Request, principal: CurrentPrincipal, runtime: RegistryRuntime
) -> Response:
    """The per-row error report: JSON, CSV (Accept: text/csv) or XLSX; personal data masked."""
    async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
        job = await _job_for(uow, principal, import_id)
        errors = await imports.import_errors(uow, job.id)
    accept = request.headers.get("accept", "")
    rows = [
        {"行号": e.row_number, "列": e.field, "规则": e.rule, "说明": e.message, "原值": e.value or ""} for e in errors
    ]
    if XLSX in accept:
        return Response(
            xlsx_bytes(rows, sheet="错误报告"),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="import-{job.id}-errors.xlsx"'},
        )
    if "text/csv" in accept:
        buffer = _io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["行号", "列", "规则", "说明", "原值"])
        writer.writeheader()
        writer.writerows(rows)
        return Response(
            ("\ufeff" + buffer.getvalue()).encode(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="import-{job.id}-errors.csv"'},
        )
    return json_response([e.model_dump(mode="json") for e in errors])

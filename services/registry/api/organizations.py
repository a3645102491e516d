"""Routes: register or file, read, change, upgrade, deregister, revoke; search and list."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from services.registry.api.common import PREFIX, RegistryRuntime, json, run_command, writable_org
from services.registry.domain.codes import normalise_code
from services.registry.handlers import organizations as handlers
from services.registry.handlers import queries
from services.registry.handlers.common import (
    actor_of_principal,
    can_read,
    current_representative,
    org_for_read,
    org_public,
)
from services.registry.models import Organization, io
from services.registry.settings import RegistrySettings
from shared import problems
from shared.deps import CurrentPrincipal, actor_of, require_role
from shared.http import Page, json_response, list_response, require_if_match, wants_xlsx
from shared.problems import NotFound
from shared.uow import UnitOfWork

router = APIRouter(prefix=PREFIX, tags=["organizations"])
OrgId = Annotated[str, "organization id (UUID)"]


def _settings(runtime: object) -> RegistrySettings:
    settings = runtime.settings  # type: ignore[attr-defined]
    assert isinstance(settings, RegistrySettings)
    return settings


@router.post(
    "/organizations",
    status_code=201,
    response_model=io.OrganizationPublic,
    responses=problems.responses(400, 401, 403, 409, 422),
)
async def register_organization(
    body: io.OrganizationCreate, request: Request, principal: CurrentPrincipal, runtime: RegistryRuntime
) -> Response:
    """Register (登记) an organization or file (备案) a community group."""
    require_role(principal, "officer", "admin")

    async def action(uow: UnitOfWork) -> tuple[BaseModel, int | None]:
        public = await handlers.register_or_file(
            uow,
            principal=principal,
            actor=actor_of_principal(principal),
            body=body,
            cipher=runtime.cipher,
            county_filing_prefixes=_settings(runtime).county_filing_prefixes,
        )
        return public, public.version

    return await run_command(
        request,
        principal,
        runtime,
        body=body,
        action=action,
        status_code=201,
        location=lambda p: f"{PREFIX}/organizations/{p.id}",  # type: ignore[attr-defined]
    )


@router.get("/organizations", response_model=Page[io.OrganizationSummary], responses=problems.responses(400, 401, 403))
async def list_organizations(
    request: Request,
    principal: CurrentPrincipal,
    runtime: RegistryRuntime,
    region: Annotated[
        str | None, Query(max_length=9, description="region code: the region and everything inside it")
    ] = None,
    kind: Annotated[io.Kind | None, Query()] = None,
    status: Annotated[io.Status | None, Query()] = None,
    listed: Annotated[
        Literal["irregular", "serious", "any", "none"] | None, Query(description="on a credit list now")
    ] = None,
    service_domain: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=100, description="text in the name (NFKC, case-insensitive)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Search and list organizations (cursor pagination; XLSX on request)."""
    filters = queries.Filters(
        region=region, kind=kind, status=status, listed=listed, service_domain=service_domain, q=q
    )
    async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
        page = await queries.list_organizations(uow, principal, filters, cursor=cursor, limit=limit)
    if wants_xlsx(request):
        return list_response(request, Page[dict[str, Any]](**page), sheet="organizations")
    return json_response(page)


@router.get(
    "/organizations/by-code/{uscc}", response_model=io.OrganizationPublic, responses=problems.responses(401, 404)
)
async def organization_by_code(uscc: str, principal: CurrentPrincipal, runtime: RegistryRuntime) -> Response:
    """The organization holding a unified social credit code (or a filing number)."""
    code = normalise_code(uscc)[:24]
    async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
        field = Organization.uscc if len(code) == 18 else Organization.filing_number
        from sqlmodel import select

        org = (await uow.session.exec(select(Organization).where(field == code))).first()
        if org is None or not can_read(principal, org):
            raise NotFound(f"no organization with code {code}")
        public = org_public(org, await current_representative(uow, org.id))
    return json(public, public.version)


@router.get("/organizations/{org_id}", response_model=io.OrganizationPublic, responses=problems.responses(401, 404))
async def get_organization(org_id: OrgId, principal: CurrentPrincipal, runtime: RegistryRuntime) -> Response:
    """One organization, personal data masked."""
    async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
        org = await org_for_read(uow, principal, org_id)
        public = org_public(org, await current_representative(uow, org.id))
    return json(public, public.version)


@router.patch(
    "/organizations/{org_id}",
    response_model=io.OrganizationPublic,
    responses=problems.responses(401, 403, 404, 409, 412, 422, 428),
)
async def update_organization(
    org_id: OrgId, body: io.OrganizationUpdate, request: Request, principal: CurrentPrincipal, runtime: RegistryRuntime
) -> Response:
    """Change an organization (If-Match required); an admin corrects a closed one with correction_reason."""
    require_role(principal, "officer", "admin")

    async def action(uow: UnitOfWork) -> tuple[BaseModel, int | None]:
        org = await writable_org(uow, request, principal, org_id)
        require_if_match(request, org.version)
        public = await handlers.update_organization(uow, principal=principal, org=org, body=body, cipher=runtime.cipher)
        return public, public.version

    return await run_command(request, principal, runtime, body=body, action=action, idempotent=False)


@router.post(
    "/organizations/{org_id}/registration",
    response_model=io.OrganizationPublic,
    responses=problems.responses(400, 401, 403, 404, 409, 412, 422),
)
async def upgrade_filed_group(
    org_id: OrgId, body: io.RegistrationCreate, request: Request, principal: CurrentPrincipal, runtime: RegistryRuntime
) -> Response:
    """Register a filed community group (upgrade), keeping its org_id and history."""

    async def action(uow: UnitOfWork) -> tuple[BaseModel, int | None]:
        org = await writable_org(uow, request, principal, org_id)
        public = await handlers.upgrade_filed_group(
            uow, principal=principal, actor=actor_of_principal(principal), org=org, body=body, cipher=runtime.cipher
        )
        return public, public.version

    return await run_command(request, principal, runtime, body=body, action=action, idempotent=None)


@router.post(
    "/organizations/{org_id}/deregistration",
    response_model=io.OrganizationPublic,
    responses=problems.responses(400, 401, 403, 404, 409, 412, 422),
)
async def deregister(
    org_id: OrgId, body: io.StatusChange, request: Request, principal: CurrentPrincipal, runtime: RegistryRuntime
) -> Response:
    """Deregister (注销) an organization."""

    async def action(uow: UnitOfWork) -> tuple[BaseModel, int | None]:
        org = await writable_org(uow, request, principal, org_id)
        public = await handlers.close_organization(
            uow, principal=principal, org=org, verb="deregistered", on=body.on, reason=body.reason
        )
        return public, public.version

    return await run_command(request, principal, runtime, body=body, action=action, idempotent=None)


@router.post(
    "/organizations/{org_id}/revocation",
    response_model=io.OrganizationPublic,
    responses=problems.responses(400, 401, 403, 404, 409, 412, 422),
)
async def revoke(
    org_id: OrgId, body: io.Revocation, request: Request, principal: CurrentPrincipal, runtime: RegistryRuntime
) -> Response:
    """Revoke (撤销登记 / 吊销登记证书) an organization."""

    async def action(uow: UnitOfWork) -> tuple[BaseModel, int | None]:
        org = await writable_org(uow, request, principal, org_id)
        public = await handlers.close_organization(
            uow, principal=principal, org=org, verb="revoked", on=body.on, reason=body.reason, measure=body.measure
        )
        return public, public.version

    return await run_command(request, principal, runtime, body=body, action=action, idempotent=None)

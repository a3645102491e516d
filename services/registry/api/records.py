"""Routes: annual results, penalties, investigations, credit listings and objections."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from services.registry.api.common import PREFIX, RegistryRuntime, json, run_command, writable_org
from services.registry.handlers import credit, duties
from services.registry.handlers.common import org_for_read
from services.registry.models import io
from shared import problems
from shared.deps import CurrentPrincipal, actor_of
from shared.problems import Forbidden
from shared.uow import UnitOfWork

router = APIRouter(prefix=PREFIX + "/organizations/{org_id}", tags=["annual duties, penalties, credit lists"])
WRITE = problems.responses(400, 401, 403, 404, 409, 412, 422)


@router.post("/annual-reports", status_code=201, response_model=io.AnnualReportPublic, responses=WRITE)
async def record_annual_report(
    org_id: str, body: io.AnnualReportCreate, request: Request, principal: CurrentPrincipal, runtime: RegistryRuntime
) -> Response:
    """Record a year's annual inspection / report result (合格, 基本合格, 不合格, 未参检)."""

    async def action(uow: UnitOfWork) -> tuple[BaseModel, int | None]:
        org = await writable_org(uow, request, principal, org_id)
        return await duties.record_annual_report(uow, principal=principal, org=org, body=body), org.version

    return await run_command(request, principal, runtime, body=body, action=action, status_code=201)


@router.get("/annual-reports", response_model=list[io.AnnualReportPublic], responses=problems.responses(401, 404))
async def annual_reports(org_id: str, principal: CurrentPrincipal, runtime: RegistryRuntime) -> Response:
    """Annual results per year, with the registry's deadline of each."""
    async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
        org = await org_for_read(uow, principal, org_id)
        items = await duties.list_annual_reports(uow, org)
    return json([i.model_dump(mode="json") for i in items])


@router.post("/penalties", status_code=201, response_model=io.PenaltyPublic, responses=WRITE)
async def record_penalty(
    org_id: str, body: io.PenaltyCreate, request: Request, principal: CurrentPrincipal, runtime: RegistryRuntime
) -> Response:
    """Record an administrative penalty (warning, fine, suspension, licence revoked)."""

    async def action(uow: UnitOfWork) -> tuple[BaseModel, int | None]:
        org = await writable_org(uow, request, principal, org_id)
        return await duties.record_penalty(uow, principal=principal, org=org, body=body), org.version

    return await run_command(request, principal, runtime, body=body, action=action, status_code=201)


@router.get("/penalties", response_model=list[io.PenaltyPublic], responses=problems.responses(401, 404))
async def penalties(org_id: str, principal: CurrentPrincipal, runtime: RegistryRuntime) -> Response:
    """Penalties of an organization."""
    async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
        org = await org_for_read(uow, principal, org_id)
        items = await duties.list_penalties(uow, org.id)
    return json([i.model_dump(mode="json") for i in items])


@router.post("/investigations", status_code=201, response_model=io.InvestigationPublic, responses=WRITE)
async def open_investigation(
    org_id: str, body: io.InvestigationCreate, request: Request, principal: CurrentPrincipal, runtime: RegistryRuntime
) -> Response:
    """Open an investigation (立案调查)."""

    async def action(uow: UnitOfWork) -> tuple[BaseModel, int | None]:
        org = await writable_org(uow, request, principal, org_id)
        return await duties.open_investigation(uow, principal=principal, org=org, body=body), org.version

    return await run_command(request, principal, runtime, body=body, action=action, status_code=201)


@router.post("/investigations/{investigation_id}/closure", response_model=io.InvestigationPublic, responses=WRITE)
async def close_investigation(
    org_id: str,
    investigation_id: str,
    body: io.InvestigationClosure,
    request: Request,
    principal: CurrentPrincipal,
    runtime: RegistryRuntime,
) -> Response:
    """Close an investigation."""

    async def action(uow: UnitOfWork) -> tuple[BaseModel, int | None]:
        org = await writable_org(uow, request, principal, org_id)
        public = await duties.close_investigation(
            uow, principal=principal, org=org, investigation_id=investigation_id, body=body
        )
        return public, org.version

    return await run_command(request, principal, runtime, body=body, action=action, idempotent=None)


@router.get("/investigations", response_model=list[io.InvestigationPublic], responses=problems.responses(401, 404))
async def investigations(org_id: str, principal: CurrentPrincipal, runtime: RegistryRuntime) -> Response:
    """Investigations of an organization."""
    async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
        org = await org_for_read(uow, principal, org_id)
        items = await duties.list_investigations(uow, org.id)
    return json([i.model_dump(mode="json") for i in items])


@router.post("/credit-listings", status_code=201, response_model=io.ListingPublic, responses=WRITE)
async def list_on_credit_list(
    org_id: str, body: io.ListingCreate, request: Request, principal: CurrentPrincipal, runtime: RegistryRuntime
) -> Response:
    """Put the organization on the irregular list (活动异常名录) or the serious list (严重违法失信名单)."""

    async def action(uow: UnitOfWork) -> tuple[BaseModel, int | None]:
        org = await writable_org(uow, request, principal, org_id)
        return await credit.add_listing(uow, principal=principal, org=org, body=body), org.version

    return await run_command(request, principal, runtime, body=body, action=action, status_code=201)


@router.get("/credit-listings", response_model=list[io.ListingPublic], responses=problems.responses(401, 404))
async def credit_listings(
    org_id: str,
    principal: CurrentPrincipal,
    runtime: RegistryRuntime,
    on: Annotated[date | None, Query(description="only the listings in force on this date")] = None,
) -> Response:
    """Credit listings of an organization: was it listed on a date?"""
    async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
        org = await org_for_read(uow, principal, org_id)
        items = await credit.list_listings(uow, org.id, on=on)
    return json([i.model_dump(mode="json") for i in items])


@router.post("/credit-listings/{listing_id}/removal", response_model=io.ListingPublic, responses=WRITE)
async def remove_from_credit_list(
    org_id: str,
    listing_id: str,
    body: io.ListingRemoval,
    request: Request,
    principal: CurrentPrincipal,
    runtime: RegistryRuntime,
) -> Response:
    """Remove a listing: rectified (irregular), expired (irregular, nothing to rectify, 6 months),
    clean_period (serious, 2 clean years) or deregistered (serious, listed for revocation)."""

    async def action(uow: UnitOfWork) -> tuple[BaseModel, int | None]:
        org = await writable_org(uow, request, principal, org_id)
        public = await credit.remove_listing(
            uow,
            principal=principal,
            org=org,
            listing_id=listing_id,
            body=body,
            calendar_add_working_days=runtime.calendar.calendar.add_working_days,
        )
        return public, org.version

    return await run_command(request, principal, runtime, body=body, action=action, idempotent=None)


@router.post(
    "/credit-listings/{listing_id}/objections", status_code=201, response_model=io.ObjectionPublic, responses=WRITE
)
async def object_to_listing(
    org_id: str,
    listing_id: str,
    body: io.ObjectionCreate,
    request: Request,
    principal: CurrentPrincipal,
    runtime: RegistryRuntime,
) -> Response:
    """The organization objects to a listing (an officer may record it on its behalf)."""

    async def action(uow: UnitOfWork) -> tuple[BaseModel, int | None]:
        org = await org_for_read(uow, principal, org_id)
        if (principal.role == "org" and principal.org_id == org.id) or (
            principal.role in ("officer", "admin") and principal.can_act_on_region(org.region_code)
        ):
            pass
        else:
            raise Forbidden("the organization itself or an officer of its region files an objection")
        return await credit.file_objection(uow, principal=principal, org=org, listing_id=listing_id, body=body), None

    return await run_command(request, principal, runtime, body=body, action=action, status_code=201)


@router.get(
    "/credit-listings/{listing_id}/objections",
    response_model=list[io.ObjectionPublic],
    responses=problems.responses(401, 404),
)
async def objections(org_id: str, listing_id: str, principal: CurrentPrincipal, runtime: RegistryRuntime) -> Response:
    """Objections to a listing."""
    async with runtime.uow(readonly=True, actor=actor_of(principal)) as uow:
        org = await org_for_read(uow, principal, org_id)
        items = await credit.list_objections(uow, org, listing_id)
    return json([i.model_dump(mode="json") for i in items])


@router.post(
    "/credit-listings/{listing_id}/objections/{objection_id}/decision",
    response_model=io.ObjectionPublic,
    responses=WRITE,
)
async def decide_objection(
    org_id: str,
    listing_id: str,
    objection_id: str,
    body: io.ObjectionDecision,
    request: Request,
    principal: CurrentPrincipal,
    runtime: RegistryRuntime,
) -> Response:
    """Decide an objection; upheld removes the listing (`objection_upheld`)."""

    async def action(uow: UnitOfWork) -> tuple[BaseModel, int | None]:
        org = await writable_org(uow, request, principal, org_id)
        public = await credit.decide_objection(
            uow, principal=principal, org=org, listing_id=listing_id, objection_id=objection_id, body=body
        )
        return public, org.version

    return await run_command(request, principal, runtime, body=body, action=action, idempotent=None)

"""What every registry handler needs: who acts, loading an organization the caller may see,
turning findings into problems, rendering an organization with personal data masked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func
from sqlmodel import select

from services.registry import domain as _domain  # noqa: F401 - the package docstring documents the rules
from services.registry.domain.codes import Finding
from services.registry.domain.organizations import Actor, Refusal
from services.registry.models import LegalRepresentative, Organization, Street, io
from shared.auth import Principal
from shared.problems import Conflict, Forbidden, NotFound, Unprocessable
from shared.uow import UnitOfWork
from shared.workdays import local_date

WRITERS = ("officer", "admin")


def actor_of_principal(principal: Principal) -> Actor:
    return Actor(role=principal.role, region=principal.region)


def today(uow: UnitOfWork) -> date:
    return local_date(uow.now)


def can_read(principal: Principal, org: Organization) -> bool:
    """Officers and finance inside their region, admins and evaluators everywhere, an organization
    itself; everyone else is told the organization does not exist (404)."""
    if principal.role in ("admin", "evaluator"):
        return True
    if principal.role == "org":
        return principal.org_id == org.id
    return principal.can_act_on_region(org.region_code)


async def load_org(uow: UnitOfWork, org_id: str, *, lock: bool = False) -> Organization | None:
    if len(org_id) > 36:
        return None
    stmt = select(Organization).where(Organization.id == org_id)
    if lock:
        # PostgreSQL: the second of two concurrent writers waits here and then sees the new version
        # (412). SQLite: writers are already serialized by BEGIN IMMEDIATE.
        stmt = stmt.with_for_update()
    return (await uow.session.exec(stmt)).first()  # type: ignore[no-any-return]


async def org_for_read(uow: UnitOfWork, principal: Principal, org_id: str) -> Organization:
    org = await load_org(uow, org_id)
    if org is None or not can_read(principal, org):
        raise NotFound(f"no organization {org_id}")
    return org


async def org_for_write(uow: UnitOfWork, principal: Principal, org_id: str) -> Organization:
    """The organization, locked, when the caller is an officer of its region or an admin."""
    org = await load_org(uow, org_id, lock=True)
    if org is None or not can_read(principal, org):
        raise NotFound(f"no organization {org_id}")
    if principal.role not in WRITERS or not principal.can_act_on_region(org.region_code):
        raise Forbidden(
            "only civil-affairs officers of the organization's region change the register",
            code="registry.authority.role",
        )
    return org


def forbid(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise Forbidden(refusal.message, code=refusal.rule, rule=refusal.rule, basis=refusal.basis)


def conflict(refusal: Refusal | None, **extra: object) -> None:
    if refusal is not None:
        raise Conflict(refusal.message, code=refusal.rule, rule=refusal.rule, basis=refusal.basis, **extra)


def refuse_findings(findings: Sequence[Finding]) -> list[io.Finding]:
    """422 listing every refusal (fields in dotted body paths); otherwise the warnings."""
    errors = [f for f in findings if not f.warning]
    if errors:
        items = [
            {"field": f.field, "message": f.message, "rule": f.rule, **({"basis": f.basis} if f.basis else {})}
            for f in errors
        ]
        detail = "; ".join(f"{f.field}: {f.message}" for f in errors[:5])
        raise Unprocessable(detail, errors=items, rule=errors[0].rule, basis=errors[0].basis)
    return warnings_of(findings)


def warnings_of(findings: Sequence[Finding]) -> list[io.Finding]:
    return [io.Finding(field=f.field, rule=f.rule, message=f.message, basis=f.basis) for f in findings if f.warning]


def refuse_if_closed(principal: Principal, org: Organization, correction_reason: str | None = None) -> bool:
    """A deregistered or revoked organization is no longer changed, except by an admin correction
    (audited). Returns True when this change is such a correction."""
    if org.status == "active":
        return False
    if principal.role == "admin" and correction_reason:
        return True
    raise Conflict(
        f"the organization is {org.status}; only an admin correction with correction_reason may change it",
        code="organization.closed",
        rule="organization.closed",
        title_zh="该社会组织已注销或被撤销，不能再变更",
        title_en="The organization is deregistered or revoked",
    )


async def streets_loaded(uow: UnitOfWork) -> bool:
    return (
        await uow.conn.execute(select(func.count()).select_from(select(Street.code).limit(1).subquery()))
    ).scalar_one() > 0


async def street_known(uow: UnitOfWork, code: str) -> bool | None:
    """None when no street table is loaded (the code is then accepted with a warning)."""
    if len(code) != 9:
        return True
    if (await uow.conn.execute(select(Street.code).where(Street.code == code))).first() is not None:
        return True
    return False if await streets_loaded(uow) else None


async def current_representative(uow: UnitOfWork, org_id: str) -> LegalRepresentative | None:
    stmt = select(LegalRepresentative).where(
        LegalRepresentative.org_id == org_id, LegalRepresentative.current.is_(True)
    )  # type: ignore[attr-defined]
    return (await uow.session.exec(stmt)).first()  # type: ignore[no-any-return]


def org_public(
    org: Organization, representative: LegalRepresentative | None, warnings: Sequence[io.Finding] = ()
) -> io.OrganizationPublic:
    contact = None
    if org.contact_name or org.contact_phone_masked or org.contact_email:
        contact = io.ContactPublic(name=org.contact_name, phone=org.contact_phone_masked, email=org.contact_email)
    lr = None
    if representative is not None:
        lr = io.LegalRepresentativePublic(
            name=representative.name,
            id_number=representative.id_number_masked,
            phone=representative.phone_masked,
            since=representative.since,
        )
    return io.OrganizationPublic(
        id=org.id,
        name=org.name,
        kind=org.kind,  # type: ignore[arg-type]
        status=org.status,  # type: ignore[arg-type]
        region_code=org.region_code,
        uscc=org.uscc,
        filing_number=org.filing_number,
        previous_filing_number=org.previous_filing_number,
        registered_on=org.registered_on,
        filed_on=org.filed_on,
        upgraded_on=org.upgraded_on,
        registration_authority=org.registration_authority,
        filing_authority=org.filing_authority,
        category=org.category,  # type: ignore[arg-type]
        supervising_unit=org.supervising_unit,
        service_domains=list(org.service_domains),
        address=org.address,
        contact=contact,
        legal_representative=lr,
        listed=io.Listed(irregular=org.listed_irregular, serious=org.listed_serious),
        deregistered_on=org.deregistered_on,
        revoked_on=org.revoked_on,
        status_reason=org.status_reason,
        version=org.version,
        created_at=org.created_at,
        updated_at=org.updated_at,
        warnings=list(warnings),
    )


def touch(org: Organization, uow: UnitOfWork) -> None:
    org.version += 1
    org.updated_at = uow.now

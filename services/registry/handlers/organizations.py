"""Registering (登记) and filing (备案) organizations, changing them, upgrading a filed group,
deregistration (注销) and revocation (撤销/吊销)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import uuid6
from sqlalchemy import and_, insert, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from services.registry import events
from services.registry.domain import codes, names
from services.registry.domain import organizations as rules
from services.registry.domain.codes import Finding
from services.registry.domain.organizations import Actor, Refusal
from services.registry.handlers.common import (
    conflict,
    current_representative,
    forbid,
    org_for_write,
    org_public,
    refuse_findings,
    refuse_if_closed,
    street_known,
    today,
    touch,
    warnings_of,
)
from services.registry.models import FilingCounter, LegalRepresentative, Organization, io
from shared.auth import Principal
from shared.pii import FieldCipher, mask_id_number, mask_phone
from shared.problems import Conflict, Unprocessable
from shared.scheduler import SHANGHAI
from shared.uow import UnitOfWork

ANNUAL_DEADLINE_JOB = "registry.annual_report_deadline"


@dataclass
class Prepared:
    """A registration or filing that passed every check that needs no database."""

    name: str
    name_key: str
    kind: str
    region_code: str
    uscc: str | None
    registered_on: date | None
    filed_on: date | None
    category: str | None
    supervising_unit: str | None
    service_domains: list[str]
    address: str | None
    contact: io.ContactIn | None
    representative: io.LegalRepresentativeIn | None
    id_number: str | None
    filing_number: str | None = None
    warnings: list[Finding] = field(default_factory=list)


def prepare(
    body: io.OrganizationCreate,
    actor: Actor,
    *,
    today: date,
    street_is_known: bool | None,
    county_filing_prefixes: tuple[str, ...],
) -> tuple[Prepared | None, list[Finding], Refusal | None]:
    """Every check of DOMAIN.md §1 that needs no database: authority (a refusal, 403), then the
    findings (422 refusals and warnings)."""
    region_code = codes.normalise_code(body.region_code)
    findings = codes.check_region_code(region_code, field="region_code", street_known=street_is_known)
    if any(not f.warning for f in findings):
        return None, findings, None
    if body.kind == rules.FILED:
        refusal = rules.authority_to_file(actor, region_code, county_filing_prefixes)
    else:
        refusal = rules.authority_to_register(actor, body.kind, region_code)
    if refusal is not None:
        return None, findings, refusal
    name, name_findings = names.clean_name(body.name)
    findings += name_findings
    uscc = codes.normalise_code(body.uscc) if body.uscc else None
    if uscc is not None and body.kind != rules.FILED:
        format_findings = codes.check_uscc_format(uscc)
        findings += format_findings
        if not any(not f.warning for f in format_findings):
            registry_findings = codes.check_uscc_for_registry(uscc, kind=body.kind, region_code=region_code)
            findings += registry_findings
            authority = uscc[2:8]
            outside = (
                actor.role != "admin"
                and not any(not f.warning for f in registry_findings)
                and codes.is_known_division(authority)
                and not actor.acts_on(authority)
            )
            if outside and not codes.is_historical_division(authority):
                refusal = Refusal(
                    "uscc.authority_outside_region",
                    f"统一社会信用代码的登记管理机关 {authority} 不在本机关辖区 {actor.region} 内",
                )
                return None, findings, refusal
    id_number = None
    if body.legal_representative is not None:
        id_number = codes.normalise_id_number(body.legal_representative.id_number)
        findings += codes.check_id_number(id_number, today=today, field="legal_representative.id_number")
    domains = list(dict.fromkeys(body.service_domains))
    findings += rules.check_registration(
        rules.RegistrationFacts(
            kind=body.kind,
            region_code=region_code,
            registered_on=body.registered_on,
            filed_on=body.filed_on,
            uscc=uscc,
            category=body.category,
            supervising_unit=body.supervising_unit,
            has_legal_representative=body.legal_representative is not None,
            service_domains=tuple(domains),
        ),
        today=today,
    )
    if any(not f.warning for f in findings):
        return None, findings, None
    prepared = Prepared(
        name=name,
        name_key=names.name_key(name),
        kind=body.kind,
        region_code=region_code,
        uscc=uscc,
        registered_on=body.registered_on,
        filed_on=body.filed_on,
        category=body.category,
        supervising_unit=(body.supervising_unit or "").strip() or None,
        service_domains=domains,
        address=(body.address or "").strip() or None,
        contact=body.contact,
        representative=body.legal_representative,
        id_number=id_number,
        warnings=[f for f in findings if f.warning],
    )
    return prepared, findings, None


async def find_duplicate(
    uow: UnitOfWork, *, uscc: str | None, region_code: str, name_key: str, exclude: str | None = None
) -> tuple[str, Organization] | None:
    """Same code (any status), or the same name key in the same region among organizations still on
    the register."""
    clauses = [
        and_(
            Organization.region_code == region_code,
            Organization.name_key == name_key,
            Organization.status != "deregistered",
        )
    ]
    if uscc:
        clauses.append(Organization.uscc == uscc)  # type: ignore[arg-type]
    stmt = select(Organization).where(or_(*clauses))
    if exclude:
        stmt = stmt.where(Organization.id != exclude)
    for org in (await uow.session.exec(stmt)).all():
        return ("organization.duplicate_code" if uscc and org.uscc == uscc else "organization.duplicate_name"), org
    return None


def duplicate_conflict(rule: str, existing: Organization) -> Conflict:
    what = "统一社会信用代码" if rule == "organization.duplicate_code" else "同一区划内的名称"
    return Conflict(
        f"{what}与已有记录重复：{existing.name}（{existing.uscc or existing.filing_number}，id {existing.id}）",
        code=rule,
        rule=rule,
        title_zh="与已登记或备案的社会组织重复",
        title_en="Duplicate of an organization on the register",
        existing={
            "id": existing.id,
            "name": existing.name,
            "uscc": existing.uscc,
            "filing_number": existing.filing_number,
            "region_code": existing.region_code,
            "status": existing.status,
        },
    )


async def next_filing_number(uow: UnitOfWork, region_code: str, year: int) -> str:
    table = FilingCounter.__table__  # type: ignore[attr-defined]
    dialect = postgresql if uow.dialect == "postgresql" else sqlite
    stmt = (
        dialect.insert(table)
        .values(region_code=region_code, year=year, last=1)
        .on_conflict_do_update(index_elements=["region_code", "year"], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    serial = (await uow.conn.execute(stmt)).scalar_one()
    return rules.filing_number(region_code, year, int(serial))


def new_org_id() -> str:
    # UUIDv7: time-ordered, so lists paginate in registration order on an index-friendly key.
    return str(uuid6.uuid7())


def org_values(prepared: Prepared, *, org_id: str, actor: Actor, cipher: FieldCipher, now: Any) -> dict[str, Any]:
    """The organization's row as plain values (the import inserts thousands of them at once)."""
    contact = prepared.contact
    phone = contact.phone if contact else None
    filing_authority = None
    if prepared.kind == rules.FILED:
        filing_authority = actor.region if actor.role != "admin" else prepared.region_code
    return {
        "id": org_id,
        "name": prepared.name,
        "name_key": prepared.name_key,
        "name_grams": names.name_grams(prepared.name_key),
        "kind": prepared.kind,
        "status": "active",
        "region_code": prepared.region_code,
        "uscc": prepared.uscc,
        "filing_number": prepared.filing_number,
        "previous_filing_number": None,
        "registered_on": prepared.registered_on,
        "filed_on": prepared.filed_on,
        "upgraded_on": None,
        "registration_authority": prepared.uscc[2:8] if prepared.uscc else None,
        "filing_authority": filing_authority,
        "category": prepared.category,
        "supervising_unit": prepared.supervising_unit,
        "service_domains": prepared.service_domains,
        "address": prepared.address,
        "contact_name": contact.name if contact else None,
        "contact_phone_enc": cipher.encrypt(phone, associated_data=org_id) if phone else None,
        "contact_phone_masked": mask_phone(phone) if phone else None,
        "contact_email": contact.email if contact else None,
        "listed_irregular": False,
        "listed_serious": False,
        "deregistered_on": None,
        "revoked_on": None,
        "status_reason": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def representative_of(prepared: Prepared, org_id: str, cipher: FieldCipher) -> dict[str, Any] | None:
    if prepared.representative is None or prepared.id_number is None:
        return None
    since = prepared.registered_on or prepared.filed_on
    return representative_row(org_id, prepared.representative, prepared.id_number, cipher, since=since)


def representative_row(
    org_id: str, rep: io.LegalRepresentativeIn, id_number: str, cipher: FieldCipher, *, since: date | None
) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "name": " ".join(rep.name.split()),
        "id_number_enc": cipher.encrypt(id_number, associated_data=org_id),
        "id_number_index": cipher.blind_index(id_number, scope="legal_representative.id_number"),
        "id_number_masked": mask_id_number(id_number),
        "phone_enc": cipher.encrypt(rep.phone, associated_data=org_id) if rep.phone else None,
        "phone_masked": mask_phone(rep.phone) if rep.phone else None,
        "since": since,
        "until": None,
        "current": True,
    }


def schedule_annual_deadline(uow: UnitOfWork, kind: str, started_on: date) -> None:
    """The sweep after the next registry deadline this organization is subject to (years whose
    deadline passed before it was recorded here are not swept: the register has no data on them)."""
    day = today(uow)
    year = max(started_on.year, day.year - 1)
    deadline = rules.annual_report_deadline(kind, direct=True, year=year)
    if deadline is not None and deadline < day:
        year += 1
        deadline = rules.annual_report_deadline(kind, direct=True, year=year)
    if deadline is not None:
        due = datetime.combine(deadline + timedelta(days=1), time(1, 0), SHANGHAI)
        uow.schedule(ANNUAL_DEADLINE_JOB, f"{year}:{kind}", due)


async def representative_warnings(
    uow: UnitOfWork, cipher: FieldCipher, id_number: str | None, org_id: str
) -> list[io.Finding]:
    if id_number is None:
        return []
    index = cipher.blind_index(id_number, scope="legal_representative.id_number")
    stmt = select(LegalRepresentative.org_id).where(
        LegalRepresentative.id_number_index == index,
        LegalRepresentative.current.is_(True),  # type: ignore[attr-defined]
        LegalRepresentative.org_id != org_id,
    )
    others = (await uow.conn.execute(stmt)).scalars().all()
    if not others:
        return []
    return [
        io.Finding(
            field="legal_representative.id_number",
            rule="legal_representative.already_represents",
            message=f"此人已是另外 {len(others)} 个社会组织的法定代表人",
        )
    ]


async def register_or_file(
    uow: UnitOfWork,
    *,
    principal: Principal,
    actor: Actor,
    body: io.OrganizationCreate,
    cipher: FieldCipher,
    county_filing_prefixes: tuple[str, ...],
) -> io.OrganizationPublic:
    day = today(uow)
    known = await street_known(uow, codes.normalise_code(body.region_code))
    prepared, findings, refusal = prepare(
        body, actor, today=day, street_is_known=known, county_filing_prefixes=county_filing_prefixes
    )
    forbid(refusal)
    refuse_findings(findings)
    assert prepared is not None
    duplicate = await find_duplicate(
        uow, uscc=prepared.uscc, region_code=prepared.region_code, name_key=prepared.name_key
    )
    if duplicate is not None:
        raise duplicate_conflict(*duplicate)
    org_id = new_org_id()
    if prepared.kind == rules.FILED:
        assert prepared.filed_on is not None
        prepared.filing_number = await next_filing_number(uow, prepared.region_code, prepared.filed_on.year)
    org = Organization(**org_values(prepared, org_id=org_id, actor=actor, cipher=cipher, now=uow.now))
    lr = representative_of(prepared, org_id, cipher)
    extra = await representative_warnings(uow, cipher, prepared.id_number, org_id)
    uow.session.add(org)
    if lr is not None:
        uow.session.add(LegalRepresentative(**lr))
    try:
        await uow.session.flush()
    except IntegrityError:
        raise Conflict(
            "an organization with this code or name was registered at the same moment; reload",
            code="organization.duplicate",
        ) from None
    uow.stage(events.created(org))
    uow.audit(
        "organization.registered" if org.uscc else "organization.filed",
        f"organizations/{org_id}",
        {"kind": org.kind, "region_code": org.region_code, "uscc": org.uscc, "filing_number": org.filing_number},
    )
    schedule_annual_deadline(uow, org.kind, org.registered_on or org.filed_on or day)
    rep = await current_representative(uow, org_id)
    return org_public(org, rep, warnings_of(prepared.warnings) + extra)


async def update_organization(
    uow: UnitOfWork, *, principal: Principal, org: Organization, body: io.OrganizationUpdate, cipher: FieldCipher
) -> io.OrganizationPublic:
    correction = refuse_if_closed(principal, org, body.correction_reason)
    changes = body.model_dump(exclude_unset=True)
    changes.pop("correction_reason", None)
    if not changes:
        raise Unprocessable("nothing to change", errors=[{"field": "body", "message": "send at least one field"}])
    findings: list[Finding] = []
    changed: list[str] = []
    if "name" in changes and body.name is not None:
        name, name_findings = names.clean_name(body.name)
        findings += name_findings
        if not name_findings and name != org.name:
            key = names.name_key(name)
            duplicate = await find_duplicate(uow, uscc=None, region_code=org.region_code, name_key=key, exclude=org.id)
            if duplicate is not None:
                raise duplicate_conflict(*duplicate)
            org.name, org.name_key, org.name_grams = name, key, names.name_grams(key)
            changed.append("name")
    if "service_domains" in changes and body.service_domains is not None:
        domains = list(dict.fromkeys(body.service_domains))
        unknown = [d for d in domains if d not in rules.SERVICE_DOMAINS]
        if unknown:
            findings.append(
                Finding("service_domains", "service_domain.unknown", f"未知的服务领域：{', '.join(unknown)}")
            )
        elif domains != list(org.service_domains):
            org.service_domains = domains
            changed.append("service_domains")
    if "category" in changes or "supervising_unit" in changes:
        category = changes.get("category", org.category)
        unit = (changes.get("supervising_unit", org.supervising_unit) or "").strip() or None
        if org.kind != rules.FILED:
            findings += rules.check_management(category, unit)
        if (category, unit) != (org.category, org.supervising_unit):
            org.category, org.supervising_unit = category, unit
            changed.append("category" if "category" in changes else "supervising_unit")
    if "address" in changes:
        org.address = (body.address or "").strip() or None
        changed.append("address")
    if "contact" in changes:
        contact = body.contact
        org.contact_name = contact.name if contact else None
        org.contact_email = contact.email if contact else None
        phone = contact.phone if contact else None
        org.contact_phone_enc = cipher.encrypt(phone, associated_data=org.id) if phone else None
        org.contact_phone_masked = mask_phone(phone) if phone else None
        changed.append("contact")
    new_rep: dict[str, Any] | None = None
    if body.legal_representative is not None:
        id_number = codes.normalise_id_number(body.legal_representative.id_number)
        findings += codes.check_id_number(id_number, today=today(uow), field="legal_representative.id_number")
        new_rep = representative_row(org.id, body.legal_representative, id_number, cipher, since=today(uow))
        changed.append("legal_representative")
    warnings = refuse_findings(findings)
    if new_rep is not None:
        await uow.conn.execute(
            update(LegalRepresentative.__table__)  # type: ignore[arg-type]
            .where(LegalRepresentative.__table__.c.org_id == org.id, LegalRepresentative.__table__.c.current.is_(True))  # type: ignore[attr-defined]
            .values(current=False, until=today(uow))
        )
        await uow.conn.execute(insert(LegalRepresentative.__table__).values(**new_rep))  # type: ignore[arg-type]
    if changed:
        touch(org, uow)
        uow.session.add(org)
        uow.stage(events.updated(org, changed))
        detail: dict[str, Any] = {"changed": changed}
        if correction:
            detail["correction_reason"] = body.correction_reason
        uow.audit("organization.corrected" if correction else "organization.updated", f"organizations/{org.id}", detail)
    return org_public(org, await current_representative(uow, org.id), warnings)


async def upgrade_filed_group(
    uow: UnitOfWork,
    *,
    principal: Principal,
    actor: Actor,
    org: Organization,
    body: io.RegistrationCreate,
    cipher: FieldCipher,
) -> io.OrganizationPublic:
    """A filed community group becomes a registered organization: same org_id, history kept."""
    refuse_if_closed(principal, org)
    if org.kind != rules.FILED:
        raise Conflict(
            "only a filed community group can be upgraded; this one is registered", code="registration.not_filed"
        )
    uscc = codes.normalise_code(body.uscc)
    region_code = uscc[2:8] if len(uscc) == 18 and uscc[2:8].isdigit() else org.region_code[:6]
    forbid(rules.authority_to_register(actor, body.kind, region_code))
    if not codes.lies_within(org.region_code, region_code if region_code != codes.NATIONAL else "100000"):
        raise Unprocessable(
            "the registering authority must be the filed group's county or above",
            errors=[
                {
                    "field": "uscc",
                    "message": f"登记管理机关 {region_code} 不包含原备案街道 {org.region_code}",
                    "rule": "registration.authority_region",
                }
            ],
            rule="registration.authority_region",
        )
    create = io.OrganizationCreate(
        name=body.name or org.name,
        kind=body.kind,
        uscc=uscc,
        region_code=region_code,
        registered_on=body.registered_on,
        category=body.category,
        supervising_unit=body.supervising_unit,
        service_domains=list(org.service_domains),
        legal_representative=body.legal_representative,
    )
    prepared, findings, refusal = prepare(
        create, actor, today=today(uow), street_is_known=True, county_filing_prefixes=()
    )
    forbid(refusal)
    warnings = refuse_findings(findings)
    assert prepared is not None
    duplicate = await find_duplicate(
        uow, uscc=prepared.uscc, region_code=prepared.region_code, name_key=prepared.name_key, exclude=org.id
    )
    if duplicate is not None:
        raise duplicate_conflict(*duplicate)
    org.previous_filing_number = org.filing_number
    org.kind, org.uscc, org.region_code = prepared.kind, prepared.uscc, prepared.region_code
    org.name, org.name_key, org.name_grams = prepared.name, prepared.name_key, names.name_grams(prepared.name_key)
    org.registered_on, org.upgraded_on = prepared.registered_on, prepared.registered_on
    org.registration_authority = region_code
    org.category, org.supervising_unit = prepared.category, prepared.supervising_unit
    touch(org, uow)
    uow.session.add(org)
    assert prepared.id_number is not None and prepared.representative is not None
    await uow.conn.execute(
        update(LegalRepresentative.__table__)  # type: ignore[arg-type]
        .where(LegalRepresentative.__table__.c.org_id == org.id, LegalRepresentative.__table__.c.current.is_(True))  # type: ignore[attr-defined]
        .values(current=False, until=prepared.registered_on)
    )
    await uow.conn.execute(
        insert(LegalRepresentative.__table__).values(  # type: ignore[arg-type]
            **representative_row(
                org.id, prepared.representative, prepared.id_number, cipher, since=prepared.registered_on
            )
        )
    )
    try:
        await uow.session.flush()
    except IntegrityError:
        raise Conflict("this code was registered at the same moment; reload", code="organization.duplicate") from None
    uow.stage(events.upgraded(org))
    uow.audit(
        "organization.upgraded",
        f"organizations/{org.id}",
        {"uscc": org.uscc, "previous_filing_number": org.previous_filing_number},
    )
    assert org.registered_on is not None
    schedule_annual_deadline(uow, org.kind, org.registered_on)
    return org_public(org, await current_representative(uow, org.id), warnings)


async def close_organization(
    uow: UnitOfWork,
    *,
    principal: Principal,
    org: Organization,
    verb: str,
    on: date,
    reason: str,
    measure: str | None = None,
) -> io.OrganizationPublic:
    """注销 (`deregistered`) or 撤销/吊销 (`revoked`): the organization leaves the register."""
    if org.status != "active":
        conflict(Refusal("organization.closed", f"the organization is already {org.status}"))
    started = org.registered_on or org.filed_on
    if on > today(uow) or (started is not None and on < started):
        raise Unprocessable(
            "the date must lie between registration and today",
            errors=[{"field": "on", "message": "日期应在成立登记（备案）日期与今天之间", "rule": "date.range"}],
        )
    if verb == "deregistered":
        org.status, org.deregistered_on = "deregistered", on
        event = events.organization_event(org, "deregistered", deregistered_on=on, reason=reason, effective_on=on)
    else:
        org.status, org.revoked_on = "revoked", on
        event = events.organization_event(
            org, "revoked", revoked_on=on, reason=reason, measure=measure, effective_on=on
        )
    org.status_reason = reason
    touch(org, uow)
    uow.session.add(org)
    uow.stage(event)
    uow.audit(f"organization.{verb}", f"organizations/{org.id}", {"on": on.isoformat(), "measure": measure})
    return org_public(org, await current_representative(uow, org.id))


async def org_for_command(uow: UnitOfWork, principal: Principal, org_id: str) -> Organization:
    return await org_for_write(uow, principal, org_id)

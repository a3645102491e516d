"""What the registry service publishes: `registry.organization`, key `org_id` (docs/events.md).

Every payload carries `org_id`, `organization` (`{org_id, scheme, id, name}`), `kind`,
`region_code` and `status` after the change, and never personal data (no legal representative,
no contact)."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.registry.models import Organization
from shared.envelope import event_type
from shared.outbox import PendingEvent

TOPIC = "registry.organization"
PUBLISHES: tuple[str, ...] = (TOPIC,)
TYPES = (
    "registered",
    "filed",
    "upgraded",
    "updated",
    "annual_report_recorded",
    "penalty_recorded",
    "investigation_opened",
    "investigation_closed",
    "listed",
    "delisted",
    "deregistered",
    "revoked",
)


def organization_ref(org: Organization) -> dict[str, str]:
    if org.uscc:
        return {"org_id": org.id, "scheme": "CN-USCI", "id": org.uscc, "name": org.name}
    return {"org_id": org.id, "scheme": "CN-GONGYI-FILED", "id": org.filing_number or "", "name": org.name}


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def organization_event(org: Organization, verb: str, **data: Any) -> PendingEvent:
    assert verb in TYPES, verb
    payload: dict[str, Any] = {
        "org_id": org.id,
        "organization": organization_ref(org),
        "kind": org.kind,
        "region_code": org.region_code,
        "status": org.status,
    }
    payload.update({k: (_day(v) if isinstance(v, date) else v) for k, v in data.items()})
    return PendingEvent(
        topic=TOPIC,
        key=org.id,
        type=event_type("registry", "organization", verb),
        subject=f"organizations/{org.id}",
        data=payload,
    )


def registered(org: Organization) -> PendingEvent:
    return organization_event(
        org,
        "registered",
        registered_on=org.registered_on,
        registration_authority=org.registration_authority,
        category=org.category,
        supervising_unit=org.supervising_unit,
        service_domains=list(org.service_domains),
    )


def filed(org: Organization) -> PendingEvent:
    return organization_event(
        org,
        "filed",
        filed_on=org.filed_on,
        filing_authority=org.filing_authority,
        filing_number=org.filing_number,
        service_domains=list(org.service_domains),
    )


def created(org: Organization) -> PendingEvent:
    return registered(org) if org.uscc else filed(org)


def upgraded(org: Organization) -> PendingEvent:
    return organization_event(
        org,
        "upgraded",
        registered_on=org.registered_on,
        previous_filing_number=org.previous_filing_number,
        uscc=org.uscc,
        registration_authority=org.registration_authority,
    )


def updated(org: Organization, changed: list[str]) -> PendingEvent:
    return organization_event(org, "updated", changed=changed, service_domains=list(org.service_domains), name=org.name)

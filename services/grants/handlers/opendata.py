"""Open data (EVENTS.md "Open data projections"): OCDS 1.1 for service purchase, 360Giving 1.4 for the
other call types, and the public-notice list (公示名单). Confirmed awards only.

OCDS releases are immutable, one per business event: they are projected from the events this
service published (the outbox rows of the call and of its confirmed awards), `id` =
`<ocid>-<CloudEvent id>`, `date` = the event's time. Amounts are JSON numbers only here.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from sqlalchemy import or_
from sqlalchemy import select as core_select
from sqlmodel import col, select

from services.grants.domain.calls import PROCUREMENT_METHODS
from services.grants.domain.money import add_months
from services.grants.events import AWARD, CALL, DISBURSEMENT, instant
from services.grants.models import Award, Call
from services.grants.models.io_awards import NoticeEntry, PublicNotice
from services.grants.settings import GrantsSettings
from shared.http import Money
from shared.problems import Conflict, NotFound
from shared.uow import UnitOfWork

OCDS_TAGS = {
    "published": "tender",
    "confirmed": "award",
    "agreement_signed": "contract",
    "released": "implementation",
    "paid": "implementation",
}


def number(amount: Any) -> float | int:
    """`{"amount": "1234.50"}` → 1234.5: a JSON number, exact for every amount the grammar allows."""
    text = str(amount["amount"] if isinstance(amount, dict) else amount)
    whole, _, frac = text.lstrip("-").partition(".")
    fen = int(whole) * 100 + int((frac + "00")[:2])
    fen = -fen if text.startswith("-") else fen
    return fen // 100 if fen % 100 == 0 else fen / 100


def party_id(org: dict[str, Any], settings: GrantsSettings) -> str:
    scheme, ident = org.get("scheme"), org.get("id")
    if scheme == "CN-USCI" and ident:
        return f"CN-USCI-{ident}"
    if ident:
        return f"360G-{settings.giving_prefix}-filed-{ident}"
    return f"360G-{settings.giving_prefix}-org-{org.get('org_id')}"


async def _published_call(uow: UnitOfWork, call_id: str) -> Call:
    call = await uow.session.get(Call, call_id)
    if call is None or call.status == "draft":
        raise NotFound(f"call {call_id} not found")
    return call


async def _confirmed_awards(uow: UnitOfWork, call_id: str) -> list[Award]:
    stmt = (
        select(Award)
        .where(Award.call_id == call_id, col(Award.confirmed_on).is_not(None))
        .order_by(col(Award.decided_at), col(Award.id))
    )
    return list((await uow.session.exec(stmt)).all())


async def _events(uow: UnitOfWork, call: Call, award_ids: list[str]) -> list[dict[str, Any]]:
    ob = uow.infra.outbox
    where: Any = (ob.c.topic == CALL) & (ob.c.key == call.id)
    if award_ids:
        where = or_(where, ob.c.topic.in_((AWARD, DISBURSEMENT)) & ob.c.key.in_(award_ids))
    rows = (await uow.conn.execute(core_select(ob.c.topic, ob.c.body).where(where).order_by(ob.c.id))).all()
    out = []
    for topic, body in rows:
        event = orjson.loads(body)
        event["_topic"] = topic
        out.append(event)
    return out


def _verb(event: dict[str, Any]) -> str:
    return str(event["type"]).split(".")[-2]


def _dt(day: str) -> str:
    return f"{day[:10]}T00:00:00+08:00"


async def ocds_package(uow: UnitOfWork, *, call_id: str, settings: GrantsSettings) -> dict[str, Any]:
    call = await _published_call(uow, call_id)
    if call.call_type != "service_purchase":
        raise Conflict(
            "OCDS covers service-purchase calls; this call is published as 360Giving", code="opendata.wrong_standard"
        )
    if not settings.ocds_prefix:
        raise Conflict(
            "OCDS publication needs a registered ocid prefix (GONGYI_GRANTS_OCDS_PREFIX)",
            code="opendata.ocds_prefix_missing",
        )
    ocid = f"ocds-{settings.ocds_prefix}-{call.id}"
    awards = {a.id: a for a in await _confirmed_awards(uow, call.id)}
    buyer = {
        "id": f"{settings.buyer_scheme}-{settings.buyer_uid}",
        "name": settings.buyer_name,
        "identifier": {"scheme": settings.buyer_scheme, "id": settings.buyer_uid, "legalName": settings.buyer_name},
        "roles": ["buyer", "procuringEntity"],
    }
    funder = {
        "id": f"{settings.funder_scheme}-{settings.funder_uid}",
        "name": settings.funder_name,
        "identifier": {"scheme": settings.funder_scheme, "id": settings.funder_uid, "legalName": settings.funder_name},
        "roles": ["funder", "payer"],
    }
    releases = []
    for event in await _events(uow, call, list(awards)):
        release = _release(event, call, awards, buyer, funder, settings)
        if release is not None:
            release.update(
                ocid=ocid, id=f"{ocid}-{event['id']}", date=event["time"], initiationType="tender", language="zh"
            )
            releases.append(release)
    publisher: dict[str, Any] = {"name": settings.publisher_name}
    if settings.publisher_uid:
        publisher.update(scheme=settings.publisher_scheme, uid=settings.publisher_uid)
    return {
        "uri": f"{settings.public_base_url.rstrip('/')}/grants/v1/calls/{call.id}/ocds",
        "version": "1.1",
        "publishedDate": instant(uow.now),
        "publisher": publisher,
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "releases": releases,
    }


def _supplier(data: dict[str, Any], settings: GrantsSettings) -> dict[str, Any]:
    org = data.get("organization") or {}
    party: dict[str, Any] = {
        "id": party_id(org, settings),
        "name": org.get("name") or data.get("org_id"),
        "roles": ["supplier", "payee"],
    }
    if org.get("scheme") and org.get("id"):
        party["identifier"] = {"scheme": org["scheme"], "id": org["id"], "legalName": org.get("name")}
    return party


def _release(
    event: dict[str, Any],
    call: Call,
    awards: dict[str, Award],
    buyer: dict[str, Any],
    funder: dict[str, Any],
    settings: GrantsSettings,
) -> dict[str, Any] | None:
    topic, verb, data = event["_topic"], _verb(event), event["data"]
    value = {"amount": number(data["amount"]), "currency": "CNY"} if "amount" in data else None
    if topic == CALL and verb == "published":
        method, details = PROCUREMENT_METHODS.get(call.procurement_method or "", ("open", ""))
        return {
            "tag": ["tender"],
            "parties": [buyer, funder],
            "buyer": {"id": buyer["id"], "name": buyer["name"]},
            "planning": {
                "budget": {
                    "amount": {"amount": number(data["budget"]), "currency": "CNY"},
                    "description": f"{call.funding_source}; {call.budget_classification_code}; "
                    f"{call.authorisation_number}",
                    "project": call.budget_line,
                }
            },
            "tender": {
                "id": call.id,
                "title": call.title,
                "description": call.description or call.title,
                "status": "active",
                "value": {"amount": number(data["budget"]), "currency": "CNY"},
                "procurementMethod": method,
                "procurementMethodDetails": details,
                "mainProcurementCategory": "services",
                "tenderPeriod": {"startDate": data["opens_at"], "endDate": data["closes_at"]},
                "procuringEntity": {"id": buyer["id"], "name": buyer["name"]},
            },
        }
    if topic == CALL or data.get("award_id") not in awards:
        return None
    award = awards[data["award_id"]]
    supplier = _supplier(data, settings)
    contract_id = f"{award.id}-contract"
    if topic == AWARD and verb == "confirmed":
        return {
            "tag": ["award"],
            "parties": [buyer, supplier],
            "awards": [
                {
                    "id": award.id,
                    "title": award.project_title or call.title,
                    "status": "active",
                    "date": _dt(award.decided_on.isoformat()),
                    "value": value,
                    "suppliers": [{"id": supplier["id"], "name": supplier["name"]}],
                }
            ],
        }
    if topic == AWARD and verb == "agreement_signed":
        signed = date.fromisoformat(data["signed_on"])
        end = add_months(signed, call.contract_term_months or 12)
        return {
            "tag": ["contract"],
            "contracts": [
                {
                    "id": contract_id,
                    "awardID": award.id,
                    "title": award.project_title or call.title,
                    "status": "active",
                    "value": value,
                    "dateSigned": _dt(data["signed_on"]),
                    "period": {"startDate": _dt(signed.isoformat()), "endDate": _dt(end.isoformat())},
                    "milestones": [
                        {
                            "id": f"{award.id}-t{t['tranche_no']}",
                            "title": f"第{t['tranche_no']}期拨付",
                            "type": "payment",
                            "status": "scheduled",
                            "value": {"amount": number(t["amount"]), "currency": "CNY"},
                        }
                        for t in data.get("tranches", [])
                    ],
                }
            ],
        }
    if topic == AWARD and verb == "terminated":
        if award.signed_on is None:
            return {"tag": ["awardCancellation"], "awards": [{"id": award.id, "status": "cancelled"}]}
        return {
            "tag": ["contractTermination"],
            "contracts": [{"id": contract_id, "awardID": award.id, "status": "terminated"}],
        }
    if topic == DISBURSEMENT and verb in ("released", "paid"):
        milestone: dict[str, Any] = {
            "id": f"{award.id}-t{data['tranche_no']}",
            "title": f"第{data['tranche_no']}期拨付",
            "type": "payment",
            "status": "met" if verb == "paid" else "scheduled",
        }
        if data.get("due_on"):
            milestone["dueDate"] = _dt(data["due_on"])
        contract: dict[str, Any] = {"id": contract_id, "awardID": award.id, "milestones": [milestone]}
        if verb == "paid":
            milestone["dateMet"] = data["paid_at"]
            contract["implementation"] = {
                "transactions": [
                    {
                        "id": data["payment_instruction_id"],
                        "date": data["paid_at"],
                        "value": value,
                        "payer": {"id": funder["id"], "name": funder["name"]},
                        "payee": {"id": supplier["id"], "name": supplier["name"]},
                    }
                ]
            }
        return {"tag": ["implementation"], "parties": [supplier], "contracts": [contract]}
    return None


async def giving_package(uow: UnitOfWork, *, call_id: str, settings: GrantsSettings) -> dict[str, Any]:
    call = await _published_call(uow, call_id)
    if call.call_type == "service_purchase":
        raise Conflict("service-purchase calls are published as OCDS", code="opendata.wrong_standard")
    awards = await _confirmed_awards(uow, call.id)
    if not awards:
        raise NotFound("no confirmed award of this call yet", code="opendata.nothing_published")
    funder = {"id": f"{settings.funder_scheme}-{settings.funder_uid}", "name": settings.funder_name}
    grants = []
    for a in awards:
        org = a.organization or {}
        grant: dict[str, Any] = {
            "id": f"360G-{settings.giving_prefix}-{a.id}",
            "title": a.project_title or call.title,
            "description": f"{call.title}：{a.project_title}" if a.project_title else call.title,
            "currency": "CNY",
            "amountAwarded": number({"amount": Money.of_fen(a.amount_fen).amount}),
            "amountDisbursed": number({"amount": Money.of_fen(a.paid_fen).amount}),
            "awardDate": a.decided_on.isoformat(),
            "recipientOrganization": [{"id": party_id(org, settings), "name": org.get("name") or a.org_id}],
            "fundingOrganization": [funder],
            "grantProgramme": [{"code": call.id, "title": call.title}],
            "dateModified": instant(uow.now),
        }
        grants.append(grant)
    return {
        "grants": grants,
        "version": "1.4",
        "title": call.title,
        "issued": instant(uow.now),
        "publisher": {"name": settings.publisher_name, "prefix": f"360G-{settings.giving_prefix}"},
    }


async def public_notice(uow: UnitOfWork, *, call_id: str) -> PublicNotice:
    call = await _published_call(uow, call_id)
    stmt = (
        select(Award)
        .where(Award.call_id == call.id, Award.status != "cancelled")
        .order_by(col(Award.rank), col(Award.decided_at))
    )
    items = [
        NoticeEntry(
            award_id=a.id,
            organization=a.organization or {},
            project_title=a.project_title,
            amount=Money.of_fen(a.amount_fen),
            rank=a.rank,
            status=a.status,
            notice_starts_on=a.notice_starts_on,
            notice_ends_at=a.notice_ends_at,
        )
        for a in (await uow.session.exec(stmt)).all()
    ]
    return PublicNotice(call_id=call.id, title=call.title, items=items)

"""Helpers for the grants tests: calls, organizations as registry/evaluation events, applications.

Registry and evaluation facts reach grants the way they do in production: CloudEvents appended to
the (test-prefixed) topics, consumed by grants' consumer during `stack.settle()`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from contracts.validate import uscc_check_char
from shared import envelope
from shared.bus.base import OutgoingRecord

SH = timedelta(hours=8)
OFFICER_REGION = "440111"


def at(local: str) -> datetime:
    """`"2026-03-31 17:00:00"` Asia/Shanghai → aware UTC."""
    return datetime.fromisoformat(local).replace(tzinfo=UTC) - SH


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "CNY"}


def call_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "call_type": "venture_philanthropy",
        "title": "2026年白云区公益创投",
        "description": "资助社区养老、助残服务项目",
        "region_code": OFFICER_REGION,
        "budget": money("1000000.00"),
        "min_award": money("10000.00"),
        "max_award": money("100000.00"),
        "max_grant_bp": 6000,
        "personnel_cap_bp": 4000,
        "eligibility": {
            "kinds": ["social_group", "social_service_agency", "foundation"],
            "min_grade": "3A",
            "lookbacks": [{"list": "irregular", "months": 12}, {"list": "serious", "months": 24}],
            "max_applications": 1,
        },
        "opens_at": iso(at("2026-03-01 09:00:00")),
        "closes_at": iso(at("2026-03-31 17:00:00")),
        "notice_working_days": 5,
        "rubric": [
            {"code": "need", "title": "需求分析", "weight_bp": 3000},
            {"code": "design", "title": "项目设计", "weight_bp": 4000},
            {"code": "capacity", "title": "执行能力", "weight_bp": 3000},
        ],
        "reviewers_per_application": 2,
        "tranches": [
            {"basis_points": 4000, "trigger": "signing"},
            {"basis_points": 3000, "trigger": "midterm_passed"},
            {"basis_points": 3000, "trigger": "final_passed"},
        ],
        "assessment": {"template_id": "tpl-1", "pass_threshold": "60.00", "midterm_months": 6},
        "funding_source": "welfare_lottery",
        "budget_classification_code": "2081099",
        "fiscal_year": 2026,
        "authorisation_number": "穗财社〔2026〕12号",
    }
    body.update(overrides)
    return body


def application_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project_title": "长者饭堂与居家探访",
        "summary": "为社区独居长者提供助餐与探访",
        "period_start": "2026-05-01",
        "period_end": "2027-04-30",
        "requested": money("60000.00"),
        "budget_lines": [
            {"category": "personnel", "amount": money("40000.00")},
            {"category": "activities", "amount": money("50000.00")},
            {"category": "materials", "amount": money("10000.00")},
        ],
        "payee": {
            "account_name": "广州市白云区启智社会工作服务中心",
            "bank_name": "中国工商银行广州白云支行",
            "account_number": "3602000109200123456",
        },
    }
    body.update(overrides)
    return body


@dataclass
class Org:
    org_id: str
    uscc: str
    name: str
    kind: str = "social_service_agency"
    region_code: str = "440111"


@dataclass
class Events:
    """Appends registry / evaluation events for grants to consume, with per-key sequences."""

    stack: Any
    sequences: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    async def emit(self, topic: str, key: str, type_: str, data: dict[str, Any], *, source: str) -> dict[str, Any]:
        self.sequences[(topic, key)] += 1
        event = envelope.new_event(
            source=source, type_=type_, subject=f"x/{key}", key=key, data=data, time=self.stack.clock.now()
        )
        value = envelope.render(envelope.encode_without_sequence(event), self.sequences[(topic, key)])
        physical = self.stack.runtimes["grants"].settings.topic(topic)
        await self.stack.bus.ensure_topics({physical: 3})
        await self.stack.bus.append(
            OutgoingRecord(topic=physical, key=key.encode(), value=value, headers=envelope.routing_headers(event))
        )
        return orjson.loads(value)

    async def registry(self, org: Org, verb: str, **data: Any) -> None:
        scheme = "CN-GONGYI-FILED" if org.kind == "community_filed" else "CN-USCI"
        payload = {
            "org_id": org.org_id,
            "organization": {"org_id": org.org_id, "scheme": scheme, "id": org.uscc, "name": org.name},
            "kind": org.kind,
            "region_code": org.region_code,
            "status": "active",
            **data,
        }
        await self.emit(
            "registry.organization",
            org.org_id,
            envelope.event_type("registry", "organization", verb),
            payload,
            source="urn:gongyi:test:registry",
        )

    async def rating(self, org: Org, verb: str, **data: Any) -> None:
        payload = {
            "org_id": org.org_id,
            "organization": {"org_id": org.org_id, "scheme": "CN-USCI", "id": org.uscc, "name": org.name},
            "region_code": org.region_code,
            "evaluation_id": data.pop("evaluation_id", str(uuid.uuid4())),
            "round_id": None,
            **data,
        }
        await self.emit(
            "evaluation.rating",
            org.org_id,
            envelope.event_type("evaluation", "rating", verb),
            payload,
            source="urn:gongyi:test:evaluation",
        )

    async def assessment(self, award_id: str, stage: str, *, passed: bool, score: str = "80.00") -> None:
        payload = {
            "assessment_id": str(uuid.uuid4()),
            "award_id": award_id,
            "call_id": "x",
            "org_id": "x",
            "stage": stage,
            "score": score,
            "pass_threshold": "60.00",
            "passed": passed,
            "completed_on": "2026-09-01",
        }
        await self.emit(
            "evaluation.assessment",
            award_id,
            envelope.event_type("evaluation", "assessment", "completed"),
            payload,
            source="urn:gongyi:test:evaluation",
        )

    async def good_org(self, org: Org, *, grade: str = "4A", registered_on: str = "2019-06-01") -> Org:
        """Registered, active, rated `grade` valid through 2030, no listings."""
        await self.registry(
            org,
            "registered",
            registered_on=registered_on,
            registration_authority="440111",
            category="charity",
            supervising_unit=None,
            service_domains=["elderly"],
        )
        if grade:
            await self.rating(
                org,
                "published",
                grade=grade,
                decided_on="2025-05-20",
                announced_on="2025-05-20",
                valid_from="2025-05-20",
                valid_until="2030-05-19",
                rule_set={"id": "national-2011", "version": 1},
            )
        return org


def _uscc(serial: int) -> str:
    """A social service agency registered in 440111, with the right check character (GB 32100)."""
    first17 = f"52440111{serial:09d}"
    return first17 + uscc_check_char(first17)


USCCS = iter(_uscc(i) for i in range(1, 10_000))


def new_org(name: str = "启智社会工作服务中心", **kw: Any) -> Org:
    return Org(org_id=str(uuid.uuid4()), uscc=next(USCCS), name=name, **kw)


class Grants:
    """HTTP helpers over `stack.client` for the grants routes."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.client = stack.client
        self.officer = stack.auth("officer", region=OFFICER_REGION, sub="officer-1")
        self.finance = stack.auth("finance", region=OFFICER_REGION, sub="finance-1")
        self.events = Events(stack)

    def org(self, org: Org) -> dict[str, str]:
        return self.stack.auth("org", org_id=org.org_id, sub=f"user-{org.org_id[:8]}")

    @staticmethod
    def key() -> dict[str, str]:
        return {"Idempotency-Key": uuid.uuid4().hex}

    async def open_call(self, **overrides: Any) -> dict[str, Any]:
        r = await self.client.post(
            "/grants/v1/calls", json=call_body(**overrides), headers={**self.officer, **self.key()}
        )
        assert r.status_code == 201, r.text
        call = r.json()
        r = await self.client.post(f"/grants/v1/calls/{call['id']}/publication", headers=self.officer)
        assert r.status_code == 200, r.text
        return r.json()

    async def draft(self, call_id: str, org: Org, **overrides: Any) -> dict[str, Any]:
        r = await self.client.post(
            f"/grants/v1/calls/{call_id}/applications",
            json=application_body(**overrides),
            headers={**self.org(org), **self.key()},
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def submit(self, application_id: str, org: Org, *, key: str | None = None, **body: Any) -> Any:
        return await self.client.post(
            f"/grants/v1/applications/{application_id}/submission",
            json={"declaration": True, **body},
            headers={**self.org(org), "Idempotency-Key": key or uuid.uuid4().hex},
        )

    async def submitted(self, call_id: str, org: Org, **overrides: Any) -> dict[str, Any]:
        app = await self.draft(call_id, org, **overrides)
        r = await self.submit(app["id"], org)
        assert r.status_code == 200, r.text
        return r.json()

    async def close(self, call: dict[str, Any]) -> None:
        self.stack.clock.set(datetime.fromisoformat(call["closes_at"].replace("Z", "+00:00")) + timedelta(minutes=1))
        await self.stack.settle()

    async def award(self, call_id: str, items: list[dict[str, Any]], *, headers: dict[str, str] | None = None) -> Any:
        return await self.client.post(
            f"/grants/v1/calls/{call_id}/awards",
            json={"awards": items},
            headers={**(headers or self.officer), **self.key()},
        )

    async def budget(self, call_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/grants/v1/calls/{call_id}/budget", headers=self.officer)
        assert r.status_code == 200, r.text
        return r.json()

    async def ledger(self, **params: Any) -> list[dict[str, Any]]:
        items, cursor = [], None
        while True:
            q = {**params, **({"cursor": cursor} if cursor else {})}
            r = await self.client.get("/grants/v1/ledger", params=q, headers=self.finance)
            assert r.status_code == 200, r.text
            page = r.json()
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items

    async def bus_events(self, topic: str) -> list[dict[str, Any]]:
        await self.stack.publish()
        records = await self.stack.bus.read_all(self.stack.runtimes["grants"].settings.topic(topic))
        return [orjson.loads(r.value) for r in records]


def verb(event: dict[str, Any]) -> str:
    return str(event["type"]).split(".")[-2]


def fen(amount: str) -> int:
    whole, _, frac = amount.lstrip("-").partition(".")
    value = int(whole) * 100 + int((frac + "00")[:2])
    return -value if amount.startswith("-") else value

"""Helpers for the evaluation service's API tests: registry and grants facts as real CloudEvents on
the bus (built with shared.envelope, `data` exactly as docs/events.md), and the common set-up steps
of a rating round through the HTTP API."""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.bus.base import OutgoingRecord
from shared.envelope import encode_without_sequence, event_type, new_event, render, routing_headers
from tests.support.stack import Stack

REGION = "440111"  # 广州市白云区
_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def uscc(kind_digit: str, region: str, subject8: str) -> str:
    """A code with both check characters right (GB 32100-2015: position 17 by GB 11714, 18 mod 31)."""
    values = [int(c) if c.isdigit() else ord(c) - 55 for c in subject8]  # GB 11714: A=10 … Z=35
    r = 11 - sum(v * w for v, w in zip(values, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    first17 = f"5{kind_digit}{region}{subject8}{'X' if r == 10 else '0' if r == 11 else r}"
    total = sum(_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return first17 + _ALPHABET[(31 - total % 31) % 31]


USCC = {
    "social_group": uscc("1", REGION, "MJK99804"),
    "social_service_agency": "52440111MJK9980480",  # a test vector of DOMAIN.md §1
    "foundation": uscc("3", REGION, "MJK99806"),
}

_keys = itertools.count()


def key() -> str:
    return f"k-{next(_keys)}-{uuid.uuid4().hex[:6]}"


@dataclass
class Facts:
    """Publishes events of other services onto the test stack's bus, in per-key sequence order."""

    stack: Stack
    sequences: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    async def emit(
        self,
        topic: str,
        service: str,
        aggregate: str,
        verb: str,
        subject_key: str,
        data: dict[str, Any],
        *,
        at: datetime | None = None,
    ) -> str:
        runtime = self.stack.runtimes["evaluation"]
        await self.stack.start_workers()  # creates the topics (Kafka never auto-creates them)
        self.sequences[(topic, subject_key)] += 1
        event = new_event(
            source=f"urn:gongyi:test:{service}",
            type_=event_type(service, aggregate, verb),
            subject=f"{aggregate}s/{subject_key}",
            key=subject_key,
            data=data,
            time=at or self.stack.clock.now(),
        )
        body = render(encode_without_sequence(event), self.sequences[(topic, subject_key)])
        await self.stack.bus.append(
            OutgoingRecord(
                topic=runtime.settings.topic(topic),
                key=subject_key.encode(),
                value=body,
                headers=routing_headers(event),
            )
        )
        return event.id

    async def registry(self, verb: str, org: dict[str, Any], **data: Any) -> str:
        payload = {
            "org_id": org["org_id"],
            "organization": org["organization"],
            "kind": org["kind"],
            "region_code": org["region_code"],
            "status": data.pop("status", "active"),
            **data,
        }
        return await self.emit("registry.organization", "registry", "organization", verb, org["org_id"], payload)

    async def register(
        self,
        *,
        kind: str = "social_group",
        registered_on: str = "2019-06-01",
        region_code: str = REGION,
        name: str = "广州市白云区启智社会工作服务中心",
        annual: dict[int, str] | None = None,
    ) -> dict[str, Any]:
        org_id = str(uuid.uuid4())
        org = {
            "org_id": org_id,
            "kind": kind,
            "region_code": region_code,
            "organization": {"org_id": org_id, "scheme": "CN-USCI", "id": USCC[kind], "name": name},
        }
        await self.registry(
            "registered",
            org,
            registered_on=registered_on,
            registration_authority=region_code,
            category="charity",
            supervising_unit=None,
            service_domains=["elderly"],
        )
        for year, result in sorted((annual if annual is not None else {2024: "qualified", 2025: "qualified"}).items()):
            await self.annual(org, year, result)
        return org

    async def annual(self, org: dict[str, Any], year: int, result: str, report_status: str | None = "on_time") -> str:
        return await self.registry(
            "annual_report_recorded",
            org,
            year=year,
            result=result,
            report_status=report_status,
            effective_on=f"{year + 1}-05-31",
        )

    async def listed(self, org: dict[str, Any], *, list_: str = "serious", listed_on: str) -> str:
        return await self.registry(
            "listed",
            org,
            listing_id=str(uuid.uuid4()),
            list=list_,
            reason_code="suspension_penalty",
            reason="受到限期停止活动处罚",
            listed_on=listed_on,
            escalated_from=None,
            effective_on=listed_on,
        )

    async def agreement_signed(
        self,
        org: dict[str, Any],
        *,
        award_id: str,
        template_id: str,
        pass_threshold: Any,
        midterm_due: str | None,
        final_due: str | None,
    ) -> str:
        money = {"amount": "100000.00", "currency": "CNY"}
        data = {
            "award_id": award_id,
            "call_id": str(uuid.uuid4()),
            "application_id": str(uuid.uuid4()),
            "org_id": org["org_id"],
            "organization": org["organization"],
            "region_code": org["region_code"],
            "call_type": "venture_philanthropy",
            "amount": money,
            "budget_line": "BL-1",
            "funding_source": "福彩公益金",
            "budget_classification_code": "2080299",
            "fiscal_year": 2026,
            "authorisation_number": "穗财社〔2026〕1号",
            "committed_total": money,
            "paid_total": {"amount": "0.00", "currency": "CNY"},
            "signed_on": "2026-03-02",
            "tranches": [
                {"tranche_no": 1, "basis_points": 5000, "trigger": "signing", "amount": "50000.00"},
                {"tranche_no": 2, "basis_points": 5000, "trigger": "final_passed", "amount": "50000.00"},
            ],
            "assessment": {
                "template_id": template_id,
                "pass_threshold": pass_threshold,
                "midterm_due": midterm_due,
                "final_due": final_due,
            },
        }
        return await self.emit("grants.award", "grants", "award", "agreement_signed", award_id, data)


async def contract_problems(stack: Stack, *topics: str) -> list[str]:
    """Every record the evaluation service published, checked against the event contract."""
    validate = __import__("pytest").importorskip("contracts.validate")
    runtime = stack.runtimes["evaluation"]
    await stack.publish()
    logs = {topic: await stack.bus.read_all(runtime.settings.topic(topic)) for topic in topics}
    return list(validate.validate_log(logs))


class Api:
    """The steps of the rating procedure through HTTP, as the actors would call them."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.c = stack.client
        self.officer = stack.auth("officer", region=REGION, sub="officer-1")
        self.admin = stack.auth("admin", sub="admin-1")

    @staticmethod
    def idem(headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "Idempotency-Key": key()}

    async def post(self, path: str, body: Any, headers: dict[str, str], *, status: int | None = None) -> Any:
        r = await self.c.post(f"/evaluation/v1{path}", json=body, headers=self.idem(headers))
        if status is not None:
            assert r.status_code == status, r.text
        return r

    async def open_round(
        self,
        *,
        rule_set: str = "national-2011",
        template: str = "social-group-example",
        band_table: str = "anhui-anqing",
        year: int = 2026,
        close_on: str = "2026-03-31",
        notice_working_days: int | None = None,
        kinds: list[str] | None = None,
    ) -> dict[str, Any]:
        body = {
            "title": f"{year}年度白云区社会组织等级评估",
            "year": year,
            "region_code": REGION,
            "kinds": kinds or ["social_group"],
            "template": {"id": template},
            "rule_set": {"id": rule_set},
            "band_table": {"id": band_table},
            "applications_close_on": close_on,
        }
        if notice_working_days:
            body["notice_working_days"] = notice_working_days
        return (await self.post("/rounds", body, self.officer, status=201)).json()

    async def apply(self, round_id: str, org: dict[str, Any]) -> dict[str, Any]:
        headers = self.stack.auth("org", org_id=org["org_id"], sub=f"org-{org['org_id'][:8]}")
        return (await self.post(f"/rounds/{round_id}/applications", {}, headers, status=201)).json()

    async def agency_with_evaluators(
        self, n: int = 3, *, affiliations: dict[int, list[dict[str, Any]]] | None = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, str]]]:
        agency = (
            await self.post(
                "/agencies", {"name": "广州市社会组织评估中心", "region_code": REGION}, self.officer, status=201
            )
        ).json()
        admin = self.stack.auth("evaluator", agency_id=agency["id"], agency_admin=True, sub=f"adm-{agency['id'][:6]}")
        evaluators, tokens = [], []
        for i in range(n):
            sub = f"ev-{i}-{agency['id'][:6]}"
            body = {
                "sub": sub,
                "name": f"评估专家{i + 1}",
                "qualifications": ["注册会计师"],
                "affiliations": (affiliations or {}).get(i, []),
            }
            evaluators.append((await self.post(f"/agencies/{agency['id']}/evaluators", body, admin, status=201)).json())
            tokens.append(self.stack.auth("evaluator", agency_id=agency["id"], sub=sub))
        return agency, evaluators, tokens

    async def assign(self, evaluation_id: str, evaluator_id: str, *, status: int = 201) -> Any:
        return await self.post(
            f"/evaluations/{evaluation_id}/assignments", {"evaluator_id": evaluator_id}, self.officer, status=status
        )

    async def put_scores(
        self, evaluation_id: str, token: dict[str, str], scores: dict[str, str], *, if_match: str | None = None
    ) -> Any:
        headers = {**token, **({"If-Match": if_match} if if_match else {"If-None-Match": "*"})}
        return await self.c.put(
            f"/evaluation/v1/evaluations/{evaluation_id}/scores", json={"scores": scores}, headers=headers
        )

    async def submit(self, evaluation_id: str, token: dict[str, str]) -> Any:
        return await self.c.post(f"/evaluation/v1/evaluations/{evaluation_id}/submission", headers=token)


def full_scores(
    template_doc: dict[str, Any], ratio: tuple[int, int], bonus: dict[str, str] | None = None
) -> dict[str, str]:
    """Every leaf scored at ratio = (numerator, denominator) of its max, as exact decimal strings."""
    out: dict[str, str] = {}

    def walk(node: dict[str, Any]) -> None:
        if node.get("children"):
            for child in node["children"]:
                walk(child)
            return
        hundredths = int(node["max"]) * 100 * ratio[0] // ratio[1]
        out[node["code"]] = f"{hundredths // 100}.{hundredths % 100:02d}"

    for group in template_doc["indicators"]:
        walk(group)
    out.update(bonus or {})
    return out

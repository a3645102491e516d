"""Helpers of the registry API tests: valid codes, bodies, calls."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from typing import Any

from services.registry.domain.codes import org_code_check_character, uscc_check_character
from shared.bus.base import OutgoingRecord
from shared.envelope import new_event, routing_headers

KIND_DIGIT = {"social_group": "1", "social_service_agency": "2", "foundation": "3", "other": "9"}
_serial = itertools.count(1)


def make_uscc(kind: str = "social_service_agency", authority: str = "440111", serial: int | None = None) -> str:
    """A USCC that passes both check characters."""
    n = next(_serial) if serial is None else serial
    body8 = f"MJ{n:06d}"
    first17 = "5" + KIND_DIGIT[kind] + authority + body8 + org_code_check_character(body8)
    return first17 + uscc_check_character(first17)


ID_VALID = "11010519491231002X"


def org_body(**overrides: Any) -> dict[str, Any]:
    kind = overrides.get("kind", "social_service_agency")
    region = overrides.get("region_code", "440111")
    body: dict[str, Any] = {
        "name": f"广州市白云区启智社会工作服务中心{uuid.uuid4().hex[:6]}",
        "kind": kind,
        "uscc": make_uscc(kind, region) if kind != "community_filed" else None,
        "region_code": region,
        "registered_on": "2019-06-01",
        "category": "charity",
        "supervising_unit": None,
        "service_domains": ["elderly", "disability"],
        "legal_representative": {"name": "张三", "id_number": ID_VALID, "phone": "13800000000"},
        "address": "广州市白云区某路1号",
        "contact": {"name": "李四", "phone": "020-00000000", "email": "a@example.org"},
    }
    if kind == "community_filed":
        body.update(
            registered_on=None,
            filed_on="2025-05-01",
            category=None,
            legal_representative=None,
            region_code=overrides.get("region_code", "440111002"),
        )
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None or k in ("supervising_unit",)}


def idem() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def register(stack: Any, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = await stack.client.post(
        "/registry/v1/organizations", json=org_body(**overrides), headers={**headers, **idem()}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def post(stack: Any, path: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return await stack.client.post(path, json=body, headers={**headers, **idem()})


async def stage_rating(stack: Any, org_id: str, verb: str, data: dict[str, Any], sequence: int) -> None:
    """Append an `evaluation.rating` event to the bus exactly as evaluation's relay would."""
    runtime = stack.runtimes["registry"]
    event = new_event(
        source="urn:gongyi:test:evaluation",
        type_=f"cn.gongyi.evaluation.rating.{verb}.v1",
        subject=f"ratings/{org_id}",
        key=org_id,
        data={
            "org_id": org_id,
            "organization": {"org_id": org_id},
            "region_code": "440111",
            "evaluation_id": "ev-1",
            "round_id": "r-1",
            **data,
        },
        time=stack.clock.now(),
    )
    body = replace(event, sequence=sequence).encode()
    topic = runtime.settings.topic("evaluation.rating")
    await stack.start_workers()
    await stack.bus.append(OutgoingRecord(topic=topic, key=org_id.encode(), value=body, headers=routing_headers(event)))

"""Open data validates against the official schemas vendored in tests/contract/schemas/: OCDS 1.1.5
(draft 4) for service purchase, 360Giving 1.4.3 (draft 2020-12) for the other call types. The
remote `$ref` URLs resolve to the vendored files through a `referencing` registry (no network)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import pytest
from jsonschema import Draft4Validator, Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

from tests.integration.grants.support import Grants, money, new_org

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
OCDS_RELEASE_URL = "https://standard.open-contracting.org/schema/1__1__5/release-schema.json"
GIVING_GRANT_URL = "https://raw.githubusercontent.com/ThreeSixtyGiving/standard/1.4.2/schema/360-giving-schema.json"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

formats = FormatChecker()


@formats.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not RFC3339.match(value):
        raise ValueError(f"not RFC 3339: {value}")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@formats.checks("uri")
def _uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlparse(value).scheme and urlparse(value).netloc)


def _load(relative: str) -> dict:
    return json.loads((SCHEMAS / relative).read_text(encoding="utf-8"))


def test_the_vendored_schemas_are_the_ones_the_readme_names():
    readme = (SCHEMAS / "README.md").read_text(encoding="utf-8")
    for path in sorted(SCHEMAS.glob("*/*.json")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest in readme, f"{path.name} changed without its provenance"


def ocds_validator() -> Draft4Validator:
    release = Resource.from_contents(_load("ocds-1.1.5/release-schema.json"), default_specification=DRAFT4)
    registry = Registry().with_resource(OCDS_RELEASE_URL, release)
    return Draft4Validator(_load("ocds-1.1.5/release-package-schema.json"), registry=registry, format_checker=formats)


def giving_validator() -> Draft202012Validator:
    grant = Resource.from_contents(_load("360giving-1.4.3/360-giving-schema.json"), default_specification=DRAFT202012)
    registry = Registry().with_resource(GIVING_GRANT_URL, grant)
    return Draft202012Validator(
        _load("360giving-1.4.3/360-giving-package-schema.json"), registry=registry, format_checker=formats
    )


def assert_valid(validator, document) -> None:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def test_the_validators_catch_a_broken_document():
    with pytest.raises(AssertionError):
        assert_valid(ocds_validator(), {"uri": "x", "publisher": {}, "releases": [{"ocid": 1}], "version": "1.1"})
    with pytest.raises(AssertionError):
        assert_valid(giving_validator(), {"grants": [{"id": "x", "amountAwarded": "12.00"}]})


async def _awarded(stack, g: Grants, call: dict, n: int = 2) -> list[dict]:
    orgs = [new_org(f"服务机构{i}") for i in range(n)]
    for org in orgs:
        await g.events.good_org(org)
    await stack.settle()
    apps = [await g.submitted(call["id"], org, requested=money("50000.50")) for org in orgs]
    await g.close(call)
    r = await g.award(call["id"], [{"application_id": a["id"]} for a in apps])
    assert r.status_code == 201, r.text
    await stack.advance(days=10)
    return r.json()["awards"]


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_ocds_release_package_of_a_service_purchase_call_is_valid(stack_factory, db):
    stack = await stack_factory(
        ("grants",), db=db, settings={"ocds_prefix": "a1b2c3", "publisher_uid": "11440111MB0000000X"}
    )
    g = Grants(stack)
    call = await g.open_call(
        call_type="service_purchase",
        title="2026年社区居家养老服务购买",
        procurement_method="competitive_consultation",
        contract_term_months=12,
    )
    first, second = await _awarded(stack, g, call)
    r = await stack.client.post(
        f"/grants/v1/awards/{first['id']}/agreement", json={"signed_on": "2026-04-15"}, headers={**g.officer, **g.key()}
    )
    assert r.status_code == 200
    tranche = (await stack.client.get(f"/grants/v1/awards/{first['id']}/disbursements", headers=g.finance)).json()[0]
    r = await stack.client.post(
        f"/grants/v1/disbursements/{tranche['id']}/payments",
        json={"instruction_id": tranche["payment_instruction_id"], "status": "paid", "finance_reference": "BANK-9"},
        headers=g.finance,
    )
    assert r.status_code == 200
    r = await stack.client.post(
        f"/grants/v1/awards/{second['id']}/termination", json={"reason": "放弃"}, headers={**g.officer, **g.key()}
    )
    assert r.status_code == 200
    await stack.settle()

    package = (await stack.client.get(f"/grants/v1/calls/{call['id']}/ocds")).json()
    assert_valid(ocds_validator(), package)
    releases = package["releases"]
    ocid = f"ocds-a1b2c3-{call['id']}"
    assert {r["ocid"] for r in releases} == {ocid}
    assert [r["tag"] for r in releases] == [
        ["tender"],
        ["award"],
        ["award"],
        ["contract"],
        ["implementation"],
        ["implementation"],
        ["awardCancellation"],
    ]
    events = {e["id"] for t in ("grants.call", "grants.award", "grants.disbursement") for e in await g.bus_events(t)}
    assert all(r["id"].removeprefix(f"{ocid}-") in events for r in releases)
    assert releases[0]["tender"]["procurementMethod"] == "limited"
    assert releases[1]["awards"][0]["value"] == {"amount": 50000.5, "currency": "CNY"}
    supplier = next(p for p in releases[1]["parties"] if "supplier" in p["roles"])
    assert supplier["id"].startswith("CN-USCI-") and supplier["identifier"]["scheme"] == "CN-USCI"
    paid = releases[5]["contracts"][0]
    assert paid["awardID"] == first["id"] and paid["milestones"][0]["status"] == "met"
    [transaction] = paid["implementation"]["transactions"]
    assert transaction["id"] == tranche["payment_instruction_id"] and transaction["value"]["amount"] == 20000.2
    again = (await stack.client.get(f"/grants/v1/calls/{call['id']}/ocds")).json()
    assert again["releases"] == releases  # immutable: one release per business event


async def test_ocds_publication_is_refused_until_a_prefix_is_configured(stack_factory):
    stack = await stack_factory(("grants",), db="postgres")
    g = Grants(stack)
    call = await g.open_call(call_type="service_purchase", procurement_method="public_tender", contract_term_months=12)
    r = await stack.client.get(f"/grants/v1/calls/{call['id']}/ocds")
    assert r.status_code == 409 and r.json()["type"].endswith("opendata.ocds_prefix_missing")
    other = await g.open_call()
    assert (await stack.client.get(f"/grants/v1/calls/{other['id']}/ocds")).status_code == 409


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_360giving_grants_of_a_venture_philanthropy_call_are_valid(stack_factory, db):
    stack = await stack_factory(("grants",), db=db, settings={"giving_prefix": "gy-baiyun"})
    g = Grants(stack)
    call = await g.open_call()
    assert (await stack.client.get(f"/grants/v1/calls/{call['id']}/360giving")).status_code == 404
    awards = await _awarded(stack, g, call)
    package = (await stack.client.get(f"/grants/v1/calls/{call['id']}/360giving")).json()
    assert_valid(giving_validator(), package)
    assert [x["id"] for x in package["grants"]] == [f"360G-gy-baiyun-{a['id']}" for a in awards]
    grant = package["grants"][0]
    assert grant["amountAwarded"] == 50000.5 and grant["currency"] == "CNY"
    assert grant["recipientOrganization"][0]["id"].startswith("CN-USCI-")
    assert grant["grantProgramme"] == [{"code": call["id"], "title": call["title"]}]


async def test_360giving_names_filed_groups_by_their_filing_number(stack_factory):
    stack = await stack_factory(("grants",), db="postgres", settings={"giving_prefix": "gy"})
    g = Grants(stack)
    call = await g.open_call(
        call_type="micro_venture",
        max_award=money("5000.00"),
        min_award=money("2000.00"),
        max_grant_bp=10000,
        personnel_cap_bp=10000,
        eligibility={"kinds": ["community_filed"], "max_applications": 1},
    )
    filed = new_org("社区读书会", kind="community_filed", region_code="440111001")
    await g.events.good_org(filed, grade="")
    await stack.settle()
    app = await g.submitted(
        call["id"],
        filed,
        requested=money("5000.00"),
        budget_lines=[{"category": "activities", "amount": money("5000.00")}],
    )
    await g.close(call)
    assert (await g.award(call["id"], [{"application_id": app["id"]}])).status_code == 201
    await stack.advance(days=10)
    package = (await stack.client.get(f"/grants/v1/calls/{call['id']}/360giving")).json()
    assert_valid(giving_validator(), package)
    assert package["grants"][0]["recipientOrganization"][0]["id"] == f"360G-gy-filed-{filed.uscc}"

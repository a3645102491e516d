"""Schemathesis against every service's OpenAPI document (issue 7 item 4): on PostgreSQL and
SQLite, as admin, officer, organization, evaluator, finance and anonymous callers, on a small seeded
world so handlers run past their 404s — no 5xx, and every answer is documented (status code, media
type, schema). A bounded number of derandomized examples per operation keeps it deterministic and
fast; the machinery is in tests/support/openapi_fuzz.py."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.integration.evaluation.support import Api as EvaluationApi
from tests.integration.evaluation.support import Facts as EvaluationFacts
from tests.integration.grants.support import Grants, new_org
from tests.integration.notifications.support import Emitter
from tests.integration.registry.support import post as registry_post
from tests.integration.registry.support import register
from tests.support.openapi_fuzz import fuzz
from tests.support.stack import Stack
from tests.unit.notifications.samples import ORG_ID as SAMPLE_ORG_ID
from tests.unit.notifications.samples import sample

REGION = "440111"
EXAMPLES = 3  # per operation, caller and database


def callers(stack: Stack, *, org_id: str, agency_id: str, evaluator_sub: str = "evaluator-1") -> dict[str, str | None]:
    return {
        "admin": stack.token("admin", sub="admin-1"),
        "officer": stack.token("officer", region=REGION, sub="officer-1"),
        "org": stack.token("org", org_id=org_id, sub="org-user-1"),
        "evaluator": stack.token("evaluator", agency_id=agency_id, sub=evaluator_sub),
        "finance": stack.token("finance", region=REGION, sub="finance-1"),
        "anonymous": None,
    }


Seeded = tuple[dict[str, str | None], dict[str, list[str]]]


async def seed_registry(stack: Stack) -> Seeded:
    officer = stack.auth("officer", region=REGION, sub="officer-1")
    org = await register(stack, officer)
    filed = await register(stack, stack.auth("officer", region=f"{REGION}002"), kind="community_filed")
    url = f"/registry/v1/organizations/{org['id']}"
    listing = (await registry_post(stack, f"{url}/credit-listings", officer, {"list": "irregular",
                                                                             "reason_code": "unreachable"})).json()
    org_user = stack.auth("org", org_id=org["id"], sub="org-user-1")
    objection = (await registry_post(stack, f"{url}/credit-listings/{listing['id']}/objections", org_user,
                                     {"grounds": "已整改"})).json()
    investigation = (await registry_post(stack, f"{url}/investigations", officer,
                                         {"opened_on": "2026-02-01", "reason": "举报"})).json()
    known = {
        "org_id": [org["id"], filed["id"]],
        "uscc": [org["uscc"]],
        "listing_id": [listing["id"]],
        "objection_id": [objection["id"]],
        "investigation_id": [investigation["id"]],
        "year": ["2026"],
    }
    return callers(stack, org_id=org["id"], agency_id=str(uuid.uuid4())), known


async def seed_evaluation(stack: Stack) -> Seeded:
    facts, api = EvaluationFacts(stack), EvaluationApi(stack)
    org = await facts.register()
    await stack.settle()
    round_ = await api.open_round()
    evaluation = await api.apply(round_["id"], org)
    agency, evaluators, _ = await api.agency_with_evaluators(1)
    await api.assign(evaluation["id"], evaluators[0]["id"])
    documents = [
        item["id"]
        for kind in ("rule-sets", "band-tables", "indicator-templates")
        for item in (await stack.client.get(f"/evaluation/v1/{kind}", headers=api.officer)).json()["items"][:1]
    ]
    known = {
        "org_id": [org["org_id"]],
        "round_id": [round_["id"]],
        "evaluation_id": [evaluation["id"]],
        "agency_id": [agency["id"]],
        "doc_id": documents,
        "year": ["2026"],
    }
    who = callers(stack, org_id=org["org_id"], agency_id=agency["id"], evaluator_sub=evaluators[0]["sub"])
    return who, known


async def seed_grants(stack: Stack) -> Seeded:
    g = Grants(stack)
    draft = (await stack.client.post("/grants/v1/calls", json=_draft_call(), headers={**g.officer, **g.key()})).json()
    call = await g.open_call()
    org = await g.events.good_org(new_org())
    await stack.settle()
    application = await g.submitted(call["id"], org)
    await g.close(call)
    award = (await g.award(call["id"], [{"application_id": application["id"]}])).json()["awards"][0]
    await stack.advance(days=10)
    await stack.client.post(f"/grants/v1/awards/{award['id']}/agreement", json={}, headers={**g.officer, **g.key()})
    tranches = (await stack.client.get(f"/grants/v1/awards/{award['id']}/disbursements", headers=g.finance)).json()
    known = {
        "call_id": [call["id"], draft["id"]],
        "application_id": [application["id"]],
        "award_id": [award["id"]],
        "disbursement_id": [t["id"] for t in tranches[:2]],
        "year": ["2026"],
    }
    return callers(stack, org_id=org.org_id, agency_id=str(uuid.uuid4())), known


def _draft_call() -> dict[str, Any]:
    from tests.integration.grants.support import call_body

    return call_body(title="2026年白云区微公益创投（草稿）")


async def seed_notifications(stack: Stack) -> Seeded:
    org_user = stack.auth("org", org_id=SAMPLE_ORG_ID, sub="org-user-1")
    assert (await stack.client.get("/notifications/v1/recipients/me", headers=org_user)).status_code == 200
    body = {"url": "https://finance.example.org/hooks", "event_types": ["cn.gongyi.grants.disbursement.paid.v1"]}
    admin = {**stack.auth("admin", sub="admin-1"), "Idempotency-Key": "seed"}
    subscription = await stack.client.post("/notifications/v1/subscriptions", json=body, headers=admin)
    await Emitter(stack).emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await stack.settle()
    inbox = (await stack.client.get("/notifications/v1/inbox", headers=org_user)).json()["items"]
    deliveries = (await stack.client.get("/notifications/v1/deliveries", headers=stack.auth("admin"))).json()["items"]
    assert inbox and deliveries, "the seeded event reached no inbox"
    known = {
        "item_id": [i["id"] for i in inbox[:1]],
        "subscription_id": [subscription.json()["id"]],
        "delivery_id": [d["id"] for d in deliveries[:2]],
        "year": ["2026"],
    }
    return callers(stack, org_id=SAMPLE_ORG_ID, agency_id=str(uuid.uuid4())), known


async def _loopback(host: str, port: int) -> list[Any]:
    return [ipaddress.ip_address("127.0.0.1")]  # every webhook host is this machine: nothing leaves the test


SEEDS: dict[str, Callable[[Stack], Awaitable[Seeded]]] = {
    "registry": seed_registry,
    "evaluation": seed_evaluation,
    "grants": seed_grants,
    "notifications": seed_notifications,
}


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
@pytest.mark.parametrize("service", list(SEEDS))
async def test_every_operation_answers_as_documented_and_never_with_a_server_error(stack_factory, service, db):
    options: dict[str, Any] = {}
    if service == "notifications":
        options = {
            "runtime_kwargs": {service: {"resolver": _loopback}},
            "settings": {"webhook_allow_cidrs": "127.0.0.0/8"},
        }
    stack = await stack_factory((service,), db=db, **options)
    who, known = await SEEDS[service](stack)
    report = await fuzz(stack, service, callers=who, known=known, examples_per_caller=EXAMPLES)
    print(report.summary())
    assert not report.failures, f"{len(report.failures)} undocumented answers:\n\n{report}"
    # the seeded world was reached: some operation on a known resource succeeded
    assert any(s < 300 for statuses in report.statuses.values() for s in statuses)

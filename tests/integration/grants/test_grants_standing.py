"""The standing read model: built from registry and evaluation events, seeded once by the registry
for an organization never seen (2 s timeout), and open applications screened again when it changes."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest

from services.grants.settings import GrantsSettings
from tests.integration.grants.support import Grants, new_org, verb


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_a_listing_after_submission_rescreens_the_open_application_and_tells_the_applicant(stack_factory, db):
    stack = await stack_factory(("grants",), db=db)
    g = Grants(stack)
    call = await g.open_call()
    org = await g.events.good_org(new_org())
    await stack.settle()
    app = await g.submitted(call["id"], org)
    assert app["eligible"] is True

    stack.clock.set(stack.clock.now().replace(day=10))
    await g.events.registry(
        org,
        "listed",
        listing_id="l-9",
        list="irregular",
        reason_code="unreachable",
        reason="通过登记的住所无法联系",
        listed_on="2026-03-10",
        escalated_from=None,
        effective_on="2026-03-10",
    )
    await stack.settle()
    answer = (await stack.client.get(f"/grants/v1/applications/{app['id']}/eligibility", headers=g.org(org))).json()
    assert answer["eligible"] is False and answer["rescreen"] is True
    assert {r["rule"] for r in answer["reasons"]} == {"eligibility.credit_list", "eligibility.lookback.irregular"}
    assert all(r["detail"].endswith("(after submission)") for r in answer["reasons"])
    screened = [e for e in await g.bus_events("grants.application") if verb(e) == "screened"]
    assert [e["data"]["rescreen"] for e in screened] == [False, True]
    assert screened[-1]["data"]["eligible"] is False

    # an unrelated change that does not change the answer tells nobody again
    await g.events.registry(org, "updated", changed=["address"], service_domains=["elderly"], name=org.name)
    await stack.settle()
    assert len([e for e in await g.bus_events("grants.application") if verb(e) == "screened"]) == 2


async def test_a_downgrade_below_the_minimum_grade_rescreens(stack_factory):
    stack = await stack_factory(("grants",), db="postgres")
    g = Grants(stack)
    call = await g.open_call()
    org = await g.events.good_org(new_org(), grade="3A")
    await stack.settle()
    app = await g.submitted(call["id"], org)
    stack.clock.set(stack.clock.now().replace(day=12))
    await g.events.rating(
        org,
        "downgraded",
        previous_grade="3A",
        grade="2A",
        reason="annual_inspection_failed",
        effective_on="2026-03-11",
        valid_from="2026-03-11",
        valid_until="2030-05-19",
    )
    await stack.settle()
    answer = (await stack.client.get(f"/grants/v1/applications/{app['id']}/eligibility", headers=g.org(org))).json()
    assert [r["rule"] for r in answer["reasons"]] == ["eligibility.min_grade"]
    assert "organization holds 2A" in answer["reasons"][0]["detail"]


async def _answering_registry(answer: dict, seen: list[dict]):
    """A registry standing route on a loopback socket (never awaits: the client's 2 s matter)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        request_line, *headers = head.split("\r\n")
        seen.append(
            {
                "line": request_line,
                "headers": {h.split(":")[0].lower(): h.split(":", 1)[1].strip() for h in headers if ":" in h},
            }
        )
        body = orjson.dumps(answer)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\nconnection: close\r\n\r\n"
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_an_organization_never_seen_is_seeded_from_the_registry_once_and_later_events_apply_in_order(
    stack_factory,
):
    org = new_org("新来的")
    answer = {
        "org_id": org.org_id,
        "kind": "social_service_agency",
        "region_code": "440111",
        "status": "active",
        "organization": {"org_id": org.org_id, "scheme": "CN-USCI", "id": org.uscc, "name": org.name},
        "listings": [],
        "annual_results": [],
        "penalties": [],
        "open_investigations": [],
        "current_grade": {"grade": "5A", "valid_from": "2025-01-01", "valid_until": "2029-12-31"},
        "sequence": 3,
    }
    seen: list[dict] = []
    server, url = await _answering_registry(answer, seen)
    try:
        stack = await stack_factory(("grants",), db="postgres", settings={"registry_base_url": url})
        g = Grants(stack)
        call = await g.open_call(eligibility={"min_grade": None, "max_applications": 1})
        app = await g.submitted(call["id"], org)
        assert app["eligible"] is True and app["organization"]["name"] == "新来的"
        assert len(seen) == 1 and f"/registry/v1/organizations/{org.org_id}/standing?on=2026-03-02" in seen[0]["line"]
        assert seen[0]["headers"]["authorization"].startswith("Bearer ")
        # grades never come from the registry's answer
        call2 = await g.open_call(title="需3A")
        draft = await g.draft(call2["id"], org)
        r = await g.submit(draft["id"], org)
        assert [x["rule"] for x in r.json()["eligibility"]["reasons"]] == ["eligibility.min_grade"]
        assert len(seen) == 1  # known now: no second call

        # the registry's events 1..3 are already in its answer; 4 is new
        for _ in range(2):
            await g.events.registry(org, "updated", changed=["name"], service_domains=[], name=org.name)
        await g.events.registry(
            org,
            "listed",
            listing_id="old",
            list="serious",
            reason_code="x",
            reason="x",
            listed_on="2026-01-01",
            escalated_from=None,
            effective_on="2026-01-01",
        )
        await g.events.registry(
            org,
            "listed",
            listing_id="new",
            list="irregular",
            reason_code="x",
            reason="x",
            listed_on="2026-03-02",
            escalated_from=None,
            effective_on="2026-03-02",
        )
        await stack.settle()
        answer_now = (
            await stack.client.get(f"/grants/v1/applications/{app['id']}/eligibility", headers=g.org(org))
        ).json()
        assert {r["rule"] for r in answer_now["reasons"]} == {"eligibility.credit_list"}
        assert "irregular list" in answer_now["reasons"][0]["detail"]
    finally:
        server.close()


async def test_when_the_registry_does_not_answer_in_time_the_submission_is_accepted_and_screened_later(
    stack_factory,
):
    async def silent(reader, writer):
        with contextlib.suppress(Exception):
            await reader.read()  # never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        assert GrantsSettings(env="test").registry_timeout_s == 2.0
        stack = await stack_factory(
            ("grants",), db="postgres", settings={"registry_base_url": url, "registry_timeout_s": 0.3}
        )
        g = Grants(stack)
        call = await g.open_call()
        org = new_org("登记处没回应")
        draft = await g.draft(call["id"], org)
        r = await g.submit(draft["id"], org)
        assert r.status_code == 200, r.text
        app = r.json()
        assert app["status"] == "submitted" and app["eligible"] is None
        assert [w["rule"] for w in app["warnings"]] == ["standing.unavailable"]
        await g.events.good_org(org, grade="")  # the registry's record first…
        await stack.settle()
        await g.events.rating(
            org,
            "published",
            grade="4A",
            decided_on="2025-05-20",
            announced_on="2025-05-20",
            valid_from="2025-05-20",
            valid_until="2030-05-19",
        )  # …then the grade
        await stack.settle()
        answer = (await stack.client.get(f"/grants/v1/applications/{app['id']}/eligibility", headers=g.org(org))).json()
        assert answer["eligible"] is True
        events = await g.bus_events("grants.application")
        assert [verb(e) for e in events] == ["drafted", "submitted", "screened", "screened"]
        # screened as soon as the registry record arrived (its grade came a moment later)
        first, second = (e["data"] for e in events[2:])
        assert (first["rescreen"], first["eligible"], second["rescreen"], second["eligible"]) == (
            False,
            False,
            True,
            True,
        )
        assert [r["rule"] for r in first["reasons"]] == ["eligibility.min_grade"]
        # announced only once the organization could be named: every event names it and its region
        assert {(e["data"]["organization"].get("id"), e["data"]["region_code"]) for e in events} == {
            (org.uscc, "440111")
        }
        assert events[1]["data"]["submitted_at"] == "2026-03-02T01:00:00Z"  # when it was received
    finally:
        server.close()


async def test_a_draft_of_an_organization_not_yet_known_is_announced_when_its_registry_record_arrives(
    stack_factory,
):
    stack = await stack_factory(("grants",), db="sqlite")
    g = Grants(stack)
    call = await g.open_call()
    org = new_org("刚登记的")
    draft = await g.draft(call["id"], org)
    assert await g.bus_events("grants.application") == []  # grants cannot name the organization yet
    await g.events.good_org(org)
    await stack.settle()
    events = await g.bus_events("grants.application")
    assert [verb(e) for e in events] == ["drafted"]
    assert events[0]["data"]["application_id"] == draft["id"]
    assert events[0]["data"]["organization"] == {
        "org_id": org.org_id, "scheme": "CN-USCI", "id": org.uscc, "name": "刚登记的"
    }
    assert events[0]["data"]["region_code"] == "440111"
    url = f"/grants/v1/applications/{draft['id']}/withdrawal"
    withdrawn = await stack.client.post(url, json={}, headers=g.org(org))
    assert withdrawn.status_code == 200, withdrawn.text
    assert [verb(e) for e in await g.bus_events("grants.application")] == ["drafted", "withdrawn"]

"""Registering, filing, upgrading and changing organizations through the API (DOMAIN.md §1)."""

from __future__ import annotations

import asyncio

import orjson

from contracts.validate import validate_event
from tests.integration.registry.support import ID_VALID, idem, make_uscc, org_body, post, register

ORGS = "/registry/v1/organizations"


async def published(stack, topic="registry.organization"):
    """Everything the registry published, each event checked against the event contract."""
    await stack.settle()
    records = await stack.bus.read_all(stack.runtimes["registry"].settings.topic(topic))
    events = [orjson.loads(r.value) for r in records]
    for event in events:
        assert validate_event(event) == [], (event["type"], validate_event(event))
    return events


async def test_registration_returns_masked_personal_data_and_publishes_registered(any_db):
    stack = any_db
    officer = stack.auth("officer", region="440111")
    body = org_body(name="广州市白云区启智社会工作服务中心", uscc="52440111MJK9980480", service_domains=["elderly"])
    response = await stack.client.post(ORGS, json=body, headers={**officer, **idem()})
    assert response.status_code == 201, response.text
    org = response.json()
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"{ORGS}/{org['id']}"
    assert org["legal_representative"]["id_number"] == "110105********002X"
    assert org["legal_representative"]["phone"] == "138****0000"
    assert org["contact"]["phone"] == "020-****0000"
    assert ID_VALID not in response.text and "13800000000" not in response.text
    events = await published(stack)
    assert [e["type"] for e in events] == ["cn.gongyi.registry.organization.registered.v1"]
    event = events[0]
    assert event["partitionkey"] == org["id"] and event["subject"] == f"organizations/{org['id']}"
    assert event["sequence"] == "00000000000000000001"
    assert event["data"] == {
        "org_id": org["id"],
        "organization": {
            "org_id": org["id"],
            "scheme": "CN-USCI",
            "id": "52440111MJK9980480",
            "name": "广州市白云区启智社会工作服务中心",
        },
        "kind": "social_service_agency",
        "region_code": "440111",
        "status": "active",
        "registered_on": "2019-06-01",
        "registration_authority": "440111",
        "category": "charity",
        "supervising_unit": None,
        "service_domains": ["elderly"],
    }
    raw = b"".join(
        r.value for r in await stack.bus.read_all(stack.runtimes["registry"].settings.topic("registry.organization"))
    )
    assert b"110105" not in raw and "张三".encode() not in raw and b"13800000000" not in raw
    audit = await stack.client.get(
        "/registry/v1/audit", params={"resource": f"organizations/{org['id']}"}, headers=officer
    )
    entry = audit.json()["items"][0]
    assert entry["action"] == "organization.registered" and entry["actor_role"] == "officer"
    assert entry["request_id"] and ID_VALID not in audit.text


async def test_id_numbers_and_phones_are_encrypted_at_rest(pg):
    officer = pg.auth("officer", region="440111")
    org = await register(pg, officer)
    from sqlalchemy import text

    async with pg.runtimes["registry"].uow(readonly=True) as uow:
        row = (
            await uow.conn.execute(text("SELECT id_number_enc, phone_enc FROM registry.legal_representatives"))
        ).one()
        contact = (await uow.conn.execute(text("SELECT contact_phone_enc FROM registry.organizations"))).scalar_one()
    assert ID_VALID not in row.id_number_enc and "13800000000" not in row.phone_enc and "020" not in contact
    assert pg.runtimes["registry"].cipher.decrypt(row.id_number_enc, associated_data=org["id"]) == ID_VALID


async def test_position_17_failure_is_a_warning(pg):
    officer = pg.auth("officer", region="440111")
    from services.registry.domain.codes import uscc_check_character

    first17 = "52440111MJ0000010" + ""
    first17 = first17[:16] + ("1" if first17[16] != "1" else "2")
    uscc = first17 + uscc_check_character(first17)
    org = await register(pg, officer, uscc=uscc)
    assert [w["rule"] for w in org["warnings"]] == ["uscc.organization_code_check"]


async def test_bad_code_and_wrong_kind_digit_are_refused(pg):
    officer = pg.auth("officer", region="440111")
    bad = await post(pg, ORGS, officer, org_body(uscc="52440111MJK9980481"))
    assert bad.status_code == 422 and bad.json()["rule"] == "uscc.check_character"
    assert bad.json()["errors"][0]["field"] == "uscc"
    wrong_kind = await post(pg, ORGS, officer, org_body(kind="social_group", uscc="52440111MJK9980480"))
    assert wrong_kind.status_code == 422 and wrong_kind.json()["rule"] == "uscc.kind_digit"
    bad_id = await post(
        pg, ORGS, officer, org_body(legal_representative={"name": "张三", "id_number": "110105194912310021"})
    )
    assert bad_id.status_code == 422
    assert bad_id.json()["errors"][0] == {
        "field": "legal_representative.id_number",
        "message": "公民身份号码校验码不正确",
        "rule": "id_number.check_digit",
        "basis": "GB 11643-1999《公民身份号码》 第 7 条",
    }
    bad_name = await post(pg, ORGS, officer, org_body(name="启智\u202e中心"))
    assert bad_name.status_code == 422 and bad_name.json()["rule"] == "name.invalid_characters"
    enterprise = await post(pg, ORGS, officer, org_body(uscc="91350100M000100Y43"))
    assert enterprise.status_code == 422 and {e["rule"] for e in enterprise.json()["errors"]} >= {"uscc.department"}
    assert (await pg.client.get(ORGS, headers=officer)).json()["items"] == []


async def test_out_of_region_officer_cannot_register_nor_see_an_organization(pg):
    baiyun = pg.auth("officer", region="440111")
    yuexiu = pg.auth("officer", region="440104")
    outside = await post(pg, ORGS, yuexiu, org_body())
    assert outside.status_code == 403 and outside.json()["type"].endswith("registry.authority.out_of_region")
    org = await register(pg, baiyun)
    assert (await pg.client.get(f"{ORGS}/{org['id']}", headers=yuexiu)).status_code == 404
    patch = await pg.client.patch(f"{ORGS}/{org['id']}", json={"address": "x"}, headers={**yuexiu, "If-Match": '"1"'})
    assert patch.status_code == 404
    listing = await post(
        pg, f"{ORGS}/{org['id']}/credit-listings", yuexiu, {"list": "irregular", "reason_code": "unreachable"}
    )
    assert listing.status_code == 404
    city = pg.auth("officer", region="440100")
    assert (await pg.client.get(f"{ORGS}/{org['id']}", headers=city)).status_code == 200
    other_org = pg.auth("org", org_id="0190a0a0-0000-7000-8000-000000000000")
    assert (await pg.client.get(f"{ORGS}/{org['id']}", headers=other_org)).status_code == 404
    assert (await pg.client.get(f"{ORGS}/{org['id']}", headers=pg.auth("org", org_id=org["id"]))).status_code == 200


async def test_duplicates_are_refused_naming_the_existing_record(any_db):
    stack = any_db
    officer = stack.auth("officer", region="440111")
    first = await register(stack, officer, name="白云区 养老服务中心")
    same_code = await post(stack, ORGS, officer, org_body(uscc=first["uscc"]))
    assert same_code.status_code == 409 and same_code.json()["rule"] == "organization.duplicate_code"
    assert same_code.json()["existing"]["id"] == first["id"]
    same_name = await post(stack, ORGS, officer, org_body(name="白云区养老服务中心 "))  # same key: whitespace only
    assert same_name.status_code == 409 and same_name.json()["rule"] == "organization.duplicate_name"
    assert same_name.json()["existing"]["name"] == "白云区 养老服务中心"
    elsewhere = pg_ok = await post(
        stack, ORGS, stack.auth("officer", region="440106"), org_body(name="白云区养老服务中心", region_code="440106")
    )
    assert elsewhere.status_code == 201, pg_ok.text  # another region


async def test_street_officers_file_and_county_officers_register(pg):
    street = pg.auth("officer", region="440111002")
    county = pg.auth("officer", region="440111")
    filed = await post(pg, ORGS, street, org_body(kind="community_filed", region_code="440111002"))
    assert filed.status_code == 201, filed.text
    group = filed.json()
    assert group["filing_number"] == "440111002202500001" and group["uscc"] is None
    assert group["filing_authority"] == "440111002"
    assert [w["rule"] for w in group["warnings"]] == ["region.street_table_missing"]
    by_county = await post(pg, ORGS, county, org_body(kind="community_filed", region_code="440111002"))
    assert by_county.status_code == 403 and by_county.json()["rule"] == "registry.authority.filing_level"
    by_street = await post(pg, ORGS, street, org_body(region_code="440111"))
    assert by_street.status_code == 403 and by_street.json()["rule"] == "registry.authority.register_level"
    foundation = await post(pg, ORGS, county, org_body(kind="foundation"))
    assert foundation.status_code == 403 and foundation.json()["rule"] == "registry.authority.foundation_level"
    events = await published(pg)
    assert events[0]["type"].endswith(".filed.v1")
    assert events[0]["data"]["organization"] == {
        "org_id": group["id"],
        "scheme": "CN-GONGYI-FILED",
        "id": "440111002202500001",
        "name": group["name"],
    }


async def test_loaded_street_table_refuses_unknown_streets(pg):
    from services.registry.models import Street

    async with pg.runtimes["registry"].uow() as uow:
        uow.session.add(Street(code="440111002", name="三元里街道", county_code="440111", source="test"))
        await uow.commit()
    street = pg.auth("officer", region="440111")
    # a county office under a county-filing preset files too; here only the table is under test
    street_officer = pg.auth("officer", region="440111003")
    unknown = await post(pg, ORGS, street_officer, org_body(kind="community_filed", region_code="440111003"))
    assert unknown.status_code == 422 and unknown.json()["rule"] == "region.unknown_street"
    known = await post(
        pg, ORGS, pg.auth("officer", region="440111002"), org_body(kind="community_filed", region_code="440111002")
    )
    assert known.status_code == 201 and known.json()["warnings"] == []
    del street


async def test_upgrading_a_filed_group_keeps_its_id_and_history(pg):
    street = pg.auth("officer", region="440111002")
    county = pg.auth("officer", region="440111")
    group = (await post(pg, ORGS, street, org_body(kind="community_filed", region_code="440111002"))).json()
    uscc = make_uscc("social_group", "440111")
    body = {
        "kind": "social_group",
        "uscc": uscc,
        "registered_on": "2026-02-01",
        "category": "community_service",
        "legal_representative": {"name": "王五", "id_number": "440111196001011232", "phone": "13900000000"},
    }
    by_street = await post(pg, f"{ORGS}/{group['id']}/registration", street, body)
    assert by_street.status_code == 403
    upgraded = await post(pg, f"{ORGS}/{group['id']}/registration", county, body)
    assert upgraded.status_code == 200, upgraded.text
    org = upgraded.json()
    assert org["id"] == group["id"] and org["uscc"] == uscc and org["kind"] == "social_group"
    assert org["previous_filing_number"] == group["filing_number"] and org["region_code"] == "440111"
    assert org["legal_representative"]["id_number"] == "440111********1232"
    events = await published(pg)
    assert [e["type"].split(".")[-2] for e in events] == ["filed", "upgraded"]
    assert events[1]["data"]["previous_filing_number"] == group["filing_number"] and events[1]["data"]["uscc"] == uscc
    again = await post(pg, f"{ORGS}/{group['id']}/registration", county, body)
    assert again.status_code == 409
    by_code = await pg.client.get(f"{ORGS}/by-code/{uscc}", headers=county)
    assert by_code.json()["id"] == group["id"]


async def test_idempotent_replay_and_missing_key(pg):
    officer = pg.auth("officer", region="440111", sub="officer-1")
    body = org_body()
    headers = {**officer, "Idempotency-Key": "register-1"}
    first = await pg.client.post(ORGS, json=body, headers=headers)
    second = await pg.client.post(ORGS, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true" and second.json()["id"] == first.json()["id"]
    assert (await pg.client.post(ORGS, json=body, headers=officer)).status_code == 400
    assert len(await published(pg)) == 1


async def test_changes_need_if_match_and_a_stale_one_is_412(pg):
    officer = pg.auth("officer", region="440111")
    org = await register(pg, officer)
    url = f"{ORGS}/{org['id']}"
    assert (await pg.client.patch(url, json={"address": "新地址"}, headers=officer)).status_code == 428
    changed = await pg.client.patch(
        url, json={"address": "新地址", "service_domains": ["children"]}, headers={**officer, "If-Match": '"1"'}
    )
    assert changed.status_code == 200 and changed.headers["etag"] == '"2"'
    assert changed.json()["service_domains"] == ["children"]
    stale = await pg.client.patch(url, json={"address": "另一个"}, headers={**officer, "If-Match": '"1"'})
    assert stale.status_code == 412
    events = await published(pg)
    assert events[-1]["type"].endswith(".updated.v1")
    assert (
        events[-1]["data"]["changed"] == ["service_domains", "address"]
        and events[-1]["sequence"] == "00000000000000000002"
    )


async def test_concurrent_updates_with_the_same_etag_one_wins_one_is_412(pg):
    officer = pg.auth("officer", region="440111")
    org = await register(pg, officer)
    url = f"{ORGS}/{org['id']}"
    results = await asyncio.gather(
        *(pg.client.patch(url, json={"address": f"地址{i}"}, headers={**officer, "If-Match": '"1"'}) for i in range(4))
    )
    assert sorted(r.status_code for r in results) == [200, 412, 412, 412]
    assert (await pg.client.get(url, headers=officer)).json()["version"] == 2


async def test_a_deregistered_organization_is_changed_only_by_an_audited_admin_correction(any_db):
    stack = any_db
    officer = stack.auth("officer", region="440111")
    org = await register(stack, officer)
    url = f"{ORGS}/{org['id']}"
    closed = await post(stack, f"{url}/deregistration", officer, {"on": "2026-03-01", "reason": "自行解散"})
    assert closed.status_code == 200 and closed.json()["status"] == "deregistered"
    refused = await stack.client.patch(url, json={"address": "x"}, headers={**officer, "If-Match": '"2"'})
    assert refused.status_code == 409 and refused.json()["rule"] == "organization.closed"
    admin = stack.auth("admin")
    no_reason = await stack.client.patch(url, json={"address": "x"}, headers={**admin, "If-Match": '"2"'})
    assert no_reason.status_code == 409
    corrected = await stack.client.patch(
        url,
        json={"address": "更正后的住所", "correction_reason": "登记时住所录入错误"},
        headers={**admin, "If-Match": '"2"'},
    )
    assert corrected.status_code == 200 and corrected.json()["address"] == "更正后的住所"
    audit = (
        await stack.client.get("/registry/v1/audit", params={"resource": f"organizations/{org['id']}"}, headers=officer)
    ).json()
    assert [a["action"] for a in audit["items"]] == [
        "organization.registered",
        "organization.deregistered",
        "organization.corrected",
    ]
    assert audit["items"][-1]["detail"]["correction_reason"] == "登记时住所录入错误"
    events = await published(stack)
    assert [e["type"].split(".")[-2] for e in events] == ["registered", "deregistered", "updated"]
    assert events[1]["data"]["status"] == "deregistered" and events[1]["data"]["effective_on"] == "2026-03-01"


async def test_revocation_by_licence_revoked_penalty(pg):
    officer = pg.auth("officer", region="440111")
    org = await register(pg, officer)
    penalty = await post(
        pg,
        f"{ORGS}/{org['id']}/penalties",
        officer,
        {"penalty_type": "licence_revoked", "decided_on": "2026-02-20", "reason": "严重违法"},
    )
    assert penalty.status_code == 201
    assert [w["rule"] for w in penalty.json()["warnings"]] == ["credit_listing.trigger"]
    got = (await pg.client.get(f"{ORGS}/{org['id']}", headers=officer)).json()
    assert got["status"] == "revoked" and got["revoked_on"] == "2026-02-20"
    events = await published(pg)
    assert [e["type"].split(".")[-2] for e in events] == ["registered", "penalty_recorded", "revoked"]


async def test_concurrent_registrations_of_one_code_register_it_once(pg):
    officer = pg.auth("officer", region="440111")
    uscc = make_uscc()
    results = await asyncio.gather(
        *(pg.client.post(ORGS, json=org_body(uscc=uscc), headers={**officer, **idem()}) for _ in range(4))
    )
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409]
    assert len((await pg.client.get(ORGS, headers=officer)).json()["items"]) == 1
    assert len(await published(pg)) == 1


async def test_state_transitions_honour_an_idempotency_key_but_do_not_require_one(pg):
    officer = pg.auth("officer", region="440111", sub="officer-2")
    org = await register(pg, officer)
    url = f"{ORGS}/{org['id']}/deregistration"
    body = {"on": "2026-03-01", "reason": "解散"}
    first = await pg.client.post(url, json=body, headers={**officer, "Idempotency-Key": "dereg-1"})
    replay = await pg.client.post(url, json=body, headers={**officer, "Idempotency-Key": "dereg-1"})
    assert first.status_code == replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    again = await pg.client.post(url, json=body, headers=officer)
    assert again.status_code == 409 and again.json()["rule"] == "organization.closed"
    other = await register(pg, officer)
    creating = await pg.client.post(
        f"{ORGS}/{other['id']}/penalties",
        json={"penalty_type": "warning", "decided_on": "2026-03-01", "reason": "x"},
        headers=officer,
    )
    assert creating.status_code == 400 and creating.json()["type"].endswith("idempotency.key_missing")


async def test_a_new_legal_representative_replaces_the_old_one_masked_and_out_of_events(pg):
    officer = pg.auth("officer", region="440111")
    org = await register(pg, officer)
    url = f"{ORGS}/{org['id']}"
    new = {"name": "王五", "id_number": "440111196001011232", "phone": "13912345678"}
    changed = await pg.client.patch(url, json={"legal_representative": new}, headers={**officer, "If-Match": '"1"'})
    assert changed.status_code == 200
    assert changed.json()["legal_representative"] == {
        "name": "王五",
        "id_number": "440111********1232",
        "phone": "139****5678",
        "since": "2026-03-02",
    }
    bad = await pg.client.patch(
        url,
        json={"legal_representative": {**new, "id_number": "440111196001011233"}},
        headers={**officer, "If-Match": '"2"'},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "legal_representative.id_number"
    from sqlalchemy import text

    async with pg.runtimes["registry"].uow(readonly=True) as uow:
        history = (
            await uow.conn.execute(text("SELECT current, until FROM registry.legal_representatives ORDER BY id"))
        ).all()
    assert [(h.current, str(h.until)) for h in history] == [(False, "2026-03-02"), (True, "None")]
    events = await published(pg)
    assert events[-1]["data"]["changed"] == ["legal_representative"]
    raw = b"".join(
        r.value for r in await pg.bus.read_all(pg.runtimes["registry"].settings.topic("registry.organization"))
    )
    assert "王五".encode() not in raw and b"440111196001011232" not in raw
    # a second organization represented by the same person gets a warning (blind index look-up)
    other = await register(pg, officer, legal_representative=new)
    assert [w["rule"] for w in other["warnings"]] == ["legal_representative.already_represents"]

"""Standing with grades from `evaluation.rating`, statistics, and search with filters."""

from __future__ import annotations

from sqlalchemy import text

from tests.integration.registry.support import post, register, stage_rating
from tests.integration.registry.test_registration_api import ORGS


async def test_standing_shows_current_and_pending_grades_from_rating_events(any_db):
    stack = any_db
    officer = stack.auth("officer", region="440111")
    org = await register(stack, officer)
    url = f"{ORGS}/{org['id']}/standing"
    await stage_rating(
        stack,
        org["id"],
        "published",
        {
            "grade": "3A",
            "decided_on": "2024-05-20",
            "announced_on": "2024-06-01",
            "valid_from": "2024-05-20",
            "valid_until": "2029-05-19",
            "rule_set": {"id": "national-2011", "version": 1},
        },
        sequence=5,
    )
    await stage_rating(stack, org["id"], "scored", {"evaluator_sub": "e1", "total": "900.00"}, sequence=6)
    await stage_rating(
        stack,
        org["id"],
        "published",
        {
            "grade": "4A",
            "decided_on": "2026-02-10",
            "announced_on": "2026-02-20",
            "valid_from": "2027-01-01",
            "valid_until": "2031-12-31",
            "rule_set": {"id": "national-2026", "version": 1},
        },
        sequence=7,
    )
    await stack.settle()
    standing = (await stack.client.get(url, headers=officer)).json()
    assert standing["current_grade"] == {
        "grade": "3A",
        "valid_from": "2024-05-20",
        "valid_until": "2026-12-31",
        "evaluation_id": "ev-1",
    }
    assert standing["pending_grade"]["grade"] == "4A" and standing["pending_grade"]["valid_from"] == "2027-01-01"
    assert standing["sequence"] == 1 and standing["status"] == "active"
    later = (await stack.client.get(url, params={"on": "2027-01-01"}, headers=officer)).json()
    assert later["current_grade"]["grade"] == "4A" and later["pending_grade"] is None
    before = (await stack.client.get(url, params={"on": "2019-01-01"}, headers=officer)).json()
    assert before["status"] == "not_registered" and before["current_grade"] is None
    # a duplicate delivery and an older sequence change nothing; revocation ends the grade in force
    await stage_rating(
        stack,
        org["id"],
        "revoked",
        {"previous_grade": "3A", "reason": "serious_listing", "effective_on": "2026-03-01"},
        sequence=8,
    )
    await stage_rating(
        stack,
        org["id"],
        "revoked",
        {"previous_grade": "3A", "reason": "stale", "effective_on": "2025-01-01"},
        sequence=4,
    )
    await stack.settle()
    standing = (await stack.client.get(url, headers=officer)).json()
    assert standing["current_grade"] is None and standing["pending_grade"]["grade"] == "4A"
    assert (await stack.client.get(url, params={"on": "2026-02-28"}, headers=officer)).json()["current_grade"][
        "grade"
    ] == "3A"


async def test_a_malformed_rating_event_is_dead_lettered_not_applied(pg):
    officer = pg.auth("officer", region="440111")
    org = await register(pg, officer)
    await stage_rating(
        pg, org["id"], "published", {"grade": "6A", "valid_from": "2026-01-01", "valid_until": "2030-12-31"}, sequence=1
    )
    await pg.settle()
    dlt = await pg.bus.read_all(pg.runtimes["registry"].settings.topic("evaluation.rating") + ".dlt")
    assert len(dlt) == 1
    assert (await pg.client.get(f"{ORGS}/{org['id']}/standing", headers=officer)).json()["current_grade"] is None


async def test_stats_by_kind_grade_region_and_inspection_rate(pg):
    city = pg.auth("officer", region="440100")
    baiyun, yuexiu = pg.auth("officer", region="440111"), pg.auth("officer", region="440104")
    a = await register(pg, baiyun)
    b = await register(pg, baiyun, kind="social_group")
    c = await register(pg, yuexiu, region_code="440104")
    await register(pg, pg.auth("officer", region="440106"), region_code="440106")
    await post(pg, f"{ORGS}/{a['id']}/annual-reports", baiyun, {"year": 2025, "result": "qualified"})
    await post(pg, f"{ORGS}/{c['id']}/annual-reports", yuexiu, {"year": 2025, "result": "not_inspected"})
    await post(pg, f"{ORGS}/{b['id']}/credit-listings", baiyun, {"list": "irregular", "reason_code": "unreachable"})
    await stage_rating(
        pg, a["id"], "published", {"grade": "5A", "valid_from": "2025-01-01", "valid_until": "2029-12-31"}, sequence=1
    )
    await pg.settle()
    stats = (await pg.client.get("/registry/v1/stats", params={"region": "440100"}, headers=city)).json()
    assert stats["total"] == 4
    assert stats["by_kind"] == {"social_service_agency": 3, "social_group": 1}
    assert stats["by_region"] == {"440111": 2, "440104": 1, "440106": 1}
    assert stats["by_grade"] == {"5A": 1, "none": 3}
    assert stats["listed"] == {"irregular": 1, "serious": 0}
    assert stats["annual_inspection"] == {
        "year": 2025,
        "required": 4,
        "inspected": 1,
        "by_result": {"qualified": 1, "not_inspected": 1},
        "rate_bp": 2500,
    }
    own = (await pg.client.get("/registry/v1/stats", headers=baiyun)).json()
    assert own["total"] == 2
    assert (await pg.client.get("/registry/v1/stats", params={"region": "440104"}, headers=baiyun)).status_code == 403


async def test_search_and_filters_with_cursor_pagination(any_db):
    stack = any_db
    officer = stack.auth("officer", region="440111")
    names = [
        "白云区养老服务中心",
        "白云区社工服务站",
        "白云区青少年发展中心",
        "Baiyun ELDER Care 协会",
        "白云区助残服务中心",
    ]
    created = [await register(stack, officer, name=n) for n in names]
    await register(stack, stack.auth("officer", region="440104"), region_code="440104", name="越秀区养老服务中心")
    group = await register(stack, officer, kind="social_group", name="白云区慈善会", service_domains=["poverty_relief"])
    await post(
        stack,
        f"{ORGS}/{created[1]['id']}/credit-listings",
        officer,
        {"list": "irregular", "reason_code": "unreachable"},
    )

    async def names_for(headers=officer, **params):
        response = await stack.client.get(ORGS, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return sorted(o["name"] for o in response.json()["items"])

    assert await names_for(q="养老") == ["白云区养老服务中心"]  # an officer sees only their region
    assert await names_for(stack.auth("admin"), q="养老") == ["白云区养老服务中心", "越秀区养老服务中心"]
    assert await names_for(q="社") == ["白云区社工服务站"]
    assert await names_for(q="青少年发展") == ["白云区青少年发展中心"]
    assert await names_for(q=" elder care ") == ["Baiyun ELDER Care 协会"]  # NFKC + casefold, spaces ignored
    assert await names_for(q="ＥＬＤＥＲ") == ["Baiyun ELDER Care 协会"]
    assert await names_for(q="100%") == []
    assert await names_for(kind="social_group") == ["白云区慈善会"]
    assert await names_for(service_domain="poverty_relief") == ["白云区慈善会"]
    assert await names_for(listed="irregular") == ["白云区社工服务站"]
    assert len(await names_for(listed="none")) == 5
    assert await names_for(region="440104") == []
    assert await names_for(stack.auth("admin"), region="440104") == ["越秀区养老服务中心"]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await stack.client.get(ORGS, params=params, headers=officer)).json()
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6 and group["id"] in seen
    assert (await stack.client.get(ORGS, params={"cursor": "garbage"}, headers=officer)).status_code == 400
    assert (await stack.client.get(ORGS, params={"region": "12"}, headers=officer)).status_code == 400
    assert (await stack.client.get(ORGS, headers=stack.auth("org", org_id=group["id"]))).status_code == 403
    xlsx = await stack.client.get(
        ORGS, headers={**officer, "Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    )
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert b"110105" not in xlsx.content


async def test_cluster_locale_classifies_cjk_as_letters_and_search_uses_the_indexes(pg):
    officer = pg.auth("officer", region="440111")
    await register(pg, officer, name="白云区养老服务中心")
    async with pg.runtimes["registry"].uow(readonly=True) as uow:
        trigrams = (await uow.conn.execute(text("SELECT show_trgm('养老服务')"))).scalar_one()
        assert len(trigrams) >= 2  # CJK characters form trigrams: the ctype treats them as letters
        await uow.conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            (
                await uow.conn.execute(
                    text("EXPLAIN SELECT id FROM registry.organizations WHERE name_key LIKE '%养老服务%'")
                )
            ).scalars()
        )
        assert "ix_organizations_name_key_trgm" in plan
        plan = "\n".join(
            (
                await uow.conn.execute(
                    text("EXPLAIN SELECT id FROM registry.organizations WHERE name_grams @> ARRAY['养老']::varchar[]")
                )
            ).scalars()
        )
        assert "ix_organizations_name_grams" in plan


async def test_grades_arrive_over_kafka_and_registry_events_leave_over_it(stack_factory):
    stack = await stack_factory(("registry",), db="postgres", bus="kafka")
    officer = stack.auth("officer", region="440111")
    org = await register(stack, officer)
    await stage_rating(
        stack,
        org["id"],
        "published",
        {"grade": "4A", "valid_from": "2025-06-01", "valid_until": "2030-05-31"},
        sequence=1,
    )
    await stack.settle()
    standing = (await stack.client.get(f"{ORGS}/{org['id']}/standing", headers=officer)).json()
    assert standing["current_grade"]["grade"] == "4A"
    records = await stack.bus.read_all(stack.runtimes["registry"].settings.topic("registry.organization"))
    assert [r.header("ce_type").decode() for r in records] == ["cn.gongyi.registry.organization.registered.v1"]

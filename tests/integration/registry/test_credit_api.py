"""Annual results, penalties, investigations and the credit lists through the API."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.registry.support import post, register
from tests.integration.registry.test_registration_api import ORGS, published


async def test_was_x_listed_on_date_d_and_rectified_removal(any_db):
    stack = any_db
    officer = stack.auth("officer", region="440111")
    org = await register(stack, officer)
    url = f"{ORGS}/{org['id']}"
    listed = await post(
        stack,
        f"{url}/credit-listings",
        officer,
        {"list": "irregular", "reason_code": "unreachable", "listed_on": "2026-01-05"},
    )
    assert listed.status_code == 201, listed.text
    listing = listed.json()
    assert listing["reason"].startswith("通过登记的住所无法")
    assert (await stack.client.get(url, headers=officer)).json()["listed"] == {"irregular": True, "serious": False}
    removed = await post(
        stack,
        f"{url}/credit-listings/{listing['id']}/removal",
        officer,
        {"reason": "rectified", "removed_on": "2026-02-27", "rectification_verified_on": "2026-02-10"},
    )
    assert removed.status_code == 200, removed.text
    # verified Tue 2026-02-10: 5 working days after it end on 2026-02-24 (Spring Festival holidays in between)
    assert [w["rule"] for w in removed.json()["warnings"]] == ["credit_listing.removal_late"]
    for day, expected in (("2026-01-04", False), ("2026-01-05", True), ("2026-02-26", True), ("2026-02-27", False)):
        on = await stack.client.get(f"{url}/credit-listings", params={"on": day}, headers=officer)
        assert (len(on.json()) == 1) is expected, day
        standing = (await stack.client.get(f"{url}/standing", params={"on": day}, headers=officer)).json()
        assert standing["listed"]["irregular"] is expected
    # standing keeps the history a look-back window needs, as it stood on the date asked
    now = (await stack.client.get(f"{url}/standing", headers=officer)).json()
    assert now["listed"]["irregular"] is False and now["registered_on"] == "2019-06-01"
    assert [(x["listed_on"], x["removed_on"], x["removal_reason"]) for x in now["listings"]] == [
        ("2026-01-05", "2026-02-27", "rectified")
    ]
    then = (await stack.client.get(f"{url}/standing", params={"on": "2026-02-26"}, headers=officer)).json()
    assert [(x["listed_on"], x["removed_on"]) for x in then["listings"]] == [("2026-01-05", None)]
    before = (await stack.client.get(f"{url}/standing", params={"on": "2026-01-04"}, headers=officer)).json()
    assert before["listings"] == []
    events = await published(stack)
    assert [e["type"].split(".")[-2] for e in events] == ["registered", "listed", "delisted"]
    assert (
        events[1]["data"].items()
        >= {
            "list": "irregular",
            "reason_code": "unreachable",
            "listed_on": "2026-01-05",
            "escalated_from": None,
            "effective_on": "2026-01-05",
        }.items()
    )
    assert events[2]["data"]["removal_reason"] == "rectified" and events[2]["data"]["removed_on"] == "2026-02-27"


async def test_listing_a_deregistered_organization_is_refused(pg):
    officer = pg.auth("officer", region="440111")
    org = await register(pg, officer)
    url = f"{ORGS}/{org['id']}"
    assert (await post(pg, f"{url}/deregistration", officer, {"on": "2026-03-01", "reason": "解散"})).status_code == 200
    refused = await post(pg, f"{url}/credit-listings", officer, {"list": "serious", "reason_code": "major_fine"})
    assert refused.status_code == 409 and refused.json()["rule"] == "credit_listing.deregistered"
    penalty = await post(
        pg, f"{url}/penalties", officer, {"penalty_type": "warning", "decided_on": "2026-03-01", "reason": "x"}
    )
    assert penalty.status_code == 409


async def test_removing_a_serious_listing_early_is_refused(pg):
    officer = pg.auth("officer", region="440111")
    org = await register(pg, officer)
    url = f"{ORGS}/{org['id']}"
    listing = (
        await post(
            pg,
            f"{url}/credit-listings",
            officer,
            {"list": "serious", "reason_code": "major_fine", "listed_on": "2024-03-10"},
        )
    ).json()
    assert listing["list"] == "serious"
    # a warning after the listing restarts the two clean years
    assert (
        await post(
            pg, f"{url}/penalties", officer, {"penalty_type": "warning", "decided_on": "2024-06-01", "reason": "x"}
        )
    ).status_code == 201
    early = await post(pg, f"{url}/credit-listings/{listing['id']}/removal", officer, {"reason": "clean_period"})
    assert early.status_code == 409 and early.json()["rule"] == "credit_listing.serious_too_early"
    assert "2026-06-01" in early.json()["detail"]
    rectified = await post(
        pg,
        f"{url}/credit-listings/{listing['id']}/removal",
        officer,
        {"reason": "rectified", "rectification_verified_on": "2026-03-01"},
    )
    assert rectified.status_code == 409
    pg.clock.advance(timedelta(days=92))  # 2026-06-02
    on_time = await post(pg, f"{url}/credit-listings/{listing['id']}/removal", officer, {"reason": "clean_period"})
    assert on_time.status_code == 200 and on_time.json()["removal_reason"] == "clean_period"


async def test_an_upheld_objection_removes_the_listing(pg):
    officer = pg.auth("officer", region="440111")
    org = await register(pg, officer)
    url = f"{ORGS}/{org['id']}"
    listing = (
        await post(
            pg, f"{url}/credit-listings", officer, {"list": "irregular", "reason_code": "annual_report_not_filed"}
        )
    ).json()
    org_user = pg.auth("org", org_id=org["id"])
    objection = await post(
        pg, f"{url}/credit-listings/{listing['id']}/objections", org_user, {"grounds": "已于截止日前报送年报，附回执"}
    )
    assert objection.status_code == 201 and objection.json()["filed_by_role"] == "org"
    again = await post(pg, f"{url}/credit-listings/{listing['id']}/objections", org_user, {"grounds": "再次"})
    assert again.status_code == 409
    by_org = await post(
        pg,
        f"{url}/credit-listings/{listing['id']}/objections/{objection.json()['id']}/decision",
        org_user,
        {"decision": "upheld", "reason": "x"},
    )
    assert by_org.status_code == 403
    decided = await post(
        pg,
        f"{url}/credit-listings/{listing['id']}/objections/{objection.json()['id']}/decision",
        officer,
        {"decision": "upheld", "reason": "核实已按时报送，列入有误"},
    )
    assert decided.status_code == 200 and decided.json()["status"] == "upheld"
    listings = (await pg.client.get(f"{url}/credit-listings", headers=officer)).json()
    assert listings[0]["removal_reason"] == "objection_upheld" and listings[0]["removed_on"] == "2026-03-02"
    events = await published(pg)
    assert events[-1]["type"].endswith(".delisted.v1") and events[-1]["data"]["removal_reason"] == "objection_upheld"


async def test_nothing_to_rectify_comes_off_after_six_months_by_itself(pg):
    officer = pg.auth("officer", region="440111")
    org = await register(pg, officer)
    url = f"{ORGS}/{org['id']}"
    listing = (
        await post(
            pg,
            f"{url}/credit-listings",
            officer,
            {"list": "irregular", "reason_code": "minor_penalty", "listed_on": "2026-03-02"},
        )
    ).json()
    assert listing["rectifiable"] is False
    too_early = await post(pg, f"{url}/credit-listings/{listing['id']}/removal", officer, {"reason": "expired"})
    assert too_early.status_code == 409 and too_early.json()["rule"] == "credit_listing.too_early"
    await pg.advance(days=183)  # 2026-09-01 09:00: past 2026-09-02 00:30? not yet
    assert (await pg.client.get(url, headers=officer)).json()["listed"]["irregular"] is True
    await pg.advance(days=1)
    got = (await pg.client.get(f"{url}/credit-listings", headers=officer)).json()[0]
    assert got["removed_on"] == "2026-09-02" and got["removal_reason"] == "expired"
    assert (await pg.client.get(url, headers=officer)).json()["listed"]["irregular"] is False


async def test_two_full_years_on_the_irregular_list_escalate_to_the_serious_list(pg):
    officer = pg.auth("officer", region="440111")
    org = await register(pg, officer)
    url = f"{ORGS}/{org['id']}"
    first = (
        await post(
            pg,
            f"{url}/credit-listings",
            officer,
            {"list": "irregular", "reason_code": "unreachable", "listed_on": "2024-03-01"},
        )
    ).json()
    await pg.settle()  # the escalation was due on 2026-03-01
    listings = (await pg.client.get(f"{url}/credit-listings", headers=officer)).json()
    assert [(x["list"], x["listed_on"], x["removed_on"], x["removal_reason"]) for x in listings] == [
        ("irregular", "2024-03-01", "2026-03-01", "escalated"),
        ("serious", "2026-03-01", None, None),
    ]
    assert listings[1]["escalated_from"] == first["id"] and listings[1]["reason_code"] == "irregular_two_years"
    standing = (await pg.client.get(f"{url}/standing", params={"on": "2026-02-28"}, headers=officer)).json()
    assert standing["listed"] == {"irregular": True, "serious": False}
    standing = (await pg.client.get(f"{url}/standing", params={"on": "2026-03-01"}, headers=officer)).json()
    assert standing["listed"] == {"irregular": False, "serious": True}
    events = await published(pg)
    assert [e["type"].split(".")[-2] for e in events][-2:] == ["delisted", "listed"]
    assert events[-1]["data"]["escalated_from"] == first["id"]


async def test_annual_results_penalties_and_investigations_are_dated_facts(any_db):
    stack = any_db
    officer = stack.auth("officer", region="440111")
    org = await register(stack, officer)
    url = f"{ORGS}/{org['id']}"
    report = await post(
        stack,
        f"{url}/annual-reports",
        officer,
        {"year": 2024, "result": "basically_qualified", "effective_on": "2025-05-20"},
    )
    assert (
        report.status_code == 201
        and report.json()["report_status"] == "on_time"
        and report.json()["deadline"] == "2025-05-31"
    )
    twice = await post(stack, f"{url}/annual-reports", officer, {"year": 2024, "result": "qualified"})
    assert twice.status_code == 409
    future = await post(stack, f"{url}/annual-reports", officer, {"year": 2026, "result": "qualified"})
    assert future.status_code == 422
    fine = await post(
        stack,
        f"{url}/penalties",
        officer,
        {
            "penalty_type": "fine",
            "fine": {"amount": "60000.00", "currency": "CNY"},
            "decided_on": "2026-01-10",
            "reason": "违规",
        },
    )
    assert fine.status_code == 201 and fine.json()["fine"] == {"amount": "60000.00", "currency": "CNY"}
    assert "major_fine" in fine.json()["warnings"][0]["message"]
    bad_fine = await post(
        stack,
        f"{url}/penalties",
        officer,
        {"penalty_type": "fine", "fine": {"amount": 600, "currency": "CNY"}, "decided_on": "2026-01-10", "reason": "x"},
    )
    assert bad_fine.status_code == 422 and bad_fine.json()["errors"][0]["field"] == "fine.amount"
    opened = await post(stack, f"{url}/investigations", officer, {"opened_on": "2026-02-01", "reason": "举报"})
    assert opened.status_code == 201
    closed = await post(
        stack,
        f"{url}/investigations/{opened.json()['id']}/closure",
        officer,
        {"closed_on": "2026-03-01", "outcome": "结案"},
    )
    assert closed.status_code == 200
    standing = (await stack.client.get(f"{url}/standing", params={"on": "2026-02-15"}, headers=officer)).json()
    assert [i["id"] for i in standing["open_investigations"]] == [opened.json()["id"]]
    assert [p["penalty_type"] for p in standing["penalties"]] == ["fine"]
    assert [(r["year"], r["result"]) for r in standing["annual_results"]] == [(2024, "basically_qualified")]
    assert (await stack.client.get(f"{url}/standing", params={"on": "2026-03-01"}, headers=officer)).json()[
        "open_investigations"
    ] == []
    assert standing["sequence"] == 5
    events = await published(stack)
    assert [e["type"].split(".")[-2] for e in events] == [
        "registered",
        "annual_report_recorded",
        "penalty_recorded",
        "investigation_opened",
        "investigation_closed",
    ]
    assert events[2]["data"]["fine"] == {"amount": "60000.00", "currency": "CNY"}
    assert (
        events[1]["data"].items()
        >= {
            "year": 2024,
            "result": "basically_qualified",
            "report_status": "on_time",
            "effective_on": "2025-05-20",
        }.items()
    )


async def test_the_deadline_job_records_who_missed_the_annual_report(pg):
    officer = pg.auth("officer", region="440111")
    filed_in_time = await register(pg, officer)
    missed = await register(pg, officer)
    foundation = await register(pg, pg.auth("officer", region="440000"), kind="foundation", region_code="440000")
    await post(pg, f"{ORGS}/{filed_in_time['id']}/annual-reports", officer, {"year": 2025, "result": "qualified"})
    # foundations: 31 March; the others: 31 May
    await pg.advance(days=31)  # 2026-04-02
    foundation_reports = (
        await pg.client.get(f"{ORGS}/{foundation['id']}/annual-reports", headers=pg.auth("admin"))
    ).json()
    assert [(r["year"], r["result"], r["report_status"], r["source"]) for r in foundation_reports] == [
        (2025, "not_inspected", "not_filed", "deadline_job")
    ]
    assert (await pg.client.get(f"{ORGS}/{missed['id']}/annual-reports", headers=officer)).json() == []
    missing = await pg.client.get(
        "/registry/v1/annual-reports/missing", params={"year": 2025}, headers=pg.auth("admin")
    )
    assert [o["id"] for o in missing.json()["items"]] == [foundation["id"]]
    await pg.advance(days=61)  # 2026-06-02
    reports = (await pg.client.get(f"{ORGS}/{missed['id']}/annual-reports", headers=officer)).json()
    assert [(r["year"], r["report_status"]) for r in reports] == [(2025, "not_filed")]
    assert [
        r["source"]
        for r in (await pg.client.get(f"{ORGS}/{filed_in_time['id']}/annual-reports", headers=officer)).json()
    ] == ["officer"]
    late = await post(pg, f"{ORGS}/{missed['id']}/annual-reports", officer, {"year": 2025, "result": "qualified"})
    assert late.status_code == 201 and late.json()["report_status"] == "late"

"""Chapters 3 and 4 (项目申报 · 评审与资助): three calls open, four applications arrive (the 2A agency's
venture application is refused with its reasons), the calls close, reviewers from the agency score
the eligible ones, the officers award within budget and the five-working-day award notice ends."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gongyi.story import cast
from gongyi.story.cast import DISTRICT_OFFICER, STREET_OFFICER, Org
from gongyi.story.context import Person, shanghai, yuan

if TYPE_CHECKING:
    from gongyi.story import Story

CALLS = {  # key → (officer, body)
    "venture": (DISTRICT_OFFICER, cast.venture_call),
    "purchase": (DISTRICT_OFFICER, cast.purchase_call),
    "micro": (STREET_OFFICER, cast.micro_call),
}
# application key → (org, call, title, summary, requested, budget lines)
APPLICATIONS: dict[str, tuple[str, str, str, str, str, list[tuple[str, str]]]] = {
    "a_venture": ("a", "venture", "长者饭堂与居家探访", "为社区独居长者提供助餐与定期探访", "60000.00",
                  [("personnel", "40000.00"), ("activities", "50000.00"), ("materials", "10000.00")]),
    "b_venture": ("b", "venture", "残障青年就业支持计划", "为辖区残障青年提供职业培训与岗位对接", "50000.00",
                  [("personnel", "30000.00"), ("activities", "50000.00"), ("venue", "10000.00")]),
    "a_purchase": ("a", "purchase", "居家养老上门服务", "为200名居家长者提供助洁、助浴、陪诊上门服务", "180000.00",
                   [("personnel", "120000.00"), ("activities", "50000.00"), ("materials", "10000.00")]),
    "c_micro": ("c", "micro", "邻里长者互助探访", "志愿者结对探访高龄独居长者", "5000.00",
                [("activities", "6000.00"), ("materials", "2000.00")]),
}
REVIEWS = {  # call → (reviewer indexes among the agency's experts, scores per reviewer)
    "venture": ((0, 1), ({"need": "90", "design": "85.5", "capacity": "80"},
                         {"need": "88", "design": "86", "capacity": "84"})),
    "purchase": ((1, 2), ({"need": "92", "design": "88", "capacity": "90"},
                          {"need": "90", "design": "90", "capacity": "86.5"})),
    "micro": ((2,), ({"need": "85", "design": "80", "capacity": "78"},)),
}
AWARDS = {"a_venture": "venture", "a_purchase": "purchase", "c_micro": "micro"}


def officer_of(call_key: str) -> Person:
    return CALLS[call_key][0]


async def open_calls(s: Story) -> None:
    await s.begin("项目申报")
    r, orgs = s.result, s.result.orgs
    await s.clock.set(shanghai("2026-06-03 10:00"))
    for key, (officer, body) in CALLS.items():
        draft = await s.api.post("/grants/v1/calls", officer, body(), idempotent=True)
        call = await s.api.post(f"/grants/v1/calls/{draft['id']}/publication", officer)
        r.calls[key] = call
        s.tell(officer.label, f"发布《{call['title']}》", *_call_facts(call))
        audience = ("c",) if key == "micro" else ("a", "b", "c")
        for org_key in audience:
            s.expect_inbox(_user(orgs[org_key]), "grants.call.published", f"calls/{call['id']}")
    await s.clock.set(cast.OPENS + timedelta(seconds=30))
    for key, call in r.calls.items():

        async def is_open(call_id: str = call["id"]) -> dict[str, Any] | None:
            current = await s.api.get(f"/grants/v1/calls/{call_id}", None)
            return current if current["status"] == "open" else None

        r.calls[key] = await s.api.eventually(is_open, f"call {call['title']} to open at {call['opens_at']}")
    s.tell("申报系统", "三个项目于 2026-06-15 09:00 开始受理申报（定时任务）")


def _call_facts(call: dict[str, Any]) -> list[str]:
    rules = call["eligibility"]
    who = "、".join({"social_group": "社会团体", "social_service_agency": "社会服务机构", "foundation": "基金会",
                    "community_filed": "备案社区社会组织"}.get(k, k) for k in rules["kinds"])
    facts = [f"预算 {yuan(call['budget'])}，单项 {yuan(call['min_award'])}–{yuan(call['max_award'])}；申报主体：{who}"]
    if rules.get("min_grade"):
        facts.append(f"评估等级要求：{rules['min_grade']}及以上")
    if call.get("procurement_method"):
        facts.append("采购方式：竞争性磋商（财政部令第102号），合同期 12 个月")
    facts.append(
        f"资金来源 {call['funding_source']}，{call['authorisation_number']}，科目 {call['budget_classification_code']}"
    )
    return facts


def _user(org: Org) -> Person:
    assert org.user is not None, "the organization's staff signed up in chapter 1"
    return org.user


async def apply(s: Story) -> None:
    r, orgs = s.result, s.result.orgs
    await s.clock.set(shanghai("2026-06-16 10:00"))
    for key, (org_key, call_key, title, summary, requested, lines) in APPLICATIONS.items():
        org, call = orgs[org_key], r.calls[call_key]
        body = cast.application(org, title, summary, requested, lines)
        draft = await s.api.post(f"/grants/v1/calls/{call['id']}/applications", _user(org), body, idempotent=True)

        async def known(draft: dict[str, Any] = draft, org: Org = org) -> bool:
            return await _standing_known(s, draft, org)

        await s.api.eventually(known, f"grants to know {org.name}")
        app = await s.api.post(f"/grants/v1/applications/{draft['id']}/submission", _user(org), {"declaration": True},
                               idempotent=True)
        r.applications[key] = app
        s.expect_inbox(_user(org), "grants.application.submitted", f"applications/{app['id']}")
        s.expect_inbox(_user(org), "grants.application.screened", f"applications/{app['id']}")
        if app["eligible"]:
            s.tell(_user(org).label, f"提交《{title}》申请 {yuan(app['requested'])}（项目总预算 "
                   f"{yuan(app['project_budget'])}，自筹 {yuan(app['self_raised'])}）：资格审查通过",
                   f"申报《{call['title']}》")
        else:
            reasons = app["eligibility"]["reasons"]
            s.tell(_user(org).label, f"提交《{title}》申请 {yuan(app['requested'])}：资格审查不通过",
                   *(f"{x['rule']}：{x['detail']}（依据：{x['basis']}）" for x in reasons))
    if r.applications["b_venture"]["eligible"] or not all(
        r.applications[k]["eligible"] for k in ("a_venture", "a_purchase", "c_micro")
    ):
        raise AssertionError("only the 2A agency's venture application is ineligible")


async def _standing_known(s: Story, draft: dict[str, Any], org: Org) -> bool:
    """Grants screens from its own read model: wait until it holds the organization (and its grade)."""
    preview = await s.api.get(f"/grants/v1/applications/{draft['id']}/eligibility", _user(org))
    if org.key == "b":
        return any("2A" in x["detail"] for x in preview["reasons"])
    return preview["eligible"] is True


async def review(s: Story) -> None:
    await s.begin("评审与资助")
    r = s.result
    await s.clock.set(cast.CLOSES + timedelta(hours=16))  # 2026-07-16 09:00
    for call in r.calls.values():

        async def closed(call_id: str = call["id"]) -> bool:
            return bool((await s.api.get(f"/grants/v1/calls/{call_id}", None))["status"] == "closed")

        await s.api.eventually(closed, f"call {call['title']} to close")
    s.tell("申报系统", "2026-07-15 17:00 申报截止（截止判断以服务器接收时刻为准）")
    await s.clock.set(shanghai("2026-07-20 09:30"))
    for call_key, (indexes, sheets) in REVIEWS.items():
        call, officer = r.calls[call_key], officer_of(call_key)
        reviewers = [r.experts[i] for i in indexes]
        pool = [{"sub": p.sub, "agency_id": r.agency["id"]} for p in reviewers]
        await s.api.post(f"/grants/v1/calls/{call['id']}/reviewers", officer, {"reviewers": pool})
        assigned = (await s.api.post(f"/grants/v1/calls/{call['id']}/assignments", officer, {}))["assigned"]
        by_sub = {p.sub: (p, scores) for p, scores in zip(reviewers, sheets, strict=True)}
        for item in assigned:
            reviewer, scores = by_sub[item["reviewer_sub"]]
            await s.api.put(f"/grants/v1/applications/{item['application_id']}/reviews/me", reviewer,
                            {"scores": scores, "submit": True}, headers={"If-None-Match": "*"})
        ranking = await s.api.post(f"/grants/v1/calls/{call['id']}/ranking", officer)
        for entry in ranking["items"]:
            org = next(o for o in r.orgs.values() if o.org_id == entry["org_id"])
            s.expect_inbox(_user(org), "grants.application.reviewed", f"applications/{entry['application_id']}")
            s.expect_inbox(_user(org), "grants.application.ranked", f"applications/{entry['application_id']}")
            s.tell(officer.label, f"《{call['title']}》评审排名第 {entry['rank']}：{entry['organization']['name']}"
                   f"《{entry['project_title']}》加权得分 {entry['score']}（{entry['reviews']} 位评审专家）")


async def award(s: Story) -> None:
    r = s.result
    await s.clock.set(shanghai("2026-07-23 10:00"))
    for app_key, call_key in AWARDS.items():
        call, officer, app = r.calls[call_key], officer_of(call_key), r.applications[app_key]
        batch = await s.api.post(f"/grants/v1/calls/{call['id']}/awards", officer,
                                 {"awards": [{"application_id": app["id"]}]}, idempotent=True)
        award_ = batch["awards"][0]
        r.awards[app_key] = award_
        budget = batch["budget"]
        s.tell(officer.label, f"资助决定：{award_['organization']['name']}《{award_['project_title']}》"
               f"{yuan(award_['amount'])}", f"预算 {yuan(budget['total'])}，已承诺 {yuan(budget['committed'])}，"
               f"剩余 {yuan(budget['remaining'])}；公示至 {award_['notice_ends_at']}")
        user = _user(r.orgs[app_key[0]])
        for verb in ("decided", "publicly_noticed", "confirmed"):
            s.expect_inbox(user, f"grants.award.{verb}", f"awards/{award_['id']}")
    ends = max(datetime.fromisoformat(a["notice_ends_at"]) for a in r.awards.values())
    await s.clock.set(ends + timedelta(hours=9))
    for key, award_ in r.awards.items():

        async def confirmed(award_id: str = award_["id"], officer: Person = officer_of(AWARDS[key])) -> Any:
            current = await s.api.get(f"/grants/v1/awards/{award_id}", officer)
            return current if current["status"] == "confirmed" else None

        r.awards[key] = await s.api.eventually(confirmed, f"award {award_['id']} to be confirmed after its notice")
    s.tell("公示期满", "三项资助公示期内无异议，资助确认（定时任务）",
           *(f"{a['organization']['name']}：确认于 {a['confirmed_on']}" for a in r.awards.values()))

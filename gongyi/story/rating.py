"""Chapter 2 (等级评估): a rating round under 民政部令第39号. Both agencies apply, an agency's three
experts (machine credentials) score them on the indicator template, the round's totals propose 4A
and 2A, the committee decides with a quorum, the five-working-day public notice runs out and the
grades are published — which the registry then shows."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from gongyi.story.cast import ADMIN, DISTRICT, DISTRICT_OFFICER
from gongyi.story.context import Person, local_day, shanghai

if TYPE_CHECKING:
    from gongyi.story import Story

TEMPLATE = "social-service-agency-example"
RATIOS = {"a": (92, 93, 91), "b": (82, 83, 81)}  # per expert, % of every indicator's maximum
EXPERTS = ("评估专家甲", "评估专家乙", "评估专家丙")


def sheet(template: dict[str, Any], percent: int) -> dict[str, str]:
    """Every leaf of the template scored at `percent` of its maximum, as exact decimal strings."""
    out: dict[str, str] = {}

    def walk(node: dict[str, Any]) -> None:
        for child in node.get("children") or ():
            walk(child)
        if not node.get("children"):
            hundredths = int(node["max"]) * percent
            out[node["code"]] = f"{hundredths // 100}.{hundredths % 100:02d}"

    for group in template["indicators"]:
        walk(group)
    return out


async def rate(s: Story) -> None:
    await s.begin("等级评估")
    r, orgs = s.result, s.result.orgs
    await s.clock.set(shanghai("2026-05-11 10:00"))
    body = {
        "title": "2026年度白云区社会组织等级评估",
        "year": 2026,
        "region_code": DISTRICT,
        "kinds": ["social_service_agency"],
        "template": {"id": TEMPLATE},
        "rule_set": {"id": "national-2011"},
        "band_table": {"id": "anhui-anqing"},
        "applications_close_on": "2026-05-29",
    }
    rnd = await s.api.post("/evaluation/v1/rounds", DISTRICT_OFFICER, body, idempotent=True)
    r.round_id = rnd["id"]
    s.tell(DISTRICT_OFFICER.label, f"发布{rnd['title']}", "规则：民政部令第39号（national-2011）；申报截止 2026-05-29")
    for key in ("a", "b"):
        s.expect_inbox(orgs[key].user, "evaluation.round.opened", f"rounds/{r.round_id}")  # type: ignore[arg-type]

    agency = await s.api.post(
        "/evaluation/v1/agencies", DISTRICT_OFFICER, {"name": "广州市社会组织评估中心", "region_code": DISTRICT},
        idempotent=True,
    )
    tag = agency["id"][-8:]
    admin = Person(f"{agency['name']}（机构管理员）", "evaluator", f"gzpg-admin-{tag}",
                   (("agency_admin", True), ("agency_id", agency["id"])))
    experts: list[tuple[Person, str]] = []
    for i, name in enumerate(EXPERTS, start=1):
        sub = f"gzpg-expert-{i}-{tag}"
        body = {"sub": sub, "name": name, "qualifications": ["社会组织评估专家"], "affiliations": []}
        created = await s.api.post(f"/evaluation/v1/agencies/{agency['id']}/evaluators", admin, body,
                                   idempotent=True)
        experts.append((Person(f"{name}（{agency['name']}）", "evaluator", sub, (("agency_id", agency["id"]),)),
                        created["id"]))
    r.people.update({p.sub: p for p, _ in experts} | {admin.sub: admin})
    r.agency, r.experts = agency, [p for p, _ in experts]
    s.evaluator_ids = {p.sub: evaluator_id for p, evaluator_id in experts}
    s.tell(admin.label, f"登记评估机构与专家 {'、'.join(EXPERTS)}（机器凭证，role=evaluator）")

    await s.clock.set(shanghai("2026-05-12 09:30"))
    for key in ("a", "b"):
        org = orgs[key]
        assert org.user is not None
        ev = await s.api.post(f"/evaluation/v1/rounds/{r.round_id}/applications", org.user, {}, idempotent=True)
        if not ev["eligible"]:
            raise AssertionError(f"{org.name} should be eligible for the round: {ev['reasons']}")
        r.evaluations[key] = ev
        s.tell(org.user.label, f"{org.short} 申报参加等级评估：符合参评条件",
               f"资格审核期限 {ev['eligibility_check_due_on']}")
        s.expect_inbox(org.user, "evaluation.rating.applied", f"organizations/{org.org_id}")
        for expert, evaluator_id in experts:
            await s.api.post(f"/evaluation/v1/evaluations/{ev['id']}/assignments", DISTRICT_OFFICER,
                             {"evaluator_id": evaluator_id}, idempotent=True)
            s.expect_inbox(expert, "evaluation.rating.assigned", f"organizations/{org.org_id}")
    s.tell(DISTRICT_OFFICER.label, "为两家参评组织各指派三名评估专家（无利益冲突申报）")

    await s.clock.set(shanghai("2026-05-25 09:00"))
    template = (await s.api.get(f"/evaluation/v1/indicator-templates/{TEMPLATE}", DISTRICT_OFFICER))["document"]
    for key in ("a", "b"):
        ev_id = r.evaluations[key]["id"]
        for (expert, _), percent in zip(experts, RATIOS[key], strict=True):
            sheet_ = await s.api.put(f"/evaluation/v1/evaluations/{ev_id}/scores", expert,
                                     {"scores": sheet(template, percent)}, headers={"If-None-Match": "*"})
            await s.api.post(f"/evaluation/v1/evaluations/{ev_id}/submission", expert)
            s.tell(expert.label, f"实地评估 {orgs[key].short}：评分 {sheet_['total']} 分并提交")
    for key in ("a", "b"):  # the round closes on 05-29: "scores due" must find no assignment left
        await s.reached("evaluation", "evaluation.rating", orgs[key].org_id, ("notifications",), "the scores")
    proposed = await s.api.post(f"/evaluation/v1/rounds/{r.round_id}/aggregation", DISTRICT_OFFICER)
    if proposed.get("incomplete"):
        raise AssertionError(f"incomplete evaluations after scoring: {proposed}")
    for key in ("a", "b"):
        ev = await s.api.get(f"/evaluation/v1/evaluations/{r.evaluations[key]['id']}", DISTRICT_OFFICER)
        s.tell(DISTRICT_OFFICER.label, f"汇总 {orgs[key].short}：平均 {ev['total']} 分，极差 {ev['spread']}，"
               f"初评等级 {ev['proposed_grade']}")

    await s.clock.set(shanghai("2026-05-26 15:00"))
    quorum = {"quorum": {"members": 9, "present": 7, "in_favour": 6}}
    ends = []
    for key in ("a", "b"):
        ev = await s.api.post(f"/evaluation/v1/evaluations/{r.evaluations[key]['id']}/decision", DISTRICT_OFFICER,
                              quorum, idempotent=True)
        r.evaluations[key] = ev
        ends.append(ev["notice_ends_at"])
        s.tell("评估委员会（9人，到会7人，6票赞成）", f"{orgs[key].short} 评定为 {ev['decided_grade']}，"
               f"公示至 {_local(ev['notice_ends_at'])}")
        s.expect_inbox(orgs[key].user, "evaluation.rating.publicly_noticed",  # type: ignore[arg-type]
                       f"organizations/{orgs[key].org_id}")

    from datetime import datetime

    after = max(datetime.fromisoformat(e) for e in ends) + timedelta(hours=9)
    await s.clock.set(after)
    for key in ("a", "b"):
        org, ev_id = orgs[key], r.evaluations[key]["id"]

        async def published(ev_id: str = ev_id) -> dict[str, Any] | None:
            ev = await s.api.get(f"/evaluation/v1/evaluations/{ev_id}", DISTRICT_OFFICER)
            return ev if ev["status"] == "published" else None

        r.evaluations[key] = await s.api.eventually(published, f"the grade of {org.name} to be published")
        rating = await s.api.get(f"/evaluation/v1/organizations/{org.org_id}/rating", org.user)
        grade = rating["current_grade"]
        s.tell("等级评估结论", f"{org.short}：{grade['grade']}，有效期 {grade['valid_from']} 至 {grade['valid_until']}"
               + ("，颁发证书和牌匾" if grade.get("certificate") else "，不颁发证书和牌匾（3A以下）"))
        s.expect_inbox(org.user, "evaluation.rating.published", f"organizations/{org.org_id}")  # type: ignore[arg-type]

        async def registry_shows(org_id: str = org.org_id, want: str = grade["grade"]) -> bool:
            standing = await s.api.get(f"/registry/v1/organizations/{org_id}/standing", ADMIN)
            return (standing.get("current_grade") or {}).get("grade") == want

        await s.api.eventually(registry_shows, f"the registry to show {grade['grade']} for {org.name}")
    s.tell("登记管理机关", "登记库显示两家组织的现行评估等级（来自 evaluation.rating 事件）")


def _local(instant: str) -> str:
    from datetime import datetime

    moment = datetime.fromisoformat(instant)
    day = local_day(moment - timedelta(microseconds=1))
    return f"{day.isoformat()} 24:00"

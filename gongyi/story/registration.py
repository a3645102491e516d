"""Chapter 1 (登记与备案): the district registers two social service agencies and records their annual
inspection results, the street office files a community group, and everyone who will hear from the
system signs up for notifications once the other services know these organizations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gongyi.story.cast import ADMIN, DISTRICT_OFFICER, FINANCE, STREET_OFFICER
from gongyi.story.context import Person, shanghai

if TYPE_CHECKING:
    from gongyi.story import Story

CONSUMERS_OF_REGISTRY = ("evaluation", "grants", "notifications")
SUBSCRIBED = ["cn.gongyi.grants.award.*", "cn.gongyi.grants.disbursement.*"]


async def register_and_file(s: Story) -> None:
    from gongyi.story import START

    await s.begin("登记与备案")
    await s.clock.set(shanghai(START))
    orgs = s.result.orgs
    for org in (orgs["a"], orgs["b"]):
        created = await s.api.post("/registry/v1/organizations", DISTRICT_OFFICER, org.body, idempotent=True)
        org.org_id, org.code = created["id"], created["uscc"]
        s.tell(
            DISTRICT_OFFICER.label,
            f"登记 {org.name}（社会服务机构）",
            f"统一社会信用代码 {org.code}，成立登记日期 {created['registered_on']}",
            f"法定代表人身份证号仅以掩码返回：{created['legal_representative']['id_number']}",
        )
        for year, on in ((2024, "2025-05-20"), (2025, "2026-04-28")):
            body = {"year": year, "result": "qualified", "report_status": "on_time", "effective_on": on}
            await s.api.post(f"/registry/v1/organizations/{org.org_id}/annual-reports", DISTRICT_OFFICER, body,
                             idempotent=True)
        s.tell(DISTRICT_OFFICER.label, f"记录 {org.short} 2024、2025 年度检查结果：合格（按时报送）")
    c = orgs["c"]
    created = await s.api.post("/registry/v1/organizations", STREET_OFFICER, c.body, idempotent=True)
    c.org_id, c.code = created["id"], created["filing_number"]
    s.tell(STREET_OFFICER.label, f"备案 {c.name}（社区社会组织，无法人资格）", f"备案编号 {c.code}")

    for org in orgs.values():
        await s.reached("registry", "registry.organization", org.org_id, CONSUMERS_OF_REGISTRY, org.name)
    for org in orgs.values():
        org.user = Person(
            f"{org.short} 工作人员", "org", f"staff-{org.key}-{org.org_id[-12:]}", (("org_id", org.org_id),)
        )
        await sign_up(s, org.user, org.email)
    for person in (DISTRICT_OFFICER, STREET_OFFICER, FINANCE):
        await sign_up(s, person, f"{person.sub}@example.gov.cn")
    s.result.people.update(
        {p.sub: p for p in (ADMIN, DISTRICT_OFFICER, STREET_OFFICER, FINANCE)}
        | {o.user.sub: o.user for o in orgs.values() if o.user}
    )
    s.tell("三家组织的工作人员", "在通知服务登记联系方式（邮箱仅以掩码显示），此后的事件会通知到他们")
    if s.webhook_url:
        body = {"url": s.webhook_url, "event_types": SUBSCRIBED, "description": "财政支付系统：资助与拨付事件"}
        s.result.subscription = await s.api.post("/notifications/v1/subscriptions", FINANCE, body, idempotent=True)
        s.tell(FINANCE.label, "订阅资助与拨付事件的签名 Webhook", s.webhook_url)


async def sign_up(s: Story, person: Person, email: str) -> None:
    body = {"locale": "zh-CN", "channels": ["inbox", "email"] if s.emails else ["inbox"]}
    if s.emails:
        body["email"] = email
    current = await s.api.request("GET", "/notifications/v1/recipients/me", person)  # known from the token
    await s.api.put("/notifications/v1/recipients/me", person, body, headers={"If-Match": current.headers["etag"]})

"""Chapter 7 (通知与公开): every notification the story expects is in its recipient's inbox (exactly
once), the budgets add up, and the open-data exports — OCDS for the service purchase, 360Giving for
the grants — are fetched from the public routes and written to files."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from gongyi.story.cast import DISTRICT_OFFICER, STREET_OFFICER
from gongyi.story.context import Person, StoryError, yuan
from gongyi.story.grants import officer_of

if TYPE_CHECKING:
    from gongyi.story import Story


async def inbox_of(s: Story, person: Person) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = await s.api.get("/notifications/v1/inbox", person, params=params)
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items


def counted(items: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((i["notification_type"], i["resource"] or "") for i in items)


async def inboxes(s: Story) -> None:
    await s.begin("通知与公开")
    r = s.result
    for sub, expected in r.expected_inbox.items():
        person = r.people[sub]

        last: list[dict[str, Any]] = []

        async def arrived(
            person: Person = person, expected: Counter[tuple[str, str]] = expected, last: list[Any] = last
        ) -> Any:
            last[:] = items = await inbox_of(s, person)
            have = counted(items)
            return items if all(have[k] >= n for k, n in expected.items()) else None

        try:
            items = await s.api.eventually(arrived, f"the notifications of {person.label}")
        except StoryError as exc:
            missing = expected - counted(last)
            raise StoryError(f"{exc}; missing {dict(missing)}; inbox holds {dict(counted(last))}") from None
        r.inboxes[sub] = items
        doubled = [k for k, n in counted(items).items() if n > 1 and expected.get(k, 0) < n]
        if doubled:
            raise StoryError(f"{person.label} holds notifications twice: {doubled}")
        titles = Counter(i["title"] for i in items)
        s.tell(person.label, f"收件箱 {len(items)} 条通知", *(f"{t} ×{n}" if n > 1 else t for t, n in titles.items()))
    for person in (DISTRICT_OFFICER, STREET_OFFICER):
        r.inboxes.setdefault(person.sub, await inbox_of(s, person))


async def exports(s: Story) -> None:
    r = s.result
    for key, call in r.calls.items():
        r.budgets[key] = budget = await s.api.get(f"/grants/v1/calls/{call['id']}/budget", officer_of(key))
        s.tell(officer_of(key).label, f"《{call['title']}》预算 {yuan(budget['total'])}：已承诺 "
               f"{yuan(budget['committed'])}，已支付 {yuan(budget['paid'])}，剩余 {yuan(budget['remaining'])}")
    documents = {
        "ocds": ("purchase", "ocds", "OCDS 1.1（政府购买服务）"),
        "360giving-venture": ("venture", "360giving", "360Giving 1.4（公益创投）"),
        "360giving-micro": ("micro", "360giving", "360Giving 1.4（微公益创投）"),
    }
    for name, (call_key, route, label) in documents.items():
        call = r.calls[call_key]
        document = await s.api.get(f"/grants/v1/calls/{call['id']}/{route}", None)
        detail = _summary(route, document)
        if s.out_dir is not None:
            s.out_dir.mkdir(parents=True, exist_ok=True)
            path = s.out_dir / f"{name}-{call['id']}.json"
            path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
            r.exports[name] = path
            detail = f"{detail}；已写入 {path}"
        s.tell("公开数据", f"{label}：{call['title']}", detail)
        r.documents[name] = document


def _summary(route: str, document: dict[str, Any]) -> str:
    if route == "ocds":
        tags = Counter(tag for release in document["releases"] for tag in release["tag"])
        return f"{len(document['releases'])} 个发布（" + "、".join(f"{t} {n}" for t, n in tags.items()) + "）"
    grants = document.get("grants", [])
    return f"{len(grants)} 项资助：" + "；".join(
        f"{g['recipientOrganization'][0]['name']} ¥{g['amountAwarded']:,}" for g in grants
    )

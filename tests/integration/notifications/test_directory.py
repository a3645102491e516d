"""The recipient directory, preferences (mutes, channels, legal notices), languages, SMS, digests."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.unit.notifications.samples import EVALUATOR, ORG_ID, ORG_NAME, sample

EMAIL = "zhang.san@example.org"


class RecordingSms:
    """A hand-written SMS gateway (the port is ours): keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, phone: str, text: str, *, message_id: str) -> None:
        self.sent.append((phone, text, message_id))


async def inbox_types(w, headers):
    items = (await w.client.get("/notifications/v1/inbox", headers=headers)).json()["items"]
    return [i["notification_type"] for i in items]


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_a_muted_optional_type_sends_nothing_while_a_legal_notice_still_arrives(world, db):
    w = await world(db)
    org = await w.join("org", org_id=ORG_ID, email=EMAIL, sub="org-user-zhang")
    refused = await w.client.put(
        "/notifications/v1/preferences",
        json={"muted_types": ["grants.application.submitted", "grants.award.decided"]},
        headers={**org, "If-None-Match": "*"},
    )
    assert refused.status_code == 422
    assert refused.json()["rule"] == "preferences.mandatory_type"
    assert refused.json()["errors"] == [{"field": "muted_types.1", "message": refused.json()["errors"][0]["message"]}]
    saved = await w.client.put(
        "/notifications/v1/preferences",
        json={"muted_types": ["grants.application.submitted"]},
        headers={**org, "If-None-Match": "*"},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["muted_types"] == ["grants.application.submitted"]
    assert "grants.award.decided" in saved.json()["mandatory_types"]

    submitted = await w.emitter.emit("grants.application.submitted", sample("grants.application.submitted"))
    await w.stack.settle()
    assert await inbox_types(w, org) == []
    assert w.smtp.messages == []
    assert await w.deliveries(cause_event_id=submitted.id) == []

    await w.emitter.emit("grants.award.decided", sample("grants.award.decided"))
    await w.stack.settle()
    assert await inbox_types(w, org) == ["grants.award.decided"]
    assert len(w.smtp.messages) == 1
    assert "【资助决定告知】" in w.smtp.messages[0][1]["Subject"]


async def test_preferences_need_preconditions_and_refuse_unknown_types(world):
    w = await world()
    org = await w.join("org", org_id=ORG_ID, sub="org-user-zhang")
    body = {"muted_types": [], "channels_by_type": {"grants.application.reviewed": ["inbox"]}}
    assert (await w.client.put("/notifications/v1/preferences", json=body, headers=org)).status_code == 428
    created = await w.client.put("/notifications/v1/preferences", json=body, headers={**org, "If-None-Match": "*"})
    assert created.status_code == 200 and created.headers["etag"] == '"1"'
    again = await w.client.put("/notifications/v1/preferences", json=body, headers={**org, "If-None-Match": "*"})
    assert again.status_code == 412
    stale = await w.client.put("/notifications/v1/preferences", json=body, headers={**org, "If-Match": '"9"'})
    assert stale.status_code == 412
    unknown = await w.client.put(
        "/notifications/v1/preferences",
        json={"muted_types": ["grants.nothing"]},
        headers={**org, "If-Match": '"1"'},
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "muted_types.0"
    fetched = await w.client.get("/notifications/v1/preferences", headers=org)
    assert fetched.json()["channels_by_type"] == {"grants.application.reviewed": ["inbox"]}
    assert fetched.json()["digest"] == "off"
    types = (await w.client.get("/notifications/v1/notification-types", headers=org)).json()
    legal = {t["name"]: t["legal_basis"] for t in types if t["mandatory"]}
    assert "民政部令第60号" in legal["registry.organization.listed"]


async def test_addresses_are_encrypted_masked_and_a_profile_address_wins_over_the_claim(world):
    sms = RecordingSms()
    w = await world(runtime_kwargs={"sms_gateway": sms})
    org = await w.join("org", org_id=ORG_ID, email=EMAIL, sub="org-user-zhang")
    me = (await w.client.get("/notifications/v1/recipients/me", headers=org)).json()
    assert me["email"] == "z********@example.org" and me["email_source"] == "claim" and me["version"] == 1
    body = {
        "email": "li.si@example.org",
        "phone": "138 0013 8000",
        "locale": "en",
        "channels": ["inbox", "email", "sms"],
    }
    assert (await w.client.put("/notifications/v1/recipients/me", json=body, headers=org)).status_code == 428
    put = await w.client.put("/notifications/v1/recipients/me", json=body, headers={**org, "If-Match": '"1"'})
    assert put.status_code == 200, put.text
    assert put.json()["email"] == "l****@example.org" and put.json()["phone"] == "138****8000"
    assert put.json()["email_source"] == "profile" and put.headers["etag"] == '"2"'
    bad = await w.client.put(
        "/notifications/v1/recipients/me",
        json={**body, "phone": "020-12345678"},
        headers={**org, "If-Match": '"2"'},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "phone"

    async with w.stack.runtimes["notifications"].db.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT email_enc, phone_enc FROM notifications.recipients"))).one()
    assert "li.si" not in stored.email_enc and "13800138000" not in stored.phone_enc

    await w.join("org", org_id=ORG_ID, email=EMAIL, sub="org-user-zhang")  # the claim does not overwrite
    await w.emitter.emit("grants.application.submitted", sample("grants.application.submitted"))
    await w.stack.settle()
    [(rcpt, message)] = w.smtp.messages
    assert rcpt == ["li.si@example.org"]
    assert message["Subject"] == f"Application received: {ORG_NAME}"
    assert message["Content-Language"] == "en"
    assert "CNY 50,000.00" in message.get_content()
    [(phone, sms_text, sms_id)] = sms.sent
    assert phone == "13800138000" and sms_text.startswith("[Gongyi] Application received") and "." in sms_id
    assert len(sms_text) <= 200


async def test_someone_named_by_an_event_gets_an_inbox_before_ever_using_the_service(world):
    w = await world()
    await w.emitter.emit("evaluation.rating.assigned", sample("evaluation.rating.assigned"))
    await w.stack.settle()
    evaluator = await w.join("evaluator", agency_id="agency-1", sub=EVALUATOR)
    items = (await w.client.get("/notifications/v1/inbox", headers=evaluator)).json()["items"]
    assert [i["notification_type"] for i in items] == ["evaluation.rating.assigned"]
    assert ORG_NAME in items[0]["title"]


async def test_officers_get_a_daily_digest_instead_of_an_email_per_optional_notice(world):
    w = await world()
    officer = await w.join("officer", region="440100", email="officer@mca.example.gov.cn", sub="officer-gz")
    outsider = await w.join("officer", region="310000", email="officer@sh.example.gov.cn", sub="officer-sh")
    assert (await w.client.get("/notifications/v1/preferences", headers=officer)).json()["digest"] == "daily"
    await w.emitter.emit("grants.award.objection_filed", sample("grants.award.objection_filed"))
    await w.emitter.emit("evaluation.rating.appealed", sample("evaluation.rating.appealed"))
    await w.stack.settle()
    assert sorted(await inbox_types(w, officer)) == ["evaluation.rating.appealed", "grants.award.objection_filed"]
    assert await inbox_types(w, outsider) == []
    assert w.smtp.messages == []

    await w.emitter.emit("grants.disbursement.payment_failed", sample("grants.disbursement.payment_failed"))
    await w.stack.settle()
    assert [m["Subject"] for _, m in w.smtp.messages] == [
        f"【支付失败告知】{ORG_NAME}第1期资金支付失败"
    ]  # a legal notice is not held for the digest

    await w.stack.advance(hours=23, minutes=1)  # Tuesday 08:01, Beijing time: the digest has gone
    digests = [(r, m) for r, m in w.smtp.messages if "每日通知摘要" in m["Subject"]]
    assert len(digests) == 1 and digests[0][0] == ["officer@mca.example.gov.cn"]
    body = digests[0][1].get_content()
    assert "公示异议" in body and "评估复核申请" in body and "支付失败" not in body
    await w.stack.advance(days=1)  # nothing new: no empty digest
    assert len([m for _, m in w.smtp.messages if "每日通知摘要" in m["Subject"]]) == 1


async def test_inbox_lists_newest_first_pages_and_marks_read(world):
    w = await world()
    org = await w.join("org", org_id=ORG_ID, sub="org-user-zhang")
    other = await w.join("org", org_id="0b0e4c1a-3a51-4c5e-9a11-2f7c1b1d0999", sub="org-user-other")
    for name in ("grants.application.submitted", "grants.application.reviewed", "grants.application.ranked"):
        await w.emitter.emit(name, sample(name))
        await w.stack.advance(minutes=1)
    first = (await w.client.get("/notifications/v1/inbox?limit=2", headers=org)).json()
    assert [i["notification_type"] for i in first["items"]] == [
        "grants.application.ranked",
        "grants.application.reviewed",
    ]
    rest = (await w.client.get(f"/notifications/v1/inbox?limit=2&cursor={first['next_cursor']}", headers=org)).json()
    assert [i["notification_type"] for i in rest["items"]] == ["grants.application.submitted"]
    assert rest["next_cursor"] is None
    assert (await w.client.get("/notifications/v1/inbox?cursor=garbage", headers=org)).status_code == 400

    item = first["items"][0]["id"]
    read = await w.client.post(f"/notifications/v1/inbox/{item}/read", headers=org)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    again = await w.client.post(f"/notifications/v1/inbox/{item}/read", headers=org)
    assert again.json()["read_at"] == read.json()["read_at"]
    assert (await w.client.post(f"/notifications/v1/inbox/{item}/read", headers=other)).status_code == 404
    assert (await w.client.get("/notifications/v1/inbox/unread-count", headers=org)).json() == {"unread": 2}
    unread = (await w.client.get("/notifications/v1/inbox?unread=true", headers=org)).json()["items"]
    assert len(unread) == 2
    assert (await w.client.post("/notifications/v1/inbox/read-all", headers=org)).json() == {"marked": 2}
    assert (await w.client.get("/notifications/v1/inbox/unread-count", headers=org)).json() == {"unread": 0}
    xlsx = await w.client.get(
        "/notifications/v1/inbox",
        headers={**org, "Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    )
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert (await w.client.get("/notifications/v1/inbox")).status_code == 401

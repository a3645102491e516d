"""Signed webhooks (EVENTS.md): retries over three days, Retry-After, 410, redirects, SSRF, rotation,
identity kept across retries and after a crash, regional finance subscriptions."""

from __future__ import annotations

import ipaddress

import orjson
import pytest

from tests.integration.notifications.support import verify
from tests.unit.notifications.samples import AWARD_ID, ORG_ID, sample

AWARDS = ["cn.gongyi.grants.award.*"]


def webhook_delivery(deliveries):
    [found] = [d for d in deliveries if d["channel"] == "webhook"]
    return found


async def delivery_events(world, delivery_id):
    topic = world.stack.runtimes["notifications"].settings.topic("notifications.delivery")
    values = [orjson.loads(r.value) for r in await world.stack.bus.read_all(topic)]
    return [v["type"].split(".")[-2] for v in values if v["data"]["delivery_id"] == delivery_id]


async def test_an_endpoint_failing_three_times_then_answering_ends_delivered_after_four_attempts(world):
    w = await world(script=[500, 500, 500])
    subscription = await w.subscribe(AWARDS)
    event = await w.emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await w.stack.settle()
    assert len(w.receiver.requests) == 1

    await w.stack.advance(seconds=4)  # the second attempt waits 5 s (± 10 %)
    assert len(w.receiver.requests) == 1
    await w.stack.advance(seconds=2)
    assert len(w.receiver.requests) == 2
    await w.stack.advance(minutes=4)  # then 5 min
    assert len(w.receiver.requests) == 2
    await w.stack.advance(minutes=2)
    assert len(w.receiver.requests) == 3
    await w.stack.advance(minutes=34)  # then 30 min
    assert len(w.receiver.requests) == 4

    delivery = webhook_delivery(await w.deliveries(cause_event_id=event.id))
    detail = await w.delivery(delivery["id"])
    assert (detail["status"], detail["attempts"]) == ("delivered", 4)
    assert [(a["attempt"], a["outcome"], a["status_code"]) for a in detail["attempt_log"]] == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "failed", 500),
        (4, "delivered", 200),
    ]
    # the same identity and body every time, a fresh timestamp and signature per attempt
    assert {r.headers["webhook-id"] for r in w.receiver.requests} == {event.id}
    assert len({r.body for r in w.receiver.requests}) == 1
    stamps = [int(r.headers["webhook-timestamp"]) for r in w.receiver.requests]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    for request in w.receiver.requests:
        assert verify(subscription["secret"], request, now=_at(request))
    assert await delivery_events(w, delivery["id"]) == ["failed", "failed", "failed", "delivered"]
    await w.stack.advance(hours=30)
    assert len(w.receiver.requests) == 4


def _at(request):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), UTC)


async def test_retry_after_is_honoured_on_503(world):
    w = await world(script=[(503, {"retry-after": "3600"})])
    await w.subscribe(AWARDS)
    await w.emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await w.stack.settle()
    await w.stack.advance(minutes=30)
    assert len(w.receiver.requests) == 1
    await w.stack.advance(minutes=31)
    assert len(w.receiver.requests) == 2
    assert webhook_delivery(await w.deliveries())["status"] == "delivered"


async def test_a_redirect_is_a_failure_and_is_not_followed(world):
    w = await world(script=[(302, {"location": "http://127.0.0.1:9/elsewhere"})])
    await w.subscribe(AWARDS)
    await w.emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await w.stack.settle()
    assert [r.target for r in w.receiver.requests] == ["/hooks/gongyi"]
    delivery = webhook_delivery(await w.deliveries())
    assert (delivery["status"], delivery["last_status_code"], delivery["attempts"]) == ("pending", 302, 1)


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_410_disables_the_subscription_and_officers_can_retry_after_re_enabling(world, db):
    w = await world(db, then=410)
    officer = await w.join("officer", region="440100", sub="officer-guangzhou")
    subscription = await w.subscribe(AWARDS)
    first = await w.emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await w.stack.settle()
    await w.emitter.emit("grants.award.completed", sample("grants.award.completed"))
    await w.stack.settle()
    assert len(w.receiver.requests) == 1  # nothing more goes to a gone endpoint

    admin = w.stack.auth("admin")
    current = await w.client.get(f"/notifications/v1/subscriptions/{subscription['id']}", headers=admin)
    assert current.json()["status"] == "disabled" and "410" in current.json()["disabled_reason"]
    failed = (await w.client.get("/notifications/v1/deliveries?status=failed", headers=officer)).json()["items"]
    assert [(d["cause_event_id"], d["channel"]) for d in failed] == [(first.id, "webhook")]
    assert await delivery_events(w, failed[0]["id"]) == ["dead_lettered"]
    inbox = (await w.client.get("/notifications/v1/inbox", headers=officer)).json()["items"]
    assert [i["notification_type"] for i in inbox] == ["notifications.delivery.dead_lettered"]
    assert failed[0]["id"] in inbox[0]["body"]

    retry = await w.client.post(f"/notifications/v1/deliveries/{failed[0]['id']}/retry", headers=officer)
    assert retry.status_code == 409 and retry.json()["type"].endswith("delivery.subscription_inactive")
    enable = await w.client.patch(
        f"/notifications/v1/subscriptions/{subscription['id']}",
        json={"status": "active"},
        headers={**admin, "If-Match": current.headers["etag"]},
    )
    assert enable.status_code == 200, enable.text
    w.receiver.then = 200
    retry = await w.client.post(f"/notifications/v1/deliveries/{failed[0]['id']}/retry", headers=officer)
    assert retry.status_code == 202 and retry.json()["status"] == "pending"
    await w.stack.settle()
    assert [r.headers["webhook-id"] for r in w.receiver.requests] == [first.id, first.id]
    detail = await w.delivery(failed[0]["id"])
    assert (detail["status"], detail["attempts"]) == ("delivered", 2)
    again = await w.client.post(f"/notifications/v1/deliveries/{failed[0]['id']}/retry", headers=officer)
    assert again.status_code == 409


async def test_after_ten_attempts_over_three_days_the_delivery_is_dead_lettered(world):
    w = await world(then=500)
    w.wiring.deps.jitter = lambda: 0.5  # exactly the documented schedule
    await w.join("officer", region="440111", sub="officer-baiyun")
    await w.subscribe(AWARDS)
    await w.emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await w.stack.settle()
    for delay in [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]:
        await w.stack.advance(seconds=delay + 1)
    assert len(w.receiver.requests) == 10
    delivery = webhook_delivery(await w.deliveries())
    assert (delivery["status"], delivery["attempts"]) == ("failed", 10)
    assert await delivery_events(w, delivery["id"]) == ["failed"] * 9 + ["dead_lettered"]
    await w.stack.advance(days=2)
    assert len(w.receiver.requests) == 10


async def test_a_subscription_to_loopback_is_refused_by_default(world):
    w = await world(allow=None)
    admin = {**w.stack.auth("admin")}
    for i, (url, rule) in enumerate(
        [
            ("http://127.0.0.1/hooks", "webhook.address_loopback"),
            (f"http://127.0.0.1:{w.receiver.port}/hooks", "webhook.address_loopback"),
            ("http://localhost:8080/hooks", "webhook.address_loopback"),
            ("http://10.0.0.5/hooks", "webhook.address_private"),
            ("http://192.168.1.10/hooks", "webhook.address_private"),
            ("http://169.254.169.254/latest/meta-data", "webhook.address_link_local"),
            ("http://[::1]/hooks", "webhook.address_loopback"),
            ("http://[::ffff:127.0.0.1]/hooks", "webhook.address_ipv4_mapped"),
            ("http://[fd00::1]/hooks", "webhook.address_unique_local"),
            ("http://0.0.0.0/hooks", "webhook.address_unspecified"),
        ]
    ):
        response = await w.client.post(
            "/notifications/v1/subscriptions",
            json={"url": url, "event_types": AWARDS},
            headers={**admin, "Idempotency-Key": f"k{i}"},
        )
        assert response.status_code == 422, (url, response.text)
        assert response.json()["rule"] == rule, url
        assert response.json()["errors"][0]["field"] == "url"
    listed = await w.client.get("/notifications/v1/subscriptions", headers=admin)
    assert listed.json()["items"] == []


async def test_a_name_resolving_inward_is_refused_at_creation_and_at_each_attempt(world):
    answers = {"hooks.finance.example": [ipaddress.ip_address("93.184.216.34")]}

    async def resolver(host, port):
        return answers[host]

    w = await world(allow=None, runtime_kwargs={"resolver": resolver})
    answers["intranet.example"] = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.1.1.1")]
    admin = {**w.stack.auth("admin"), "Idempotency-Key": "inward"}
    refused = await w.client.post(
        "/notifications/v1/subscriptions",
        json={"url": "https://intranet.example/hook", "event_types": AWARDS},
        headers=admin,
    )
    assert refused.status_code == 422 and refused.json()["rule"] == "webhook.address_private"

    await w.subscribe(AWARDS, url="https://hooks.finance.example/hook")
    answers["hooks.finance.example"] = [ipaddress.ip_address("127.0.0.1")]  # the name now points inward
    await w.emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await w.stack.settle()
    detail = await w.delivery(webhook_delivery(await w.deliveries())["id"])
    assert detail["status"] == "pending"
    assert detail["attempt_log"][0]["error"].startswith("webhook.address_loopback")
    assert w.receiver.requests == []


async def test_rotation_signs_with_both_secrets_until_the_overlap_ends(world):
    w = await world(webhook_secret_overlap_hours=24)
    old = await w.subscribe(AWARDS)
    admin = w.stack.auth("admin")
    path = f"/notifications/v1/subscriptions/{old['id']}/secret-rotation"
    assert (await w.client.post(path, headers=admin)).status_code == 428
    assert (await w.client.post(path, headers={**admin, "If-Match": '"7"'})).status_code == 412
    rotated = await w.client.post(path, headers={**admin, "If-Match": f'"{old["version"]}"'})
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old["secret"] and new.startswith("whsec_")
    assert (await w.client.post(path, headers={**admin, "If-Match": f'"{old["version"]}"'})).status_code == 412

    await w.emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await w.stack.settle()
    first = w.receiver.requests[0]
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    assert verify(old["secret"], first, now=w.stack.clock.now())
    assert verify(new, first, now=w.stack.clock.now())

    await w.stack.advance(hours=25)
    await w.emitter.emit("grants.award.completed", sample("grants.award.completed"))
    await w.stack.settle()
    second = w.receiver.requests[1]
    assert len(second.headers["webhook-signature"].split(" ")) == 1
    assert verify(new, second, now=w.stack.clock.now())
    assert not verify(old["secret"], second, now=w.stack.clock.now())


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_a_crash_between_sending_and_recording_resends_with_the_same_identity(world, db):
    w = await world(db)
    await w.join("org", org_id=ORG_ID, email="zhang.san@example.org", sub="org-user-zhang")
    await w.subscribe(AWARDS)
    event = await w.emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await w.stack.publish()
    await w.stack.consume()
    await w.stack.consume()
    dispatcher = w.wiring.dispatcher
    claimed = await dispatcher.claim()
    assert sorted(c.channel for c in claimed) == ["email", "webhook"]
    await dispatcher.send(claimed)  # … and the worker dies before recording the outcome
    assert len(w.receiver.requests) == 1 and len(w.smtp.messages) == 1

    await w.stack.settle()  # the lease still holds: nothing is sent twice meanwhile
    assert len(w.receiver.requests) == 1
    await w.stack.advance(seconds=121)  # the lease expired: another pass takes the rows over
    assert [r.headers["webhook-id"] for r in w.receiver.requests] == [event.id, event.id]
    assert w.receiver.requests[0].body == w.receiver.requests[1].body
    ids = [m["Message-ID"] for _, m in w.smtp.messages]
    assert len(ids) == 2 and ids[0] == ids[1]
    dates = [m["Date"] for _, m in w.smtp.messages]
    assert dates[0] == dates[1]
    for delivery in await w.deliveries(cause_event_id=event.id):
        assert delivery["status"] == "delivered"
        assert delivery["attempts"] == (1 if delivery["channel"] == "inbox" else 2)


async def test_a_failing_email_server_does_not_hold_back_the_inbox_or_the_webhook(world):
    from tests.integration.notifications.support import SmtpServer, free_port

    port = free_port()
    w = await world(smtp_port=port)
    org = await w.join("org", org_id=ORG_ID, email="zhang.san@example.org", sub="org-user-zhang")
    await w.subscribe(AWARDS)
    event = await w.emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await w.stack.settle()
    by_channel = {d["channel"]: d for d in await w.deliveries(cause_event_id=event.id)}
    assert by_channel["inbox"]["status"] == "delivered"
    assert by_channel["webhook"]["status"] == "delivered"
    assert by_channel["email"]["status"] == "pending" and "SMTP unavailable" in by_channel["email"]["last_error"]
    assert len((await w.client.get("/notifications/v1/inbox", headers=org)).json()["items"]) == 1

    late = SmtpServer()
    late.port = port
    late._controller.port = port
    with late:
        await w.stack.advance(seconds=6)
        assert len(late.messages) == 1
    assert {d["channel"]: d["status"] for d in await w.deliveries(cause_event_id=event.id)}["email"] == "delivered"


async def test_finance_subscriptions_hear_only_their_region_including_disbursements(world):
    w = await world()
    from tests.integration.notifications.support import WebhookReceiver

    async with WebhookReceiver() as shanghai:
        guangzhou = await w.subscribe(["cn.gongyi.grants.*"], role="finance", region="440100", sub="finance-gz")
        await w.subscribe(["cn.gongyi.grants.*"], url=shanghai.url(), role="finance", region="310000", sub="finance-sh")
        assert guangzhou["region_code"] == "440100"
        await w.emitter.emit("grants.award.decided", sample("grants.award.decided"))
        await w.emitter.emit("grants.disbursement.released", sample("grants.disbursement.released"), key=AWARD_ID)
        await w.stack.settle()
        types = sorted(orjson.loads(r.body)["type"] for r in w.receiver.requests)
        assert types == ["cn.gongyi.grants.award.decided.v1", "cn.gongyi.grants.disbursement.released.v1"]
        assert shanghai.requests == []
        finance_gz = w.stack.auth("finance", region="440100", sub="finance-gz")
        finance_sh = w.stack.auth("finance", region="310000", sub="finance-sh")
        mine = (await w.client.get("/notifications/v1/deliveries", headers=finance_gz)).json()["items"]
        assert {d["channel"] for d in mine} == {"webhook"} and len(mine) == 2
        assert (await w.client.get("/notifications/v1/deliveries", headers=finance_sh)).json()["items"] == []
        other = await w.client.get(f"/notifications/v1/subscriptions/{guangzhou['id']}", headers=finance_sh)
        assert other.status_code == 404


async def test_a_host_name_is_resolved_once_and_the_checked_address_is_used_with_its_name(world):
    async def resolver(host, port):
        assert host == "hooks.finance.example"
        return [ipaddress.ip_address("127.0.0.1")]

    w = await world(runtime_kwargs={"resolver": resolver})
    await w.subscribe(AWARDS, url=f"http://hooks.finance.example:{w.receiver.port}/in")
    await w.emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await w.stack.settle()
    [request] = w.receiver.requests
    assert request.target == "/in"
    assert request.headers["host"] == f"hooks.finance.example:{w.receiver.port}"


async def test_an_endpoint_that_never_answers_times_out_and_is_retried(world):
    w = await world(script=[0], webhook_timeout_s=0.5)
    await w.subscribe(AWARDS)
    await w.emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await w.stack.settle()
    detail = await w.delivery(webhook_delivery(await w.deliveries())["id"])
    assert detail["status"] == "pending"
    assert detail["attempt_log"][0]["error"] == "no answer within 0.5 s"
    await w.stack.advance(seconds=6)
    assert (await w.delivery(detail["id"]))["status"] == "delivered"

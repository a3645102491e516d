"""The main flow (issue 6 "Done means"): one `grants.award.confirmed` event tells the organization in
its inbox and by email, and a finance system by a signed webhook — once, however often it arrives.

Runs on PostgreSQL + Kafka, PostgreSQL + the embedded log and SQLite + the embedded log.
"""

from __future__ import annotations

import re

import orjson
import pytest

from tests.integration.notifications.support import Emitter, SmtpServer, WebhookReceiver, verify
from tests.unit.notifications.samples import ORG_ID, ORG_NAME, sample

BACKENDS = [("postgres", "kafka"), ("postgres", "embedded"), ("sqlite", "embedded")]
EMAIL = "zhang.san@example.org"


async def notifications_stack(stack_factory, db, bus, smtp, **settings):
    return await stack_factory(
        ("notifications",),
        db=db,
        bus=bus,
        settings={"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "webhook_allow_cidrs": "127.0.0.0/8", **settings},
    )


async def subscribe(stack, url, types, role="admin", **claims):
    headers = {**stack.auth(role, **claims), "Idempotency-Key": f"sub-{url}"}
    response = await stack.client.post(
        "/notifications/v1/subscriptions", json={"url": url, "event_types": types}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(("db", "bus"), BACKENDS)
async def test_award_confirmed_reaches_inbox_email_and_signed_webhook_once(stack_factory, db, bus):
    with SmtpServer() as smtp:
        async with WebhookReceiver() as receiver:
            stack = await notifications_stack(stack_factory, db, bus, smtp)
            org_user = stack.auth("org", org_id=ORG_ID, email=EMAIL, sub="org-user-zhang")
            assert (await stack.client.get("/notifications/v1/recipients/me", headers=org_user)).status_code == 200
            subscription = await subscribe(stack, receiver.url(), ["cn.gongyi.grants.award.*"])
            emitter = Emitter(stack)

            event = await emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
            await stack.settle()

            # inbox: one item, in Chinese
            inbox = (await stack.client.get("/notifications/v1/inbox", headers=org_user)).json()["items"]
            assert len(inbox) == 1
            assert inbox[0]["notification_type"] == "grants.award.confirmed"
            assert inbox[0]["mandatory"] is True
            assert ORG_NAME in inbox[0]["title"] and "50,000.00 元" in inbox[0]["title"]
            count = await stack.client.get("/notifications/v1/inbox/unread-count", headers=org_user)
            assert count.json() == {"unread": 1}

            # email: one message received by the loopback SMTP server
            assert len(smtp.messages) == 1
            rcpt, message = smtp.messages[0]
            assert rcpt == [EMAIL]
            assert message["To"] == EMAIL
            assert message["Subject"] == inbox[0]["title"]
            assert re.fullmatch(rf"<{event.id}\.[0-9a-f]{{20}}@gongyi>", message["Message-ID"])
            assert message["Auto-Submitted"] == "auto-generated"
            assert message["Content-Language"] == "zh-CN"
            assert message.get_content_type() == "text/plain"
            assert message.get_content_charset() == "utf-8"
            body = message.get_content()
            assert ORG_NAME in body and "50,000.00 元" in body and "穗民财〔2026〕12号" in body
            assert "本通知为法定告知事项" in body

            # webhook: one request, verified like a Standard Webhooks receiver, body = the bus bytes
            assert len(receiver.requests) == 1
            request = receiver.requests[0]
            assert request.target == "/hooks/gongyi"
            assert request.headers["webhook-id"] == event.id
            assert verify(subscription["secret"], request, now=stack.clock.now())
            assert not verify("whsec_" + "A" * 44, request, now=stack.clock.now())
            assert request.headers["content-type"].startswith("application/cloudevents+json")
            on_bus = [
                r.value
                for r in await stack.bus.read_all(stack.runtimes["notifications"].settings.topic("grants.award"))
            ]
            assert request.body in on_bus
            assert orjson.loads(request.body)["id"] == event.id

            # the delivery log and the notifications.delivery events
            admin = stack.auth("admin")
            log = (
                await stack.client.get(f"/notifications/v1/deliveries?cause_event_id={event.id}", headers=admin)
            ).json()["items"]
            assert sorted((d["channel"], d["status"], d["attempts"]) for d in log) == [
                ("email", "delivered", 1),
                ("inbox", "delivered", 1),
                ("webhook", "delivered", 1),
            ]
            published = await stack.bus.read_all(
                stack.runtimes["notifications"].settings.topic("notifications.delivery")
            )
            outcomes = sorted(
                (orjson.loads(r.value)["type"], orjson.loads(r.value)["data"]["channel"]) for r in published
            )
            assert outcomes == [
                ("cn.gongyi.notifications.delivery.delivered.v1", "email"),
                ("cn.gongyi.notifications.delivery.delivered.v1", "inbox"),
                ("cn.gongyi.notifications.delivery.delivered.v1", "webhook"),
            ]
            assert all("@" not in r.value.decode() for r in published)  # no address in events

            # the same event again: nothing more, anywhere
            await emitter.redeliver(event)
            await stack.settle()
            assert len((await stack.client.get("/notifications/v1/inbox", headers=org_user)).json()["items"]) == 1
            assert len(smtp.messages) == 1
            assert len(receiver.requests) == 1
            log = (
                await stack.client.get(f"/notifications/v1/deliveries?cause_event_id={event.id}", headers=admin)
            ).json()["items"]
            assert len(log) == 3


async def test_an_assessment_event_without_the_organization_is_rendered_with_its_remembered_name(world):
    """`evaluation.assessment.*` carry `org_id` only: the title names the organization as the
    registry's events made it known, never an empty name."""
    w = await world("sqlite")
    user = await w.join("org", org_id=ORG_ID, sub="org-user-li")
    await w.emitter.emit("registry.organization.registered", sample("registry.organization.registered"))
    await w.stack.settle()  # two topics: no order between them
    await w.emitter.emit("evaluation.assessment.completed", sample("evaluation.assessment.completed"))
    await w.stack.settle()
    inbox = (await w.client.get("/notifications/v1/inbox", headers=user)).json()["items"]
    titles = {i["notification_type"]: i["title"] for i in inbox}
    assert titles["evaluation.assessment.completed"].startswith(f"{ORG_NAME}：")

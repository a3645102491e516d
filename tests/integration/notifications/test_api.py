"""The subscription and delivery routes: roles, regions, idempotency, preconditions, problems."""

from __future__ import annotations

import pytest

from tests.unit.notifications.samples import sample

AWARDS = ["cn.gongyi.grants.award.*"]


async def test_creating_a_subscription_is_idempotent_and_shows_the_secret_once(world):
    w = await world()
    admin = w.stack.auth("admin", sub="admin-1")
    body = {"url": w.receiver.url(), "event_types": AWARDS + ["cn.gongyi.grants.disbursement.paid.v1"]}
    path = "/notifications/v1/subscriptions"
    missing = await w.client.post(path, json=body, headers=admin)
    assert missing.status_code == 400 and missing.json()["type"].endswith("idempotency.key_missing")
    first = await w.client.post(path, json=body, headers={**admin, "Idempotency-Key": "create-1"})
    assert first.status_code == 201 and first.json()["secret"].startswith("whsec_")
    assert first.headers["location"].endswith(first.json()["id"])
    replay = await w.client.post(path, json=body, headers={**admin, "Idempotency-Key": "create-1"})
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"] and replay.json()["secret"] is None
    reused = await w.client.post(
        path, json={**body, "event_types": AWARDS}, headers={**admin, "Idempotency-Key": "create-1"}
    )
    assert reused.status_code == 422 and reused.json()["rule"] == "idempotency.key_reused"
    fetched = await w.client.get(f"{path}/{first.json()['id']}", headers=admin)
    assert "secret" not in fetched.json() and fetched.headers["etag"] == '"1"'
    listed = (await w.client.get(path, headers=admin)).json()["items"]
    assert [s["id"] for s in listed] == [first.json()["id"]]


@pytest.mark.parametrize(
    ("role", "claims", "status"),
    [
        ("org", {"org_id": "0b0e4c1a-3a51-4c5e-9a11-2f7c1b1d0001"}, 403),
        ("officer", {"region": "440100"}, 403),
        ("evaluator", {"agency_id": "a-1"}, 403),
    ],
)
async def test_only_admins_and_finance_manage_subscriptions(world, role, claims, status):
    w = await world()
    response = await w.client.post(
        "/notifications/v1/subscriptions",
        json={"url": w.receiver.url(), "event_types": AWARDS},
        headers={**w.stack.auth(role, **claims), "Idempotency-Key": "x"},
    )
    assert response.status_code == status


async def test_event_type_patterns_must_match_something_published(world):
    w = await world()
    response = await w.client.post(
        "/notifications/v1/subscriptions",
        json={"url": w.receiver.url(), "event_types": ["cn.gongyi.grants.award.*", "grants.award.confirmed"]},
        headers={**w.stack.auth("admin"), "Idempotency-Key": "p"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "event_types.1"
    empty = await w.client.post(
        "/notifications/v1/subscriptions",
        json={"url": w.receiver.url(), "event_types": []},
        headers={**w.stack.auth("admin"), "Idempotency-Key": "q"},
    )
    assert empty.status_code == 422


async def test_patch_and_delete_need_if_match_and_deleting_cancels_what_waits(world):
    w = await world(then=500)
    admin = w.stack.auth("admin")
    sub = await w.subscribe(AWARDS)
    path = f"/notifications/v1/subscriptions/{sub['id']}"
    assert (await w.client.patch(path, json={"description": "财政局"}, headers=admin)).status_code == 428
    patched = await w.client.patch(
        path, json={"description": "财政局", "event_types": ["*"]}, headers={**admin, "If-Match": '"1"'}
    )
    assert patched.status_code == 200 and patched.json()["event_types"] == ["*"] and patched.json()["version"] == 2
    refused = await w.client.patch(path, json={"url": "http://10.9.9.9/x"}, headers={**admin, "If-Match": '"2"'})
    assert refused.status_code == 422  # the allow-list admits 127.0.0.0/8 only

    await w.emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await w.stack.settle()
    [pending] = [d for d in await w.deliveries() if d["channel"] == "webhook"]
    assert pending["status"] == "pending"
    assert (await w.client.delete(path, headers={**admin, "If-Match": '"1"'})).status_code == 412
    assert (await w.client.delete(path, headers={**admin, "If-Match": '"2"'})).status_code == 204
    assert (await w.client.get(path, headers=admin)).status_code == 404
    assert (await w.delivery(pending["id"]))["status"] == "cancelled"
    await w.stack.advance(minutes=10)
    assert len(w.receiver.requests) == 1


async def test_officers_see_the_deliveries_of_their_region_only(world):
    w = await world(then=410)
    await w.subscribe(AWARDS)
    await w.emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await w.stack.settle()
    city = w.stack.auth("officer", region="440100")
    other_city = w.stack.auth("officer", region="440300")
    mine = (await w.client.get("/notifications/v1/deliveries?status=failed", headers=city)).json()["items"]
    assert len(mine) == 1 and mine[0]["region_code"] == "440111"
    assert (await w.client.get("/notifications/v1/deliveries?status=failed", headers=other_city)).json()["items"] == []
    assert (await w.client.get(f"/notifications/v1/deliveries/{mine[0]['id']}", headers=other_city)).status_code == 404
    assert (
        await w.client.post(f"/notifications/v1/deliveries/{mine[0]['id']}/retry", headers=other_city)
    ).status_code == 404
    org = w.stack.auth("org", org_id="0b0e4c1a-3a51-4c5e-9a11-2f7c1b1d0001")
    assert (await w.client.get("/notifications/v1/deliveries", headers=org)).status_code == 403
    assert (await w.client.get("/notifications/v1/deliveries/nope", headers=city)).status_code == 404
    audit = await w.client.get(
        f"/notifications/v1/audit?resource=subscriptions/{mine[0]['subscription_id']}", headers=city
    )
    assert [e["action"] for e in audit.json()["items"]] == ["subscription.created", "subscription.disabled"]


async def test_bodies_of_finished_deliveries_are_dropped_after_the_retention_the_log_stays(world):
    w = await world(delivery_body_retention_days=30)
    await w.subscribe(AWARDS)
    await w.emitter.emit("grants.award.confirmed", sample("grants.award.confirmed"))
    await w.stack.settle()
    from sqlalchemy import text

    async def bodies():
        async with w.stack.runtimes["notifications"].db.engine.connect() as conn:
            rows = await conn.execute(text("SELECT body FROM notifications.deliveries WHERE channel = 'webhook'"))
            return [r.body for r in rows]

    assert (await bodies())[0] is not None
    await w.stack.advance(days=29)
    assert (await bodies())[0] is not None
    await w.stack.advance(days=2)
    assert await bodies() == [None]
    assert [d["status"] for d in await w.deliveries(channel="webhook")] == ["delivered"]


async def test_the_openapi_document_lists_every_route_with_its_problems(world):
    w = await world()
    doc = (await w.client.get("/notifications/openapi.json")).json()
    paths = doc["paths"]
    for path in (
        "/notifications/v1/inbox",
        "/notifications/v1/inbox/unread-count",
        "/notifications/v1/inbox/{item_id}/read",
        "/notifications/v1/recipients/me",
        "/notifications/v1/preferences",
        "/notifications/v1/subscriptions",
        "/notifications/v1/subscriptions/{subscription_id}/secret-rotation",
        "/notifications/v1/deliveries",
        "/notifications/v1/deliveries/{delivery_id}/retry",
    ):
        assert path in paths, path
    assert "422" in paths["/notifications/v1/preferences"]["put"]["responses"]

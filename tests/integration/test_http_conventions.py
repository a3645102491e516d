"""HTTP conventions every service inherits (API.md), on PostgreSQL and SQLite, through the probe service."""

from __future__ import annotations

import asyncio
import io
import zlib

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, text

from shared.http import XLSX
from tests.support import probe

DBS = ["postgres", "sqlite"]
ORDER = {"title": "社区养老服务", "amount": {"amount": "50000.00", "currency": "CNY"}}


@pytest.fixture(params=DBS)
async def stack(stack_factory, request):
    return await stack_factory(("probe",), db=request.param, modules={"probe": probe})


async def order_count(stack) -> int:
    async with stack.runtimes["probe"].uow(readonly=True) as uow:
        return (await uow.conn.execute(select(func.count()).select_from(probe.orders))).scalar_one()


async def test_a_create_without_idempotency_key_is_a_400_naming_the_header(stack):
    response = await stack.client.post("/probe/v1/orders", json=ORDER, headers=stack.auth("officer", region="440111"))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("idempotency.key_missing")
    assert await order_count(stack) == 0


async def test_the_same_key_and_body_replays_the_first_response_and_creates_nothing_more(stack):
    headers = {**stack.auth("officer", region="440111", sub="officer-1"), "Idempotency-Key": "k-1"}
    first = await stack.client.post("/probe/v1/orders", json=ORDER, headers=headers)
    again = await stack.client.post("/probe/v1/orders", json=dict(reversed(ORDER.items())), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and again.headers["etag"] == first.headers["etag"]
    assert await order_count(stack) == 1


async def test_the_same_key_with_another_body_is_refused(stack):
    headers = {**stack.auth("officer", region="440111", sub="officer-1"), "Idempotency-Key": "k-2"}
    assert (await stack.client.post("/probe/v1/orders", json=ORDER, headers=headers)).status_code == 201
    other = {**ORDER, "title": "另一个项目"}
    response = await stack.client.post("/probe/v1/orders", json=other, headers=headers)
    assert response.status_code == 422
    assert response.json()["rule"] == "idempotency.key_reused"
    assert await order_count(stack) == 1


async def test_keys_are_scoped_per_caller(stack):
    first = {**stack.auth("officer", region="440111", sub="officer-1"), "Idempotency-Key": "shared"}
    second = {**stack.auth("officer", region="440111", sub="officer-2"), "Idempotency-Key": "shared"}
    a = await stack.client.post("/probe/v1/orders", json=ORDER, headers=first)
    b = await stack.client.post("/probe/v1/orders", json=ORDER, headers=second)
    assert a.json()["id"] != b.json()["id"]
    assert await order_count(stack) == 2


async def test_a_retry_while_the_first_request_is_in_flight_is_a_409_on_postgres(stack_factory):
    stack = await stack_factory(("probe",), db="postgres", modules={"probe": probe})
    headers = {**stack.auth("officer", region="440111", sub="officer-1"), "Idempotency-Key": "busy"}
    lock_id = zlib.crc32(b"officer-1|POST|/probe/v1/orders|busy")
    async with stack.runtimes["probe"].db.engine.connect() as other:  # the first request, still running
        await other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_id})
        response = await stack.client.post("/probe/v1/orders", json=ORDER, headers=headers)
        await other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id})
    assert response.status_code == 409
    assert response.json()["type"].endswith("idempotency.in_progress")


@pytest.mark.parametrize(
    ("amount", "reason"),
    [(50000, "decimal string"), ("1.234", "third decimal"), ("-1.00", "sign"), ("1e5", "exponent"),
     ("NaN", "not a number"), ("0100", "leading zero")],
)
async def test_money_outside_the_wire_grammar_is_a_422_naming_the_field(stack, amount, reason):
    headers = {**stack.auth("officer", region="440111"), "Idempotency-Key": f"m-{reason}"}
    body = {"title": "x", "amount": {"amount": amount, "currency": "CNY"}}
    response = await stack.client.post("/probe/v1/orders", json=body, headers=headers)
    assert response.status_code == 422, reason
    assert [e["field"] for e in response.json()["errors"]] == ["amount.amount"]


async def test_an_update_needs_the_current_etag(stack):
    headers = stack.auth("officer", region="440111")
    created = await stack.client.post("/probe/v1/orders", json=ORDER, headers={**headers, "Idempotency-Key": "u"})
    url = f"/probe/v1/orders/{created.json()['id']}"
    change = {**ORDER, "title": "改名"}
    assert (await stack.client.put(url, json=change, headers=headers)).status_code == 428
    assert (await stack.client.put(url, json=change, headers={**headers, "If-Match": '"7"'})).status_code == 412
    ok = await stack.client.put(url, json=change, headers={**headers, "If-Match": created.headers["etag"]})
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
    stale = await stack.client.put(url, json=ORDER, headers={**headers, "If-Match": created.headers["etag"]})
    assert stale.status_code == 412


async def test_two_concurrent_updates_with_the_same_etag_one_wins(stack):
    headers = stack.auth("officer", region="440111")
    created = await stack.client.post("/probe/v1/orders", json=ORDER, headers={**headers, "Idempotency-Key": "c"})
    url = f"/probe/v1/orders/{created.json()['id']}"
    match = {**headers, "If-Match": created.headers["etag"]}
    results = await asyncio.gather(*(stack.client.put(url, json={**ORDER, "title": f"t{i}"}, headers=match)
                                     for i in range(5)))
    assert sorted(r.status_code for r in results) == [200, 412, 412, 412, 412]


async def test_oversized_deep_non_utf8_and_non_json_bodies_are_refused_before_the_route(stack):
    headers = {**stack.auth("officer", region="440111"), "Idempotency-Key": "b"}
    big = {"title": "x" * (1 << 20), "amount": {"amount": "1.00"}}
    assert (await stack.client.post("/probe/v1/orders", json=big, headers=headers)).status_code == 413
    deep = ("[" * 40) + ("]" * 40)
    response = await stack.client.post("/probe/v1/orders", content=deep,
                                       headers={**headers, "content-type": "application/json"})
    assert response.status_code == 400 and response.json()["type"].endswith("body.too_deep")
    response = await stack.client.post("/probe/v1/orders", content=b'{"title": "\xff"}',
                                       headers={**headers, "content-type": "application/json"})
    assert response.status_code == 400 and response.json()["type"].endswith("body.invalid_utf8")
    response = await stack.client.post("/probe/v1/orders", content=b"title=x",
                                       headers={**headers, "content-type": "text/plain"})
    assert response.status_code == 415
    response = await stack.client.post("/probe/v1/orders", content=b"{not json",
                                       headers={**headers, "content-type": "application/json"})
    assert response.status_code == 400
    assert await order_count(stack) == 0


async def test_problems_speak_the_callers_language_and_never_hide_in_a_500(stack):
    zh = await stack.client.get("/probe/v1/orders")
    en = await stack.client.get("/probe/v1/orders", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert zh.status_code == en.status_code == 401
    assert zh.json()["title"] == "未认证或令牌无效" and en.json()["title"] == "Missing or invalid credentials"
    assert zh.json()["title_en"] == en.json()["title"]
    bad = await stack.client.get("/probe/v1/orders", headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401
    missing = await stack.client.get("/probe/v1/nowhere", headers=stack.auth("admin"))
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    cursor = await stack.client.get("/probe/v1/orders?cursor=garbage", headers=stack.auth("admin"))
    assert cursor.status_code == 400 and cursor.json()["type"].endswith("cursor.invalid")


async def test_lists_page_with_opaque_cursors_and_export_as_xlsx(stack):
    headers = stack.auth("officer", region="440111")
    for i in range(5):
        await stack.client.post("/probe/v1/orders", json={**ORDER, "title": f"项目{i}"},
                                headers={**headers, "Idempotency-Key": f"l{i}"})
    first = (await stack.client.get("/probe/v1/orders?limit=3", headers=headers)).json()
    second = (await stack.client.get(f"/probe/v1/orders?limit=3&cursor={first['next_cursor']}", headers=headers)).json()
    assert len(first["items"]) == 3 and len(second["items"]) == 2 and second["next_cursor"] is None
    assert {o["id"] for o in first["items"]}.isdisjoint({o["id"] for o in second["items"]})
    export = await stack.client.get("/probe/v1/orders?limit=10", headers={**headers, "Accept": XLSX})
    assert export.headers["content-type"] == XLSX
    sheet = load_workbook(io.BytesIO(export.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("id", "title", "amount.amount", "amount.currency")
    assert sorted(r[1] for r in rows[1:]) == [f"项目{i}" for i in range(5)]


async def test_every_change_is_audited_and_officers_can_read_the_trail(stack):
    headers = stack.auth("officer", region="440111", sub="officer-9")
    created = await stack.client.post("/probe/v1/orders", json=ORDER, headers={**headers, "Idempotency-Key": "a"})
    resource = f"orders/{created.json()['id']}"
    trail = await stack.client.get(f"/probe/v1/audit?resource={resource}", headers=headers)
    assert trail.status_code == 200
    [entry] = trail.json()["items"]
    assert entry["actor_sub"] == "officer-9" and entry["action"] == "order.created"
    assert entry["request_id"]
    org = stack.auth("org", org_id="6f1c2d9e-2b7f-4c1e-9a57-1d2b3c4d5e6f")
    assert (await stack.client.get(f"/probe/v1/audit?resource={resource}", headers=org)).status_code == 403


async def test_health_readiness_metrics_and_docs_are_served(stack):
    assert (await stack.client.get("/probe/healthz")).json()["status"] == "ok"
    assert (await stack.client.get("/probe/readyz")).status_code == 200
    await stack.client.get("/probe/v1/orders", headers=stack.auth("admin"))
    metrics = (await stack.client.get("/probe/metrics")).text
    assert 'gongyi_http_requests_total{method="GET",route="/probe/v1/orders",status="200"} 1.0' in metrics
    assert "gongyi_outbox_backlog" in metrics
    docs = await stack.client.get("/probe/docs")
    assert "/probe/docs/assets/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    assert (await stack.client.get("/probe/docs/assets/swagger-ui-bundle.js")).status_code == 200
    schema = (await stack.client.get("/probe/openapi.json")).json()
    assert "Problem" in schema["components"]["schemas"]

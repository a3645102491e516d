"""The four services start on both databases and publish through both buses."""

from __future__ import annotations

import pytest

from shared.outbox import PendingEvent
from tests.support.samples import sample


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
async def test_each_service_is_healthy_and_ready(stack_factory, db):
    stack = await stack_factory(db=db)
    for name in ("registry", "evaluation", "grants", "notifications"):
        response = await stack.client.get(f"/{name}/readyz")
        assert response.status_code == 200, response.text
        assert (await stack.client.get(f"/{name}/healthz")).json()["status"] == "ok"


@pytest.mark.parametrize(("db", "bus"), [("sqlite", "embedded"), ("postgres", "kafka")])
async def test_an_event_staged_in_a_unit_of_work_reaches_the_bus(stack_factory, db, bus):
    stack = await stack_factory(("grants",), db=db, bus=bus)
    runtime = stack.runtimes["grants"]
    async with runtime.uow() as uow:
        published = sample("cn.gongyi.grants.call.published.v1")
        uow.stage(PendingEvent(topic="grants.call", key=published["partitionkey"], type=published["type"],
                               subject=published["subject"], data=published["data"]))
        written = await uow.commit()
    assert written[0].sequence == 1
    assert await stack.publish() == 1
    records = await stack.bus.read_all(runtime.settings.topic("grants.call"))
    assert [r.header("ce_id").decode() for r in records] == [written[0].event_id]


async def test_closing_a_stack_checks_what_its_services_published_against_the_event_contract(stack_factory):
    stack = await stack_factory(("grants",))
    runtime = stack.runtimes["grants"]
    published = sample("cn.gongyi.grants.call.published.v1")
    async with runtime.uow() as uow:
        uow.stage(PendingEvent(topic="grants.call", key=published["partitionkey"], type=published["type"],
                               subject=published["subject"], data=published["data"]))
        await uow.commit()
    await stack.publish()
    assert await stack.published_problems() == []
    async with runtime.uow() as uow:
        uow.stage(PendingEvent(topic="grants.call", key="c1", type=published["type"], subject="calls/c1",
                               data={"call_id": "c1"}))
        await uow.commit()
    await stack.publish()
    problems = await stack.published_problems()
    assert any("'title' is a required property" in p for p in problems), problems
    stack.check_events = False  # the broken event above is on purpose

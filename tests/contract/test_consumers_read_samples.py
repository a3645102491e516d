"""Every consumer reads every producer's samples (issue 7 item 5).

For each service, its own consumers alone on a stack: every sample of `contracts/samples/` published
on a topic the service consumes (handled types and the others of that topic alike) is appended to
the service's prefixed topic exactly as a producer's relay would (the sample's bytes, its key, the
routing headers), in the order of the story the samples tell (contracts/generate.py), with the
clock at the sample's time, and consumed then. Each must be applied or deliberately
skipped (a type the consumer does not handle): its position reaches the sample's `sequence`,
nothing is dropped as stale, nothing is dead-lettered, no key is parked, every `<topic>.dlt` is empty.

Context a consumer legitimately needs from its own service comes first, through that service's API
(evaluation schedules project assessments only with an indicator template it knows).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import pytest
from sqlalchemy import select

from contracts.validate import topic_of
from shared.dlt import dlt_topic
from tests.support.samples import append, sample, story
from tests.support.stack import Stack

SERVICES = ("registry", "evaluation", "grants", "notifications")


async def evaluation_context(stack: Stack) -> None:
    """The project-assessment template the sample agreement names, as an officer would create it."""
    agreement = sample("cn.gongyi.grants.award.agreement_signed.v1")
    template_id = agreement["data"]["assessment"]["template_id"]
    response = await stack.client.post(
        "/evaluation/v1/indicator-templates",
        json={"copy_of": {"id": "project-assessment-example"}, "id": template_id, "name": "2026年项目中期评估指标"},
        headers={**stack.auth("admin", sub="admin-1"), "Idempotency-Key": "template"},
    )
    assert response.status_code == 201, response.text


CONTEXT: dict[str, Callable[[Stack], Awaitable[None]]] = {"evaluation": evaluation_context}


async def consume_one(stack: Stack) -> None:
    """Consume the record just appended at the current time (and run what is due then): a full
    `settle()` per sample would wait out an empty poll of every consumer each time."""
    for _ in range(50):
        if await stack.consume(timeout_ms=20):
            break
    else:
        raise AssertionError("the sample was not consumed")
    await stack.publish()
    await stack.run_jobs()


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
@pytest.mark.parametrize("service", SERVICES)
async def test_every_consumer_applies_or_skips_every_sample_of_its_topics(stack_factory, service, db):
    stack = await stack_factory((service,), db=db)
    runtime = stack.runtimes[service]
    await stack.start_workers()
    group_of = {topic: runner.group for runner in runtime.runners for topic in runner.logical_topics}
    handled = {type_ for runner in runtime.runners for type_ in runner.handlers}
    samples = [e for e in story() if topic_of(e["type"]) in group_of]
    assert handled <= {e["type"] for e in samples}, f"{service} handles types without a sample in the contract"
    if service in CONTEXT:
        await CONTEXT[service](stack)

    for event in samples:
        stack.clock.set(max(stack.clock.now(), datetime.fromisoformat(event["time"].replace("Z", "+00:00"))))
        await append(stack, service, event)
        await consume_one(stack)
    await stack.settle()

    async with runtime.uow(readonly=True) as uow:
        positions = uow.infra.consumer_positions
        rows = (await uow.conn.execute(select(positions))).mappings().all()
        parked = (await uow.conn.execute(select(uow.infra.parked_keys))).mappings().all()
    reached = {(r["consumer"], r["topic"], r["key"]): r["sequence"] for r in rows}
    behind = [
        e["type"]
        for e in samples
        if reached.get((group_of[str(topic_of(e["type"]))], topic_of(e["type"]), e["partitionkey"]), 0)
        < int(e["sequence"])
    ]
    assert behind == [], f"{service} did not apply these samples"
    assert [dict(p) for p in parked] == []
    for topic in sorted(group_of):
        dead = await stack.bus.read_all(dlt_topic(runtime.settings.topic(topic)))
        assert [dict(r.headers).get("gongyi-dlt-error-detail") for r in dead] == [], topic
    assert sum(r.stats.stale + r.stats.dead_lettered for r in runtime.runners) == 0
    assert sum(r.stats.processed for r in runtime.runners) == len(samples)

"""Operations metrics (issue 7 item 7): each service's `/<svc>/metrics` exposes request counters,
consumer lag, outbox backlog and dead-letter counters, with values that follow a small flow through
running workers (relay, consumers and watchdog as `--role worker` runs them, in this process).

- backlog: an organization registered before the relay runs is a backlog of 1; once the worker's
  relay has published it, 0, and `relay_published` counts it;
- lag: a disbursement whose award notifications has not seen yet waits (a transient error pauses the
  partition), so the watchdog reports lag 1 on that partition; when the award arrives it is applied
  and the lag returns to 0;
- dead letters: an unreadable record on a topic each service reads goes to its DLT and counts once;
  every consumer's series exists at 0 from the start;
- timers: the daily sweeps a day later count as scheduled jobs run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.bus.base import OutgoingRecord
from tests.integration.registry.support import register
from tests.support.samples import append, sample
from tests.support.stack import Stack, wait_until

SERVICES = ("registry", "evaluation", "grants", "notifications")
FAMILIES = (
    "gongyi_http_requests",
    "gongyi_consumer_lag",
    "gongyi_outbox_backlog",
    "gongyi_relay_published",
    "gongyi_dlt_records",
    "gongyi_scheduled_jobs_run",
)
# a topic each service reads, for the unreadable record
READS = {
    "registry": "evaluation.rating",
    "evaluation": "registry.organization",
    "grants": "evaluation.assessment",
    "notifications": "grants.call",
}
AWARD = sample("cn.gongyi.grants.award.decided.v1")
# officers hear of a failed payment: notifications must know the award's region to tell them
DISBURSEMENT = sample("cn.gongyi.grants.disbursement.payment_failed.v1")


async def scrape(stack: Stack, service: str) -> dict[str, list[Any]]:
    response = await stack.client.get(f"/{service}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def value(families: dict[str, list[Any]], name: str, suffix: str = "", **labels: str) -> float:
    """The value of one sample (0 when the family has no sample with these labels yet)."""
    family = name.removesuffix("_total")
    matching = [
        s.value
        for s in families.get(family, [])
        if s.name == name + suffix and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matching) <= 1, (name, labels, matching)
    return matching[0] if matching else 0.0


def lag(families: dict[str, list[Any]], stack: Stack, service: str, topic: str) -> float:
    """The lag of `service`'s consumers on one (logical) topic, over its partitions; the labels name
    the topic on the bus (with the test's prefix)."""
    physical = stack.runtimes[service].settings.topic(topic)
    return sum(s.value for s in families.get("gongyi_consumer_lag", []) if s.labels["topic"] == physical)


@pytest.mark.parametrize(("db", "bus"), [("sqlite", "embedded"), ("postgres", "kafka")])
async def test_each_service_exposes_requests_lag_backlog_and_dead_letters_of_a_running_worker(
    stack_factory, db, bus
):
    # a watchdog that looks every 0.25 s (a quarter of the stall timeout) instead of every 5 s
    stack = await stack_factory(SERVICES, db=db, bus=bus, settings={"consumer_stall_timeout_s": 1.0})
    stack.check_events = False  # it writes unreadable records and a disbursement without its award record
    admin = stack.auth("admin", sub="admin-1")

    org = await register(stack, stack.auth("officer", region="440111", sub="officer-1"))
    before = await scrape(stack, "registry")
    assert value(before, "gongyi_outbox_backlog") == 1
    assert value(before, "gongyi_relay_published_total") == 0
    assert value(before, "gongyi_http_requests_total", method="POST", route="/registry/v1/organizations",
                 status="201") == 1
    for service in SERVICES:
        await stack.client.get(f"/{service}/v1/audit", params={"resource": f"organizations/{org['id']}"},
                               headers=admin)
        await stack.client.get(f"/{service}/v1/audit", params={"resource": "x"})  # no token
        families = await scrape(stack, service)
        assert set(FAMILIES) <= set(families), service
        route = f"/{service}/v1/audit"
        assert value(families, "gongyi_http_requests_total", method="GET", route=route, status="200") == 1
        assert value(families, "gongyi_http_requests_total", method="GET", route=route, status="401") == 1
        assert value(families, "gongyi_http_request_duration_seconds", "_count", method="GET", route=route) == 2

    # notifications meets a disbursement before the award it belongs to (another topic, another
    # partition): it cannot tell whose region it is yet, so the partition waits and lags
    for runtime in stack.runtimes.values():
        await stack.bus.ensure_topics(runtime.topics_to_ensure())
    await append(stack, "notifications", DISBURSEMENT)
    for service in SERVICES:
        runtime = stack.runtimes[service]
        await stack.bus.append(OutgoingRecord(topic=runtime.settings.topic(READS[service]), key=b"poison",
                                              value=b"this is not a CloudEvent", headers=[]))
        await runtime.start("worker")

    notifications = await scrape(stack, "notifications")
    quiet = stack.runtimes["notifications"].settings.topic("evaluation.round")
    assert value(notifications, "gongyi_dlt_records_total", topic=quiet) == 0
    assert any(s.labels["topic"] == quiet for s in notifications["gongyi_dlt_records"]), (
        "each consumer's dead-letter series exists from the start"
    )

    async def published() -> bool:
        return value(await scrape(stack, "registry"), "gongyi_outbox_backlog") == 0

    await wait_until(published)
    registry = await scrape(stack, "registry")
    assert value(registry, "gongyi_relay_published_total") >= 1

    async def lagging() -> bool:
        return lag(await scrape(stack, "notifications"), stack, "notifications", "grants.disbursement") == 1

    await wait_until(lagging)
    await append(stack, "notifications", AWARD)

    async def caught_up() -> bool:
        return lag(await scrape(stack, "notifications"), stack, "notifications", "grants.disbursement") == 0

    await wait_until(caught_up)
    for service in SERVICES:
        runtime = stack.runtimes[service]
        topic = READS[service]
        group = next(r.group for r in runtime.runners if topic in r.logical_topics)
        on_bus = runtime.settings.topic(topic)

        async def dead_lettered(service: str = service, group: str = group, topic: str = topic, on_bus=on_bus) -> bool:
            families = await scrape(stack, service)
            watched = {s.labels["group"] for s in families["gongyi_consumer_lag"]}
            return (
                value(families, "gongyi_dlt_records_total", group=group, topic=on_bus) == 1
                and watched == {r.group for r in stack.runtimes[service].runners}  # every consumer's lag
                and lag(families, stack, service, topic) == 0  # the dead letter's offset is committed
            )

        await wait_until(dead_lettered)

    # timers: a day later the daily sweeps are due and the workers' schedulers run them
    stack.clock.advance(timedelta(days=1))

    for service in ("evaluation", "notifications"):  # a sweep of each, on its own scheduler

        async def swept(service: str = service) -> bool:
            families = await scrape(stack, service)
            runs = families["gongyi_scheduled_jobs_run"]
            return any(s.name.endswith("_total") and s.labels["outcome"] == "done" and s.value >= 1 for s in runs)

        await wait_until(swept)

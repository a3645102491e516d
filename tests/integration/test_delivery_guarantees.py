"""The delivery guarantees of the building blocks, on the real Kafka broker AND on the embedded log.

Each scenario runs twice: PostgreSQL + Kafka (production) and SQLite + the embedded log (embedded
mode). The probe service (tests/support/probe.py) is built only from `shared/`; its consumer
records every applied event, so a lost or doubled effect is visible in its table.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import func, select

from gongyi.devinfra.kafka import LocalKafka
from shared import dlt
from shared.bus.base import BusUnavailable
from shared.telemetry import Telemetry
from tests.support import probe
from tests.support.processes import WorkerProcess
from tests.support.stack import Stack, wait_until

BACKENDS = [
    pytest.param(("postgres", "kafka"), id="postgres-kafka"),
    pytest.param(("sqlite", "embedded"), id="sqlite-embedded"),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    if request.param[1] == "kafka":
        request.getfixturevalue("kafka_broker")
    return request.param


async def make_probe(stack_factory, backend, **kwargs) -> Stack:
    db, bus = backend
    return await stack_factory(("probe",), db=db, bus=bus, modules={"probe": probe}, **kwargs)


async def stage_items(stack: Stack, items: list[tuple[str, int]], *, per_unit: int = 50) -> None:
    runtime = stack.runtimes["probe"]
    for start in range(0, len(items), per_unit):
        async with runtime.uow() as uow:
            for key, n in items[start : start + per_unit]:
                uow.stage(probe.item_event(key, n))
            await uow.commit()


def assert_each_key_in_order(applied: list[tuple[str, str, int, int]]) -> None:
    by_key: dict[str, list[int]] = defaultdict(list)
    for _event_id, key, n, _sequence in applied:
        by_key[key].append(n)
    for key, ns in by_key.items():
        assert ns == sorted(ns), f"key {key} applied out of order: {ns}"


def worker_args(stack: Stack, *extra: str) -> list[str]:
    runtime = stack.runtimes["probe"]
    settings = runtime.settings
    args = ["worker", "--db", settings.resolved_database_url(), "--bus", settings.bus,
            "--data-dir", str(stack.data_dir), "--prefix", stack.topic_prefix, *extra]
    if settings.bus == "kafka":
        args += ["--bootstrap", settings.kafka_bootstrap]
    return args


async def take_bus_down(stack: Stack, request: pytest.FixtureRequest) -> None:
    if stack.runtimes["probe"].settings.bus == "kafka":
        broker: LocalKafka = request.getfixturevalue("kafka_broker")
        broker.stop()
    else:
        stack.bus.set_down(True)  # type: ignore[attr-defined]


async def bring_bus_back(stack: Stack, request: pytest.FixtureRequest) -> None:
    if stack.runtimes["probe"].settings.bus == "kafka":
        broker: LocalKafka = request.getfixturevalue("kafka_broker")
        broker.start()
    else:
        stack.bus.set_down(False)  # type: ignore[attr-defined]


async def test_requests_succeed_while_the_bus_is_down_and_every_event_arrives_once_it_is_back(
    stack_factory, backend, request
):
    stack = await make_probe(stack_factory, backend)
    await stack.start_workers()
    headers = stack.auth("admin")
    await take_bus_down(stack, request)
    try:
        for n in range(20):
            response = await stack.client.post("/probe/v1/items", json={"key": f"k{n % 4}", "n": n}, headers=headers)
            assert response.status_code == 201, response.text
        with pytest.raises(BusUnavailable):
            await stack.runtimes["probe"].relay.publish_once()
        assert await stack.runtimes["probe"].relay.backlog() == 20
    finally:
        await bring_bus_back(stack, request)
    await stack.settle()
    applied = await probe.applied(stack.runtimes["probe"])
    assert sorted(n for _, _, n, _ in applied) == list(range(20))
    assert_each_key_in_order(applied)


async def test_a_relay_killed_after_the_ack_and_before_marking_republishes_and_the_consumer_applies_once(
    stack_factory, backend
):
    stack = await make_probe(stack_factory, backend)
    await stack.start_workers()
    await stage_items(stack, [(f"k{i % 5}", i) for i in range(50)])
    runtime = stack.runtimes["probe"]
    topic = runtime.settings.topic(probe.TOPIC)

    crashing = await WorkerProcess(worker_args(stack, "--no-consumer"), fault="relay.after_ack").start()
    await crashing.wait_killed()
    assert len(await stack.bus.read_all(topic)) == 50, "the relay published the batch before dying"
    assert await runtime.relay.backlog() == 50, "and died before marking it"

    async with WorkerProcess(worker_args(stack, "--no-consumer")) as relay:
        await relay.wait_ready()
        await wait_until(lambda: _backlog_is_zero(runtime), timeout=60)
    records = await stack.bus.read_all(topic)
    assert len(records) == 100 and len({r.header("ce_id") for r in records}) == 50, "same ids republished"

    await stack.settle()
    applied = await probe.applied(runtime)
    assert len(applied) == 50
    assert len({event_id for event_id, *_ in applied}) == 50
    assert_each_key_in_order(applied)


async def test_a_worker_started_while_the_bus_is_down_waits_for_it_and_then_delivers_everything(
    stack_factory, backend, request
):
    stack = await make_probe(stack_factory, backend)
    runtime = stack.runtimes["probe"]
    await stage_items(stack, [(f"k{i % 3}", i) for i in range(30)])
    kafka = runtime.settings.bus == "kafka"
    broker: LocalKafka | None = request.getfixturevalue("kafka_broker") if kafka else None
    if broker is not None:
        broker.stop()
    else:
        stack.bus.down_marker.touch()  # type: ignore[attr-defined]  # seen by the worker process too
    try:
        async with WorkerProcess(worker_args(stack)) as worker:
            await worker.wait_ready()  # it starts (its timers run) instead of exiting
            assert await runtime.relay.backlog() == 30
            if broker is not None:
                broker.start()
            else:
                stack.bus.down_marker.unlink()  # type: ignore[attr-defined]
            try:
                await wait_until(lambda: _applied_count(runtime, 30), timeout=120)
            except AssertionError as stalled:
                raise AssertionError(f"worker said:\n{worker.tail()}") from stalled
    finally:
        if broker is not None:
            broker.start()  # a no-op when it runs
        else:
            stack.bus.down_marker.unlink(missing_ok=True)  # type: ignore[attr-defined]
    assert await runtime.relay.backlog() == 0
    assert_each_key_in_order(await probe.applied(runtime))


async def _backlog_is_zero(runtime) -> bool:
    return await runtime.relay.backlog() == 0


async def test_a_consumer_killed_mid_stream_loses_and_doubles_nothing_and_keeps_per_key_order(
    stack_factory, backend
):
    stack = await make_probe(stack_factory, backend)
    runtime = stack.runtimes["probe"]
    keys = [f"org-{i}" for i in range(60)]
    await stage_items(stack, [(keys[i % 60], i) for i in range(2000)], per_unit=100)
    await stack.bus.ensure_topics(runtime.topics_to_ensure())
    assert await stack.publish() == 2000
    partitions = {r.partition for r in await stack.bus.read_all(runtime.settings.topic(probe.TOPIC))}
    assert partitions == {0, 1, 2}

    crashing = await WorkerProcess(worker_args(stack, "--no-relay"), fault="consumer.after_apply@700").start()
    await crashing.wait_killed()
    first_run = len(await probe.applied(runtime))
    assert 700 <= first_run < 2000

    async with WorkerProcess(worker_args(stack, "--no-relay")) as consumer:
        await consumer.wait_ready()
        try:
            await wait_until(lambda: _applied_count(runtime, 2000), timeout=120)
        except AssertionError as stalled:
            raise AssertionError(
                f"{len(await probe.applied(runtime))} applied; worker said:\n{consumer.tail()}") from stalled
    applied = await probe.applied(runtime)
    assert len(applied) == 2000, "nothing lost, nothing doubled"
    assert len({event_id for event_id, *_ in applied}) == 2000
    assert_each_key_in_order(applied)


async def _applied_count(runtime, expected: int) -> bool:
    async with runtime.uow(readonly=True) as uow:
        count = (await uow.conn.execute(select(func.count()).select_from(probe.effects))).scalar_one()
    assert count <= expected, f"{count} effects for {expected} events: something was applied twice"
    return count == expected


async def test_a_poison_event_is_dead_lettered_its_key_waits_other_keys_flow_and_redrive_applies_in_order(
    stack_factory, backend
):
    stack = await make_probe(stack_factory, backend)
    runtime = stack.runtimes["probe"]
    async with runtime.uow() as uow:
        for n in range(1, 6):
            uow.stage(probe.item_event("A", n, poison=n == 2))
            uow.stage(probe.item_event("B", n))
        await uow.commit()
    await stack.settle()

    applied = await probe.applied(runtime)
    assert [(k, n) for _, k, n, _ in applied if k == "A"] == [("A", 1)]
    assert [n for _, k, n, _ in applied if k == "B"] == [1, 2, 3, 4, 5]

    group = runtime.settings.consumer_group()
    topic = runtime.settings.topic(probe.TOPIC)
    letters = await dlt.read_dead_letters(stack.bus, group=group, topic=topic)
    assert [(letter.key, letter.error_type) for letter in letters] == [
        ("A", "PermanentError"), ("A", "Parked"), ("A", "Parked"), ("A", "Parked")
    ]
    first = letters[0]
    assert first.record.header(dlt.H_GROUP) == group.encode()
    assert first.record.header(dlt.H_TOPIC) == topic.encode()
    assert "poison" in first.error_detail and first.attempts == 1
    assert first.record.header(dlt.H_FIRST_FAILURE) is not None
    assert all(letter.parked_behind == first.event_id for letter in letters[1:])

    async with runtime.uow() as uow:  # the fix
        await uow.conn.execute(probe.cures.insert().values(key="A"))
        await uow.commit()
    async with runtime.uow() as uow:
        assert await dlt.redrive(stack.bus, uow, group=group, topic=topic, logical_topic=probe.TOPIC, key="A") == 4
    await stack.settle()

    applied = await probe.applied(runtime)
    assert [n for _, k, n, _ in applied if k == "A"] == [1, 2, 3, 4, 5]
    async with runtime.uow(readonly=True) as uow:
        rows = await dlt.list_dead_letters(stack.bus, uow, group=group, topic=topic, logical_topic=probe.TOPIC)
    assert all(row.applied and not row.key_parked for row in rows)

    async with runtime.uow() as uow:  # later events of A flow again
        uow.stage(probe.item_event("A", 6))
        await uow.commit()
    await stack.settle()
    assert [n for _, k, n, _ in await probe.applied(runtime) if k == "A"] == [1, 2, 3, 4, 5, 6]


async def test_a_trace_started_by_an_http_request_continues_through_the_relay_and_the_consumer(
    stack_factory, backend
):
    exporter = InMemorySpanExporter()
    telemetry = Telemetry("probe", sample_ratio=1.0, span_processor=SimpleSpanProcessor(exporter))
    stack = await make_probe(stack_factory, backend, runtime_kwargs={"probe": {"telemetry": telemetry}})
    response = await stack.client.post("/probe/v1/items", json={"key": "traced", "n": 1},
                                       headers=stack.auth("admin"))
    assert response.status_code == 201
    await stack.settle()

    spans = exporter.get_finished_spans()
    by_name = {span.name: span for span in spans}
    server = by_name["POST /probe/v1/items"]
    publish = by_name[f"publish {probe.TOPIC}"]
    process = by_name[f"process {probe.TOPIC}"]
    trace_id = server.context.trace_id
    assert publish.context.trace_id == trace_id
    assert process.context.trace_id == trace_id
    assert process.parent is not None and process.parent.span_id == publish.context.span_id
    transactions = [s for s in spans if s.name == "db.transaction" and s.context.trace_id == trace_id]
    assert len(transactions) >= 2, "the request's and the consumer's transactions are in the trace"


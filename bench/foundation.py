"""Benchmark of the building blocks, side by side in one run (figures, not a test).

    .venv/bin/python -m bench.foundation [--seconds 10] [--skip-http]

Starts its own PostgreSQL cluster and Kafka broker (gongyi.devinfra) in a temp dir and measures:
1. the ceiling: raw asyncpg business row + outbox row per transaction, 8 connections;
2. the same through the unit of work (business row + staged event → outbox row with its per-key
   sequence), 8 concurrent units of work; target ≥ 70 % of (1);
3. relay publish throughput to Kafka (events/s; target ≥ 5,000);
4. end-to-end latency commit → consumer applied, p50/p99, on Kafka (PostgreSQL) and on the embedded
   log (SQLite), with the relay woken after commit (target p99 ≤ 250 ms);
5. an HTTP endpoint that writes business + outbox rows, tracing off vs on (parent-based 10 %
   sampling, batch export to a discarding exporter), uvicorn in its own process, load from another
   process; target on ≥ 0.8 × off.
The machine has 2 cores: every figure competes with the load generator and the databases.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from gongyi.devinfra.kafka import LocalKafka, ensure_kafka_jars
from gongyi.devinfra.postgres import LocalPostgres, free_port, provision_database_async
from shared.bus.embedded import EmbeddedLog
from shared.bus.kafka import KafkaBus
from shared.clock import SystemClock
from shared.envelope import CloudEvent
from shared.runtime import Runtime
from shared.uow import UnitOfWork
from tests.support import probe

REPO = Path(__file__).resolve().parents[1]


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def line(label: str, value: str) -> None:
    print(f"  {label:58s} {value}", flush=True)


async def run_for(seconds: float, workers: int, body: Any) -> tuple[int, list[float]]:
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await body()
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return len(latencies), latencies


# -- 1. raw ceiling --------------------------------------------------------------------------------


async def raw_ceiling(dsn: str, seconds: float) -> float:
    conn = await asyncpg.connect(dsn)
    await conn.execute(
        "CREATE SCHEMA IF NOT EXISTS rawbench;"
        "CREATE TABLE IF NOT EXISTS rawbench.business (id uuid PRIMARY KEY, title text, amount bigint);"
        "CREATE TABLE IF NOT EXISTS rawbench.outbox (id bigserial PRIMARY KEY, event_id text, topic text, key text,"
        " body bytea, created_at timestamptz, published_at timestamptz)"
    )
    await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=8, max_size=8)
    body = b'{"specversion":"1.0","type":"x","data":{"n":1}}'

    async def one() -> None:
        async with pool.acquire() as c, c.transaction():
            oid = uuid.uuid4()
            await c.execute("INSERT INTO rawbench.business VALUES ($1, $2, $3)", oid, "t", 100)
            await c.execute(
                "INSERT INTO rawbench.outbox (event_id, topic, key, body, created_at) VALUES ($1, $2, $3, $4, now())",
                str(oid), "probe.item", str(oid), body,
            )

    count, lat = await run_for(seconds, 8, one)
    await pool.close()
    rate = count / seconds
    line("1. raw asyncpg business + outbox tx, 8 connections", f"{rate:8.0f} tx/s  p99 {pct(lat, .99) * 1000:.1f} ms")
    return rate


# -- 2. through the unit of work ------------------------------------------------------------------


async def through_uow(runtime: Runtime, seconds: float) -> float:
    async def one() -> None:
        async with runtime.uow() as uow:
            oid = str(uuid.uuid4())
            await uow.conn.execute(probe.orders.insert().values(id=oid, title="t", amount_fen=100, version=1))
            uow.stage(probe.item_event(oid, 1))
            await uow.commit()

    count, lat = await run_for(seconds, 8, one)
    rate = count / seconds
    line("2. unit of work: business row + staged event, 8 concurrent",
         f"{rate:8.0f} tx/s  p99 {pct(lat, .99) * 1000:.1f} ms")
    return rate


# -- 3. relay throughput --------------------------------------------------------------------------


async def relay_throughput(runtime: Runtime, events: int) -> float:
    for start in range(0, events, 500):
        async with runtime.uow() as uow:
            for i in range(start, min(events, start + 500)):
                uow.stage(probe.item_event(f"org-{i % 997}", i))
            await uow.commit()
    await runtime.bus.ensure_topics(runtime.topics_to_ensure())
    started = time.perf_counter()
    published = 0
    while (n := await runtime.relay.publish_once()) > 0:
        published += n
    elapsed = time.perf_counter() - started
    rate = published / elapsed
    line(f"3. relay → Kafka, {published} events (acks=all, idempotent)", f"{rate:8.0f} events/s")
    return rate


# -- 4. end-to-end latency ------------------------------------------------------------------------


async def end_to_end(runtime: Runtime, label: str, events: int, rate: float) -> tuple[float, float]:
    latencies: list[float] = []
    done = asyncio.Event()

    async def measure(uow: UnitOfWork, event: CloudEvent) -> None:
        latencies.append((datetime.now(UTC) - event.time).total_seconds())
        if len(latencies) >= events:
            done.set()

    runtime.add_consumer("latency", topics=[probe.TOPIC], handlers={probe.ITEM_CREATED: measure})
    runtime._consumers = [c for c in runtime._consumers if c.name == "latency"]
    await runtime.start("worker")
    # let the consumer join and catch up on anything already there
    await asyncio.sleep(3)
    latencies.clear()
    for i in range(events):
        async with runtime.uow() as uow:
            uow.stage(probe.item_event(f"lat-{i % 50}", i))
            await uow.commit()
        await asyncio.sleep(1 / rate)
    await asyncio.wait_for(done.wait(), 60)
    await runtime.stop()
    p50, p99 = pct(latencies, .5) * 1000, pct(latencies, .99) * 1000
    line(f"4. commit → consumer applied, {label}, {events} events at {rate:.0f}/s",
         f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
    return p50, p99


# -- 5. HTTP with tracing off / on ----------------------------------------------------------------

SERVER = """
import os, uvicorn
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from shared.telemetry import Telemetry
from tests.support import probe

class Discard(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS

on = os.environ["BENCH_TRACING"] == "on"
telemetry = Telemetry("probe", sample_ratio=0.1, enabled=on,
                      span_processor=BatchSpanProcessor(Discard()) if on else None)
settings = probe.ProbeSettings(env="test", data_dir=os.environ["BENCH_DIR"], database_url=os.environ["BENCH_DB"],
                               db_pool_size=8)
app = probe.create_app(settings, telemetry=telemetry)
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), log_level="warning", access_log=False)
"""

LOAD = """
import asyncio, os, sys, time, httpx
async def main():
    url = f"http://127.0.0.1:{os.environ['BENCH_PORT']}/probe/v1/items"
    headers = {"Authorization": "Bearer " + os.environ["BENCH_TOKEN"]}
    seconds = float(os.environ["BENCH_SECONDS"])
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        for _ in range(50):
            await client.post(url, json={"key": "warm", "n": 0}, headers=headers)
        deadline = time.perf_counter() + seconds
        count = errors = 0
        async def worker(i):
            nonlocal count, errors
            n = 0
            while time.perf_counter() < deadline:
                r = await client.post(url, json={"key": f"k{i}", "n": n}, headers=headers)
                n += 1
                if r.status_code == 201: count += 1
                else: errors += 1
        await asyncio.gather(*(worker(i) for i in range(32)))
    print(count / seconds, errors)
asyncio.run(main())
"""


async def http_tracing(db_url: str, data_dir: Path, seconds: float) -> dict[str, float]:
    from shared.auth import DEV_ISSUER, load_or_create_dev_key, mint_token

    token = mint_token(load_or_create_dev_key(data_dir), issuer=DEV_ISSUER, sub="bench", role="admin")
    results: dict[str, float] = {}
    for mode in ("off", "on", "off", "on"):
        port = free_port()
        env = {**os.environ, "BENCH_TRACING": mode, "BENCH_DIR": str(data_dir), "BENCH_DB": db_url,
               "BENCH_PORT": str(port), "BENCH_TOKEN": token, "BENCH_SECONDS": str(seconds),
               "PYTHONPATH": str(REPO)}
        server = subprocess.Popen([sys.executable, "-c", SERVER], env=env, cwd=REPO)
        try:
            for _ in range(200):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.05)
            out = subprocess.run([sys.executable, "-c", LOAD], env=env, cwd=REPO, capture_output=True, text=True,
                                 check=True).stdout.split()
            rate = float(out[0])
            results.setdefault(mode, 0.0)
            results[mode] = max(results[mode], rate)
            line(f"5. POST (business + outbox) tracing {mode:3s}, 32 clients", f"{rate:8.0f} req/s  errors {out[1]}")
        finally:
            server.terminate()
            server.wait()
    ratio = results["on"] / results["off"]
    line("5. tracing on / tracing off (best of two runs each)", f"{ratio:8.2f}")
    return results


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gongyi-bench-"))
    print(f"foundation benchmark ({os.cpu_count()} cores), work dir {work}", flush=True)
    cluster = LocalPostgres(work / "pg")
    cluster.start()
    ensure_kafka_jars()
    broker = LocalKafka(work / "kafka")
    broker.start()
    try:
        superuser = cluster.superuser_dsn()
        await provision_database_async(superuser, "bench")
        dsn = cluster.superuser_dsn("bench")
        url = dsn.replace("postgresql://", "postgresql+asyncpg://")
        ceiling = await raw_ceiling(dsn, args.seconds)

        def probe_runtime(**overrides: Any) -> Runtime:
            settings = probe.ProbeSettings(env="test", data_dir=work, database_url=url, db_pool_size=8,
                                           topic_prefix=f"b{uuid.uuid4().hex[:6]}.", **overrides)
            bus = KafkaBus(broker.bootstrap, client_id="bench")
            return probe.build_runtime(settings, bus=bus, clock=SystemClock())

        runtime = probe_runtime()
        await probe.create_schema(runtime)
        await runtime.bus.start()
        uow_rate = await through_uow(runtime, args.seconds)
        line("   unit of work / raw ceiling", f"{uow_rate / ceiling:8.2f}  (target ≥ 0.70)")
        async with runtime.db.engine.begin() as conn:
            await conn.exec_driver_sql("UPDATE probe.outbox SET published_at = now() WHERE published_at IS NULL")
        await relay_throughput(runtime, args.events)
        await runtime.bus.stop()
        await runtime.db.dispose()

        kafka_runtime = probe_runtime(relay_poll_interval_s=1.0)
        await kafka_runtime.bus.start()
        await end_to_end(kafka_runtime, "Kafka + PostgreSQL", 500, 100)
        await kafka_runtime.bus.stop()

        embedded_dir = work / "embedded"
        embedded = probe.build_runtime(
            probe.ProbeSettings(env="test", data_dir=embedded_dir), bus=EmbeddedLog(embedded_dir / "bus.sqlite"),
            clock=SystemClock(),
        )
        await probe.create_schema(embedded)
        await embedded.bus.start()
        await end_to_end(embedded, "embedded log + SQLite", 500, 100)
        await embedded.bus.stop()

        if not args.skip_http:
            await http_tracing(url, work, args.seconds)
    finally:
        broker.stop()
        cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())

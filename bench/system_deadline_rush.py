"""Deadline rush through the whole system (figures, not a test): N organizations submit in the last
minutes before a call closes while every service runs as in production — per service an API process
and a worker process (`gongyi serve <svc> --role api|worker`) on PostgreSQL and Kafka — so each
submission is screened in its request, published by the grants relay, consumed by the notifications
worker and lands in the organization's inbox.

    .venv/bin/python -m bench.system_deadline_rush [--orgs 2000] [--concurrency 64]

Starts its own PostgreSQL cluster and Kafka broker in a temp dir, migrates every schema (each
service as its own role), seeds the grants read model and N drafts on one open call (as
bench.grants_deadline_rush does), lets each organization's user sign up with the notifications
service (`GET /recipients/me`), then fires N submissions from a separate load process (keep-alive,
`--concurrency` clients). Prints submissions/s and p50/p99 of:
- submit: the HTTP round trip of `POST …/submission` (JWT, idempotency key, deadline, screening,
  screening row, two outbox events, audit — one transaction);
- submit → screened on Kafka: from sending the request to the relay marking the `screened` event
  acknowledged by the broker (`acks=all`);
- submit → notified: from sending the request to the `grants.application.screened` inbox item
  committed by the notifications consumer.
All timestamps come from this machine's clock. The machine has 2 cores shared by 8 service
processes, PostgreSQL, Kafka and the load generator: read the figures with that in mind.

Figures of 2026-11-22 (2,000 organizations; load average 3–4 with other engineers' work running):
| concurrency | submissions/s | submit p50 / p99 | → screened on Kafka p50 / p99 | → notified p50 / p99 |
|---|---|---|---|---|
| 64 | 144–158 | 360–400 ms / 1.7 s | 380–420 ms / 1.7–1.8 s | 6.8–9.2 s / 10.6–14.4 s |
| 16 | 86–159 | 94–156 ms / 230–580 ms | 110–173 ms / 250–590 ms | 10.2–11.6 s / 13.8–15.7 s |
The notifications worker is the bottleneck of the chain: it turns about 75 applications/s (their
`submitted` and `screened` events; each inbox item also stages a `delivered` event) into inbox items,
so during a rush faster than that the inbox lags by the backlog (all 2,000 were in the inboxes 9–14 s
after the last response); the submissions themselves keep their latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.grants_deadline_rush import seed
from gongyi.devinfra.kafka import LocalKafka, ensure_kafka_jars
from gongyi.devinfra.postgres import LocalPostgres, provision_database_async, service_dsn
from gongyi.system import SERVICES, service_module, service_settings
from services.grants.settings import GrantsSettings
from shared.migrations import migrate
from tests.support.deployment import Deployment

REPO = Path(__file__).resolve().parents[1]

LOAD = """
import asyncio, json, os, time, uuid

from bench.rawhttp import RawClient  # the cwd is the repository

async def main():
    jobs = json.load(open(os.environ["BENCH_JOBS"]))
    port, concurrency = int(os.environ["BENCH_PORT"]), int(os.environ["BENCH_CONCURRENCY"])
    body = json.dumps({"declaration": True}).encode()
    queue, results = list(reversed(jobs)), []

    async def worker():
        client = RawClient(port)
        while queue:
            app_id, token = queue.pop()
            headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex,
                       "Authorization": "Bearer " + token}
            sent, started = time.time(), time.perf_counter()
            try:
                status, _ = await client.request("POST", f"/grants/v1/applications/{app_id}/submission", headers, body)
            except (ConnectionError, asyncio.IncompleteReadError):
                status = "connection_error"
            results.append([app_id, sent, time.perf_counter() - started, status])

    begun = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    print(json.dumps({"elapsed": time.perf_counter() - begun, "results": results}))

asyncio.run(main())
"""


def line(label: str, value: str) -> None:
    print(f"  {label:58s} {value}", flush=True)


def percentiles(values: list[float]) -> str:
    values = sorted(values)
    if not values:
        return "—"
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))] * 1000  # noqa: E731
    return f"p50 {pick(0.5):7.1f} ms   p99 {pick(0.99):7.1f} ms   max {values[-1] * 1000:7.1f} ms"


async def provision(superuser: str, database: str) -> dict[str, str]:
    await provision_database_async(superuser, database)
    urls = {}
    for name in SERVICES:
        urls[name] = service_dsn(superuser, database, name).replace("postgresql://", "postgresql+asyncpg://", 1)
        runtime = service_module(name).build_runtime(
            service_settings(name, env="test", database_url=urls[name], data_dir=Path("/tmp"))
        )
        try:
            await migrate(runtime.db, runtime.migrations)
        finally:
            await runtime.db.dispose()
    return urls


async def sign_up(d: Deployment, users: list[dict[str, str]]) -> None:
    """Each organization's user calls the notifications service once: the directory knows them."""
    queue = list(users)
    async with d.client() as client:

        async def worker() -> None:
            while queue:
                user = queue.pop()
                token = d.tokens("org", sub=user["sub"], org_id=user["org_id"])
                r = await client.get("/notifications/v1/recipients/me", headers={"Authorization": f"Bearer {token}"})
                r.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(16)))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--minutes-left", type=float, default=15.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gongyi-system-rush-"))
    print(f"system deadline rush: {args.orgs} organizations, concurrency {args.concurrency}, "
          f"{os.cpu_count()} cores, work dir {work}", flush=True)
    cluster = LocalPostgres(work / "pg")
    cluster.start()
    ensure_kafka_jars()
    broker = LocalKafka(work / "kafka")
    broker.start()
    d: Deployment | None = None
    try:
        superuser = cluster.superuser_dsn()
        urls = await provision(superuser, "rush")
        env = {"GONGYI_DB_POOL_SIZE": "8", "GONGYI_TRACE_ENABLED": "true", "GONGYI_LOG_LEVEL": "WARNING"}
        d = Deployment(work / "var", urls, broker.bootstrap, extra_env=env)
        settings = GrantsSettings(env="development", data_dir=work / "var", database_url=urls["grants"], bus="kafka",
                                  kafka_bootstrap=broker.bootstrap, topic_prefix=d.prefix)
        started = time.perf_counter()
        _call_id, drafts = await seed(settings, args.orgs, datetime.now(UTC) + timedelta(minutes=args.minutes_left))
        line(f"seeded one open call, {args.orgs} standings and drafts", f"{time.perf_counter() - started:6.1f} s")
        started = time.perf_counter()
        await d.start()
        line("started 4 services × (api + worker) processes", f"{time.perf_counter() - started:6.1f} s")
        users = [{"sub": f"u-{org_id}", "org_id": org_id} for _, org_id in drafts]
        started = time.perf_counter()
        await sign_up(d, users)
        line(f"{args.orgs} users signed up for notifications", f"{time.perf_counter() - started:6.1f} s")

        jobs = [(app_id, d.tokens("org", sub=f"u-{org_id}", org_id=org_id)) for app_id, org_id in drafts]
        jobs_file = work / "jobs.json"
        jobs_file.write_text(json.dumps(jobs))
        load_env = {**os.environ, "BENCH_JOBS": str(jobs_file), "BENCH_CONCURRENCY": str(args.concurrency),
                    "BENCH_PORT": str(d.ports[("grants", "api")])}
        before = os.getloadavg()[0]
        out = subprocess.run([sys.executable, "-c", LOAD], env=load_env, cwd=REPO, capture_output=True, text=True,
                             check=False)
        if out.returncode != 0:
            raise RuntimeError(f"load generator failed:\n{out.stderr[-3000:]}")
        load: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        results = load["results"]
        statuses: dict[str, int] = {}
        for _, _, _, status in results:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        line("submissions", f"{len(results)} in {load['elapsed']:.1f} s = {len(results) / load['elapsed']:7.1f} /s  "
             f"{statuses}")
        line("submit (HTTP round trip)", percentiles([r[2] for r in results]))

        raw = cluster.superuser_dsn("rush")
        conn = await asyncpg.connect(raw)
        try:
            drained = time.perf_counter()
            while True:
                n = await conn.fetchval(
                    "SELECT count(*) FROM notifications.inbox_items WHERE notification_type = "
                    "'grants.application.screened'"
                )
                if n >= len(results) or time.perf_counter() - drained > 600:
                    break
                await asyncio.sleep(0.5)
            line("all screened notifications in inboxes after the last response",
                 f"{time.perf_counter() - drained:6.1f} s ({n} of {len(results)})")
            published = {
                r["key"]: r["published_at"].timestamp()
                for r in await conn.fetch(
                    "SELECT key, published_at FROM grants.outbox WHERE event_type = "
                    "'cn.gongyi.grants.application.screened.v1' AND published_at IS NOT NULL"
                )
            }
            notified = {
                r["resource"].removeprefix("applications/"): r["created_at"].timestamp()
                for r in await conn.fetch(
                    "SELECT resource, created_at FROM notifications.inbox_items "
                    "WHERE notification_type = 'grants.application.screened'"
                )
            }
        finally:
            await conn.close()
        sent = {app_id: at for app_id, at, _, status in results if status == 200}
        line("submit → screened event acknowledged by Kafka",
             percentiles([published[a] - t for a, t in sent.items() if a in published]))
        line("submit → screened notification in the inbox",
             percentiles([notified[a] - t for a, t in sent.items() if a in notified]))
        line("load average before / after", f"{before:.1f} / {os.getloadavg()[0]:.1f}")
    finally:
        if d is not None:
            await d.stop()
        broker.stop()
        cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())

"""Deadline rush (figures, not a test): N organizations submit in the last minutes before a call closes.

    .venv/bin/python -m bench.grants_deadline_rush [--orgs 5000] [--concurrency 64] [--no-relay]

Starts its own PostgreSQL cluster and Kafka broker (gongyi.devinfra) in a temp dir, migrates the
grants schema and seeds, through the service's own read-model rules, N organizations' standings
and N drafts on one open call closing a few minutes ahead (real clock). Then, each server in its own
uvicorn process on loopback and the load from another process (64 concurrent clients, keep-alive):
1. the ceiling: a raw FastAPI + asyncpg endpoint inserting a business row and an outbox row in one
   transaction (8 pooled connections), no auth, no validation beyond the body model;
2. the real thing: `POST /grants/v1/applications/{id}/submission` with a bearer token and an
   Idempotency-Key — JWT check, idempotency key, deadline, caps, screening from the read model,
   screening row, two outbox events, audit rows — while the grants relay publishes to Kafka from
   its own process (unless --no-relay);
3. the ceiling again (the machine is noisy: both ceiling runs are printed, the ratio uses their mean),
then how long the relay takes to drain what is left. Prints submissions/s, p50/p99 and the ratio to
the ceiling (targets: ratio ≥ 0.5, p99 ≤ 150 ms). The machine has 2 cores shared by the server, the
load generator, PostgreSQL, Kafka and the relay: read the figures with that in mind.
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
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from gongyi.devinfra.kafka import LocalKafka, ensure_kafka_jars
from gongyi.devinfra.postgres import LocalPostgres, free_port, provision_database_async, service_dsn
from services.grants.domain.applications import title_key
from services.grants.domain.standing import apply_rating_event, apply_registry_event, new_standing
from services.grants.main import build_runtime
from services.grants.models import Application, Call, Standing
from services.grants.settings import GrantsSettings
from shared.auth import DEV_ISSUER, load_or_create_dev_key, mint_token
from shared.clock import SystemClock
from shared.migrations import migrate

REPO = Path(__file__).resolve().parents[1]

GRANTS_SERVER = """
import os, uvicorn
from services.grants.main import create_app
from services.grants.settings import GrantsSettings
settings = GrantsSettings(env="test", data_dir=os.environ["BENCH_DIR"], database_url=os.environ["BENCH_DB"],
                          bus="kafka", kafka_bootstrap=os.environ["BENCH_KAFKA"],
                          topic_prefix=os.environ["BENCH_PREFIX"], db_pool_size=8, db_pool_max_overflow=0)
uvicorn.run(create_app(settings, role="api"), host="127.0.0.1", port=int(os.environ["BENCH_PORT"]),
            log_level="warning", access_log=False)
"""

CEILING_SERVER = """
import os, uuid, asyncpg, orjson, uvicorn
from datetime import datetime, UTC
from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel

class Submission(BaseModel):
    declaration: bool

from contextlib import asynccontextmanager
state = {}

@asynccontextmanager
async def lifespan(app):
    state["pool"] = await asyncpg.create_pool(os.environ["BENCH_RAW_DSN"], min_size=8, max_size=8)
    yield

app = FastAPI(lifespan=lifespan)

@app.get("/healthz")
async def healthz():
    return {"status": "ok"}

@app.post("/ceiling/{item_id}/submission", status_code=201)
async def submit(item_id: str, body: Submission):
    event_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    async with state["pool"].acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO rawbench.business (id, title, amount) VALUES ($1, $2, $3)",
                           uuid.uuid4(), item_id, 6000000)
        await conn.execute("INSERT INTO rawbench.outbox (event_id, topic, key, body, created_at) "
                           "VALUES ($1, $2, $3, $4, $5)", event_id, "grants.application", item_id,
                           orjson.dumps({"id": event_id, "key": item_id}), now)
    return Response(orjson.dumps({"id": item_id, "event_id": event_id}), status_code=201, media_type="application/json")

uvicorn.run(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), log_level="warning", access_log=False)
"""

LOAD = """
import asyncio, json, os, time, uuid

from bench.rawhttp import RawClient  # the cwd is the repository

async def main():
    jobs = json.load(open(os.environ["BENCH_JOBS"]))
    port = int(os.environ["BENCH_PORT"])
    concurrency = int(os.environ["BENCH_CONCURRENCY"])
    latencies, statuses = [], {}
    body = json.dumps({"declaration": True}).encode()
    queue = list(reversed(jobs))

    async def worker():
        client = RawClient(port)
        while queue:
            target, token = queue.pop()
            method = "GET" if target.endswith("healthz") else "POST"
            headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
            if token:
                headers["Authorization"] = "Bearer " + token
            started = time.perf_counter()
            try:
                status, _ = await client.request(method, target, headers, body if method == "POST" else b"")
            except (ConnectionError, asyncio.IncompleteReadError):
                status = "connection_error"
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1

    begun = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - begun
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    print(json.dumps({"n": len(latencies), "elapsed": elapsed, "rate": len(latencies) / elapsed, "p50": pct(.5),
                      "p99": pct(.99), "statuses": statuses}))

asyncio.run(main())
"""


def line(label: str, value: str) -> None:
    print(f"  {label:60s} {value}", flush=True)


def _wait_healthy(port: int, path: str) -> None:
    for _ in range(400):
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server on {port} did not come up")


def run_load(env: dict[str, str], jobs: list[tuple[str, str | None]], work: Path, concurrency: int) -> dict[str, Any]:
    path = work / f"jobs-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(jobs))
    env = {**env, "BENCH_JOBS": str(path), "BENCH_CONCURRENCY": str(concurrency)}
    out = subprocess.run([sys.executable, "-c", LOAD], env=env, cwd=REPO, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def seed(settings: GrantsSettings, n: int, closes_at: datetime) -> tuple[str, list[tuple[str, str]]]:
    """The call, N standings built by the read model's own rules, N complete drafts."""
    runtime = build_runtime(settings, clock=SystemClock())
    await migrate(runtime.db, runtime.migrations)
    now = datetime.now(UTC)
    call_id = str(uuid.uuid4())
    drafts: list[tuple[str, str]] = []
    async with runtime.uow() as uow:
        uow.session.add(
            Call(
                id=call_id,
                status="open",
                call_type="venture_philanthropy",
                title="截止前申报压力测试",
                region_code="440111",
                budget_fen=100_000_000_000,
                min_award_fen=1_000_000,
                max_award_fen=10_000_000,
                max_grant_bp=6000,
                personnel_cap_bp=4000,
                eligibility={
                    "kinds": ["social_group", "social_service_agency", "foundation"],
                    "min_grade": "3A",
                    "max_applications": 1,
                    "lookbacks": [{"list": "irregular", "months": 12}, {"list": "serious", "months": 24}],
                },
                opens_at=now - timedelta(days=30),
                closes_at=closes_at,
                rubric=[{"code": "a", "title": "a", "weight_bp": 10000}],
                tranches=[{"tranche_no": 1, "basis_points": 10000, "trigger": "signing"}],
                funding_source="welfare_lottery",
                budget_classification_code="2081099",
                fiscal_year=2026,
                authorisation_number="bench",
                budget_line="bench",
                created_by="bench",
                created_at=now,
                updated_at=now,
            )
        )
        await uow.commit()
    standings, applications = [], []
    for i in range(n):
        org_id = str(uuid.uuid4())
        doc = apply_registry_event(
            new_standing(org_id),
            "registered",
            {
                "kind": "social_service_agency",
                "region_code": "440111",
                "status": "active",
                "registered_on": "2019-06-01",
                "organization": {"org_id": org_id, "scheme": "CN-USCI", "id": f"52440111{i:09d}X", "name": f"机构{i}"},
            },
        )
        doc = apply_rating_event(
            doc,
            "published",
            {
                "evaluation_id": str(uuid.uuid4()),
                "grade": "4A",
                "valid_from": "2025-05-20",
                "valid_until": "2030-05-19",
            },
        )
        if i % 10 == 0:  # one in ten was listed last year: screened ineligible, still a full submission
            doc = apply_registry_event(
                doc, "listed", {"listing_id": f"l{i}", "list": "irregular", "listed_on": "2025-08-01"}
            )
        standings.append(
            {
                "org_id": org_id,
                "doc": doc,
                "registry_sequence": 1,
                "rating_sequence": 1,
                "source": "events",
                "updated_at": now,
            }
        )
        app_id = str(uuid.uuid4())
        title = f"社区服务项目{i}"
        applications.append(
            {
                "id": app_id,
                "call_id": call_id,
                "org_id": org_id,
                "status": "draft",
                "version": 1,
                "organization": {"org_id": org_id},
                "region_code": None,
                "project_title": title,
                "title_key": title_key(title),
                "summary": "",
                "period_start": datetime(2026, 5, 1).date(),
                "period_end": datetime(2027, 4, 30).date(),
                "requested_fen": 6_000_000,
                "project_budget_fen": 10_000_000,
                "personnel_fen": 3_000_000,
                "budget_lines": [
                    {"category": "personnel", "amount_fen": 3_000_000, "description": None},
                    {"category": "activities", "amount_fen": 7_000_000, "description": None},
                ],
                "prior_funding": [],
                "created_by": "bench",
                "created_at": now,
                "updated_at": now,
                "warnings": [],
                "reviews_count": 0,
            }
        )
        drafts.append((app_id, org_id))
    async with runtime.uow() as uow:
        for start in range(0, n, 1000):
            await uow.conn.execute(Standing.__table__.insert(), standings[start : start + 1000])  # type: ignore[attr-defined]
            await uow.conn.execute(Application.__table__.insert(), applications[start : start + 1000])  # type: ignore[attr-defined]
        await uow.commit()
    await runtime.db.dispose()
    return call_id, drafts


async def backlog(settings: GrantsSettings) -> int:
    runtime = build_runtime(settings)
    try:
        async with runtime.db.engine.connect() as conn:
            ob = runtime.infra.outbox
            return int((await conn.execute(select(func.count()).where(ob.c.published_at.is_(None)))).scalar_one())
    finally:
        await runtime.db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--minutes-left", type=float, default=10.0)
    parser.add_argument("--no-relay", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gongyi-rush-"))
    print(
        f"grants deadline rush: {args.orgs} organizations, concurrency {args.concurrency}, "
        f"{os.cpu_count()} cores, work dir {work}",
        flush=True,
    )
    cluster = LocalPostgres(work / "pg")
    cluster.start()
    ensure_kafka_jars()
    broker = LocalKafka(work / "kafka")
    broker.start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        superuser = cluster.superuser_dsn()
        await provision_database_async(superuser, "rush")
        grants_url = service_dsn(superuser, "rush", "grants").replace("postgresql://", "postgresql+asyncpg://")
        prefix = f"rush{uuid.uuid4().hex[:6]}."
        settings = GrantsSettings(
            env="test",
            data_dir=work,
            database_url=grants_url,
            bus="kafka",
            kafka_bootstrap=broker.bootstrap,
            topic_prefix=prefix,
        )
        closes_at = datetime.now(UTC) + timedelta(minutes=args.minutes_left)
        started = time.perf_counter()
        _call_id, drafts = await seed(settings, args.orgs, closes_at)
        line(f"seeded call + {args.orgs} standings + drafts", f"{time.perf_counter() - started:6.1f} s")
        runtime = build_runtime(settings)
        await runtime.bus.ensure_topics(runtime.topics_to_ensure())
        await runtime.db.dispose()
        key = load_or_create_dev_key(work)
        jobs_real = [
            (
                f"/grants/v1/applications/{app_id}/submission",
                mint_token(
                    key, issuer=DEV_ISSUER, role="org", sub=f"u-{org_id[:8]}", org_id=org_id, ttl=timedelta(hours=2)
                ),
            )
            for app_id, org_id in drafts
        ]
        raw = cluster.superuser_dsn("rush")
        import asyncpg

        conn = await asyncpg.connect(raw)
        await conn.execute(
            "CREATE SCHEMA IF NOT EXISTS rawbench;"
            "CREATE TABLE IF NOT EXISTS rawbench.business (id uuid PRIMARY KEY, title text, amount bigint);"
            "CREATE TABLE IF NOT EXISTS rawbench.outbox (id bigserial PRIMARY KEY, event_id text UNIQUE, topic text,"
            " key text, body bytea, created_at timestamptz, published_at timestamptz)"
        )
        commits = []
        for _ in range(200):
            t0 = time.perf_counter()
            await conn.execute("INSERT INTO rawbench.outbox (event_id, topic) VALUES ($1, 'probe')", uuid.uuid4().hex)
            commits.append(time.perf_counter() - t0)
        commits.sort()
        await conn.close()
        line(
            "machine: one connection's INSERT + COMMIT p50 / p99 (fsync)",
            f"{commits[100] * 1000:5.2f} ms / {commits[197] * 1000:6.2f} ms; load average {os.getloadavg()[0]:.1f}",
        )

        def ceiling(label: str) -> dict[str, Any]:
            port = free_port()
            env = {**os.environ, "BENCH_RAW_DSN": raw, "BENCH_PORT": str(port), "PYTHONPATH": str(REPO)}
            server = subprocess.Popen([sys.executable, "-c", CEILING_SERVER], env=env, cwd=REPO)
            try:
                _wait_healthy(port, "/healthz")
                jobs = [(f"/ceiling/{uuid.uuid4().hex}/submission", None) for _ in range(args.orgs)]
                run_load(env, jobs[:200], work, args.concurrency)  # warm-up
                result = run_load(env, jobs, work, args.concurrency)
            finally:
                server.terminate()
                server.wait()
            line(
                f"{label} raw FastAPI + asyncpg insert+outbox",
                f"{result['rate']:7.0f} req/s  p50 {result['p50']:5.1f} ms"
                f"  p99 {result['p99']:6.1f} ms  {result['statuses']}",
            )
            return result

        first = ceiling("1.")
        relay = None
        if not args.no_relay:
            relay = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.integration.grants.relay_worker",
                    "--db",
                    grants_url,
                    "--bootstrap",
                    broker.bootstrap,
                    "--prefix",
                    prefix,
                    "--data-dir",
                    str(work),
                ],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
            )
            processes.append(relay)
        port = free_port()
        env = {
            **os.environ,
            "BENCH_DIR": str(work),
            "BENCH_DB": grants_url,
            "BENCH_KAFKA": broker.bootstrap,
            "BENCH_PREFIX": prefix,
            "BENCH_PORT": str(port),
            "PYTHONPATH": str(REPO),
        }
        server = subprocess.Popen([sys.executable, "-c", GRANTS_SERVER], env=env, cwd=REPO)
        processes.append(server)
        _wait_healthy(port, "/grants/readyz")
        # warm-up: the server's first requests (caches, pool) on 100 of the organizations
        run_load(env, jobs_real[:100], work, args.concurrency)
        rush = run_load(env, jobs_real[100:], work, args.concurrency)
        floor = run_load(env, [("/grants/healthz", None)] * args.orgs, work, args.concurrency)
        if datetime.now(UTC) >= closes_at:
            print("  WARNING: the rush ran past closes_at; raise --minutes-left", flush=True)
        line(
            f"2. submissions ({len(jobs_real) - 100}, relay {'on' if relay else 'off'})",
            f"{rush['rate']:7.0f} sub/s  p50 {rush['p50']:5.1f} ms  p99 {rush['p99']:6.1f} ms  {rush['statuses']}",
        )
        line(
            "   GET /grants/healthz on the same server (the stack's floor)",
            f"{floor['rate']:7.0f} req/s  p50 {floor['p50']:5.1f} ms  p99 {floor['p99']:6.1f} ms",
        )
        server.terminate()
        server.wait()
        second = ceiling("3.")
        mean = (first["rate"] + second["rate"]) / 2
        line("ratio submissions / ceiling (mean of 1 and 3)", f"{rush['rate'] / mean:7.2f}  (target ≥ 0.50)")
        line("p99 of submissions", f"{rush['p99']:7.1f} ms (target ≤ 150 ms)")
        line("load average (1 min) at the end", f"{os.getloadavg()[0]:7.1f} on {os.cpu_count()} cores")
        if relay is not None:
            left = await backlog(settings)
            t0 = time.perf_counter()
            while (remaining := await backlog(settings)) > 0 and time.perf_counter() - t0 < 300:
                await asyncio.sleep(0.2)
            line(
                "outbox rows left when the rush ended / drained in",
                f"{left:7d} rows / {time.perf_counter() - t0:5.1f} s (left {remaining})",
            )
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait()
        broker.stop()
        cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())

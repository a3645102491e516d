"""Benchmark (not a test): evaluators entering scores concurrently, and aggregating a round.

    .venv/bin/python bench/evaluation_scoring.py [--evaluators 200] [--evaluations 1000]
        [--think-ms 2000,1000] [--workers 1]

Set-up: a private PostgreSQL cluster in a temporary directory (`LocalPostgres` + `provision_database`),
the evaluation schema migrated, presets loaded, and one round of 1,000 evaluations, each assigned to
three of 200 evaluators of one agency (15 evaluations per evaluator), seeded with SQL inserts. The
evaluation API then runs in its own process (uvicorn, `--workers`, loopback), as in production, and
this process plays the 200 evaluators over real HTTP, one keep-alive connection and one machine
credential (JWT) each:

1. paced phases, one per `--think-ms` value: every evaluator saves each of its sheets once
   (`PUT …/scores`: `If-None-Match: *` the first time, `If-Match` after), waiting an exponentially
   distributed think time (that mean) before each request — 200 evaluators saving every 2 s offer
   ~100 requests/s, every 1 s ~200/s;
2. closed loop: every evaluator saves each sheet again back to back, no think time — the worst case,
   200 clients saturating the server (latency there is queueing: concurrency / throughput);
3. submission of every sheet (closed loop), then one `POST /rounds/{id}/aggregation` that aggregates
   the 1,000 evaluations (3,000 sheets), proposes their grades and writes 1,000 events to the outbox.

Prints p50/p90/p99/max per request for each phase, the throughput, and the aggregation time.
Targets: p99 ≤ 100 ms per PUT, aggregation of a round of 1,000 ≤ 2 s. The machine has 2 cores
shared by the server, PostgreSQL and this client (and, while developing, by other people's work):
read the figures with that in mind (±25 % between identical runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.rawhttp import RawClient  # noqa: E402
from gongyi.devinfra.postgres import (  # noqa: E402
    LocalPostgres,
    free_port,
    provision_database,
    run_sync,
    service_dsn,
    with_database,
)
from services.evaluation.handlers.catalog import load_presets  # noqa: E402
from services.evaluation.main import build_runtime, create_app  # noqa: E402
from services.evaluation.models import Agency, Assignment, Evaluation, Evaluator, OrgStanding, Round  # noqa: E402
from services.evaluation.settings import EvaluationSettings  # noqa: E402
from shared.auth import DEV_ISSUER, load_or_create_dev_key, mint_token  # noqa: E402
from shared.clock import FixedClock  # noqa: E402
from shared.migrations import migrate  # noqa: E402

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 Asia/Shanghai: inside the known calendar years
REGION = "440111"
LEAVES = {
    "A1": 30,
    "A2": 20,
    "A3": 30,
    "B1.1": 30,
    "B1.2": 30,
    "B1.3": 20,
    "B2": 40,
    "B3": 50,
    "B4": 100,
    "C1": 150,
    "C2": 100,
    "C3": 100,
    "C4": 100,
    "D1": 100,
    "D2": 60,
    "D3": 40,
}  # social-group-example


def settings(url: str, data_dir: Path) -> EvaluationSettings:
    return EvaluationSettings(env="test", database_url=url, data_dir=data_dir, db_pool_size=10, db_pool_max_overflow=5)


def app() -> Any:
    """The uvicorn factory of the server process (`--factory bench.evaluation_scoring:app`)."""
    return create_app(
        settings(os.environ["BENCH_DB_URL"], Path(os.environ["BENCH_DATA_DIR"])), clock=FixedClock(NOW), role="api"
    )


async def seed(url: str, data_dir: Path, n_evaluations: int, n_evaluators: int, per: int) -> dict[str, Any]:
    runtime = build_runtime(settings(url, data_dir), clock=FixedClock(NOW))
    await migrate(runtime.db, runtime.migrations)
    try:
        async with runtime.uow() as uow:
            # seeded here, once: API workers starting together on an empty table would race to seed it
            await runtime.calendar.load(uow)
            await load_presets(uow)
            round_id, agency_id = str(uuid.uuid4()), str(uuid.uuid4())
            common = {"created_at": uow.now}
            await uow.conn.execute(
                Round.__table__.insert().values(  # type: ignore[attr-defined]
                    id=round_id,
                    title="2026年度白云区社会组织等级评估（基准）",
                    year=2026,
                    region_code=REGION,
                    kinds=["social_group"],
                    template_id="social-group-example",
                    template_version=1,
                    rule_set_id="national-2011",
                    rule_set_version=1,
                    band_table_id="anhui-anqing",
                    band_table_version=1,
                    notice_working_days=5,
                    max_spread=5000,
                    applications_close_on=datetime(2026, 3, 31).date(),
                    status="open",
                    version=1,
                    created_by="bench",
                    **common,
                )
            )
            await uow.conn.execute(
                Agency.__table__.insert().values(  # type: ignore[attr-defined]
                    id=agency_id,
                    name="基准评估机构",
                    region_code=REGION,
                    status="active",
                    version=1,
                    created_by="bench",
                    **common,
                )
            )
            subs = [f"bench-evaluator-{i:03d}" for i in range(n_evaluators)]
            evaluator_ids = [str(uuid.uuid4()) for _ in subs]
            await uow.conn.execute(
                Evaluator.__table__.insert(),
                [  # type: ignore[attr-defined]
                    {
                        "id": eid,
                        "agency_id": agency_id,
                        "sub": sub,
                        "name": f"专家{i}",
                        "qualifications": [],
                        "affiliations": [],
                        "active": True,
                        "version": 1,
                        "created_by": "bench",
                        **common,
                    }
                    for i, (eid, sub) in enumerate(zip(evaluator_ids, subs, strict=True))
                ],
            )
            orgs, evaluations, assignments = [], [], []
            work: dict[str, list[str]] = {sub: [] for sub in subs}
            for i in range(n_evaluations):
                org_id, ev_id = str(uuid.uuid4()), str(uuid.uuid4())
                ref = {
                    "org_id": org_id,
                    "scheme": "CN-USCI",
                    "id": f"5144011100000{i:04d}X",
                    "name": f"基准社会团体{i:04d}",
                }
                orgs.append(
                    {
                        "org_id": org_id,
                        "organization": ref,
                        "kind": "social_group",
                        "region_code": REGION,
                        "status": "active",
                        "registered_on": datetime(2019, 6, 1).date(),
                        "annual": {},
                        "penalties": [],
                        "investigations": [],
                        "listings": [],
                        "updated_at": uow.now,
                    }
                )
                evaluations.append(
                    {
                        "id": ev_id,
                        "purpose": "rating",
                        "round_id": round_id,
                        "org_id": org_id,
                        "organization": ref,
                        "region_code": REGION,
                        "kind": "social_group",
                        "status": "applied",
                        "template_id": "social-group-example",
                        "template_version": 1,
                        "rule_set_id": "national-2011",
                        "rule_set_version": 1,
                        "band_table_id": "anhui-anqing",
                        "band_table_version": 1,
                        "max_spread": 5000,
                        "applied_on": NOW.date(),
                        "eligible": True,
                        "reasons": [],
                        "re_evaluation": False,
                        "simplified_visit": False,
                        "outliers": [],
                        "version": 1,
                        "updated_at": uow.now,
                        **common,
                    }
                )
                for k in range(per):
                    j = (per * i + k) % n_evaluators
                    assignments.append(
                        {
                            "id": str(uuid.uuid4()),
                            "evaluation_id": ev_id,
                            "evaluator_id": evaluator_ids[j],
                            "evaluator_sub": subs[j],
                            "agency_id": agency_id,
                            "status": "assigned",
                            "assigned_at": uow.now,
                            "assigned_by": "bench",
                        }
                    )
                    work[subs[j]].append(ev_id)
            await uow.conn.execute(OrgStanding.__table__.insert(), orgs)  # type: ignore[attr-defined]
            await uow.conn.execute(Evaluation.__table__.insert(), evaluations)  # type: ignore[attr-defined]
            await uow.conn.execute(Assignment.__table__.insert(), assignments)  # type: ignore[attr-defined]
            await uow.commit()
    finally:
        await runtime.db.dispose()
    return {"round_id": round_id, "agency_id": agency_id, "work": work}


def sheet(rng: random.Random, level: int) -> dict[str, str]:
    """Scores near `level` % of each leaf's max (hundredths exact)."""
    out = {}
    for code, maximum in LEAVES.items():
        pct = max(0, min(100, level + rng.randint(-4, 4)))
        value = maximum * pct  # hundredths
        out[code] = f"{value // 100}.{value % 100:02d}"
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(name: str, latencies: list[float], seconds: float) -> None:
    ms = [v * 1000 for v in latencies]
    print(
        f"{name:<34} n={len(ms):5d}  {len(ms) / seconds:7.0f} req/s  p50 {pct(ms, 50):6.1f} ms  "
        f"p90 {pct(ms, 90):6.1f} ms  p99 {pct(ms, 99):6.1f} ms  max {max(ms):6.1f} ms  "
        f"mean {statistics.fmean(ms):6.1f} ms"
    )


async def drive(host: str, port: int, data_dir: Path, seeded: dict[str, Any], thinks: list[float]) -> None:
    key = load_or_create_dev_key(data_dir)
    tokens = {
        sub: mint_token(key, issuer=DEV_ISSUER, sub=sub, role="evaluator", agency_id=seeded["agency_id"])
        for sub in seeded["work"]
    }
    officer = mint_token(key, issuer=DEV_ISSUER, sub="bench-officer", role="officer", region=REGION)
    connections = {sub: RawClient(port, host) for sub in tokens}
    versions: dict[tuple[str, str], int] = {}
    errors: list[str] = []

    async def evaluator(sub: str, phase: str, think_ms: float, lat: list[float]) -> None:
        rng = random.Random(f"{sub}{phase}{think_ms}")
        level = rng.randint(84, 97)
        conn = connections[sub]
        headers = {"Authorization": f"Bearer {tokens[sub]}", "Content-Type": "application/json"}
        for ev_id in seeded["work"][sub]:
            if think_ms:
                await asyncio.sleep(rng.expovariate(1000 / think_ms))
            version = versions.get((sub, ev_id))
            h = {**headers, **({"If-Match": f'"{version}"'} if version else {"If-None-Match": "*"})}
            body = b""
            if phase != "submit":
                body = json.dumps({"scores": sheet(rng, level), "comments": {"C1": "现场核查服务记录完整"}}).encode()
            started = time.perf_counter()
            try:
                if phase == "submit":
                    status, answer = await conn.request("POST", f"/evaluation/v1/evaluations/{ev_id}/submission", h)
                else:
                    status, answer = await conn.request("PUT", f"/evaluation/v1/evaluations/{ev_id}/scores", h, body)
            except (OSError, asyncio.IncompleteReadError) as exc:
                errors.append(f"{phase} {type(exc).__name__}")
                await conn.close()
                connections[sub] = conn = RawClient(port, host)
                continue
            lat.append(time.perf_counter() - started)
            if status not in (200, 201):
                errors.append(f"{phase} {status} {answer[:200]!r}")
            else:
                versions[(sub, ev_id)] = json.loads(answer)["version"]

    phases = [("PUT", t, f"PUT scores, think {t:.0f} ms mean") for t in thinks]
    phases += [("PUT", 0.0, "PUT scores, closed loop"), ("submit", 0.0, "POST submission, closed loop")]
    for phase, think_ms, label in phases:
        lat: list[float] = []
        started = time.perf_counter()
        await asyncio.gather(*(evaluator(sub, phase, think_ms, lat) for sub in tokens))
        report(label, lat, time.perf_counter() - started)
    if errors:
        print(f"errors: {len(errors)}; first: {errors[0]}")
    for conn in connections.values():
        await conn.close()

    office = RawClient(port, host)
    for attempt in range(2):
        started = time.perf_counter()
        status, answer = await office.request(
            "POST", f"/evaluation/v1/rounds/{seeded['round_id']}/aggregation", {"Authorization": f"Bearer {officer}"}
        )
        elapsed = time.perf_counter() - started
        result = json.loads(answer)
        print(
            f"aggregation of the round{' (again: nothing left)' if attempt else ''}: {status} "
            f"{elapsed * 1000:.0f} ms, proposed {result.get('proposed')}, "
            f"incomplete {len(result.get('incomplete', []))}"
        )
    await office.close()


async def _alter_database(superuser: str, synchronous_commit: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(with_database(superuser, "bench"))
    try:
        await conn.execute(f"ALTER DATABASE bench SET synchronous_commit = {synchronous_commit}")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--evaluators", type=int, default=200)
    parser.add_argument("--evaluations", type=int, default=1000)
    parser.add_argument("--per-evaluation", type=int, default=3)
    parser.add_argument("--think-ms", default="2000,1000", help="mean think times of the paced phases, comma-separated")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--synchronous-commit", default="on", choices=("on", "off"), help="diagnostic: PostgreSQL WAL flush per commit"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gongyi-bench-eval-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        cluster = LocalPostgres(Path(tmp) / "pg")
        cluster.start()
        server = None
        try:
            provision_database(cluster.superuser_dsn(), "bench", services=("evaluation",))
            if args.synchronous_commit != "on":
                # a diagnostic only: shows how much of the tail is WAL flushes waiting for a shared disk
                run_sync(_alter_database(cluster.superuser_dsn(), args.synchronous_commit))
            url = service_dsn(cluster.superuser_dsn(), "bench", "evaluation").replace(
                "postgresql://", "postgresql+asyncpg://", 1
            )
            started = time.perf_counter()
            seeded = run_sync(seed(url, data_dir, args.evaluations, args.evaluators, args.per_evaluation))
            print(
                f"seeded {args.evaluations} evaluations × {args.per_evaluation} evaluators of {args.evaluators} "
                f"in {time.perf_counter() - started:.1f} s"
            )
            port = free_port()
            env = {**os.environ, "BENCH_DB_URL": url, "BENCH_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "bench.evaluation_scoring:app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                    "--workers",
                    str(args.workers),
                    "--timeout-keep-alive",
                    "300",
                    "--backlog",
                    "4096",
                ],
                cwd=ROOT,
                env=env,
            )
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/evaluation/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the evaluation API did not start")
                time.sleep(0.2)
            print(f"machine: {os.cpu_count()} cores (shared by server, PostgreSQL and this client)")
            thinks = [float(t) for t in args.think_ms.split(",") if t.strip()]
            asyncio.run(drive("127.0.0.1", port, data_dir, seeded, thinks))
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            cluster.stop()


if __name__ == "__main__":
    main()

"""Benchmark: list / search latency on 100,000 organizations with 16 concurrent clients
(target p99 ≤ 50 ms), against a private PostgreSQL and the registry API served by uvicorn in its
own process(es) (`--workers`, default 1).

    .venv/bin/python -m bench.registry_search [--rows 100000] [--clients 16] [--seconds 20]

Prints p50 / p95 / p99 per query and overall; never fails on timing."""

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
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench.rawhttp import RawClient
from bench.registry_common import csv_bytes, registry_database, rows
from bench.registry_import import import_file
from gongyi.devinfra.postgres import free_port
from shared.auth import DEV_ISSUER, load_or_create_dev_key, mint_token

QUERIES: dict[str, dict[str, str]] = {
    "list, no filter": {},
    "list, region 440111": {"region": "440111"},
    "kind + region": {"kind": "social_group", "region": "440106"},
    "q=养老 (bigram)": {"q": "养老"},
    "q=社工 + region": {"q": "社工", "region": "440111"},
    "q=青少年 (trigram)": {"q": "青少年"},
    "q=rare name": {"q": "书画读书协会0"},
    "service domain": {"service_domain": "elderly"},
    "listed=none + region": {"listed": "none", "region": "440104"},
    "page 2 (cursor)": {"cursor": "next"},
}


def app_factory():  # type: ignore[no-untyped-def]
    """For `uvicorn --factory`: the registry app on the benchmark's database (env)."""
    from services.registry.main import create_app
    from services.registry.settings import RegistrySettings

    return create_app(RegistrySettings(), role="api")


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the registry did not start")


async def load(host: str, port: int, token: str, clients: int, seconds: float) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {name: [] for name in QUERIES}
    auth = {"Authorization": f"Bearer {token}"}
    first = RawClient(port, host)
    _, body = await first.request("GET", "/registry/v1/organizations?limit=50", auth)
    await first.close()
    cursor = json.loads(body)["next_cursor"]
    names = list(QUERIES)
    pool = [RawClient(port, host) for _ in range(clients)]

    async def worker(client: RawClient, seed: int, until: float, record: bool) -> None:
        rng = random.Random(seed)
        while time.perf_counter() < until:
            name = rng.choice(names)
            params = {**QUERIES[name], "limit": "50"}
            if params.get("cursor") == "next":
                params["cursor"] = cursor
            target = "/registry/v1/organizations?" + urlencode(params)
            started = time.perf_counter()
            status, payload = await client.request("GET", target, auth)
            elapsed = time.perf_counter() - started
            if status != 200:
                raise RuntimeError(f"{name}: {status} {payload[:200]!r}")
            if record:
                latencies[name].append(elapsed)

    warm = time.perf_counter() + 3
    await asyncio.gather(*(worker(c, i, warm, False) for i, c in enumerate(pool)))
    until = time.perf_counter() + seconds
    await asyncio.gather(*(worker(c, 100 + i, until, True) for i, c in enumerate(pool)))
    for client in pool:
        await client.close()
    return latencies


async def sql_only(url: str, repeats: int = 20) -> dict[str, list[float]]:
    """The list statements alone, one at a time: what the database costs, without HTTP."""
    from bench.registry_common import build
    from services.registry.handlers import queries
    from shared.auth import Principal

    runtime = build(url, Path(tempfile.gettempdir()))
    admin = Principal(sub="bench", role="admin")
    out: dict[str, list[float]] = {}
    try:
        for name, params in QUERIES.items():
            if "cursor" in params:
                continue
            filters = queries.Filters(**params)
            out[name] = []
            for _ in range(repeats):
                started = time.perf_counter()
                async with runtime.uow(readonly=True) as uow:
                    await queries.list_organizations(uow, admin, filters, cursor=None, limit=50)
                out[name].append(time.perf_counter() - started)
    finally:
        await runtime.db.dispose()
    return out


async def start_once(url: str) -> None:
    from bench.registry_common import build

    runtime = build(url, Path(tempfile.gettempdir()))
    await runtime.start("api")
    await runtime.stop()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args()
    with registry_database() as (_cluster, url), tempfile.TemporaryDirectory() as data_dir:
        figures = asyncio.run(import_file(url, csv_bytes(rows(args.rows)), "orgs.csv"))
        print(f"loaded {figures['imported']:,} organizations in {figures['total_s']:.1f} s")
        database = asyncio.run(sql_only(url))
        # The first start of a runtime seeds its holiday calendar; two workers starting at once
        # race on that insert (one dies with a duplicate key), so seed it before they start.
        asyncio.run(start_once(url))
        port = free_port()
        env = {
            **os.environ,
            "GONGYI_ENV": "test",
            "GONGYI_DATA_DIR": data_dir,
            "GONGYI_REGISTRY_DATABASE_URL": url,
            "GONGYI_TRACE_SAMPLE_RATIO": "0.01",
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "bench.registry_search:app_factory",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        try:
            base = f"http://127.0.0.1:{port}/registry"
            asyncio.run(wait_ready(base))
            token = mint_token(load_or_create_dev_key(Path(data_dir)), issuer=DEV_ISSUER, role="admin", sub="bench")
            latencies = asyncio.run(load("127.0.0.1", port, token, args.clients, args.seconds))
        finally:
            server.terminate()
            server.wait(timeout=30)
    everything = [v for values in latencies.values() for v in values]
    setup = f"{args.clients} concurrent clients, {args.workers} worker(s), {args.seconds:.0f} s"
    print(f"list/search on {args.rows:,} organizations, {setup}")
    print(f"{'query':28s} {'n':>6s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s}")
    for name, values in latencies.items():
        if values:
            print(f"{name:28s} {len(values):6d} {pct(values, 50):8.1f} {pct(values, 95):8.1f} {pct(values, 99):8.1f}")
    summary = f"{pct(everything, 50):8.1f} {pct(everything, 95):8.1f} {pct(everything, 99):8.1f}"
    rate = len(everything) / args.seconds
    print(f"{'all':28s} {len(everything):6d} {summary}   ({rate:,.0f} req/s; target p99 ≤ 50 ms)")
    print(f"mean {statistics.mean(everything) * 1000:.1f} ms")
    print("the same list statements through one unit of work, one at a time (database + handler, no HTTP):")
    for name, values in database.items():
        print(f"{name:28s} {len(values):6d} {pct(values, 50):8.1f} {pct(values, 95):8.1f} {pct(values, 99):8.1f}")


if __name__ == "__main__":
    main()

"""Benchmark: events fanned out to inbox + signed webhook on PostgreSQL (figures, not a test).

    .venv/bin/python -m bench.notifications_fanout [--events 10000] [--orgs 200] [--workers 1] [--bus embedded|kafka]

Starts its own PostgreSQL cluster (gongyi.devinfra) in a temp dir, provisions and migrates the
notifications schema, seeds one organization user per organization and one admin webhook
subscription to `cn.gongyi.grants.award.*` pointing at a local receiver (its own process, on
loopback, allowed with GONGYI_NOTIFICATIONS_WEBHOOK_ALLOW_CIDRS=127.0.0.0/8), appends N
`grants.award.confirmed` CloudEvents to the bus (the embedded log by default), then starts the
notifications worker exactly as production runs it (relay, consumer, scheduler with the sender)
on the real clock and measures until every event has its inbox item and its delivered webhook.

`--workers N` runs N worker processes (this one and N-1 children), as the worker Deployment scales:
the consumer group shares the topic's partitions, the senders share due deliveries (SKIP LOCKED),
one relay is active. Each event makes 2 deliveries (inbox + webhook) and 2 `notifications.delivery` events, so the
figure of merit is deliveries/s = 2N / elapsed (target ≥ 1,000). The machine has 2 cores shared by
PostgreSQL, the worker, the receiver and whoever else is on it: read the figures with that caveat.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from gongyi.devinfra.postgres import LocalPostgres, free_port, provision_database_async, service_dsn
from services.notifications.handlers.common import table
from services.notifications.main import build_runtime
from services.notifications.models import Delivery, Recipient
from services.notifications.settings import NotificationsSettings
from shared import envelope
from shared.bus.base import Bus, OutgoingRecord
from shared.bus.embedded import EmbeddedLog
from shared.clock import SystemClock
from shared.migrations import migrate

PREFIX = "bench."


# -- the receiver (its own process) ----------------------------------------------------------------


async def serve(port: int) -> None:
    received = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        try:
            while line := await reader.readline():
                if not line.strip():
                    continue
                length = 0
                while (raw := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = raw.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                received += 1
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
    print(f"receiver: {received} requests", flush=True)


# -- the run ---------------------------------------------------------------------------------------


def line(label: str, value: str) -> None:
    print(f"  {label:52s} {value}", flush=True)


async def seed(runtime: Any, orgs: list[str], url: str) -> None:
    from services.notifications.handlers import subscriptions
    from services.notifications.models.io import SubscriptionCreate
    from shared.auth import Principal

    async with runtime.uow() as uow:
        now = uow.now
        await uow.conn.execute(
            table(Recipient).insert(),
            [
                {
                    "sub": f"org-user-{i}",
                    "role": "org",
                    "org_id": org_id,
                    "region": None,
                    "region_prefix": None,
                    "agency_id": None,
                    "email_enc": None,
                    "email_hash": None,
                    "email_source": None,
                    "phone_enc": None,
                    "locale": "zh-CN",
                    "channels": ["inbox"],
                    "last_digest_at": None,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for i, org_id in enumerate(orgs)
            ],
        )
        admin = Principal(sub="bench-admin", role="admin")
        body = SubscriptionCreate(url=url, event_types=["cn.gongyi.grants.award.*"])
        await subscriptions.create(uow, runtime.resources["notifications"].deps, admin, body, url)
        await uow.commit()


def award_event(i: int, org_id: str) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    award_id = str(uuid.uuid4())
    data = {
        "award_id": award_id,
        "call_id": "bench-call",
        "application_id": str(uuid.uuid4()),
        "org_id": org_id,
        "organization": {
            "org_id": org_id,
            "scheme": "CN-USCI",
            "id": "52440111MJK9980480",
            "name": f"白云区第{i % 997}社会工作服务中心",
        },
        "region_code": "440111",
        "call_type": "venture_philanthropy",
        "amount": {"amount": "50000.00", "currency": "CNY"},
        "budget_line": "BL-1",
        "funding_source": "welfare_lottery",
        "budget_classification_code": "2081099",
        "fiscal_year": 2026,
        "authorisation_number": "穗民财〔2026〕12号",
        "committed_total": {"amount": "50000.00", "currency": "CNY"},
        "paid_total": {"amount": "0.00", "currency": "CNY"},
        "confirmed_on": "2026-04-28",
    }
    event = envelope.new_event(
        source="urn:gongyi:bench:grants",
        type_=envelope.event_type("grants", "award", "confirmed"),
        subject=f"awards/{award_id}",
        key=award_id,
        data=data,
        time=SystemClock().now(),
    )
    return award_id, envelope.render(envelope.encode_without_sequence(event), 1), envelope.routing_headers(event)


async def append_events(bus: Bus, n: int, orgs: list[str]) -> float:
    started = time.perf_counter()
    batch: list[OutgoingRecord] = []
    for i in range(n):
        key, value, headers = award_event(i, orgs[i % len(orgs)])
        batch.append(OutgoingRecord(topic=f"{PREFIX}grants.award", key=key.encode(), value=value, headers=headers))
        if len(batch) == 1000:
            await bus.append_many(batch)
            batch = []
    if batch:
        await bus.append_many(batch)
    return time.perf_counter() - started


async def counts(runtime: Any) -> dict[tuple[str, str], int]:
    d = table(Delivery)
    async with runtime.db.engine.connect() as conn:
        rows = await conn.execute(select(d.c.channel, d.c.status, func.count()).group_by(d.c.channel, d.c.status))
        return {(r[0], r[1]): r[2] for r in rows}


def bench_settings(args: argparse.Namespace, tmp: Path, url: str) -> NotificationsSettings:
    return NotificationsSettings(
        env="test",
        data_dir=tmp,
        database_url=url,
        topic_prefix=PREFIX,
        bus=args.bus,
        kafka_bootstrap=args.kafka,
        webhook_allow_cidrs="127.0.0.0/8",
        relay_poll_interval_s=0.05,
        scheduler_poll_interval_s=0.05,
        sms_gateway="off",
        dispatch_batch_size=args.batch,
        dispatch_concurrency=args.concurrency,
        topic_partitions=args.partitions,
    )


def bench_bus(args: argparse.Namespace, tmp: Path) -> Bus:
    if args.bus == "kafka":
        from shared.bus.kafka import KafkaBus

        return KafkaBus(args.kafka, client_id="bench", default_partitions=args.partitions)
    return EmbeddedLog(tmp / "bus.sqlite", default_partitions=args.partitions)


async def worker(args: argparse.Namespace) -> None:
    """A child worker process: the same runtime, until SIGTERM."""
    tmp = Path(args.data_dir)
    bus = bench_bus(args, tmp)
    runtime = build_runtime(bench_settings(args, tmp, args.database_url), bus=bus, clock=SystemClock())
    await bus.start()
    await runtime.start("api")
    await runtime.start("worker")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runtime.stop()
    await bus.stop()


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cluster = LocalPostgres(tmp / "pg")
        cluster.start()
        receiver = None
        try:
            await provision_database_async(cluster.superuser_dsn(), "bench", services=("notifications",))
            url = service_dsn(cluster.superuser_dsn(), "bench", "notifications").replace(
                "postgresql://", "postgresql+asyncpg://", 1
            )
            port = free_port()
            receiver = subprocess.Popen([sys.executable, "-m", "bench.notifications_fanout", "--serve", str(port)])
            settings = bench_settings(args, tmp, url)
            bus = bench_bus(args, tmp)
            runtime = build_runtime(settings, bus=bus, clock=SystemClock())
            await migrate(runtime.db, runtime.migrations)
            await bus.start()
            await runtime.start("api")
            await bus.ensure_topics(runtime.topics_to_ensure())
            orgs = [str(uuid.uuid4()) for _ in range(args.orgs)]
            await seed(runtime, orgs, f"http://127.0.0.1:{port}/hook")
            appended = await append_events(bus, args.events, orgs)
            print(
                f"notifications fan-out: {args.events} events, {args.orgs} organizations, bus={args.bus}, "
                f"{args.workers} worker process(es), {args.partitions} partitions, PostgreSQL, "
                "2 cores shared with other work",
                flush=True,
            )
            line("appending the events to the bus (setup)", f"{appended:.1f} s")

            children = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.notifications_fanout",
                        "--worker",
                        "--data-dir",
                        str(tmp),
                        "--database-url",
                        url,
                        "--bus",
                        args.bus,
                        "--kafka",
                        args.kafka,
                        "--batch",
                        str(args.batch),
                        "--concurrency",
                        str(args.concurrency),
                    ]
                )
                for _ in range(args.workers - 1)
            ]
            started = time.perf_counter()
            await runtime.start("worker")
            target, inbox_done, last = 2 * args.events, None, None
            while True:
                await asyncio.sleep(0.25)
                now = counts_now = await counts(runtime)
                delivered = sum(v for (ch, st), v in now.items() if st == "delivered")
                if inbox_done is None and counts_now.get(("inbox", "delivered"), 0) >= args.events:
                    inbox_done = time.perf_counter() - started
                if delivered >= target:
                    break
                if time.perf_counter() - started > args.timeout:
                    print(f"  timed out: {now}", flush=True)
                    break
                last = now
            elapsed = time.perf_counter() - started
            async with runtime.db.engine.connect() as conn:
                backlog = (
                    await conn.execute(text("SELECT count(*) FROM notifications.outbox WHERE published_at IS NULL"))
                ).scalar_one()
            relay_started = time.perf_counter()
            while backlog:
                await asyncio.sleep(0.25)
                async with runtime.db.engine.connect() as conn:
                    backlog = (
                        await conn.execute(text("SELECT count(*) FROM notifications.outbox WHERE published_at IS NULL"))
                    ).scalar_one()
            relay_tail = time.perf_counter() - relay_started
            final = await counts(runtime)
            for child in children:
                child.send_signal(signal.SIGTERM)
            for child in children:
                child.wait(timeout=60)
            await runtime.stop()
            await bus.stop()
            line(
                "consumer: events → inbox items + pending webhooks",
                f"{args.events / (inbox_done or elapsed):,.0f} events/s",
            )
            line("all deliveries delivered (inbox + webhook)", f"{elapsed:.1f} s")
            line("deliveries/s (target ≥ 1,000)", f"{target / elapsed:,.0f}")
            line("webhooks delivered/s", f"{final.get(('webhook', 'delivered'), 0) / elapsed:,.0f}")
            line("notifications.delivery events still to relay after that", f"{relay_tail:.1f} s")
            line("final delivery states", ", ".join(f"{c}/{s}={n}" for (c, s), n in sorted(final.items())))
            del last
        finally:
            if receiver is not None:
                receiver.send_signal(signal.SIGTERM)
                receiver.wait(timeout=10)
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--orgs", type=int, default=200)
    parser.add_argument("--bus", choices=["embedded", "kafka"], default="embedded")
    parser.add_argument("--kafka", default="127.0.0.1:9092", help="bootstrap server for --bus kafka")
    parser.add_argument("--batch", type=int, default=200, help="deliveries claimed per sender pass")
    parser.add_argument("--concurrency", type=int, default=64, help="webhooks in flight")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--partitions", type=int, default=3, help="partitions per topic (consumer concurrency)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
    elif args.worker:
        asyncio.run(worker(args))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()

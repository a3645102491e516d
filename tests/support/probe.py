"""A minimal service built only from `shared/`, to test the building blocks on their own.

It has one producer route (`POST /probe/v1/items` stages `cn.gongyi.probe.item.created.v1` on
topic `probe.item`, keyed by the item's key) and one consumer that records every applied event in
`probe.effects` (no unique constraint: a doubled effect shows up as a duplicate row). An event whose
data says `poison: true` fails permanently until `probe.cures` holds its key (the "fix").

Run as a process for fault tests:
    python -m tests.support.probe worker --db URL --bus kafka|embedded [--bootstrap H:P]
        --data-dir DIR --prefix PREFIX [--no-relay] [--no-consumer]
with `GONGYI_FAULT=<point>[@n]` to die exactly at a crash point.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import Column, Integer, MetaData, String, Table, select

from shared.app import create_service_app
from shared.consumer import PermanentError
from shared.deps import CurrentPrincipal, actor_of, request_id
from shared.envelope import CloudEvent
from shared.http import json_response
from shared.outbox import PendingEvent
from shared.runtime import Runtime
from shared.settings import ServiceSettings
from shared.tables import BigId, infrastructure
from shared.uow import UnitOfWork

TOPIC = "probe.item"
ITEM_CREATED = "cn.gongyi.probe.item.created.v1"
metadata = MetaData(schema="probe")
infra = infrastructure(metadata)
effects = Table(
    "effects", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("key", String(200), nullable=False),
    Column("n", Integer, nullable=False),
    Column("sequence", Integer, nullable=False),
)
cures = Table("cures", metadata, Column("key", String(200), primary_key=True))


class ProbeSettings(ServiceSettings):
    service: ClassVar[str] = "probe"


Settings = ProbeSettings
MIGRATIONS = Path("/nonexistent")


class ItemCreate(BaseModel):
    key: Annotated[str, Field(min_length=1, max_length=100)]
    n: int = 0
    poison: bool = False


router = APIRouter(prefix="/probe/v1")


@router.post("/items", status_code=201)
async def create_item(body: ItemCreate, request: Request, principal: CurrentPrincipal) -> Any:
    runtime: Runtime = request.app.state.runtime
    async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
        uow.stage(item_event(body.key, body.n, poison=body.poison))
        written = await uow.commit()
    return json_response({"event_id": written[0].event_id, "sequence": written[0].sequence}, status_code=201)


def item_event(key: str, n: int, *, poison: bool = False) -> PendingEvent:
    return PendingEvent(topic=TOPIC, key=key, type=ITEM_CREATED, subject=f"items/{key}",
                        data={"key": key, "n": n, "poison": poison})


async def apply_item(uow: UnitOfWork, event: CloudEvent) -> None:
    key = str(event.data["key"])
    if event.data.get("poison"):
        cured = (await uow.conn.execute(select(cures.c.key).where(cures.c.key == key))).first()
        if cured is None:
            raise PermanentError(f"item {key} #{event.data['n']} is poison")
    await uow.conn.execute(
        effects.insert().values(event_id=event.id, key=key, n=int(event.data["n"]), sequence=event.sequence or 0)
    )


def build_runtime(settings: ProbeSettings | None = None, **kwargs: Any) -> Runtime:
    runtime = Runtime(settings or ProbeSettings(), metadata=metadata, migrations=MIGRATIONS,
                      publishes=(TOPIC,), **kwargs)
    runtime.add_consumer("", topics=[TOPIC], handlers={ITEM_CREATED: apply_item})
    return runtime


def create_app(settings: ProbeSettings | None = None, *, role: str = "api", standalone: bool = True,
               runtime: Runtime | None = None, **kwargs: Any) -> Any:
    runtime = runtime or build_runtime(settings, **kwargs)
    return create_service_app(runtime, title="probe", description="test probe", routers=[router], role=role,
                              standalone=standalone)


async def create_schema(runtime: Runtime) -> None:
    async with runtime.db.engine.begin() as conn:
        if runtime.db.is_postgres:
            from sqlalchemy import text

            await conn.execute(text("CREATE SCHEMA IF NOT EXISTS probe"))
        await conn.run_sync(metadata.create_all)


async def applied(runtime: Runtime) -> list[tuple[str, str, int, int]]:
    """(event_id, key, n, sequence) of every applied effect, in the order they were applied."""
    async with runtime.uow(readonly=True) as uow:
        rows = await uow.conn.execute(select(effects.c.event_id, effects.c.key, effects.c.n, effects.c.sequence)
                                      .order_by(effects.c.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def _worker(args: argparse.Namespace) -> None:
    overrides: dict[str, Any] = {
        "env": "test", "data_dir": Path(args.data_dir), "database_url": args.db, "topic_prefix": args.prefix,
        "bus": args.bus, "relay_poll_interval_s": 0.05, "consumer_session_timeout_ms": 6000,
    }
    if args.bootstrap:
        overrides["kafka_bootstrap"] = args.bootstrap
    runtime = build_runtime(ProbeSettings(**overrides))
    if args.no_relay:
        runtime.relay.publish_once = _nothing  # type: ignore[method-assign]
    if args.no_consumer:
        runtime._consumers.clear()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await runtime.start("worker")
    print("probe worker ready", flush=True)
    await stop.wait()
    await runtime.stop()


async def _nothing() -> int:
    await asyncio.sleep(0.05)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="probe")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker")
    worker.add_argument("--db", required=True)
    worker.add_argument("--bus", choices=["kafka", "embedded"], required=True)
    worker.add_argument("--bootstrap")
    worker.add_argument("--data-dir", required=True)
    worker.add_argument("--prefix", required=True)
    worker.add_argument("--no-relay", action="store_true")
    worker.add_argument("--no-consumer", action="store_true")
    args = parser.parse_args()
    asyncio.run(_worker(args))


if __name__ == "__main__":
    main()

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
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, select, update

from shared.app import create_service_app
from shared.consumer import PermanentError
from shared.deps import CurrentPrincipal, actor_of, request_id
from shared.envelope import CloudEvent
from shared.http import Cursor, Idempotency, Money, Page, etag, json_response, list_response, require_if_match
from shared.outbox import PendingEvent
from shared.problems import NotFound, PreconditionFailed
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
orders = Table(
    "orders", metadata,
    Column("id", String(36), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
)


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


class OrderCreate(BaseModel):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    amount: Money


class OrderPublic(BaseModel):
    id: str
    title: str
    amount: Money
    version: int


def _order(row: Any) -> OrderPublic:
    return OrderPublic(id=row.id, title=row.title, amount=Money.of_fen(row.amount_fen), version=row.version)


@router.post("/orders", status_code=201, response_model=OrderPublic)
async def create_order(body: OrderCreate, request: Request, principal: CurrentPrincipal) -> Any:
    """Create an order (idempotent by Idempotency-Key)."""
    import uuid

    runtime: Runtime = request.app.state.runtime
    idem = Idempotency(request, sub=principal.sub, body=body.model_dump(mode="json"))
    async with runtime.uow(actor=actor_of(principal), request_id=request_id(request)) as uow:
        if (replay := await idem.begin(uow)) is not None:
            return replay.to_response()
        order_id = str(uuid.uuid4())
        await uow.conn.execute(orders.insert().values(id=order_id, title=body.title, amount_fen=body.amount.fen,
                                                      version=1))
        uow.audit("order.created", f"orders/{order_id}", {"amount": body.amount.amount})
        public = OrderPublic(id=order_id, title=body.title, amount=body.amount, version=1)
        response = json_response(public, status_code=201, headers={"ETag": etag(1)})
        await idem.store(uow, response)
        await uow.commit()
    return response


@router.get("/orders", response_model=Page[OrderPublic])
async def list_orders(request: Request, principal: CurrentPrincipal, limit: int = 50,
                      cursor: str | None = None) -> Any:
    """List orders by id (keyset pagination)."""
    runtime: Runtime = request.app.state.runtime
    after = Cursor.decode(cursor)
    stmt = select(orders).order_by(orders.c.id).limit(limit + 1)
    if after:
        stmt = stmt.where(orders.c.id > str(after[0]))
    async with runtime.uow(readonly=True) as uow:
        rows = (await uow.conn.execute(stmt)).all()
    items = [_order(r) for r in rows[:limit]]
    return list_response(request, Page[OrderPublic](
        items=items, next_cursor=Cursor.encode([items[-1].id]) if len(rows) > limit else None))


@router.put("/orders/{order_id}", response_model=OrderPublic)
async def replace_order(order_id: str, body: OrderCreate, request: Request, principal: CurrentPrincipal) -> Any:
    """Replace an order (If-Match required)."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.uow(actor=actor_of(principal)) as uow:
        row = (await uow.conn.execute(select(orders).where(orders.c.id == order_id))).first()
        if row is None:
            raise NotFound(f"no order {order_id}")
        require_if_match(request, row.version)
        result = await uow.conn.execute(
            update(orders).where(orders.c.id == order_id, orders.c.version == row.version)
            .values(title=body.title, amount_fen=body.amount.fen, version=row.version + 1)
        )
        if result.rowcount != 1:
            raise PreconditionFailed("the order changed meanwhile")
        await uow.commit()
    public = OrderPublic(id=order_id, title=body.title, amount=body.amount, version=row.version + 1)
    return json_response(public, headers={"ETag": etag(public.version)})


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


async def note_job(uow: UnitOfWork, key: str, due_at: Any) -> None:
    """A scheduled job whose effect is visible: one effect row per run, and an event."""
    await uow.conn.execute(effects.insert().values(event_id=f"job:{key}:{due_at.isoformat()}", key=key, n=-1,
                                                   sequence=0))
    uow.stage(item_event(f"job-{key}", -1))


async def failing_job(uow: UnitOfWork, key: str, due_at: Any) -> None:
    await uow.conn.execute(effects.insert().values(event_id="never", key=key, n=-2, sequence=0))
    raise RuntimeError(f"job {key} cannot run")


def build_runtime(settings: ProbeSettings | None = None, **kwargs: Any) -> Runtime:
    runtime = Runtime(settings or ProbeSettings(), metadata=metadata, migrations=MIGRATIONS,
                      publishes=(TOPIC,), **kwargs)
    runtime.add_consumer("", topics=[TOPIC], handlers={ITEM_CREATED: apply_item})
    runtime.add_job("probe.note", note_job)
    runtime.add_job("probe.fail", failing_job)
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
        "sqlite_synchronous": "OFF",
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

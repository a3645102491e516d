"""The grants relay alone, as its own OS process, for fault tests (see tests/support/processes.py).

    python -m tests.integration.grants.relay_worker --db URL --bootstrap HOST:PORT --prefix P --data-dir DIR

Prints `ready` once it runs; `GONGYI_FAULT=relay.after_ack` makes it die (SIGKILL) right after the
broker acknowledged a batch and before the outbox rows are marked, so the restarted relay sends
the same event ids again.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from services.grants.main import build_runtime
from services.grants.settings import GrantsSettings


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    settings = GrantsSettings(
        env="test",
        database_url=args.db,
        bus="kafka",
        kafka_bootstrap=args.bootstrap,
        topic_prefix=args.prefix,
        data_dir=Path(args.data_dir),
        relay_poll_interval_s=0.2,
    )
    runtime = build_runtime(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await runtime.bus.start()
    print("ready", flush=True)
    try:
        await runtime.relay.run(stopping)
    finally:
        await runtime.bus.stop()
        await runtime.db.dispose()


if __name__ == "__main__":
    asyncio.run(main())

"""The finance side of the story: the reference finance consumer (`examples/finance_consumer.py`) runs
as its own OS process and books into its own SQLite ledger; the story reads that ledger to show the
bookings and to check them against `GET /grants/v1/ledger`.

- `SqliteBooks(path)` reads the consumer's ledger file (bookings, awards, tranches, held records).
- `ReferenceConsumer(...)` starts the example as a process (`--bus embedded` on the stack's
  `<data dir>/bus.sqlite`, or `--bus kafka`), waits for its `ready` line, stops it with SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any, Protocol

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "finance_consumer.py"


class FinanceBooks(Protocol):
    async def bookings(self) -> list[dict[str, Any]]: ...

    async def table(self, name: str) -> list[dict[str, Any]]: ...


class SqliteBooks:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def bookings(self) -> list[dict[str, Any]]:
        return await self.table("finance_bookings", order="booked_seq")

    async def table(self, name: str, order: str = "rowid") -> list[dict[str, Any]]:
        if name not in ("finance_bookings", "finance_awards", "finance_tranches", "finance_held"):
            raise ValueError(name)
        if not self.path.exists():
            return []
        with contextlib.closing(sqlite3.connect(self.path, timeout=5)) as db:
            db.row_factory = sqlite3.Row
            try:
                return [dict(r) for r in db.execute(f"SELECT * FROM {name} ORDER BY {order}")]
            except sqlite3.OperationalError:  # the consumer has not created its tables yet
                return []


class ReferenceConsumer:
    """`python examples/finance_consumer.py …` as a process of its own."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = [sys.executable, str(EXAMPLE), *args]
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        self.output: list[str] = []
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    def embedded(cls, data_dir: Path, ledger: Path, *, group: str = "finance-ledger") -> ReferenceConsumer:
        return cls(
            "--bus", "embedded", "--embedded-log", str(data_dir / "bus.sqlite"), "--db", str(ledger),
            "--group", group, "--member", f"{group}-1",
        )

    @classmethod
    def kafka(
        cls, bootstrap: str, ledger: Path, *, prefix: str = "", group: str = "finance-ledger"
    ) -> ReferenceConsumer:
        return cls(
            "--bus", "kafka", "--bootstrap", bootstrap, "--prefix", prefix, "--db", str(ledger),
            "--group", group, "--member", f"{group}-1",
        )

    async def start(self, timeout: float = 60.0) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        self._reader = asyncio.create_task(self._read())
        waiter = asyncio.create_task(self._ready.wait())
        exited = asyncio.create_task(self.proc.wait())
        await asyncio.wait({waiter, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        exited.cancel()
        if not self._ready.is_set():
            raise RuntimeError("the finance consumer did not start:\n" + "\n".join(self.output[-20:]))

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode(errors="replace").rstrip()
            self.output.append(text)
            if text == "ready":
                self._ready.set()

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await self._reader

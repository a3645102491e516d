"""Processes under test: start a worker as its own OS process, optionally armed to die at a crash point.

`WorkerProcess(args, fault="relay.after_ack")` runs `python -m <module> <args>` with
`GONGYI_FAULT` set; `wait_ready()` waits for its readiness line, `wait_killed()` for the SIGKILL the
crash point delivers (exit status -9), `stop()` ends it with SIGTERM. Nothing sleeps and then kills:
the process dies exactly where the fault hook says.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class WorkerProcess:
    def __init__(
        self,
        args: Sequence[str],
        *,
        module: str = "tests.support.probe",
        fault: str | None = None,
        env: dict[str, str] | None = None,
        ready_line: str = "ready",
        log_path: Path | None = None,
    ) -> None:
        self.args = [sys.executable, "-m", module, *args]
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.env.pop("GONGYI_FAULT", None)
        if fault:
            self.env["GONGYI_FAULT"] = fault
        self.ready_line = ready_line
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.output: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> WorkerProcess:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, cwd=REPO, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode(errors="replace").rstrip()
            self.output.append(text)
            if self.ready_line in text:
                self._ready.set()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output[-lines:])

    async def wait_ready(self, timeout: float = 60) -> None:
        assert self.proc is not None
        waiter = asyncio.create_task(self._ready.wait())
        exited = asyncio.create_task(self.proc.wait())
        await asyncio.wait({waiter, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        exited.cancel()
        if not self._ready.is_set():
            raise AssertionError(f"worker not ready (exit {self.proc.returncode}):\n{self.tail()}")

    async def wait_exit(self, timeout: float = 120) -> int:
        assert self.proc is not None
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"worker did not exit within {timeout}s:\n{self.tail()}") from None
        if self._reader is not None:
            await self._reader
        return code

    async def wait_killed(self, timeout: float = 120) -> None:
        code = await self.wait_exit(timeout)
        if code != -signal.SIGKILL:
            raise AssertionError(f"expected the crash point to kill the worker, exit status {code}:\n{self.tail()}")

    async def stop(self, timeout: float = 30) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await self._reader

    async def __aenter__(self) -> WorkerProcess:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

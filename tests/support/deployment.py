"""The whole system deployed as in production, on this machine: per service an API process and a
worker process (`gongyi serve <svc> --role api|worker`), on one fresh PostgreSQL database (each
service as its own login role) and the session's Kafka broker with a topic prefix of its own.

Settings reach the processes only as `GONGYI_*` environment variables. `GONGYI_ENV=development`
gives every process the development key of the shared data dir and `POST /_dev/clock`, whose time
the processes share through `<data dir>/clock.json`. `client()` is one HTTP client over the four
APIs (routed by the first path segment, `/_dev/clock` to the registry's).

`Deployment.spawn(svc, role, fault="consumer.after_apply@3")` starts a process armed to die at a
crash point (tests/support/processes.py); `restart(svc, role)` starts a fresh one in its place.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from gongyi.devinfra.postgres import free_port
from gongyi.system import SERVICES
from shared.auth import DEV_ISSUER, load_or_create_dev_key, mint_token
from tests.support.processes import WorkerProcess

ROLES = ("api", "worker")


class ServiceRouter(httpx.AsyncBaseTransport):
    """Sends `/<service>/…` to that service's API port on loopback (anything else to the registry)."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        head = request.url.path.split("/")[1]
        port = self.ports.get(head, self.ports["registry"])
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def channel_env(smtp_port: int) -> dict[str, str]:
    """Notifications settings that send email to a loopback SMTP server and allow loopback webhooks."""
    return {
        "GONGYI_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "GONGYI_NOTIFICATIONS_SMTP_PORT": str(smtp_port),
        "GONGYI_NOTIFICATIONS_WEBHOOK_ALLOW_CIDRS": "127.0.0.0/8",
    }


@dataclass
class Deployment:
    data_dir: Path
    database_urls: dict[str, str]
    kafka_bootstrap: str
    extra_env: dict[str, str] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"e{uuid.uuid4().hex[:10]}.")
    ports: dict[tuple[str, str], int] = field(default_factory=dict)
    processes: dict[tuple[str, str], WorkerProcess] = field(default_factory=dict)
    retired: list[WorkerProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.key = load_or_create_dev_key(self.data_dir)  # before any process races to create it
        for svc in SERVICES:
            for role in ROLES:
                self.ports[(svc, role)] = free_port()

    @property
    def env(self) -> dict[str, str]:
        env = {
            "GONGYI_ENV": "development",
            "GONGYI_DATA_DIR": str(self.data_dir),
            "GONGYI_BUS": "kafka",
            "GONGYI_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "GONGYI_TOPIC_PREFIX": self.prefix,
            "GONGYI_DB_POOL_SIZE": "3",
            "GONGYI_DB_POOL_MAX_OVERFLOW": "2",
            "GONGYI_RELAY_POLL_INTERVAL_S": "0.1",
            "GONGYI_SCHEDULER_POLL_INTERVAL_S": "0.2",
            "GONGYI_CONSUMER_SESSION_TIMEOUT_MS": "6000",
            "GONGYI_TRACE_ENABLED": "false",
            "GONGYI_LOG_LEVEL": "WARNING",
            "GONGYI_GRANTS_OCDS_PREFIX": "gydev0",
            "GONGYI_GRANTS_REGISTRY_BASE_URL": f"http://127.0.0.1:{self.ports[('registry', 'api')]}",
            **{f"GONGYI_{svc.upper()}_DATABASE_URL": url for svc, url in self.database_urls.items() if svc in SERVICES},
            **self.extra_env,
        }
        return {k: v for k, v in os.environ.items() if not k.startswith("GONGYI_")} | env

    def spawn(self, svc: str, role: str, *, fault: str | None = None) -> WorkerProcess:
        args = ["serve", svc, "--role", role, "--host", "127.0.0.1", "--port", str(self.ports[(svc, role)])]
        process = WorkerProcess(
            args, module="gongyi.cli", fault=fault, env=self.env, ready_line="Application startup complete"
        )
        self.processes[(svc, role)] = process
        return process

    async def start(self, faults: dict[tuple[str, str], str] | None = None) -> None:
        for svc in SERVICES:
            for role in ROLES:
                self.spawn(svc, role, fault=(faults or {}).get((svc, role)))
        await asyncio.gather(*(p.start() for p in self.processes.values()))
        await asyncio.gather(*(self.serving(svc, role) for svc, role in self.processes))

    async def serving(self, svc: str, role: str, timeout: float = 120) -> None:
        """Poll the process's `/<svc>/readyz` until it answers 200 (it exits: fail with its output)."""
        process = self.processes[(svc, role)]
        url = f"http://127.0.0.1:{self.ports[(svc, role)]}/{svc}/readyz"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                assert process.proc is not None
                if process.proc.returncode is not None:
                    raise AssertionError(f"{svc} {role} exited {process.proc.returncode}:\n{process.tail()}")
                try:
                    if (await client.get(url)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if loop.time() > deadline:
                    raise AssertionError(f"{svc} {role} not serving after {timeout}s:\n{process.tail()}")
                await asyncio.sleep(0.2)

    async def restart(self, svc: str, role: str, *, attempts: int = 30) -> WorkerProcess:
        """A fresh process in place of one that died (or is stopped now) — started again, as Kubernetes
        would, while it exits during start-up (a worker cannot start while the broker is down)."""
        for attempt in range(1, attempts + 1):
            old = self.processes[(svc, role)]
            self.retired.append(old)
            await old.stop()
            process = self.spawn(svc, role)
            await process.start()
            try:
                await self.serving(svc, role)
                return process
            except AssertionError:
                assert process.proc is not None
                if process.proc.returncode is None or attempt == attempts:
                    raise
                await asyncio.sleep(min(0.5 * attempt, 3))  # the back-off of a restarting pod
        raise AssertionError("unreachable")

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.processes.values()), return_exceptions=True)

    def client(self) -> httpx.AsyncClient:
        api_ports = {svc: self.ports[(svc, "api")] for svc in SERVICES}
        return httpx.AsyncClient(transport=ServiceRouter(api_ports), base_url="http://gongyi.test", timeout=30)

    def finance_consumer(self, ledger: Path, group: str, *, fault: str | None = None) -> WorkerProcess:
        """The reference finance consumer (examples/finance_consumer.py) booking into `ledger`."""
        args = ["--bus", "kafka", "--bootstrap", self.kafka_bootstrap, "--prefix", self.prefix,
                "--db", str(ledger), "--group", group, "--member", "finance-1"]
        return WorkerProcess(args, module="examples.finance_consumer", fault=fault, ready_line="ready")

    def tokens(self, role: str, *, sub: str, **claims: Any) -> str:
        return mint_token(self.key, issuer=DEV_ISSUER, role=role, sub=sub, ttl=timedelta(hours=2), **claims)  # type: ignore[arg-type]

    def logs(self, lines: int = 30) -> str:
        return "\n".join(
            f"--- {svc} {role}\n{p.tail(lines)}" for (svc, role), p in self.processes.items() if p.output
        )

"""The whole system in one process (`gongyi up`, the demo, end-to-end tests on embedded defaults).

Contract: `build_system(data_dir, ...)` builds the four services on one shared bus (the embedded
log unless one is given) and one shared clock, each app mounted under `/<service>/` of one ASGI
app that also answers `/healthz`, `/readyz` and, in development, `POST /_dev/clock`. Its lifespan
starts every runtime in role `all` (API + relay + consumers + scheduler) after migrating it.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse

from shared import problems
from shared.app import dev_clock_router
from shared.bus.base import Bus
from shared.clock import Clock, DevClock
from shared.runtime import Runtime, build_bus
from shared.settings import ServiceSettings

SERVICES: tuple[str, ...] = ("registry", "evaluation", "grants", "notifications")


def service_module(name: str) -> ModuleType:
    if name not in SERVICES:
        raise KeyError(f"unknown service {name!r}; one of {', '.join(SERVICES)}")
    return importlib.import_module(f"services.{name}.main")


def service_settings(name: str, **overrides: Any) -> ServiceSettings:
    settings_cls: type[ServiceSettings] = service_module(name).Settings
    return settings_cls(**overrides)


@dataclass
class System:
    app: FastAPI
    runtimes: dict[str, Runtime]
    apps: dict[str, FastAPI]
    bus: Bus
    clock: Clock


class _Dispatch:
    """Routes `/<service>/…` to that service's app; everything else to the root app."""

    def __init__(self, root: FastAPI, apps: Mapping[str, FastAPI]) -> None:
        self.root = root
        self.prefixes = {f"/{name}": app for name, app in apps.items()}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            head = "/" + path.split("/", 2)[1] if path.count("/") >= 1 else path
            app = self.prefixes.get(head)
            if app is not None:
                await app(scope, receive, send)
                return
        await self.root(scope, receive, send)


def build_system(
    data_dir: Path,
    *,
    env: str = "development",
    bus: Bus | None = None,
    clock: Clock | None = None,
    services: Sequence[str] = SERVICES,
    settings_overrides: Mapping[str, Any] | None = None,
    runtime_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
) -> System:
    data_dir = data_dir.resolve()
    overrides = {"env": env, "data_dir": data_dir, **(settings_overrides or {})}
    first = service_settings(services[0], **overrides)
    shared_bus = bus if bus is not None else build_bus(first)
    shared_clock = clock if clock is not None else DevClock(data_dir / "clock.json")
    runtimes: dict[str, Runtime] = {}
    apps: dict[str, FastAPI] = {}
    for name in services:
        module = service_module(name)
        runtime = module.build_runtime(
            service_settings(name, **overrides),
            bus=shared_bus,
            clock=shared_clock,
            auto_migrate=True,
            **dict((runtime_kwargs or {}).get(name, {})),
        )
        runtimes[name] = runtime
        apps[name] = module.create_app(runtime=runtime, standalone=False, role="all")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await shared_bus.start()
        started: list[Runtime] = []
        try:
            for runtime in runtimes.values():
                await runtime.start("all")
                started.append(runtime)
            yield
        finally:
            for runtime in reversed(started):
                await runtime.stop()
            await shared_bus.stop()

    root = FastAPI(title="Gongyi", docs_url=None, redoc_url=None, openapi_url=None)
    problems.install(root)
    root.state.runtime = next(iter(runtimes.values()))

    @root.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @root.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        results = {name: await runtime.ready() for name, runtime in runtimes.items()}
        ready = all(ok for ok, _ in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "services": {n: d for n, (_, d) in results.items()}},
            status_code=200 if ready else 503,
        )

    if env == "development":
        root.include_router(dev_clock_router(list(runtimes.values())))

    dispatch = _Dispatch(root, apps)
    system_app: Any = _SystemApp(dispatch, lifespan)
    return System(app=system_app, runtimes=runtimes, apps=apps, bus=shared_bus, clock=shared_clock)


class _SystemApp:
    """ASGI app: lifespan runs every runtime; requests go through the dispatcher."""

    def __init__(self, dispatch: _Dispatch, lifespan: Any) -> None:
        self.dispatch = dispatch
        self.lifespan = lifespan

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            assert message["type"] == "lifespan.startup"
            context = self.lifespan(None)
            try:
                await context.__aenter__()
            except BaseException as exc:
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                raise
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            try:
                await context.__aexit__(None, None, None)
            finally:
                await send({"type": "lifespan.shutdown.complete"})
            return
        await self.dispatch(scope, receive, send)

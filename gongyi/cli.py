"""The `gongyi` command (API.md "Command line").

Core commands live here; command groups that belong to one capability (regions, imports, the demo)
live in `gongyi/commands/<name>.py`, each exposing `register(app)`, and are discovered at start.
"""

from __future__ import annotations

import asyncio
import getpass
import importlib
import os
import pkgutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gongyi import commands
from gongyi.system import SERVICES, build_system, service_module, service_settings
from shared.auth import DEV_ISSUER, load_or_create_dev_key, mint_token
from shared.dlt import list_dead_letters, redrive
from shared.logs import configure_logging
from shared.migrations import migrate
from shared.runtime import Runtime, build_bus
from shared.uow import Actor
from shared.workdays import load_year_file

app = typer.Typer(no_args_is_help=True, help="Gongyi: cultivate social organizations (社会组织培育).")
topics_app = typer.Typer(no_args_is_help=True, help="Kafka / embedded-log topics.")
dlt_app = typer.Typer(no_args_is_help=True, help="Dead-letter topics: list and redrive.")
calendar_app = typer.Typer(no_args_is_help=True, help="The working-day calendar.")
app.add_typer(topics_app, name="topics")
app.add_typer(dlt_app, name="dlt")
app.add_typer(calendar_app, name="calendar")
console = Console()

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="GONGYI_DATA_DIR", help="embedded data directory")]

DEV_OCDS_PREFIX = "gydev0"
DEV_ROLES: dict[str, dict[str, Any]] = {
    "admin": {"sub": "dev-admin"},
    "officer": {"sub": "dev-officer", "region": "440111"},
    "street_officer": {"sub": "dev-street-officer", "region": "440111002", "role": "officer"},
    "evaluator": {"sub": "dev-evaluator", "agency_id": "dev-agency", "agency_admin": True},
    "finance": {"sub": "dev-finance", "region": "440100"},
}


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _cli_actor() -> Actor:
    return Actor(sub=f"cli:{getpass.getuser()}", role="admin")


@app.command()
def up(
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    data_dir: DataDir = Path("var"),
) -> None:
    """Start all four services on embedded defaults (SQLite + the embedded log) in development mode."""
    import uvicorn

    os.environ.setdefault("GONGYI_ENV", "development")
    # OCDS publication needs an ocid prefix registered with the Open Contracting Partnership; a
    # development stack uses a placeholder so the open-data routes (and `gongyi demo`) work.
    os.environ.setdefault("GONGYI_GRANTS_OCDS_PREFIX", DEV_OCDS_PREFIX)
    configure_logging(os.environ.get("GONGYI_LOG_LEVEL", "INFO"))
    data_dir = data_dir.resolve()
    system = build_system(data_dir, env="development")
    key = load_or_create_dev_key(data_dir)
    console.print(f"[bold]Gongyi[/bold] (development mode) on [cyan]http://{host}:{port}[/cyan]")
    console.print(f"data dir {data_dir}; API docs at http://{host}:{port}/<service>/docs")
    for label, claims in DEV_ROLES.items():
        role = claims.get("role", label)
        extra = {k: v for k, v in claims.items() if k not in ("role",)}
        token = mint_token(key, issuer=DEV_ISSUER, role=role, ttl=timedelta(days=7), **extra)
        console.print(f"[green]{label}[/green] token: {token}", soft_wrap=True)
    uvicorn.run(system.app, host=host, port=port, log_config=None, lifespan="on")


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="registry | evaluation | grants | notifications")],
    role: Annotated[str, typer.Option(help="api | worker")] = "api",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    host: Annotated[str, typer.Option(help="bind address")] = "0.0.0.0",
) -> None:
    """Run one service against PostgreSQL + Kafka (settings from GONGYI_* environment variables)."""
    import uvicorn

    if role not in ("api", "worker"):
        raise typer.BadParameter("role must be api or worker")
    configure_logging(os.environ.get("GONGYI_LOG_LEVEL", "INFO"))
    module = service_module(service)
    application = module.create_app(role=role)
    uvicorn.run(application, host=host, port=port, log_config=None, lifespan="on", access_log=False)


@app.command()
def token(
    role: Annotated[str, typer.Option(help="org | officer | evaluator | finance | admin")],
    sub: Annotated[str | None, typer.Option(help="subject (user id)")] = None,
    region: Annotated[str | None, typer.Option(help="region code (officer, finance)")] = None,
    org_id: Annotated[str | None, typer.Option("--org-id", help="organization id (org)")] = None,
    agency_id: Annotated[str | None, typer.Option("--agency-id", help="agency id (evaluator)")] = None,
    agency_admin: Annotated[bool, typer.Option("--agency-admin", help="evaluator administers the agency")] = False,
    email: Annotated[str | None, typer.Option(help="email claim")] = None,
    hours: Annotated[int, typer.Option(help="lifetime in hours")] = 12,
    data_dir: DataDir = Path("var"),
) -> None:
    """Mint a development token (development key in <data dir>/dev-jwt.pem); printed alone on the last line."""
    key = load_or_create_dev_key(data_dir)
    try:
        value = mint_token(
            key,
            issuer=os.environ.get("GONGYI_JWT_ISSUER", DEV_ISSUER),
            sub=sub or f"dev-{role}",
            role=role,  # type: ignore[arg-type]
            region=region,
            org_id=org_id,
            agency_id=agency_id,
            agency_admin=agency_admin,
            email=email,
            ttl=timedelta(hours=hours),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    print(value)


def _runtime(service: str, **overrides: Any) -> Runtime:
    module = service_module(service)
    runtime: Runtime = module.build_runtime(service_settings(service, **overrides))
    return runtime


@app.command(name="migrate")
def migrate_command(
    services: Annotated[list[str] | None, typer.Argument(help="services to migrate (default: all)")] = None,
) -> None:
    """Upgrade each service's own schema to the latest migration."""

    async def run() -> None:
        for name in services or list(SERVICES):
            runtime = _runtime(name)
            try:
                await migrate(runtime.db, runtime.migrations)
                console.print(f"[green]migrated[/green] {name}")
            finally:
                await runtime.db.dispose()

    _run(run())


@topics_app.command("ensure")
def topics_ensure() -> None:
    """Create every topic and its .dlt (idempotent)."""

    async def run() -> None:
        wanted: dict[str, int] = {}
        for name in SERVICES:
            runtime = _runtime(name)
            wanted.update(runtime.topics_to_ensure())
            await runtime.db.dispose()
        settings = service_settings(SERVICES[0])
        bus = build_bus(settings)
        await bus.start()
        try:
            await bus.ensure_topics(wanted)
        finally:
            await bus.stop()
        for topic in sorted(wanted):
            console.print(f"{topic} ({wanted[topic]} partitions)")

    _run(run())


def _service_of_group(group: str) -> str:
    prefix = service_settings(SERVICES[0]).topic_prefix
    name = group[len(prefix) :] if group.startswith(prefix) else group
    service = name.split(".")[0]
    if service not in SERVICES:
        raise typer.BadParameter(f"group {group!r} belongs to no service")
    return service


@dlt_app.command("list")
def dlt_list(
    group: Annotated[str, typer.Option(help="consumer group, e.g. grants")],
    topic: Annotated[str, typer.Option(help="original topic, e.g. registry.organization")],
    key: Annotated[str | None, typer.Option(help="only this key")] = None,
) -> None:
    """Show a group's dead letters of a topic: error, attempts, whether applied since, whether the key waits."""

    async def run() -> None:
        runtime = _runtime(_service_of_group(group))
        await runtime.bus.start()
        try:
            async with runtime.uow(readonly=True) as uow:
                rows = await list_dead_letters(
                    runtime.bus, uow, group=group, topic=runtime.settings.topic(topic), logical_topic=topic, key=key
                )
        finally:
            await runtime.bus.stop()
            await runtime.db.dispose()
        table = Table("key", "event", "offset", "error", "attempts", "applied", "key parked")
        for row in rows:
            letter = row.letter
            table.add_row(
                letter.key,
                letter.event_id,
                f"{letter.original_partition}:{letter.original_offset}",
                f"{letter.error_type}: {letter.error_detail}"[:80],
                str(letter.attempts),
                "yes" if row.applied else "no",
                "yes" if row.key_parked else "no",
            )
        console.print(table)

    _run(run())


@dlt_app.command("redrive")
def dlt_redrive(
    group: Annotated[str, typer.Option(help="consumer group, e.g. grants")],
    topic: Annotated[str, typer.Option(help="original topic, e.g. registry.organization")],
    key: Annotated[str | None, typer.Option(help="only this key")] = None,
) -> None:
    """Re-publish a group's dead letters to the original topic in order and release the parked keys (audited)."""

    async def run() -> int:
        runtime = _runtime(_service_of_group(group))
        await runtime.bus.start()
        try:
            async with runtime.uow(actor=_cli_actor()) as uow:
                return await redrive(
                    runtime.bus, uow, group=group, topic=runtime.settings.topic(topic), logical_topic=topic, key=key
                )
        finally:
            await runtime.bus.stop()
            await runtime.db.dispose()

    count = _run(run())
    console.print(f"re-published {count} record(s) to {topic} for {group}")


@calendar_app.command("load")
def calendar_load(
    file: Annotated[Path, typer.Argument(help="holidays/<year>.yaml")],
    services: Annotated[list[str] | None, typer.Option("--service", help="default: all")] = None,
) -> None:
    """Load one year of the State Council's holiday calendar into every service."""
    year = load_year_file(file)

    async def run() -> None:
        for name in services or list(SERVICES):
            runtime = _runtime(name)
            try:
                async with runtime.uow(actor=_cli_actor()) as uow:
                    await runtime.calendar.put_year(uow, year)
                    await uow.commit()
                console.print(f"[green]{name}[/green]: {year.year} loaded ({year.source})")
            finally:
                await runtime.db.dispose()

    _run(run())


@app.command()
def backup(
    target: Annotated[Path, typer.Argument(help="directory to write the backup to")],
    data_dir: DataDir = Path("var"),
) -> None:
    """Consistent online copy of the embedded data dir (SQLite backup API), safe while running."""
    import shutil
    import sqlite3

    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(data_dir.glob("*.sqlite")):
        with sqlite3.connect(source) as src, sqlite3.connect(target / source.name) as dst:
            src.backup(dst)
        console.print(f"backed up {source.name}")
    for extra in ("dev-jwt.pem", "clock.json"):
        if (data_dir / extra).exists():
            shutil.copy2(data_dir / extra, target / extra)


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="a directory written by gongyi backup")],
    data_dir: DataDir = Path("var"),
) -> None:
    """Restore a backup into the (stopped) embedded data dir."""
    import sqlite3

    data_dir.mkdir(parents=True, exist_ok=True)
    for file in sorted(source.glob("*.sqlite")):
        for suffix in ("-wal", "-shm"):
            (data_dir / (file.name + suffix)).unlink(missing_ok=True)
        with sqlite3.connect(file) as src, sqlite3.connect(data_dir / file.name) as dst:
            src.backup(dst)
        console.print(f"restored {file.name}")


def _register_command_modules() -> None:
    for info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"gongyi.commands.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_command_modules()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()

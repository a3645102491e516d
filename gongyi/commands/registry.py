"""`gongyi regions load FILE` and `gongyi import organizations FILE` (the registry's commands)."""

from __future__ import annotations

import asyncio
import csv
import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gongyi.system import service_module, service_settings
from shared.runtime import Runtime
from shared.uow import Actor as AuditActor

console = Console()
regions_app = typer.Typer(no_args_is_help=True, help="Region codes: the street / township table.")
import_app = typer.Typer(no_args_is_help=True, help="Bulk imports.")


def _registry_runtime() -> Runtime:
    runtime: Runtime = service_module("registry").build_runtime(service_settings("registry"))
    return runtime


def _audit_actor(region: str | None) -> AuditActor:
    return AuditActor(sub=f"cli:{getpass.getuser()}", role="officer" if region else "admin")


@regions_app.command("load")
def regions_load(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="streets CSV (code,name,areaCode,…)")],
    source: Annotated[str | None, typer.Option(help="provenance recorded with each row")] = None,
) -> None:
    """Load (upsert) the 9-digit street / township codes a deployment accepts."""
    from services.registry.handlers.regions import parse_streets, store_streets

    load = parse_streets(file.read_bytes(), source=source or file.name)

    async def run() -> int:
        runtime = _registry_runtime()
        try:
            async with runtime.uow(actor=_audit_actor(None)) as uow:
                count = await store_streets(uow, load)
                await uow.commit()
            return count
        finally:
            await runtime.db.dispose()

    count = asyncio.run(run())
    console.print(f"[green]loaded[/green] {count} street codes from {file}")
    if load.unknown_counties:
        console.print(
            f"[yellow]{len(load.unknown_counties)} county codes unknown to python-stdnum's table[/yellow] "
            f"(renumberings; streets loaded anyway): {', '.join(sorted(load.unknown_counties)[:20])}"
        )
    for line, code, why in load.refused[:20]:
        console.print(f"[red]line {line}[/red] {code!r}: {why}")
    if load.refused:
        console.print(f"[red]{len(load.refused)} rows refused[/red]")


@import_app.command("organizations")
def import_organizations(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or XLSX with Chinese column headers")],
    region: Annotated[
        str | None, typer.Option(help="act as an officer of this region (default: admin, national)")
    ] = None,
    mode: Annotated[str, typer.Option(help="per_row (skip and report bad rows) | all_or_nothing")] = "per_row",
    report: Annotated[
        Path | None, typer.Option(help="where to write the error report (default FILE.errors.csv)")
    ] = None,
) -> None:
    """Import organizations with a progress bar; bad rows are listed in an error report."""
    from services.registry.domain.organizations import Actor
    from services.registry.handlers import imports
    from services.registry.settings import RegistrySettings

    if mode not in ("per_row", "all_or_nothing"):
        raise typer.BadParameter("mode is per_row or all_or_nothing")
    content = file.read_bytes()
    report_path = report or file.with_name(file.name + ".errors.csv")

    async def run() -> tuple[object, list[object]]:
        runtime = _registry_runtime()
        settings = runtime.settings
        assert isinstance(settings, RegistrySettings)
        ctx = imports.ImportContext(runtime.cipher, settings.county_filing_prefixes, settings.import_chunk_rows)
        actor = Actor(role="officer" if region else "admin", region=region)
        try:
            async with runtime.uow(actor=_audit_actor(region)) as uow:
                job = await imports.create_import(
                    uow,
                    actor_sub=uow.actor.sub,
                    actor=actor,
                    filename=file.name,
                    content=content,
                    mode=mode,
                    schedule=False,
                )
                await uow.commit()
            columns = (
                TextColumn("[bold]导入[/bold] {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=console) as progress:
                task = progress.add_task(file.name, total=job.total_rows)
                chunk, more = 0, True
                while more:
                    async with runtime.uow(actor=_audit_actor(region)) as uow:
                        more = await imports.process_chunk(uow, ctx, job.id, chunk)
                        await uow.commit()
                    async with runtime.uow(readonly=True) as uow:
                        current = await uow.session.get(imports.ImportJob, job.id)
                        assert current is not None
                        progress.update(task, completed=current.processed_rows)
                    chunk += 1
            async with runtime.uow(readonly=True) as uow:
                final = await uow.session.get(imports.ImportJob, job.id)
                errors = await imports.import_errors(uow, job.id)
            return final, list(errors)
        finally:
            await runtime.db.dispose()

    final, errors = asyncio.run(run())
    summary = imports.import_public(final)  # type: ignore[arg-type]
    table = Table("status", "rows", "imported", "existing", "failed")
    table.add_row(
        summary.status, str(summary.total_rows), str(summary.imported), str(summary.existing), str(summary.failed)
    )
    console.print(table)
    if errors:
        with report_path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["行号", "列", "规则", "说明", "原值"])
            for e in errors:
                writer.writerow([e.row_number, e.field, e.rule, e.message, e.value or ""])  # type: ignore[attr-defined]
        console.print(
            f"[yellow]{len(errors)} errors[/yellow] in {summary.failed} rows: report written to {report_path}"
        )
        for e in errors[:10]:
            console.print(f"  row {e.row_number} {e.field}: {e.rule} — {e.message}")  # type: ignore[attr-defined]
    if summary.status == "failed":
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.add_typer(regions_app, name="regions")
    app.add_typer(import_app, name="import")

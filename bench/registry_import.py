"""Benchmark: import 100,000 organizations (target ≤ 60 s) through the import job's own code path
(staging, per-row validation, chunks of organizations + legal representatives + outbox + audit).

    .venv/bin/python -m bench.registry_import [--rows 100000] [--xlsx]

Prints the figures; never fails on timing. Run on a quiet machine for comparable numbers."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.registry_common import build, csv_bytes, registry_database, rows
from services.registry.domain.organizations import Actor
from services.registry.handlers import imports
from services.registry.settings import RegistrySettings
from shared.uow import Actor as AuditActor


async def import_file(url: str, content: bytes, filename: str) -> dict[str, float]:
    runtime = build(url, Path(tempfile.gettempdir()))
    settings = runtime.settings
    assert isinstance(settings, RegistrySettings)
    ctx = imports.ImportContext(runtime.cipher, settings.county_filing_prefixes, settings.import_chunk_rows)
    audit_actor = AuditActor(sub="bench", role="admin")
    try:
        started = time.perf_counter()
        async with runtime.uow(actor=audit_actor) as uow:
            job = await imports.create_import(
                uow,
                actor_sub="bench",
                actor=Actor(role="admin"),
                filename=filename,
                content=content,
                mode="per_row",
                schedule=False,
            )
            await uow.commit()
        staged = time.perf_counter()
        chunk, more = 0, True
        while more:
            async with runtime.uow(actor=audit_actor) as uow:
                more = await imports.process_chunk(uow, ctx, job.id, chunk)
                await uow.commit()
            chunk += 1
        done = time.perf_counter()
        async with runtime.uow(readonly=True) as uow:
            final = await uow.session.get(imports.ImportJob, job.id)
            assert final is not None
        return {
            "rows": final.total_rows,
            "imported": final.imported,
            "failed": final.failed,
            "parse_and_stage_s": staged - started,
            "import_s": done - staged,
            "total_s": done - started,
        }
    finally:
        await runtime.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--xlsx", action="store_true", help="import an XLSX file instead of CSV")
    args = parser.parse_args()
    table = rows(args.rows)
    if args.xlsx:
        import io

        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("社会组织")
        for row in table:
            sheet.append(row)
        buffer = io.BytesIO()
        workbook.save(buffer)
        content, filename = buffer.getvalue(), "orgs.xlsx"
    else:
        content, filename = csv_bytes(table), "orgs.csv"
    with registry_database() as (_cluster, url):
        figures = asyncio.run(import_file(url, content, filename))
    print(f"registry import of {figures['rows']:,} rows ({filename}, {len(content) / 1e6:.1f} MB)")
    print(f"  imported {figures['imported']:,}, failed {figures['failed']:,}")
    print(f"  parse + stage  {figures['parse_and_stage_s']:7.1f} s")
    print(f"  import chunks  {figures['import_s']:7.1f} s")
    rate = figures["rows"] / figures["total_s"]
    print(f"  total          {figures['total_s']:7.1f} s  ({rate:,.0f} rows/s; target ≤ 60 s)")


if __name__ == "__main__":
    main()

"""The whole story on embedded defaults, in one process: `gongyi up`'s composition (four services,
SQLite files, the embedded event log, the development clock) in a temporary data dir, driven over
HTTP through an ASGI client by the very code `gongyi demo` runs — with the reference finance
consumer as its own process on the embedded log."""

from __future__ import annotations

import httpx
from rich.console import Console

from gongyi.commands.demo import run_demo
from gongyi.system import build_system
from tests.e2e.checks import check_deliveries, check_events, check_states, read_topics


async def test_the_story_on_embedded_defaults(tmp_path):
    data_dir = tmp_path / "var"
    system = build_system(data_dir, settings_overrides={"ocds_prefix": "gydev0"})
    printed = Console(record=True, width=200, file=open(tmp_path / "demo.txt", "w", encoding="utf-8"))  # noqa: SIM115
    async with system.app.lifespan(None):
        transport = httpx.ASGITransport(app=system.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gongyi.local", timeout=30) as client:
            result = await run_demo(client, data_dir=data_dir, out_dir=tmp_path / "exports", out=printed,
                                    patience=60)
        logs = await read_topics(system.bus)

    check_states(result)
    by_key = check_events(logs, result)
    assert check_deliveries(by_key, result) == {"inbox": sum(len(i) for i in result.inboxes.values())}
    text = printed.export_text()
    for line in ("2026-05-11 09:00", "评定为 4A", "资格审查不通过", "eligibility.min_grade", "第2期 ¥18,000.00",
                 "已入账 11 笔", "OCDS 1.1"):
        assert line in text, line
    assert {path.name.split("-0")[0] for path in result.exports.values()} == {
        "ocds", "360giving-venture", "360giving-micro"}
    assert all(path.exists() for path in result.exports.values())

"""`gongyi demo`: the whole story (gongyi/story) against a running development stack, told as a
timeline in Asia/Shanghai time.

It mints tokens with the stack's development key (`<data dir>/dev-jwt.pem`), moves the stack's
development clock (`POST /_dev/clock`) through the legal periods, runs the reference finance
consumer (examples/finance_consumer.py) as its own process on the stack's event log, and writes the
OCDS and 360Giving exports to files. `run_demo(client, …)` is the same, given an HTTP client (the
end-to-end test drives it in-process).
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from gongyi.story import Entry, Story, StoryError, StoryResult
from gongyi.story.context import SHANGHAI, fen, yuan
from gongyi.story.finance import ReferenceConsumer, SqliteBooks
from shared.auth import DEV_ISSUER, load_or_create_dev_key, mint_token

console = Console()
TRANCHE = {"paid": "已支付", "released": "已发支付指令", "scheduled": "待触发", "suspended": "暂停",
           "cancelled": "取消"}


class Timeline:
    """Prints each entry as it happens, with a rule at every chapter."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.chapter = ""

    def __call__(self, entry: Entry) -> None:
        if entry.chapter != self.chapter:
            self.chapter = entry.chapter
            self.out.print(Rule(f"[bold]{entry.chapter}[/bold]", style="cyan"))
        when = entry.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        self.out.print(f"[cyan]{when}[/cyan]  [bold]{entry.actor}[/bold]  {entry.text}", soft_wrap=True)
        for line in entry.detail:
            self.out.print(f"                  [dim]· {line}[/dim]", soft_wrap=True)


def token_factory(data_dir: Path, issuer: str = DEV_ISSUER) -> Any:
    key = load_or_create_dev_key(data_dir)

    def tokens(role: str, *, sub: str, **claims: Any) -> str:
        return mint_token(key, issuer=issuer, role=role, sub=sub, ttl=timedelta(hours=6), **claims)  # type: ignore[arg-type]

    return tokens


async def run_demo(
    client: httpx.AsyncClient,
    *,
    data_dir: Path,
    out_dir: Path,
    out: Console,
    finance: ReferenceConsumer | None = None,
    ledger: Path | None = None,
    suffix: str = "",
    patience: float = 60.0,
    **story: Any,
) -> StoryResult:
    """Run the story through `client`, printing it; the finance consumer runs for its duration."""
    ledger = ledger or data_dir / "finance-ledger.sqlite"
    finance = finance or ReferenceConsumer.embedded(data_dir, ledger)
    await finance.start()
    try:
        result = await Story(
            client,
            token_factory(data_dir, os.environ.get("GONGYI_JWT_ISSUER", DEV_ISSUER)),
            finance=SqliteBooks(ledger),
            out_dir=out_dir,
            patience=patience,
            suffix=suffix,
            report=Timeline(out),
            **story,
        ).run()
    finally:
        await finance.stop()
    summary(out, result)
    return result


def summary(out: Console, result: StoryResult) -> None:
    out.print(Rule("[bold]结果[/bold]", style="green"))
    table = Table("资助项目", "金额", "已支付", "分期拨付")
    for key, award in result.awards.items():
        tranches = result.tranches.get(key, [])
        paid = sum(fen(t["amount"]) for t in tranches if t["status"] == "paid")
        table.add_row(
            f"{result.orgs[key[0]].short}\n《{award['project_title']}》",
            yuan(award["amount"]),
            yuan(f"{paid // 100}.{paid % 100:02d}"),
            "\n".join(f"{t['tranche_no']}. {yuan(t['amount'])} {TRANCHE.get(t['status'], '')}" for t in tranches),
        )
    out.print(table)
    out.print(f"财政记账：{len(result.bookings)} 笔，与 GET /grants/v1/ledger 的 {len(result.ledger)} 笔逐笔一致")
    for name, path in result.exports.items():
        out.print(f"[green]{name}[/green] → {path}")


async def _suffix(client: httpx.AsyncClient, tokens: Any) -> str:
    """A second demo on the same stack registers new organizations: same names are duplicates (409)."""
    headers = {"Authorization": f"Bearer {tokens('admin', sub='demo-admin')}"}
    found = await client.get("/registry/v1/organizations", params={"q": "启智社会工作服务中心", "limit": 200},
                             headers=headers)
    found.raise_for_status()
    count = len(found.json()["items"])
    return f"（{count + 1}）" if count else ""


BaseUrl = Annotated[str, typer.Option("--base-url", help="the running development stack")]
DataDir = Annotated[
    Path, typer.Option("--data-dir", envvar="GONGYI_DATA_DIR", help="its data dir (development key, event log)")
]
OutDir = Annotated[Path | None, typer.Option("--out", help="where the exports go (default <data dir>/demo)")]
Bootstrap = Annotated[str | None, typer.Option("--kafka-bootstrap", help="a stack on Kafka: where finance reads")]
Prefix = Annotated[str, typer.Option("--topic-prefix", help="the stack's GONGYI_TOPIC_PREFIX")]
Patience = Annotated[float, typer.Option(help="seconds to wait for each asynchronous effect")]


def fail(message: str) -> typer.Exit:
    console.print(f"[red]gongyi demo:[/red] {message}")
    return typer.Exit(code=1)


def demo(
    base_url: BaseUrl = "http://127.0.0.1:8000",
    data_dir: DataDir = Path("var"),
    out_dir: OutDir = None,
    kafka_bootstrap: Bootstrap = None,
    topic_prefix: Prefix = "",
    patience: Patience = 60.0,
) -> None:
    """Drive the whole story against a running development stack (`gongyi up`) and print it as a timeline."""
    data_dir = data_dir.resolve()
    if not (data_dir / "dev-jwt.pem").exists():
        raise fail(f"no development key in {data_dir}: pass the --data-dir that `gongyi up` uses")
    out = (out_dir or data_dir / "demo").resolve()
    ledger = data_dir / "finance-ledger.sqlite"

    async def run() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            try:
                ready = await client.get("/readyz")
                clock = await client.get("/_dev/clock")
            except httpx.TransportError as exc:
                raise fail(f"nothing answers at {base_url} ({exc}); start the stack with scripts/up") from None
            if ready.status_code != 200:
                raise fail(f"{base_url} is not ready: {ready.text}")
            if clock.status_code != 200:
                raise fail(f"{base_url} has no development clock: it must run with GONGYI_ENV=development")
            finance = (
                ReferenceConsumer.kafka(kafka_bootstrap, ledger, prefix=topic_prefix)
                if kafka_bootstrap
                else ReferenceConsumer.embedded(data_dir, ledger)
            )
            suffix = await _suffix(client, token_factory(data_dir))
            console.print(f"[bold]Gongyi 演示[/bold]：{base_url}")
            console.print("开发时钟从 2026-05-11 09:00（北京时间）起，按法定期限推进")
            try:
                await run_demo(
                    client, data_dir=data_dir, out_dir=out, out=console, finance=finance, ledger=ledger,
                    suffix=suffix, patience=patience,
                )
            except StoryError as exc:
                raise fail(f"the story stopped: {exc}") from None
            console.print('[dim]开发时钟停在故事结束时；POST /_dev/clock {"reset": true}（admin）恢复真实时间。[/dim]')

    asyncio.run(run())


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)

"""The story on PostgreSQL + Kafka while things break: every service's worker is killed once with
SIGKILL at a deterministic crash point (shared/faults.py) and restarted after it died, the
reference finance consumer too, and the Kafka broker is restarted once mid-story. At the end
nothing is lost or doubled: each award and tranche is in the finance ledger exactly once and to
the fen, each notification is in its inbox once and each email and webhook has one identity, and
every budget equals the ledger."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field

from gongyi.devinfra.postgres import drop_database_async
from gongyi.story import Story
from gongyi.story.finance import SqliteBooks
from shared.bus.kafka import KafkaBus
from tests.conftest import clone_test_database
from tests.e2e.checks import check_deliveries, check_events, check_states, read_topics
from tests.integration.notifications.support import SmtpServer, WebhookReceiver
from tests.support.deployment import Deployment, channel_env
from tests.support.processes import WorkerProcess
from tests.support.stack import wait_until

# Where each worker dies. Counts are per process: `relay.after_ack` once per batch the broker
# acknowledged (the registry's first batch; the grants relay publishes in many batches), and
# `consumer.after_apply` once per applied record (evaluation: 7 registry records then the award
# events; notifications: about 150 records in all).
FAULTS = {
    ("registry", "worker"): "relay.after_ack@1",
    ("evaluation", "worker"): "consumer.after_apply@9",
    ("grants", "worker"): "relay.after_ack@6",
    ("notifications", "worker"): "consumer.after_apply@40",
}
FINANCE_FAULT = "finance.after_book@4"
BROKER_RESTART_AT = "评审与资助"  # the chapter the broker restarts at: the calls just closed
EMAILS, WEBHOOKS = 54, 26


@dataclass
class Faults:
    """Restarts each armed process once it died at its crash point, and notes when it did."""

    d: Deployment
    story: Story | None = None
    deaths: dict[str, str] = field(default_factory=dict)  # process → the chapter it died in
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def watch(self, name: str, process: WorkerProcess, restart) -> None:
        async def supervise() -> None:
            await process.wait_killed(timeout=900)
            self.deaths[name] = self.story.chapter if self.story else "start"
            await restart()

        self.tasks.append(asyncio.create_task(supervise(), name=f"supervise {name}"))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def first_occurrences(logs):
    """The log as a reader dedupes it by event id; a republished record must repeat the same bytes."""
    out, repeats = {}, 0
    for topic, records in logs.items():
        seen: dict[str, bytes] = {}
        kept = []
        for record in records:
            event_id = record.header("ce_id").decode()
            if event_id in seen:
                assert seen[event_id] == record.value, f"{topic} {event_id} republished with other bytes"
                repeats += 1
                continue
            seen[event_id] = record.value
            kept.append(record)
        out[topic] = kept
    return out, repeats


async def test_nothing_is_lost_or_doubled_when_every_worker_and_the_broker_fail_during_the_story(
    pg_cluster, pg_template, kafka_broker, tmp_path
):
    database, urls = await clone_test_database(pg_cluster, pg_template)
    ledger = tmp_path / "finance-ledger.sqlite"
    with SmtpServer() as smtp:
        async with WebhookReceiver() as receiver:
            env = {**channel_env(smtp.port), "GONGYI_CONSUMER_STALL_TIMEOUT_S": "15"}
            d = Deployment(tmp_path / "var", urls, kafka_broker.bootstrap, extra_env=env)
            group = f"finance-{uuid.uuid4().hex[:8]}"
            finance = [d.finance_consumer(ledger, group, fault=FINANCE_FAULT)]
            faults = Faults(d)
            broker_restarts = 0

            async def on_chapter(chapter: str) -> None:
                nonlocal broker_restarts
                if chapter == BROKER_RESTART_AT:
                    await asyncio.to_thread(kafka_broker.restart)
                    broker_restarts += 1

            async def restart_finance() -> None:
                finance.append(d.finance_consumer(ledger, group))
                await finance[-1].start()
                await finance[-1].wait_ready()

            try:
                await d.start(faults=FAULTS)
                await finance[0].start()
                await finance[0].wait_ready()
                for svc, role in FAULTS:
                    faults.watch(f"{svc} {role}", d.processes[(svc, role)],
                                 lambda svc=svc, role=role: d.restart(svc, role))
                faults.watch("finance consumer", finance[0], restart_finance)
                async with d.client() as client:
                    faults.story = story = Story(
                        client, d.tokens, finance=SqliteBooks(ledger), out_dir=tmp_path / "exports",
                        webhook_url=receiver.url(), patience=120, on_chapter=on_chapter,
                    )
                    result = await story.run()

                def delivered() -> bool:
                    return len({m["Message-ID"] for _, m in smtp.messages}) >= EMAILS and len(
                        {r.headers["webhook-id"] for r in receiver.requests}) >= WEBHOOKS

                await wait_until(delivered, timeout=90)
            except BaseException:
                print(d.logs(), *(p.tail() for p in finance), sep="\n")
                raise
            finally:
                await faults.close()
                await asyncio.gather(*(p.stop() for p in finance))
                await d.stop()
                await drop_database_async(pg_cluster.superuser_dsn(), database)
            bus = KafkaBus(kafka_broker.bootstrap, client_id=f"fault-{uuid.uuid4().hex[:6]}")
            await bus.start()
            try:
                raw = await read_topics(bus, d.prefix)
            finally:
                await bus.stop()

    # every fault happened, once, during the story
    assert set(faults.deaths) == {*(f"{s} {r}" for s, r in FAULTS), "finance consumer"}, faults.deaths
    assert broker_restarts == 1
    print("deaths by chapter:", faults.deaths)
    logs, republished = first_occurrences(raw)
    print("records republished by a relay that died after the broker's ack:", republished)
    assert republished > 0  # the relays died unmarked: the bus holds some records twice

    # nothing lost or doubled: every state, every event, the ledger to the fen, each inbox item once
    check_states(result)
    by_key = check_events(logs, result)
    per_channel = check_deliveries(by_key, result)
    assert per_channel["inbox"] == 62
    books = SqliteBooks(ledger)
    awards = {a["award_id"]: a for a in await books.table("finance_awards")}
    tranches = await books.table("finance_tranches")
    assert set(awards) == {a["id"] for a in result.awards.values()}
    for key, award in result.awards.items():
        mine = sorted((t["tranche_no"], t["amount_fen"], t["status"]) for t in tranches if t["award_id"] == award["id"])
        assert mine == [(t["tranche_no"], int(t["amount"]["amount"].replace(".", "")), t["status"])
                        for t in result.tranches[key]]
        assert sum(amount for _, amount, _ in mine) == awards[award["id"]]["amount_fen"]
    assert sum(a["committed_fen"] for a in awards.values()) == sum(
        int(b["committed"]["amount"].replace(".", "")) for b in result.budgets.values())
    assert sum(a["paid_fen"] for a in awards.values()) == sum(
        int(b["paid"]["amount"].replace(".", "")) for b in result.budgets.values())
    assert await books.table("finance_held") == []

    # email and webhooks: one identity per (event, recipient); a re-send after a crash repeats it
    ids = Counter(m["Message-ID"] for _, m in smtp.messages)
    assert len(ids) == EMAILS, len(ids)
    by_id = {}
    for rcpt, message in smtp.messages:
        assert by_id.setdefault(message["Message-ID"], (rcpt, message["Subject"])) == (rcpt, message["Subject"])
    bodies = {e["id"] for topic in ("grants.award", "grants.disbursement") for events in by_key[topic].values()
              for e in events}
    hooks = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert set(hooks) == bodies and len(hooks) == WEBHOOKS
    print("emails re-sent with the same identity:", sum(ids.values()) - len(ids),
          "webhooks re-sent with the same identity:", sum(hooks.values()) - len(hooks))

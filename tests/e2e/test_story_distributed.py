"""The whole story as production runs it: PostgreSQL (one fresh database, each service as its own
login role) and a real Kafka broker, each service as two OS processes (`gongyi serve … --role api`
and `--role worker`), the reference finance consumer as a fifth kind of process on plain aiokafka,
email to a loopback SMTP server and a signed webhook to a loopback receiver."""

from __future__ import annotations

import uuid
from collections import Counter

from gongyi.devinfra.postgres import drop_database_async
from gongyi.story import Story
from gongyi.story.finance import SqliteBooks
from shared.bus.kafka import KafkaBus
from tests.conftest import clone_test_database
from tests.e2e.checks import check_deliveries, check_events, check_states, read_topics
from tests.integration.notifications.support import SmtpServer, WebhookReceiver
from tests.support.deployment import Deployment, channel_env
from tests.support.stack import wait_until

WEBHOOK_TOPICS = ("grants.award", "grants.disbursement")


async def test_the_story_on_postgres_and_kafka_with_every_service_in_its_own_processes(
    pg_cluster, pg_template, kafka_broker, tmp_path
):
    database, urls = await clone_test_database(pg_cluster, pg_template)
    ledger = tmp_path / "finance-ledger.sqlite"
    with SmtpServer() as smtp:
        async with WebhookReceiver() as receiver:
            d = Deployment(tmp_path / "var", urls, kafka_broker.bootstrap, extra_env=channel_env(smtp.port))
            finance = d.finance_consumer(ledger, f"finance-{uuid.uuid4().hex[:8]}")
            try:
                await d.start()
                await finance.start()
                await finance.wait_ready()
                async with d.client() as client:
                    story = Story(client, d.tokens, finance=SqliteBooks(ledger), out_dir=tmp_path / "exports",
                                  webhook_url=receiver.url(), patience=90)
                    result = await story.run()
                emails = 54  # the organizations' staff signed up with an address: one email per inbox item

                def delivered() -> bool:
                    return len({m["Message-ID"] for _, m in smtp.messages}) >= emails and len(
                        {r.headers["webhook-id"] for r in receiver.requests}) >= 26

                await wait_until(delivered, timeout=60)
            except BaseException:
                print(d.logs())
                raise
            finally:
                await finance.stop()
                await d.stop()
                await drop_database_async(pg_cluster.superuser_dsn(), database)
            bus = KafkaBus(kafka_broker.bootstrap, client_id=f"e2e-{uuid.uuid4().hex[:6]}")
            await bus.start()
            try:
                logs = await read_topics(bus, d.prefix)
            finally:
                await bus.stop()

    check_states(result)
    by_key = check_events(logs, result)
    assert check_deliveries(by_key, result) == {"inbox": 62, "email": emails, "webhook": 26}
    # email: one message per (event, person), each identity once, to the address the person gave
    ids = Counter(m["Message-ID"] for _, m in smtp.messages)
    assert len(ids) == emails and set(ids.values()) == {1}
    staff = {o.user.sub: o.email for o in result.orgs.values() if o.user}
    for sub, items in result.inboxes.items():
        if sub in staff:
            assert sum(rcpt == [staff[sub]] for rcpt, _ in smtp.messages) == len(items)
    # webhook: every award and disbursement event once, its id the CloudEvent id, the body the bus bytes
    bodies = {e["id"]: e for topic in WEBHOOK_TOPICS for events in by_key[topic].values() for e in events}
    hooks = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert set(hooks) == set(bodies) and set(hooks.values()) == {1}
    on_bus = {r.header("ce_id").decode(): r.value for topic in WEBHOOK_TOPICS for r in logs[topic]}
    assert all(r.body == on_bus[r.headers["webhook-id"]] for r in receiver.requests)

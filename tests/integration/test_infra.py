"""The project's own PostgreSQL cluster and Kafka broker: started for real, provisioned, restarted.

Each server here is started by this module in a temporary directory (not the session's
``pg_cluster`` / ``kafka_broker``): these tests stop, kill and misconfigure their servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from gongyi.devinfra.kafka import KafkaError, LocalKafka, create_topics, create_topics_async
from gongyi.devinfra.postgres import (
    LocalPostgres,
    PostgresError,
    clone_database,
    drop_database,
    provision_database,
    service_dsn,
    with_database,
)

# Broker settings that only shorten waits: after a SIGKILL the controller keeps the dead
# incarnation registered until its session times out (9 s by default).
FAST_FAILOVER = {"broker.session.timeout.ms": "2000", "broker.heartbeat.interval.ms": "500"}


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    with LocalPostgres(tmp_path_factory.mktemp("pg")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def gongyi_db(postgres: LocalPostgres) -> str:
    provision_database(postgres.superuser_dsn(), "gongyi")
    return "gongyi"


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    with LocalKafka(tmp_path_factory.mktemp("kafka"), extra_properties=FAST_FAILOVER) as broker:
        yield broker


async def fetch_as(postgres: LocalPostgres, db: str, service: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(service_dsn(postgres.superuser_dsn(), db, service))
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql)
        return rows
    finally:
        await conn.close()


@pytest.mark.postgres
def test_cluster_listens_on_loopback_only_and_keeps_its_port_and_data_across_restarts(tmp_path: Path) -> None:
    cluster = LocalPostgres(tmp_path / "pg")
    with cluster:
        port = cluster.port
        provision_database(cluster.superuser_dsn(), "kept")
        settings = asyncio.run(_fetch_settings(cluster.superuser_dsn()))
    assert settings == {"listen_addresses": "127.0.0.1", "lc_ctype": "C.UTF-8", "fsync": "on"}
    with cluster:
        assert cluster.port == port
        assert asyncio.run(_fetch_settings(cluster.superuser_dsn("kept")))["lc_ctype"] == "C.UTF-8"


async def _fetch_settings(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        names = ("listen_addresses", "lc_ctype", "fsync")
        return {name: await conn.fetchval(f"show {name}") for name in names}
    finally:
        await conn.close()


@pytest.mark.postgres
def test_a_cluster_keeps_running_when_its_base_dir_becomes_private(tmp_path: Path) -> None:
    # A concurrent pytest session resets /tmp/pytest-of-<user> to 0700 in the middle of ours.
    with LocalPostgres(tmp_path / "private" / "pg") as cluster:
        (tmp_path / "private").chmod(0o700)
        provision_database(cluster.superuser_dsn(), "gongyi")
        cluster.stop()
        assert not cluster.log_file.read_text().count("PANIC")
        cluster.start()
        provision_database(cluster.superuser_dsn(), "gongyi")


@contextlib.contextmanager
def port_in_use() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.postgres
def test_a_postmaster_that_cannot_start_fails_fast_with_its_log(tmp_path: Path) -> None:
    with port_in_use() as port:
        started = time.monotonic()
        with pytest.raises(PostgresError, match="could not bind"):
            LocalPostgres(tmp_path / "pg", port=port).start(timeout=30)
    assert time.monotonic() - started < 20


@pytest.mark.postgres
async def test_provisioning_twice_gives_each_service_one_role_owning_one_schema(
    postgres: LocalPostgres, gongyi_db: str
) -> None:
    provision_database(postgres.superuser_dsn(), gongyi_db)
    conn = await asyncpg.connect(postgres.superuser_dsn(gongyi_db))
    try:
        owners = await conn.fetch(
            "select nspname, pg_get_userbyid(nspowner) as owner from pg_namespace"
            " where nspname in ('registry', 'grants', 'evaluation', 'notifications') order by 1"
        )
        trgm_schema = await conn.fetchval(
            "select extnamespace::regnamespace::text from pg_extension where extname = 'pg_trgm'"
        )
    finally:
        await conn.close()
    assert [(r["nspname"], r["owner"]) for r in owners] == [
        ("evaluation", "gongyi_evaluation"),
        ("grants", "gongyi_grants"),
        ("notifications", "gongyi_notifications"),
        ("registry", "gongyi_registry"),
    ]
    assert trgm_schema == "public"


@pytest.mark.postgres
async def test_a_service_reads_its_own_schema_but_not_another_services(postgres: LocalPostgres, gongyi_db: str) -> None:
    await fetch_as(postgres, gongyi_db, "registry", "create table organization (name text)")
    await fetch_as(postgres, gongyi_db, "registry", "insert into organization values ('阳光养老服务中心')")

    assert await fetch_as(postgres, gongyi_db, "registry", "select name from registry.organization")
    with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="schema registry"):
        await fetch_as(postgres, gongyi_db, "grants", "select name from registry.organization")
    with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="schema public"):
        await fetch_as(postgres, gongyi_db, "grants", "create table public.stray (id int)")


@pytest.mark.postgres
async def test_chinese_names_get_trigrams_and_match_by_similarity(postgres: LocalPostgres, gongyi_db: str) -> None:
    rows = await fetch_as(
        postgres,
        gongyi_db,
        "evaluation",
        "select show_trgm('养老服务') as trigrams, similarity('阳光养老服务中心', '养老服务') as score,"
        " '阳光养老服务中心' % '阳光养老中心' as similar",
    )
    assert len(rows[0]["trigrams"]) == 5
    assert rows[0]["score"] > 0
    assert rows[0]["similar"] is True


@pytest.mark.postgres
async def test_a_cloned_database_keeps_schemas_tables_and_who_may_connect(postgres: LocalPostgres) -> None:
    template, clone = f"tmpl_{uuid.uuid4().hex[:8]}", f"test_{uuid.uuid4().hex[:8]}"
    provision_database(postgres.superuser_dsn(), template)
    await fetch_as(postgres, template, "grants", "create table call (title text)")
    await fetch_as(postgres, template, "grants", "insert into call values ('社区养老 2027')")
    admin = await asyncpg.connect(postgres.superuser_dsn())
    await admin.execute("create role outsider login password 'outsider'")
    try:
        clone_database(postgres.superuser_dsn(), template, clone)
        rows = await fetch_as(postgres, clone, "grants", "select title from call")
        assert [r["title"] for r in rows] == ["社区养老 2027"]
        outsider = with_database(postgres.superuser_dsn(), clone, user="outsider", password="outsider")
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="permission denied"):
            await asyncpg.connect(outsider)
    finally:
        drop_database(postgres.superuser_dsn(), clone)
        drop_database(postgres.superuser_dsn(), template)
        await admin.execute("drop role outsider")
        await admin.close()
    assert not await _database_exists(postgres, clone)


async def _database_exists(postgres: LocalPostgres, name: str) -> bool:
    conn = await asyncpg.connect(postgres.superuser_dsn())
    try:
        return bool(await conn.fetchval("select 1 from pg_database where datname = $1", name))
    finally:
        await conn.close()


@pytest.mark.kafka
def test_creating_topics_twice_is_harmless(kafka: LocalKafka) -> None:
    create_topics(kafka.bootstrap, {"registry.organization": 3, "registry.organization.dlt": 3})
    create_topics(kafka.bootstrap, {"registry.organization": 3, "registry.organization.dlt": 3})

    assert asyncio.run(_partition_count(kafka.bootstrap, "registry.organization")) == 3


async def _partition_count(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        return len(described["partitions"])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value, key=b"org-1"), 30)
    finally:
        await asyncio.wait_for(producer.stop(), 30)


async def consume_one(bootstrap: str, topic: str, group: str) -> tuple[bytes, int]:
    """The next record for ``group`` (committed), and the group's position afterwards."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
        await consumer.commit()
        return record.value, record.offset
    finally:
        await asyncio.wait_for(consumer.stop(), 30)


@pytest.mark.kafka
async def test_a_record_sent_with_acks_all_is_consumed_by_a_group_and_outlives_restarts(kafka: LocalKafka) -> None:
    await create_topics_async(kafka.bootstrap, {"grants.call": 1})
    await produce(kafka.bootstrap, "grants.call", b"first")
    assert await consume_one(kafka.bootstrap, "grants.call", "notifications") == (b"first", 0)

    port = kafka.port
    await asyncio.to_thread(kafka.restart)
    assert kafka.port == port
    assert await consume_one(kafka.bootstrap, "grants.call", "evaluation") == (b"first", 0)

    await asyncio.to_thread(kafka.kill)
    await asyncio.to_thread(kafka.start)
    await produce(kafka.bootstrap, "grants.call", b"second")
    # The group's committed offset survived both restarts: it resumes after "first".
    assert await consume_one(kafka.bootstrap, "grants.call", "notifications") == (b"second", 1)


@pytest.mark.kafka
def test_a_broker_that_cannot_start_fails_fast_with_its_log(tmp_path: Path) -> None:
    with port_in_use() as port:
        broker = LocalKafka(tmp_path / "kafka", port=port)
        started = time.monotonic()
        with pytest.raises(KafkaError, match=r"(?s)exited.*first errors.*Address already in use"):
            broker.start(timeout=60)
    assert time.monotonic() - started < 45
    assert not broker.running

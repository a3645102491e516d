"""Bulk imports stage thousands of events in one unit of work: on PostgreSQL they are written in
one statement, with the same per-key sequences and order as one by one."""

from __future__ import annotations

import uuid

import orjson

from shared.outbox import BATCH_THRESHOLD, PendingEvent
from tests.support.samples import sample

ORGS = {name: str(uuid.uuid4()) for name in ("a", "b", "c")}


def _event(key: str, n: int) -> PendingEvent:
    """An `updated` event of organization `key` (the contract's sample, renamed `n` times)."""
    org_id = ORGS[key]
    data = sample("cn.gongyi.registry.organization.updated.v1")["data"]
    name = f"{data['name']}（{n}）"
    return PendingEvent(
        topic="registry.organization",
        key=org_id,
        type="cn.gongyi.registry.organization.updated.v1",
        subject=f"organizations/{org_id}",
        data={**data, "org_id": org_id, "organization": {**data["organization"], "org_id": org_id, "name": name},
              "name": name, "changed": ["name"]},
    )


async def test_a_batch_keeps_per_key_sequences_and_order(pg):
    runtime = pg.runtimes["registry"]
    async with runtime.uow() as uow:
        uow.stage(_event("a", 0))
        await uow.commit()
    staged = [
        _event(key, n)
        for n in range(BATCH_THRESHOLD + 4)
        for key in ("a", "b", "c")
        if (n + len(key)) % 2 or key == "a"
    ]
    assert len(staged) >= BATCH_THRESHOLD
    async with runtime.uow() as uow:
        uow.stage(*staged)
        written = await uow.commit()
    expected: dict[str, int] = {ORGS["a"]: 1}
    for pending, done in zip(staged, written, strict=True):
        expected[pending.key] = expected.get(pending.key, 0) + 1
        assert (done.key, done.sequence, done.data) == (pending.key, expected[pending.key], pending.data)
    await pg.publish()
    records = await pg.bus.read_all(runtime.settings.topic("registry.organization"))
    by_key: dict[str, list[int]] = {}
    for record in records:
        body = orjson.loads(record.value)
        by_key.setdefault(body["partitionkey"], []).append(int(body["sequence"]))
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_key.values())
    assert sum(len(v) for v in by_key.values()) == len(staged) + 1

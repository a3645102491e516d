"""Bulk imports stage thousands of events in one unit of work: on PostgreSQL they are written in
one statement, with the same per-key sequences and order as one by one."""

from __future__ import annotations

import orjson

from shared.outbox import BATCH_THRESHOLD, PendingEvent


def _event(key: str, n: int) -> PendingEvent:
    return PendingEvent(
        topic="registry.organization",
        key=key,
        type="cn.gongyi.registry.organization.updated.v1",
        subject=f"organizations/{key}",
        data={"n": n},
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
    expected: dict[str, int] = {"a": 1}
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

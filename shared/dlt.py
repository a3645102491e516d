"""Dead-letter topics: `<topic>.dlt` records, listing and audited redrive (EVENTS.md).

Contract:
- `dead_letter_record(record, group, error, attempts, first_failure_at, parked_behind=None)` is the
  original key and value with the original headers plus `gongyi-dlt-*` headers (no personal data:
  the error detail is the exception type and a message bounded to 500 characters).
- `list_dead_letters` shows a group's DLT records of a topic with whether the event has since been
  applied (it is in the group's inbox) and whether its key is still parked.
- `redrive` re-publishes a group's DLT records of a topic (optionally one key) to the original topic
  in original-offset order, marking them `gongyi-redrive-for=<group>` and the last one of each key
  `gongyi-redrive-last`; it first sets the key's parked row to `releasing`. The consumer lets the
  marked records through, unparks the key at the last one (or re-parks it if more records were
  parked meanwhile), and other groups skip them through their inbox. Every redrive is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from shared.bus.base import Bus, OutgoingRecord, Record
from shared.tables import Infrastructure
from shared.uow import UnitOfWork

H_GROUP = "gongyi-dlt-group"
H_TOPIC = "gongyi-dlt-original-topic"
H_PARTITION = "gongyi-dlt-original-partition"
H_OFFSET = "gongyi-dlt-original-offset"
H_ERROR_TYPE = "gongyi-dlt-error-type"
H_ERROR_DETAIL = "gongyi-dlt-error-detail"
H_ATTEMPTS = "gongyi-dlt-attempts"
H_FIRST_FAILURE = "gongyi-dlt-first-failure-at"
H_PARKED_BEHIND = "gongyi-dlt-parked-behind"
H_REDRIVE_FOR = "gongyi-redrive-for"
H_REDRIVE_LAST = "gongyi-redrive-last"

DLT_SUFFIX = ".dlt"


def dlt_topic(topic: str) -> str:
    return topic + DLT_SUFFIX


def _strip(headers: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    return [(k, v) for k, v in headers if not k.startswith(("gongyi-dlt-", "gongyi-redrive-"))]


def dead_letter_record(
    record: Record,
    *,
    group: str,
    error: BaseException | str,
    attempts: int,
    first_failure_at: datetime,
    parked_behind: str | None = None,
) -> OutgoingRecord:
    if isinstance(error, BaseException):
        error_type = type(error).__name__
        detail = str(error)
    else:
        error_type, detail = "Parked", error
    headers = _strip(record.headers) + [
        (H_GROUP, group.encode()),
        (H_TOPIC, record.topic.encode()),
        (H_PARTITION, str(record.partition).encode()),
        (H_OFFSET, str(record.offset).encode()),
        (H_ERROR_TYPE, error_type.encode()),
        (H_ERROR_DETAIL, detail[:500].encode("utf-8", "replace")),
        (H_ATTEMPTS, str(attempts).encode()),
        (H_FIRST_FAILURE, first_failure_at.astimezone(UTC).isoformat().encode()),
    ]
    if parked_behind:
        headers.append((H_PARKED_BEHIND, parked_behind.encode()))
    return OutgoingRecord(topic=dlt_topic(record.topic), key=record.key, value=record.value, headers=headers)


@dataclass(frozen=True)
class DeadLetter:
    record: Record
    group: str
    original_topic: str
    original_partition: int
    original_offset: int
    event_id: str
    key: str
    error_type: str
    error_detail: str
    attempts: int
    parked_behind: str | None

    @classmethod
    def from_record(cls, record: Record) -> DeadLetter:
        def h(name: str) -> str:
            value = record.header(name)
            return value.decode("utf-8", "replace") if value is not None else ""

        return cls(
            record=record,
            group=h(H_GROUP),
            original_topic=h(H_TOPIC),
            original_partition=int(h(H_PARTITION) or 0),
            original_offset=int(h(H_OFFSET) or 0),
            event_id=h("ce_id"),
            key=(record.key or b"").decode("utf-8", "replace"),
            error_type=h(H_ERROR_TYPE),
            error_detail=h(H_ERROR_DETAIL),
            attempts=int(h(H_ATTEMPTS) or 0),
            parked_behind=h(H_PARKED_BEHIND) or None,
        )


async def read_dead_letters(bus: Bus, *, group: str, topic: str, key: str | None = None) -> list[DeadLetter]:
    """The group's DLT records of `topic` (physical name), deduplicated by event id, in original order."""
    seen: set[str] = set()
    letters: list[DeadLetter] = []
    records = sorted(
        (DeadLetter.from_record(r) for r in await bus.read_all(dlt_topic(topic))),
        key=lambda d: (d.original_partition, d.original_offset),
    )
    for letter in records:
        if letter.group != group or letter.original_topic != topic:
            continue
        if key is not None and letter.key != key:
            continue
        if letter.event_id in seen:
            continue
        seen.add(letter.event_id)
        letters.append(letter)
    return letters


@dataclass(frozen=True)
class DeadLetterStatus:
    letter: DeadLetter
    applied: bool
    key_parked: bool


async def list_dead_letters(
    bus: Bus, uow: UnitOfWork, *, group: str, topic: str, logical_topic: str, key: str | None = None
) -> list[DeadLetterStatus]:
    infra = uow.infra
    letters = await read_dead_letters(bus, group=group, topic=topic, key=key)
    parked = {
        row[0]
        for row in await uow.conn.execute(
            select(infra.parked_keys.c.key).where(
                infra.parked_keys.c.consumer == group, infra.parked_keys.c.topic == logical_topic
            )
        )
    }
    applied: set[str] = set()
    ids = [letter.event_id for letter in letters]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        applied.update(
            row[0]
            for row in await uow.conn.execute(
                select(infra.inbox.c.event_id).where(infra.inbox.c.consumer == group, infra.inbox.c.event_id.in_(chunk))
            )
        )
    return [DeadLetterStatus(letter, letter.event_id in applied, letter.key in parked) for letter in letters]


async def redrive(
    bus: Bus,
    uow: UnitOfWork,
    *,
    group: str,
    topic: str,
    logical_topic: str,
    key: str | None = None,
) -> int:
    """Re-publish the group's dead letters of `topic` in order; returns how many were re-published.

    The caller's unit of work is committed here, before publishing, so the consumer sees the key as
    `releasing` by the time the first redriven record arrives.
    """
    infra: Infrastructure = uow.infra
    letters = await read_dead_letters(bus, group=group, topic=topic, key=key)
    by_key: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        by_key.setdefault(letter.key, []).append(letter)
    pk = infra.parked_keys
    for k in by_key:
        row = (
            await uow.conn.execute(
                select(pk.c.parked_count).where(pk.c.consumer == group, pk.c.topic == logical_topic, pk.c.key == k)
            )
        ).first()
        if row is not None:
            await uow.conn.execute(
                update(pk)
                .where(pk.c.consumer == group, pk.c.topic == logical_topic, pk.c.key == k)
                .values(status="releasing", release_count=row[0])
            )
    uow.audit(
        "dlt.redrive",
        f"dlt/{group}/{logical_topic}",
        {"key": key, "keys": sorted(by_key), "records": len(letters)},
    )
    await uow.commit()
    outgoing: list[OutgoingRecord] = []
    for k, group_letters in by_key.items():
        for index, letter in enumerate(group_letters):
            headers = _strip(letter.record.headers) + [(H_REDRIVE_FOR, group.encode())]
            if index == len(group_letters) - 1:
                headers.append((H_REDRIVE_LAST, b"1"))
            outgoing.append(OutgoingRecord(topic=topic, key=k.encode(), value=letter.record.value, headers=headers))
    for result in await bus.append_many(outgoing):
        if isinstance(result, BaseException):
            raise result
    return len(outgoing)

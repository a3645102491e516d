"""Grades as evaluation publishes them (`evaluation.rating`): the registry keeps them only to show
`current_grade` and `pending_grade` in standing and statistics; it never decides one."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_
from sqlmodel import select

from services.registry.domain.standing import GRADES
from services.registry.models import Grade
from shared.consumer import PermanentError
from shared.envelope import CloudEvent
from shared.uow import UnitOfWork


def _date(data: dict[str, Any], name: str, *, required: bool = True) -> date | None:
    value = data.get(name)
    if value is None and not required:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise PermanentError(f"{name} is not a date: {value!r}") from None


def _org_id(event: CloudEvent) -> str:
    org_id = event.data.get("org_id") or event.partitionkey
    if not isinstance(org_id, str) or not org_id or len(org_id) > 36:
        raise PermanentError("the rating event has no org_id")
    return org_id


def _grade(value: Any) -> str:
    if value not in GRADES:
        raise PermanentError(f"unknown grade {value!r}")
    return str(value)


async def _open_spans(uow: UnitOfWork, org_id: str) -> list[Grade]:
    stmt = select(Grade).where(
        Grade.org_id == org_id, or_(Grade.ended_on.is_(None), Grade.ended_on >= Grade.valid_from)
    )  # type: ignore[union-attr, operator]
    return list((await uow.session.exec(stmt)).all())


def _end(row: Grade, last_day: date, reason: str) -> None:
    if row.ended_on is None or row.ended_on > last_day:
        row.ended_on, row.end_reason = last_day, reason


async def _add(
    uow: UnitOfWork, event: CloudEvent, org_id: str, grade: str, valid_from: date, valid_until: date
) -> None:
    data = event.data
    rule_set = data.get("rule_set") if isinstance(data.get("rule_set"), dict) else {}
    uow.session.add(
        Grade(
            org_id=org_id,
            grade=grade,
            valid_from=valid_from,
            valid_until=valid_until,
            evaluation_id=str(data.get("evaluation_id") or "")[:64] or None,
            decided_on=_date(data, "decided_on", required=False),
            announced_on=_date(data, "announced_on", required=False),
            rule_set_id=str(rule_set.get("id") or "")[:100] or None,
            source_event_id=event.id,
        )
    )


async def record_grade_on_rating_published(uow: UnitOfWork, event: CloudEvent) -> None:
    org_id = _org_id(event)
    grade = _grade(event.data.get("grade"))
    valid_from, valid_until = _date(event.data, "valid_from"), _date(event.data, "valid_until")
    assert valid_from is not None and valid_until is not None
    for row in await _open_spans(uow, org_id):
        # A new grade replaces the old one from its own first day (a re-evaluation under
        # national-2026 starts on 1 January next: the old grade stays in force until then).
        if row.valid_from >= valid_from:
            _end(row, row.valid_from - timedelta(days=1), "superseded")
        elif row.valid_until >= valid_from:
            _end(row, valid_from - timedelta(days=1), "superseded")
        uow.session.add(row)
    await _add(uow, event, org_id, grade, valid_from, valid_until)


async def record_grade_on_rating_downgraded(uow: UnitOfWork, event: CloudEvent) -> None:
    org_id = _org_id(event)
    effective_on = _date(event.data, "effective_on")
    assert effective_on is not None
    for row in await _open_spans(uow, org_id):
        _end(row, effective_on - timedelta(days=1), "downgraded")
        uow.session.add(row)
    if event.data.get("grade") is not None:
        valid_from = _date(event.data, "valid_from", required=False) or effective_on
        valid_until = _date(event.data, "valid_until")
        assert valid_until is not None
        await _add(uow, event, org_id, _grade(event.data["grade"]), valid_from, valid_until)


async def end_grade_on_rating_revoked(uow: UnitOfWork, event: CloudEvent) -> None:
    org_id = _org_id(event)
    effective_on = _date(event.data, "effective_on")
    assert effective_on is not None
    for row in await _open_spans(uow, org_id):
        if row.valid_from <= effective_on:
            _end(row, effective_on - timedelta(days=1), "revoked")
            uow.session.add(row)


async def end_grade_on_rating_expired(uow: UnitOfWork, event: CloudEvent) -> None:
    org_id = _org_id(event)
    valid_until = _date(event.data, "valid_until", required=False) or _date(event.data, "effective_on")
    assert valid_until is not None
    for row in await _open_spans(uow, org_id):
        if row.valid_from <= valid_until <= row.valid_until:
            _end(row, valid_until, "expired")
            uow.session.add(row)

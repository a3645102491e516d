"""Committee decision, public notice, appeal (复核) and publication of a grade (DOMAIN.md §2, §5).

- The decision is recorded by an officer of the round's region with its quorum (≥ 2/3 present,
  majority of all members) and starts the public notice: N working days on the official calendar
  from the next working day, ending at 24:00 Asia/Shanghai (a job fires then).
- Appeals are accepted only while the notice runs; after it, 409 `appeal.notice_ended`.
- When the notice has ended and no appeal is pending, the grade is published with its validity per
  the rule set (`valid_from` in the future = pending). Earlier live grades are superseded from the
  new `valid_from`. Each step stores a decision row with the documents and numbers it used.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from services.evaluation import events
from services.evaluation.domain.points import Invalid, RuleBroken, fmt
from services.evaluation.domain.rating import (
    Quorum,
    appeal_notify_by,
    check_appeal_window,
    check_quorum,
    public_notice,
    require_status,
)
from services.evaluation.domain.rulesets import RuleSet, validity
from services.evaluation.handlers.after import live_grades
from services.evaluation.handlers.catalog import get_document
from services.evaluation.handlers.context import Context, execute, get_evaluation, require_officer, today
from services.evaluation.handlers.rounds import get_round
from services.evaluation.models import Appeal, Decision, Evaluation, Grade
from shared.auth import Principal
from shared.problems import Conflict, NotFound
from shared.uow import UnitOfWork


def _event(verb: str, ev: Evaluation, **data: Any) -> Any:
    return events.rating_event(
        verb,
        org_id=ev.org_id,
        organization=ev.organization,
        region_code=ev.region_code,
        evaluation_id=ev.id,
        round_id=ev.round_id,
        **data,
    )


async def _rule_set(ctx: Context, uow: UnitOfWork, ev: Evaluation) -> RuleSet:
    assert ev.rule_set_id is not None
    _, rule_set = await get_document(ctx, uow, "rule_set", ev.rule_set_id, ev.rule_set_version)
    assert isinstance(rule_set, RuleSet)
    return rule_set


async def decide(
    ctx: Context, uow: UnitOfWork, principal: Principal, evaluation_id: str, body: dict[str, Any]
) -> Evaluation:
    ev = await get_evaluation(uow, evaluation_id, lock=True)
    rnd = await get_round(uow, ev.round_id or "")
    require_officer(principal, rnd.region_code)  # recorded by an officer of the round's region
    if ev.purpose != "rating":
        raise NotFound(f"no rating evaluation {evaluation_id}")
    require_status(ev.status, ("proposed",), "record the committee decision")
    rule_set = await _rule_set(ctx, uow, ev)
    quorum = Quorum(**body["quorum"])
    check_quorum(quorum, rule_set)
    day = today(uow)
    decided_on: date = body.get("decided_on") or day
    if decided_on > day:
        raise Invalid([{"field": "decided_on", "message": "a decision cannot be dated in the future"}])
    grade = body.get("grade", ev.proposed_grade)
    if grade != ev.proposed_grade and not body.get("reason"):
        raise Invalid(
            [
                {
                    "field": "reason",
                    "message": f"the committee departs from the proposed grade "
                    f"{ev.proposed_grade or 'none'}: state the reason",
                }
            ]
        )
    notice = public_notice(ctx.calendar, decided_at=uow.now, working_days=rnd.notice_working_days)
    ev.decided_grade, ev.decided_on = grade, decided_on
    ev.quorum = {"members": quorum.members, "present": quorum.present, "in_favour": quorum.in_favour}
    ev.notice_starts_on, ev.notice_ends_at = notice.starts_on, notice.ends_at
    ev.status, ev.version, ev.updated_at = "noticed", ev.version + 1, uow.now
    uow.session.add(
        Decision(
            id=str(uuid.uuid4()),
            evaluation_id=ev.id,
            org_id=ev.org_id,
            kind="committee",
            decided_on=decided_on,
            at=uow.now,
            grade=grade,
            previous_grade=None,
            total=ev.total,
            quorum=ev.quorum,
            rule_set_id=ev.rule_set_id,
            rule_set_version=ev.rule_set_version,
            band_table_id=ev.band_table_id,
            band_table_version=ev.band_table_version,
            template_id=ev.template_id,
            template_version=ev.template_version,
            decided_by=principal.sub,
            detail={
                "proposed_grade": ev.proposed_grade,
                "total": fmt(ev.total) if ev.total is not None else None,
                "spread": fmt(ev.spread) if ev.spread is not None else None,
                "outliers": ev.outliers,
                "reason": body.get("reason"),
                "notice_working_days": rnd.notice_working_days,
                "notice_ends_at": notice.ends_at.isoformat(),
            },
        )
    )
    uow.schedule("rating.notice_end", ev.id, notice.ends_at)
    uow.stage(
        _event(
            "publicly_noticed",
            ev,
            proposed_grade=grade,
            decided_on=decided_on,
            notice_starts_on=notice.starts_on,
            notice_ends_at=notice.ends_at,
        )
    )
    uow.audit(
        "evaluation.decided",
        f"evaluations/{ev.id}",
        {"grade": grade, "quorum": ev.quorum, "rule_set": rule_set.ref, "notice_ends_at": notice.ends_at.isoformat()},
    )
    return ev


async def _pending_appeal(uow: UnitOfWork, evaluation_id: str) -> Appeal | None:
    stmt = select(Appeal).where(Appeal.evaluation_id == evaluation_id, Appeal.status == "pending")  # type: ignore[arg-type]
    return (await execute(uow, stmt)).scalar_one_or_none()


async def notice_end_job(ctx: Context, uow: UnitOfWork, key: str, due_at: datetime) -> None:
    ev = await get_evaluation(uow, key, lock=True)
    if ev.status != "noticed" or ev.notice_ends_at is None or uow.now < ev.notice_ends_at:
        return
    if await _pending_appeal(uow, ev.id) is not None:
        return  # published when the appeal is decided
    await publish(ctx, uow, ev, announced_on=today(uow), by="schedule")


async def publish(ctx: Context, uow: UnitOfWork, ev: Evaluation, *, announced_on: date, by: str) -> None:
    rule_set = await _rule_set(ctx, uow, ev)
    ev.announced_on, ev.version, ev.updated_at = announced_on, ev.version + 1, uow.now
    if ev.decided_grade is None:
        ev.status = "concluded"  # no grade: nothing to publish
        uow.audit(
            "evaluation.concluded_without_grade", f"evaluations/{ev.id}", {"announced_on": announced_on.isoformat()}
        )
        return
    assert ev.decided_on is not None
    valid_from, valid_until = validity(rule_set, decided_on=ev.decided_on, announced_on=announced_on)
    grade = Grade(
        id=str(uuid.uuid4()),
        org_id=ev.org_id,
        organization=ev.organization,
        region_code=ev.region_code,
        evaluation_id=ev.id,
        round_id=ev.round_id,
        grade=ev.decided_grade,
        decided_on=ev.decided_on,
        announced_on=announced_on,
        valid_from=valid_from,
        valid_until=valid_until,
        rule_set_id=rule_set.id,
        rule_set_version=rule_set.version,
        status="active",
        created_at=uow.now,
    )
    for older in await live_grades(uow, ev.org_id, today(uow), lock=True):
        older.status = "superseded"
        end = valid_from - timedelta(days=1)
        older.ended_on = min(older.ended_on, end) if older.ended_on else end
        older.end_reason = "superseded"
    uow.session.add(grade)
    ev.status, ev.grade_id = "published", grade.id
    uow.stage(
        _event(
            "published",
            ev,
            grade=grade.grade,
            decided_on=ev.decided_on,
            announced_on=announced_on,
            valid_from=valid_from,
            valid_until=valid_until,
            rule_set=rule_set.ref,
        )
    )
    uow.audit(
        "rating.published",
        f"organizations/{ev.org_id}/rating",
        {
            "evaluation_id": ev.id,
            "grade": grade.grade,
            "valid_from": valid_from.isoformat(),
            "valid_until": valid_until.isoformat(),
            "rule_set": rule_set.ref,
            "by": by,
        },
    )


async def file_appeal(ctx: Context, uow: UnitOfWork, principal: Principal, evaluation_id: str, grounds: str) -> Appeal:
    ev = await get_evaluation(uow, evaluation_id, lock=True)
    if principal.role != "org" or principal.org_id != ev.org_id:
        raise NotFound(f"no evaluation {evaluation_id}")
    rule_set = await _rule_set(ctx, uow, ev)
    if ev.status == "noticed" and ev.notice_ends_at is not None:
        check_appeal_window(now=uow.now, notice_ends_at=ev.notice_ends_at, rule_set=rule_set)
    elif ev.status in ("published", "concluded"):
        raise RuleBroken(
            "appeal.notice_ended",
            "the public notice has ended and the result is published; appeals (复核) are filed during the notice",
            rule_set.appeal_basis,
            status=409,
        )
    else:
        require_status(ev.status, ("noticed",), "appeal")
    if await _pending_appeal(uow, ev.id) is not None:
        raise Conflict("an appeal of this evaluation is already pending", code="appeal.pending")
    appeal = Appeal(
        id=str(uuid.uuid4()),
        evaluation_id=ev.id,
        org_id=ev.org_id,
        grounds=grounds,
        filed_at=uow.now,
        filed_on=today(uow),
        filed_by=principal.sub,
        status="pending",
    )
    uow.session.add(appeal)
    uow.stage(_event("appealed", ev, appeal_id=appeal.id, filed_on=appeal.filed_on))
    uow.audit("evaluation.appealed", f"evaluations/{ev.id}", {"appeal_id": appeal.id})
    return appeal


async def decide_appeal(
    ctx: Context, uow: UnitOfWork, principal: Principal, appeal_id: str, body: dict[str, Any]
) -> Appeal:
    appeal = await uow.session.get(Appeal, appeal_id, with_for_update=True)
    if appeal is None:
        raise NotFound(f"no appeal {appeal_id}")
    ev = await get_evaluation(uow, appeal.evaluation_id, lock=True)
    require_officer(principal, (await get_round(uow, ev.round_id or "")).region_code)
    if appeal.status != "pending":
        raise Conflict(f"the appeal is already {appeal.status}", code="appeal.decided")
    rule_set = await _rule_set(ctx, uow, ev)
    decision = body["decision"]
    day = today(uow)
    previous = ev.decided_grade
    if decision == "upheld":
        if "grade" not in body:
            raise Invalid([{"field": "grade", "message": "an upheld appeal states the grade after review (or null)"}])
        ev.decided_grade = body["grade"]
    appeal.status, appeal.decided_on, appeal.decided_by = decision, day, principal.sub
    appeal.decision_reason, appeal.grade_after = body.get("reason"), ev.decided_grade
    appeal.notify_by = appeal_notify_by(ctx.calendar, day, rule_set)
    appeal.version += 1
    uow.session.add(
        Decision(
            id=str(uuid.uuid4()),
            evaluation_id=ev.id,
            org_id=ev.org_id,
            kind="appeal",
            decided_on=day,
            at=uow.now,
            grade=ev.decided_grade,
            previous_grade=previous,
            total=ev.total,
            quorum=body.get("quorum"),
            rule_set_id=ev.rule_set_id,
            rule_set_version=ev.rule_set_version,
            band_table_id=ev.band_table_id,
            band_table_version=ev.band_table_version,
            template_id=ev.template_id,
            template_version=ev.template_version,
            decided_by=principal.sub,
            detail={
                "appeal_id": appeal.id,
                "decision": decision,
                "reason": body.get("reason"),
                "decided_by_body": rule_set.appeal_decided_by,
                "notify_by": appeal.notify_by.isoformat(),
            },
        )
    )
    uow.stage(
        _event("appeal_decided", ev, appeal_id=appeal.id, decision=decision, decided_on=day, grade=ev.decided_grade)
    )
    uow.audit(
        "evaluation.appeal_decided",
        f"evaluations/{ev.id}",
        {"appeal_id": appeal.id, "decision": decision, "grade": ev.decided_grade, "previous_grade": previous},
    )
    if ev.status == "noticed" and ev.notice_ends_at is not None and uow.now >= ev.notice_ends_at:
        await publish(ctx, uow, ev, announced_on=day, by=principal.sub)
    return appeal

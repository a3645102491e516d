"""The facts notifications keeps from events, and the reminders they schedule.

Reminder jobs are keyed by the thing they remind about and scheduled for one instant; a changed
deadline schedules a new occurrence and the job ignores an occurrence that no longer matches the
current deadline (scheduler jobs are idempotent per (job, key, due_at)).
"""

from __future__ import annotations

from sqlalchemy import update

from services.notifications.consumers import Incoming
from services.notifications.domain import reminders
from services.notifications.handlers.common import table, text_or, upsert
from services.notifications.handlers.deps import Deps
from services.notifications.models import (
    AnnualReportFact,
    ApplicationFact,
    AssessmentFact,
    AssignmentFact,
    AwardFact,
    CallFact,
    NoticeFact,
    OrganizationFact,
)
from shared.uow import UnitOfWork

CALL_CLOSING = "reminder.call_closing"
NOTICE_ENDING = "reminder.notice_ending"
ASSESSMENT_DUE = "reminder.assessment_due"
ANNUAL_REPORT = "reminder.annual_report_due"
DIGEST = "digest.daily"
PRUNE = "deliveries.prune"

_CALL_STATUS = {
    "grants.call.published": "published",
    "grants.call.opened": "open",
    "grants.call.closed": "closed",
    "grants.call.cancelled": "cancelled",
}
_APPLICATION_STATUS = {
    "grants.application.drafted": "draft",
    "grants.application.submitted": "submitted",
    "grants.application.withdrawn": "withdrawn",
}
_NOTICE_CLOSERS = {
    "grants.award.confirmed",
    "grants.award.objection_upheld",
    "grants.award.terminated",
    "evaluation.rating.published",
    "evaluation.rating.appeal_decided",
}


async def remember(uow: UnitOfWork, deps: Deps, incoming: Incoming) -> None:
    name = incoming.name
    topic = ".".join(name.split(".")[:2])
    if topic == "registry.organization":
        await _organization(uow, incoming)
    elif name in _CALL_STATUS:
        await _call(uow, deps, incoming, _CALL_STATUS[name])
    elif name in _APPLICATION_STATUS:
        await _application(uow, incoming, _APPLICATION_STATUS[name])
    elif topic == "grants.award":
        await _award(uow, deps, incoming)
    elif topic == "evaluation.assessment":
        await _assessment(uow, deps, incoming)
    elif topic == "evaluation.rating":
        await _rating(uow, deps, incoming)


async def _organization(uow: UnitOfWork, incoming: Incoming) -> None:
    org_id = incoming.org_id
    if org_id is None:
        return
    values = {"org_id": org_id, "updated_at": uow.now}
    if incoming.org_name:
        values["name"] = incoming.org_name[:300]
    for key in ("kind", "region_code", "status"):
        if (value := incoming.text(key)) is not None:
            values[key] = value
    if incoming.name == "registry.organization.registered":
        values["dual_managed"] = incoming.data.get("supervising_unit") is not None
    await upsert(uow, OrganizationFact, values, keys=["org_id"])
    if incoming.name == "registry.organization.annual_report_recorded":
        year = incoming.data.get("year")
        if isinstance(year, int):
            await upsert(
                uow,
                AnnualReportFact,
                {
                    "org_id": org_id,
                    "year": year,
                    "result": text_or(incoming.data.get("result")),
                    "recorded_at": uow.now,
                },
                keys=["org_id", "year"],
            )


async def _call(uow: UnitOfWork, deps: Deps, incoming: Incoming, status: str) -> None:
    call_id = incoming.text("call_id")
    if call_id is None:
        return
    values: dict[str, object] = {"call_id": call_id, "status": status, "updated_at": uow.now}
    for key in ("title", "call_type", "region_code"):
        if (value := incoming.text(key)) is not None:
            values[key] = value[:300]
    closes_at = incoming.instant("closes_at")
    if closes_at is not None:
        values["closes_at"] = closes_at
    await upsert(uow, CallFact, values, keys=["call_id"])
    if status in ("published", "open") and closes_at is not None:
        at = reminders.before_deadline(
            closes_at,
            working_days=deps.settings.reminder_call_closing_working_days,
            hour=deps.settings.reminder_hour,
            calendar=deps.calendar(),
            now=uow.now,
        )
        if at is not None:
            uow.schedule(CALL_CLOSING, call_id, at)


async def _application(uow: UnitOfWork, incoming: Incoming, status: str) -> None:
    application_id, call_id, org_id = incoming.text("application_id"), incoming.text("call_id"), incoming.org_id
    if application_id is None or call_id is None or org_id is None:
        return
    values: dict[str, object] = {
        "application_id": application_id,
        "call_id": call_id,
        "org_id": org_id,
        "status": status,
        "updated_at": uow.now,
    }
    if (title := incoming.text("project_title")) is not None:
        values["project_title"] = title[:300]
    await upsert(uow, ApplicationFact, values, keys=["application_id"])


async def _award(uow: UnitOfWork, deps: Deps, incoming: Incoming) -> None:
    award_id, org_id = incoming.text("award_id"), incoming.org_id
    if award_id is None or org_id is None:
        return
    values: dict[str, object] = {"award_id": award_id, "org_id": org_id, "updated_at": uow.now}
    if (call_id := incoming.text("call_id")) is not None:
        values["call_id"] = call_id
    if (region := incoming.region_code) is not None:
        values["region_code"] = region
    await upsert(uow, AwardFact, values, keys=["award_id"])
    if incoming.name == "grants.award.publicly_noticed":
        await _notice(uow, deps, f"award:{award_id}", "award", incoming)
    elif incoming.name in _NOTICE_CLOSERS:
        await _close_notice(uow, f"award:{award_id}")


async def _rating(uow: UnitOfWork, deps: Deps, incoming: Incoming) -> None:
    name, evaluation_id = incoming.name, incoming.text("evaluation_id")
    if evaluation_id is None:
        return
    evaluator = incoming.text("evaluator_sub")
    if name == "evaluation.rating.assigned" and evaluator is not None:
        await upsert(
            uow,
            AssignmentFact,
            {
                "evaluation_id": evaluation_id,
                "evaluator_sub": evaluator,
                "round_id": incoming.text("round_id"),
                "org_id": incoming.org_id or "",
                "status": "assigned",
                "updated_at": uow.now,
            },
            keys=["evaluation_id", "evaluator_sub"],
        )
    elif name == "evaluation.rating.scored" and evaluator is not None:
        await _assignment_status(uow, evaluation_id, evaluator, "scored")
    elif name == "evaluation.rating.recusal_decided" and evaluator is not None:
        if incoming.text("decision") == "upheld":
            await _assignment_status(uow, evaluation_id, evaluator, "recused")
    elif name == "evaluation.rating.publicly_noticed":
        await _notice(uow, deps, f"rating:{evaluation_id}", "rating", incoming)
    elif name in _NOTICE_CLOSERS:
        await _close_notice(uow, f"rating:{evaluation_id}")


async def _assignment_status(uow: UnitOfWork, evaluation_id: str, evaluator: str, status: str) -> None:
    a = table(AssignmentFact)
    await uow.conn.execute(
        update(a)
        .where(a.c.evaluation_id == evaluation_id, a.c.evaluator_sub == evaluator)
        .values(status=status, updated_at=uow.now)
    )


async def _notice(uow: UnitOfWork, deps: Deps, notice_id: str, kind: str, incoming: Incoming) -> None:
    ends_at, org_id = incoming.instant("notice_ends_at"), incoming.org_id
    if ends_at is None or org_id is None:
        return
    await upsert(
        uow,
        NoticeFact,
        {
            "notice_id": notice_id,
            "kind": kind,
            "org_id": org_id,
            "region_code": incoming.region_code or "",
            "ends_at": ends_at,
            "status": "open",
            "updated_at": uow.now,
        },
        keys=["notice_id"],
    )
    at = reminders.on_last_day(ends_at, hour=deps.settings.reminder_hour, now=uow.now)
    if at is not None:
        uow.schedule(NOTICE_ENDING, notice_id, at)


async def _close_notice(uow: UnitOfWork, notice_id: str) -> None:
    n = table(NoticeFact)
    await uow.conn.execute(update(n).where(n.c.notice_id == notice_id).values(status="closed", updated_at=uow.now))


async def _assessment(uow: UnitOfWork, deps: Deps, incoming: Incoming) -> None:
    assessment_id, award_id, org_id = incoming.text("assessment_id"), incoming.text("award_id"), incoming.org_id
    if assessment_id is None or award_id is None or org_id is None:
        return
    if incoming.name == "evaluation.assessment.completed":
        await upsert(
            uow,
            AssessmentFact,
            {
                "assessment_id": assessment_id,
                "award_id": award_id,
                "org_id": org_id,
                "stage": incoming.text("stage") or "",
                "status": "completed",
                "updated_at": uow.now,
            },
            keys=["assessment_id"],
        )
        return
    due_on = incoming.day("due_on")
    await upsert(
        uow,
        AssessmentFact,
        {
            "assessment_id": assessment_id,
            "award_id": award_id,
            "org_id": org_id,
            "stage": incoming.text("stage") or "",
            "due_on": due_on,
            "status": "scheduled",
            "updated_at": uow.now,
        },
        keys=["assessment_id"],
    )
    if due_on is not None:
        at = reminders.before_deadline(
            reminders.due_on_deadline(due_on),
            working_days=deps.settings.reminder_assessment_working_days,
            hour=deps.settings.reminder_hour,
            calendar=deps.calendar(),
            now=uow.now,
        )
        if at is not None:
            uow.schedule(ASSESSMENT_DUE, assessment_id, at)

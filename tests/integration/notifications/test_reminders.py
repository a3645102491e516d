"""Scheduled reminders (DOMAIN.md §4) computed in Asia/Shanghai working days, driven by the clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.workdays import SHANGHAI
from tests.unit.notifications.samples import (
    EVALUATOR,
    ORG_ID,
    ORGANIZATION,
    ROUND_ID,
    sample,
)

OTHER_ORG = "0b0e4c1a-3a51-4c5e-9a11-2f7c1b1d0002"
OTHER = {**ORGANIZATION, "org_id": OTHER_ORG, "name": "白云区阳光社区服务中心", "id": "52440111MJK0000001"}


def beijing(*args):
    """An instant given in Beijing time."""
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


async def reminded(w, headers, name):
    items = (await w.client.get("/notifications/v1/inbox", headers=headers)).json()["items"]
    return [i for i in items if i["notification_type"] == name]


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_call_closing_in_three_working_days_reaches_organizations_with_a_draft(world, db):
    w = await world(db)
    drafter = await w.join("org", org_id=ORG_ID, email="a@example.org", sub="org-a")
    submitter = await w.join("org", org_id=OTHER_ORG, sub="org-b")
    await w.emitter.emit("grants.call.published", sample("grants.call.published"))  # closes 31 March 24:00
    await w.emitter.emit("grants.application.drafted", sample("grants.application.drafted"))
    other_app = "0b0e4c1a-3a51-4c5e-9a11-2f7c1b1d00b2"
    for verb in ("drafted", "submitted"):
        data = sample(f"grants.application.{verb}", application_id=other_app, org_id=OTHER_ORG, organization=OTHER)
        await w.emitter.emit(f"grants.application.{verb}", data)
    await w.stack.settle()

    w.stack.clock.set(beijing(2026, 3, 26, 8, 59))
    await w.stack.settle()
    assert await reminded(w, drafter, "reminder.call_closing") == []
    await w.stack.advance(minutes=1)  # Thursday 26 March 09:00: Fri, Mon, Tue are left
    [item] = await reminded(w, drafter, "reminder.call_closing")
    assert "2026年白云区公益创投活动" in item["title"] and "2026年3月31日24:00" in item["body"]
    assert await reminded(w, submitter, "reminder.call_closing") == []
    assert any("申报即将截止" in m["Subject"] for _, m in w.smtp.messages)
    await w.stack.advance(days=1)
    assert len(await reminded(w, drafter, "reminder.call_closing")) == 1


async def test_an_extended_call_reminds_for_its_new_deadline_only(world):
    w = await world()
    drafter = await w.join("org", org_id=ORG_ID, sub="org-a")
    await w.emitter.emit("grants.call.published", sample("grants.call.published"))
    await w.emitter.emit("grants.application.drafted", sample("grants.application.drafted"))
    await w.emitter.emit("grants.call.opened", sample("grants.call.opened", closes_at="2026-04-15T16:00:00Z"))
    await w.stack.settle()
    w.stack.clock.set(beijing(2026, 3, 27, 12, 0))
    await w.stack.settle()
    assert await reminded(w, drafter, "reminder.call_closing") == []
    w.stack.clock.set(beijing(2026, 4, 10, 9, 0))  # Friday: Mon 13, Tue 14, Wed 15 April are left
    await w.stack.settle()
    [item] = await reminded(w, drafter, "reminder.call_closing")
    assert "2026年4月15日24:00" in item["body"]


async def test_a_submitted_draft_and_a_cancelled_call_remind_nobody(world):
    w = await world()
    drafter = await w.join("org", org_id=ORG_ID, sub="org-a")
    await w.emitter.emit("grants.call.published", sample("grants.call.published"))
    await w.emitter.emit("grants.application.drafted", sample("grants.application.drafted"))
    await w.stack.settle()  # another topic: not ordered with the call's records
    await w.emitter.emit("grants.call.cancelled", sample("grants.call.cancelled"))
    await w.stack.settle()
    [cancelled] = await reminded(w, drafter, "grants.call.cancelled")
    assert "预算调整" in cancelled["body"]
    w.stack.clock.set(beijing(2026, 3, 26, 9, 0))
    await w.stack.settle()
    assert await reminded(w, drafter, "reminder.call_closing") == []


async def test_public_notice_ending_reminds_on_its_last_morning_unless_already_closed(world):
    w = await world()
    org = await w.join("org", org_id=ORG_ID, sub="org-a")
    notice = sample(
        "grants.award.publicly_noticed", notice_starts_on="2026-03-03", notice_ends_at="2026-03-06T16:00:00Z"
    )
    await w.emitter.emit("grants.award.publicly_noticed", notice)
    rating = sample("evaluation.rating.publicly_noticed", notice_ends_at="2026-03-09T16:00:00Z")
    await w.emitter.emit("evaluation.rating.publicly_noticed", rating)
    await w.stack.settle()
    await w.emitter.emit("evaluation.rating.published", sample("evaluation.rating.published"))
    await w.stack.settle()
    w.stack.clock.set(beijing(2026, 3, 6, 9, 0))
    await w.stack.settle()
    [item] = await reminded(w, org, "reminder.notice_ending")
    assert "资助结果公示期将于2026年3月6日24:00结束" in item["body"]
    w.stack.clock.set(beijing(2026, 3, 9, 10, 0))
    await w.stack.settle()
    assert len(await reminded(w, org, "reminder.notice_ending")) == 1  # the rating notice closed early


async def test_assessment_materials_are_reminded_five_working_days_before_they_are_due(world):
    w = await world()
    org = await w.join("org", org_id=ORG_ID, sub="org-a")
    await w.emitter.emit(
        "evaluation.assessment.scheduled", sample("evaluation.assessment.scheduled", due_on="2026-03-20")
    )
    await w.stack.settle()
    [scheduled] = await reminded(w, org, "evaluation.assessment.scheduled")
    assert "2026年3月20日" in scheduled["body"]
    w.stack.clock.set(beijing(2026, 3, 13, 8, 0))
    await w.stack.settle()
    assert await reminded(w, org, "reminder.assessment_due") == []
    w.stack.clock.set(beijing(2026, 3, 13, 9, 0))  # Friday 13: 16–20 March are the five left
    await w.stack.settle()
    [item] = await reminded(w, org, "reminder.assessment_due")
    assert "中期评估" in item["body"] and "2026年3月20日" in item["body"]


async def test_annual_reports_not_yet_recorded_are_reminded_once_in_the_window(world):
    w = await world()
    late = await w.join("org", org_id=ORG_ID, sub="org-a")
    filed = await w.join("org", org_id=OTHER_ORG, sub="org-b")
    await w.emitter.emit("registry.organization.registered", sample("registry.organization.registered"))
    registered = sample("registry.organization.registered", org_id=OTHER_ORG, organization=OTHER)
    await w.emitter.emit("registry.organization.registered", registered)
    report = sample("registry.organization.annual_report_recorded", org_id=OTHER_ORG, organization=OTHER)
    await w.emitter.emit("registry.organization.annual_report_recorded", report)
    await w.stack.settle()
    w.stack.clock.set(beijing(2026, 5, 14, 9, 30))
    await w.stack.settle()
    assert await reminded(w, late, "reminder.annual_report_due") == []
    w.stack.clock.set(beijing(2026, 5, 15, 9, 30))  # ten working days before Sunday 31 May
    await w.stack.settle()
    [item] = await reminded(w, late, "reminder.annual_report_due")
    assert "2025年度工作报告" in item["body"] and "2026年5月31日" in item["body"]
    assert await reminded(w, filed, "reminder.annual_report_due") == []
    w.stack.clock.set(beijing(2026, 5, 18, 9, 30))
    await w.stack.settle()
    assert len(await reminded(w, late, "reminder.annual_report_due")) == 1


async def test_scores_due_when_a_round_closes_go_to_evaluators_with_unscored_assignments(world):
    w = await world()
    await w.emitter.emit("evaluation.rating.assigned", sample("evaluation.rating.assigned"))
    other = "evaluator-wang"
    await w.emitter.emit("evaluation.rating.assigned", sample("evaluation.rating.assigned", evaluator_sub=other))
    await w.emitter.emit("evaluation.rating.scored", sample("evaluation.rating.scored", evaluator_sub=other))
    await w.stack.settle()  # another topic: its records are not ordered with the round's
    await w.emitter.emit("evaluation.round.closed", sample("evaluation.round.closed"))
    await w.stack.settle()
    li = await w.join("evaluator", agency_id="agency-1", sub=EVALUATOR)
    wang = await w.join("evaluator", agency_id="agency-1", sub=other)
    [due] = await reminded(w, li, "evaluation.round.closed")
    assert "1 项评估任务尚未提交评分" in due["body"] and ROUND_ID in due["body"]
    assert await reminded(w, wang, "evaluation.round.closed") == []

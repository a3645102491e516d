"""The rating procedure after scoring (DOMAIN.md §2, §5): committee, notice, appeal, publication.

Statuses of an evaluation: `ineligible` | `applied` → `proposed` (scores aggregated) → `noticed`
(committee decided, public notice running) → `published` (or `concluded` when the committee gave no
grade). Project assessments: `scheduled` → `completed` (or `cancelled`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.evaluation.domain.points import RuleBroken
from services.evaluation.domain.rulesets import RuleSet
from shared.workdays import WorkingCalendar, local_date

CONFLICT_YEARS = 2  # an evaluator who worked at the organization less than 2 years ago recuses


def require_status(status: str, allowed: Iterable[str], action: str) -> None:
    allowed = tuple(allowed)
    if status not in allowed:
        raise RuleBroken(
            f"evaluation.status.{status}",
            f"cannot {action} while the evaluation is {status} (needs {' or '.join(allowed)})",
            status=409,
        )


@dataclass(frozen=True)
class Quorum:
    members: int
    present: int
    in_favour: int


def check_quorum(q: Quorum, rule_set: RuleSet) -> None:
    """At least 2/3 of the members present; adopted by a majority of *all* members."""
    if not (q.members > 0 and 0 <= q.in_favour <= q.present <= q.members):
        raise RuleBroken(
            "decision.quorum_counts", "members ≥ present ≥ in_favour ≥ 0 and members > 0", rule_set.quorum_basis
        )
    if q.present * 3 < q.members * 2:
        raise RuleBroken(
            "decision.quorum",
            f"{q.present} of {q.members} members present; at least two thirds must attend",
            rule_set.quorum_basis,
        )
    if q.in_favour * 2 <= q.members:
        raise RuleBroken(
            "decision.majority",
            f"{q.in_favour} of {q.members} members in favour; the decision needs a majority of all members",
            rule_set.quorum_basis,
        )


@dataclass(frozen=True)
class Notice:
    starts_on: date
    ends_at: datetime  # 24:00 Asia/Shanghai of the last working day, in UTC


def public_notice(calendar: WorkingCalendar, *, decided_at: datetime, working_days: int) -> Notice:
    """The notice starts on the decision day; N working days counted from the next working day."""
    start = local_date(decided_at)
    return Notice(start, calendar.period_end_instant(start, working_days))


def check_appeal_window(*, now: datetime, notice_ends_at: datetime, rule_set: RuleSet) -> None:
    if now >= notice_ends_at:
        raise RuleBroken(
            "appeal.notice_ended",
            f"the public notice ended at {notice_ends_at.isoformat()}; appeals (复核) are filed during the notice",
            rule_set.appeal_basis,
            status=409,
        )


def appeal_notify_by(calendar: WorkingCalendar, decided_on: date, rule_set: RuleSet) -> date:
    """The appeal decision is notified in writing within N calendar days of being made."""
    return calendar.calendar_days_end(decided_on, rule_set.appeal_notify_calendar_days)


def certificate_return_by(calendar: WorkingCalendar, effective_on: date, rule_set: RuleSet) -> date:
    return calendar.calendar_days_end(effective_on, rule_set.certificate_return_calendar_days)


def affiliation_conflict(ended_on: date | None, today: date) -> bool:
    """Worked at the organization less than two years ago (or still does)."""
    if ended_on is None:
        return True
    try:
        limit = ended_on.replace(year=ended_on.year + CONFLICT_YEARS)
    except ValueError:
        limit = ended_on + timedelta(days=365 * CONFLICT_YEARS)
    return today < limit

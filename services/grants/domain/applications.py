"""Applications: what a complete submission is, the money caps, double-funding warnings."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from services.grants.domain import DomainError
from services.grants.domain.eligibility import DEFAULT_BASES, Reason
from services.grants.domain.money import share_within, yuan

BUDGET_CATEGORIES = ("personnel", "activities", "materials", "venue", "publicity", "travel", "management", "other")
STATUSES = ("draft", "submitted", "withdrawn", "awarded", "award_cancelled")
OPEN_STATUSES = ("submitted",)  # submitted, not decided: screened again when the standing changes
CALL_BASIS = "本次申报通知（资金安排）"


@dataclass(frozen=True, slots=True)
class BudgetLine:
    category: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class Caps:
    min_award_fen: int
    max_award_fen: int
    max_grant_bp: int
    personnel_cap_bp: int


@dataclass(frozen=True, slots=True)
class Totals:
    project_budget_fen: int
    requested_fen: int
    self_raised_fen: int
    personnel_fen: int


def title_key(title: str) -> str:
    """Duplicate detection key: NFKC, casefold, whitespace removed."""
    return "".join(unicodedata.normalize("NFKC", title).casefold().split())


def totals(lines: Sequence[BudgetLine], requested_fen: int) -> Totals:
    budget = sum(line.amount_fen for line in lines)
    personnel = sum(line.amount_fen for line in lines if line.category == "personnel")
    return Totals(budget, requested_fen, budget - requested_fen, personnel)


def check_money(caps: Caps, lines: Sequence[BudgetLine], requested_fen: int | None) -> Totals:
    """The caps of DOMAIN.md §3 as integer comparisons; the first that fails is refused (422)."""
    if requested_fen is None:
        raise DomainError("application.incomplete", "requested amount is missing")
    if not lines:
        raise DomainError("application.incomplete", "a submission needs budget lines")
    t = totals(lines, requested_fen)
    if requested_fen > caps.max_award_fen:
        raise DomainError(
            "application.over_cap",
            f"requested {yuan(requested_fen)} exceeds the call's maximum per award {yuan(caps.max_award_fen)}",
            basis=CALL_BASIS,
        )
    if requested_fen < caps.min_award_fen:
        raise DomainError(
            "application.below_minimum",
            f"requested {yuan(requested_fen)} is below the call's minimum per award {yuan(caps.min_award_fen)}",
            basis=CALL_BASIS,
        )
    if requested_fen > t.project_budget_fen:
        raise DomainError(
            "application.budget_mismatch",
            f"requested {yuan(requested_fen)} exceeds the project budget {yuan(t.project_budget_fen)} "
            "(the sum of the budget lines)",
            basis=CALL_BASIS,
        )
    if not share_within(requested_fen, t.project_budget_fen, caps.max_grant_bp):
        most = caps.max_grant_bp * t.project_budget_fen // 10_000
        raise DomainError(
            "application.cofunding_too_low",
            f"requested {yuan(requested_fen)} is more than {caps.max_grant_bp / 100:g} % of the project budget "
            f"{yuan(t.project_budget_fen)} (at most {yuan(most)}); self-raised {yuan(t.self_raised_fen)} is too low",
            basis=CALL_BASIS,
        )
    if not share_within(t.personnel_fen, t.project_budget_fen, caps.personnel_cap_bp):
        raise DomainError(
            "application.personnel_over_cap",
            f"personnel costs {yuan(t.personnel_fen)} exceed {caps.personnel_cap_bp / 100:g} % of the project "
            f"budget {yuan(t.project_budget_fen)}",
            basis=CALL_BASIS,
        )
    return t


def check_complete(title: str | None, period_start: date | None, period_end: date | None) -> None:
    if not (title or "").strip():
        raise DomainError("application.incomplete", "project_title is missing")
    if period_start is None or period_end is None:
        raise DomainError("application.incomplete", "the project period is missing")
    if period_end < period_start:
        raise DomainError("application.incomplete", "the project period ends before it starts")


@dataclass(frozen=True, slots=True)
class Funded:
    """Another project of the same organization, or prior funding it declared."""

    title: str
    period_start: date | None
    period_end: date | None
    where: str


def _overlap(a0: date | None, a1: date | None, b0: date | None, b1: date | None) -> bool:
    if None in (a0, a1, b0, b1):
        return True  # an open period overlaps for a warning's purpose
    assert a0 and a1 and b0 and b1
    return a0 <= b1 and b0 <= a1


def double_funding(
    title: str, start: date | None, end: date | None, others: Iterable[Funded], declared: Iterable[Funded]
) -> list[Reason]:
    """Same normalised title with overlapping periods, or declared prior funding that overlaps:
    a warning for the officer, never an automatic refusal."""
    warnings = []
    key = title_key(title)
    for other in others:
        if title_key(other.title) == key and _overlap(start, end, other.period_start, other.period_end):
            warnings.append(
                Reason(
                    "double_funding",
                    f"double_funding: the same project title is also in {other.where} with an overlapping period",
                    DEFAULT_BASES["double_funding"],
                )
            )
    for prior in declared:
        if _overlap(start, end, prior.period_start, prior.period_end):
            warnings.append(
                Reason(
                    "double_funding.declared",
                    f"double_funding: declared prior funding ({prior.where}: {prior.title}) "
                    "overlaps the project period",
                    DEFAULT_BASES["double_funding"],
                )
            )
    return warnings


def require_status(status: str, allowed: tuple[str, ...], action: str) -> None:
    if status not in allowed:
        raise DomainError(
            "application.state",
            f"cannot {action} an application that is {status} (allowed: {', '.join(allowed)})",
            kind="conflict",
        )

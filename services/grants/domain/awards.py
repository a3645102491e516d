"""Awards: decisions within the budget, public notice, objections, agreement, suspension, termination."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from services.grants.domain import DomainError
from services.grants.domain.calls import TrancheRule
from services.grants.domain.money import add_months, money, split_tranches, yuan

STATUSES = ("noticed", "confirmed", "signed", "suspended", "terminated", "completed", "cancelled")
LIVE = ("noticed", "confirmed", "signed", "suspended")
CALL_BASIS = "本次申报通知（资金安排）"


def fit_budget(remaining_fen: int, amounts: Sequence[int]) -> None:
    """A batch fits the remaining budget as a whole or not at all (409 `budget.exceeded`)."""
    total = sum(amounts)
    if total > remaining_fen:
        shortfall = total - remaining_fen
        raise DomainError(
            "budget.exceeded",
            f"the batch of {len(amounts)} award(s) totals {yuan(total)}, the remaining budget is "
            f"{yuan(remaining_fen)}: short by {yuan(shortfall)}",
            basis=CALL_BASIS,
            kind="conflict",
            extra={"shortfall": money(shortfall), "remaining": money(remaining_fen), "requested_total": money(total)},
        )


def check_amount(amount_fen: int, *, requested_fen: int | None, min_fen: int, max_fen: int) -> None:
    if amount_fen <= 0:
        raise DomainError("award.amount", "an award is a positive amount")
    if requested_fen is not None and amount_fen > requested_fen:
        raise DomainError(
            "award.amount", f"award {yuan(amount_fen)} exceeds the amount requested {yuan(requested_fen)}"
        )
    if amount_fen > max_fen:
        raise DomainError(
            "award.amount", f"award {yuan(amount_fen)} exceeds the maximum per award {yuan(max_fen)}", basis=CALL_BASIS
        )
    if amount_fen < min_fen:
        raise DomainError(
            "award.amount", f"award {yuan(amount_fen)} is below the minimum per award {yuan(min_fen)}", basis=CALL_BASIS
        )


def require_status(status: str, allowed: tuple[str, ...], action: str) -> None:
    if status not in allowed:
        raise DomainError(
            "award.state", f"cannot {action} an award that is {status} (allowed: {', '.join(allowed)})", kind="conflict"
        )


def check_objection_window(status: str, notice_ends_at: datetime | None, now: datetime) -> None:
    if status != "noticed" or notice_ends_at is None or now >= notice_ends_at:
        raise DomainError(
            "objection.window_closed",
            "objections are accepted only during the public notice (公示期)",
            basis="本次申报通知（公示）",
            kind="conflict",
        )


@dataclass(frozen=True, slots=True)
class Tranche:
    tranche_no: int
    basis_points: int
    trigger: str
    amount_fen: int

    def as_event(self) -> dict[str, object]:
        return {
            "tranche_no": self.tranche_no,
            "basis_points": self.basis_points,
            "trigger": self.trigger,
            "amount": money(self.amount_fen),
        }


def tranches_for(amount_fen: int, schedule: Sequence[TrancheRule]) -> list[Tranche]:
    amounts = split_tranches(amount_fen, [t.basis_points for t in schedule])
    return [
        Tranche(i + 1, rule.basis_points, rule.trigger, fen)
        for i, (rule, fen) in enumerate(zip(schedule, amounts, strict=True))
    ]


def assessment_plan(assessment: dict[str, object], signed_on: date, period_end: date | None) -> dict[str, object]:
    """`{template_id, pass_threshold, midterm_due, final_due}` carried on `agreement_signed`."""
    midterm_months = int(str(assessment.get("midterm_months") or 6))
    final_months = assessment.get("final_months")
    midterm_due = add_months(signed_on, midterm_months)
    if final_months is not None:
        final_due = add_months(signed_on, int(str(final_months)))
    elif period_end is not None and period_end > midterm_due:
        final_due = period_end
    else:
        final_due = add_months(signed_on, 12)
    return {
        "template_id": assessment.get("template_id"),
        "pass_threshold": assessment.get("pass_threshold"),
        "midterm_due": midterm_due.isoformat(),
        "final_due": final_due.isoformat(),
    }


def stage_trigger(stage: str) -> str | None:
    return {"midterm": "midterm_passed", "final": "final_passed"}.get(stage)


def booking(kind: str, amount_fen: int, budget_line: str, fiscal_year: int) -> dict[str, object]:
    """The finance contract's booking entry: a signed delta on one budget line."""
    return {
        "kind": kind,
        "amount": money(amount_fen)["amount"],
        "currency": "CNY",
        "budget_line": budget_line,
        "fiscal_year": fiscal_year,
    }

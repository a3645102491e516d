"""Tranches and payment attempts (DOMAIN.md §3 "Payments"): retries that never pay twice."""

from __future__ import annotations

from dataclasses import dataclass

from services.grants.domain import DomainError

STATUSES = ("scheduled", "released", "paid", "failed", "reversed", "suspended", "cancelled")
UNPAID = ("scheduled", "released", "failed", "reversed", "suspended")
POSTED = ("paid", "failed", "reversed")


@dataclass(frozen=True, slots=True)
class Posting:
    instruction_id: str
    status: str
    finance_reference: str


@dataclass(frozen=True, slots=True)
class Attempt:
    instruction_id: str
    status: str  # open | paid | failed | reversed | superseded | voided
    finance_reference: str | None


def decide_posting(disbursement_status: str, attempt: Attempt | None, posting: Posting) -> str:
    """The disbursement's next status for a finance posting, or a refusal naming the rule.

    `paid` only for the open instruction; a second `paid` with another reference is
    `payment.already_paid`; `paid` for an instruction no longer open is
    `payment.instruction_superseded`; a bank return after `paid` is `reversed`.
    """
    if attempt is None:
        raise DomainError(
            "payment.instruction_unknown",
            f"instruction {posting.instruction_id} was not issued for this disbursement",
            kind="conflict",
        )
    if posting.status == "paid":
        if disbursement_status == "paid":
            raise DomainError(
                "payment.already_paid",
                "the tranche is already paid"
                + (
                    f" (instruction {attempt.instruction_id}, reference {attempt.finance_reference})"
                    if attempt.status == "paid"
                    else " under another instruction"
                ),
                kind="conflict",
            )
        if attempt.status != "open":
            raise DomainError(
                "payment.instruction_superseded",
                f"instruction {attempt.instruction_id} is {attempt.status}; only the open instruction can be paid",
                kind="conflict",
            )
        return "paid"
    if posting.status == "failed":
        if attempt.status == "paid":
            raise DomainError(
                "payment.already_paid",
                "the instruction was paid; a bank return after payment is posted as reversed",
                kind="conflict",
            )
        if attempt.status != "open":
            raise DomainError(
                "payment.instruction_superseded",
                f"instruction {attempt.instruction_id} is {attempt.status}; only the open instruction can fail",
                kind="conflict",
            )
        return "failed"
    if posting.status == "reversed":
        if attempt.status != "paid" or disbursement_status != "paid":
            raise DomainError(
                "payment.not_paid",
                f"instruction {attempt.instruction_id} is {attempt.status}; only a paid instruction can be reversed",
                kind="conflict",
            )
        return "reversed"
    raise DomainError("payment.status", f"unknown payment status {posting.status!r}")


def require_retryable(status: str, award_status: str) -> None:
    if status not in ("failed", "reversed"):
        raise DomainError(
            "disbursement.state",
            f"only a failed or reversed payment can be retried; the tranche is {status}",
            kind="conflict",
        )
    if award_status not in ("signed", "completed"):
        raise DomainError(
            "disbursement.award_state",
            f"the award is {award_status}; payments wait until it is resumed",
            kind="conflict",
        )

"""The grants service's tables (schema `grants`). Money is BIGINT fen, ratios integer basis points.

Hot paths (submission) use Core statements on `Table.__table__`; officer flows use the ORM.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from services.grants.models.base import GrantsModel
from shared.tables import BigId, UtcDateTime


def _json(**kw: Any) -> Any:
    return Field(sa_type=JSON, **kw)


def _fen(**kw: Any) -> Any:
    return Field(sa_type=BigInteger, **kw)


_big = _fen


def _instant(**kw: Any) -> Any:
    return Field(sa_type=UtcDateTime, **kw)


class Call(GrantsModel, table=True):
    """A call for proposals; its row is also the budget row locked by every award decision."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_status_opens", "status", "opens_at"), Index("ix_calls_region", "region_code"))

    id: str = Field(primary_key=True, max_length=36)
    version: int = 1
    status: str = Field(max_length=20)
    call_type: str = Field(max_length=30)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_type=Text)
    region_code: str = Field(max_length=9)
    budget_fen: int = _fen()
    committed_fen: int = _fen(default=0)
    paid_fen: int = _fen(default=0)
    min_award_fen: int = _fen(default=0)
    max_award_fen: int = _fen(default=0)
    max_grant_bp: int = 10_000
    personnel_cap_bp: int = 10_000
    eligibility: dict[str, Any] = _json(default_factory=dict)
    rules_version: int = 1
    opens_at: datetime = _instant()
    closes_at: datetime = _instant()
    notice_working_days: int = 5
    rubric: list[dict[str, Any]] = _json(default_factory=list)
    reviewers_per_application: int = 3
    roadshow_weight_bp: int = 0
    tie_break: str = Field(default="earlier_submission", max_length=30)
    tranches: list[dict[str, Any]] = _json(default_factory=list)
    first_tranche_working_days: int = 15
    assessment: dict[str, Any] = _json(default_factory=dict)
    funding_source: str = Field(max_length=40)
    budget_classification_code: str = Field(max_length=40)
    fiscal_year: int
    authorisation_number: str = Field(max_length=100)
    budget_line: str = Field(max_length=100)
    procurement_method: str | None = Field(default=None, max_length=40)
    contract_term_months: int | None = None
    contract_term_justification: str | None = Field(default=None, sa_type=Text)
    amount_per_grade: dict[str, int] = _json(default_factory=dict)
    created_by: str = Field(max_length=200)
    created_at: datetime = _instant()
    updated_at: datetime = _instant()
    published_at: datetime | None = _instant(default=None)
    ranked_at: datetime | None = _instant(default=None)
    cancelled_reason: str | None = Field(default=None, max_length=1000)


class Reviewer(GrantsModel, table=True):
    """The call's pool: `evaluator` subs, with the organizations each declared a tie with."""

    __tablename__ = "reviewers"
    call_id: str = Field(primary_key=True, max_length=36)
    reviewer_sub: str = Field(primary_key=True, max_length=200)
    agency_id: str | None = Field(default=None, max_length=200)
    conflicts: list[str] = _json(default_factory=list)
    added_by: str = Field(max_length=200)
    added_at: datetime = _instant()


class Standing(GrantsModel, table=True):
    """The local read model of an organization's standing (registry + evaluation events)."""

    __tablename__ = "standings"
    org_id: str = Field(primary_key=True, max_length=36)
    doc: dict[str, Any] = _json(default_factory=dict)
    registry_sequence: int = _big(default=0)
    rating_sequence: int = _big(default=0)
    source: str = Field(default="events", max_length=20)
    updated_at: datetime = _instant()


class RatingPublication(GrantsModel, table=True):
    """Grades published by `evaluation.rating`: the list award subsidies are built from."""

    __tablename__ = "rating_publications"
    __table_args__ = (Index("ix_rating_publications_announced", "announced_on"),)
    evaluation_id: str = Field(primary_key=True, max_length=64)
    org_id: str = Field(max_length=36, index=True)
    grade: str = Field(max_length=2)
    region_code: str | None = Field(default=None, max_length=9)
    announced_on: date
    valid_from: date
    valid_until: date


class Application(GrantsModel, table=True):
    __tablename__ = "applications"
    __table_args__ = (
        Index("ix_applications_call_status", "call_id", "status"),
        Index("ix_applications_org", "org_id", "status"),
    )
    id: str = Field(primary_key=True, max_length=36)
    call_id: str = Field(max_length=36)
    org_id: str = Field(max_length=36)
    status: str = Field(max_length=20)
    version: int = 1
    organization: dict[str, Any] = _json(default_factory=dict)
    region_code: str | None = Field(default=None, max_length=9)
    project_title: str = Field(max_length=200)
    title_key: str = Field(max_length=200)
    summary: str = Field(default="", sa_type=Text)
    period_start: date | None = None
    period_end: date | None = None
    requested_fen: int | None = _fen(default=None)
    project_budget_fen: int = _fen(default=0)
    personnel_fen: int = _fen(default=0)
    budget_lines: list[dict[str, Any]] = _json(default_factory=list)
    prior_funding: list[dict[str, Any]] = _json(default_factory=list)
    payee_account_name: str | None = Field(default=None, max_length=200)
    payee_bank_name: str | None = Field(default=None, max_length=200)
    payee_account_cipher: str | None = Field(default=None, sa_type=Text)
    payee_account_last4: str | None = Field(default=None, max_length=4)
    created_by: str = Field(max_length=200)
    created_at: datetime = _instant()
    updated_at: datetime = _instant()
    submitted_at: datetime | None = _instant(default=None)
    withdrawn_at: datetime | None = _instant(default=None)
    eligible: bool | None = None
    screening_id: str | None = Field(default=None, max_length=36)
    warnings: list[dict[str, Any]] = _json(default_factory=list)
    review_score: int | None = None  # hundredths
    reviews_count: int = 0
    roadshow_score: int | None = None
    rank: int | None = None


class Screening(GrantsModel, table=True):
    """One eligibility answer: the reasons, the standing snapshot and rule-set version it used."""

    __tablename__ = "screenings"
    id: str = Field(primary_key=True, max_length=36)
    application_id: str = Field(max_length=36, index=True)
    call_id: str = Field(max_length=36)
    org_id: str = Field(max_length=36)
    screened_at: datetime = _instant()
    on_date: date
    eligible: bool | None = None
    reasons: list[dict[str, Any]] = _json(default_factory=list)
    warnings: list[dict[str, Any]] = _json(default_factory=list)
    snapshot: dict[str, Any] = _json(default_factory=dict)
    rule_set: dict[str, Any] = _json(default_factory=dict)
    rescreen: bool = False


class ReviewAssignment(GrantsModel, table=True):
    __tablename__ = "review_assignments"
    __table_args__ = (UniqueConstraint("application_id", "reviewer_sub", name="uq_review_assignment"),)
    id: str = Field(primary_key=True, max_length=36)
    application_id: str = Field(max_length=36, index=True)
    call_id: str = Field(max_length=36, index=True)
    reviewer_sub: str = Field(max_length=200)
    status: str = Field(default="assigned", max_length=20)  # assigned | excluded | submitted
    conflict_reason: str | None = Field(default=None, max_length=1000)
    scores: dict[str, int] = _json(default_factory=dict)
    total: int | None = None
    comment: str | None = Field(default=None, sa_type=Text)
    version: int = 1
    assigned_at: datetime = _instant()
    submitted_at: datetime | None = _instant(default=None)


class Award(GrantsModel, table=True):
    """An award; its `uniqueness_key` (the application, or call + organization for subsidies) makes
    one award per application a database constraint."""

    __tablename__ = "awards"
    __table_args__ = (UniqueConstraint("uniqueness_key", name="uq_awards_uniqueness_key"),)
    id: str = Field(primary_key=True, max_length=36)
    call_id: str = Field(max_length=36, index=True)
    application_id: str | None = Field(default=None, max_length=36)
    uniqueness_key: str = Field(max_length=80)
    org_id: str = Field(max_length=36, index=True)
    organization: dict[str, Any] = _json(default_factory=dict)
    region_code: str = Field(max_length=9)
    call_type: str = Field(max_length=30)
    project_title: str = Field(default="", max_length=200)
    amount_fen: int = _fen()
    committed_fen: int = _fen()
    paid_fen: int = _fen(default=0)
    status: str = Field(max_length=20)
    rank: int | None = None
    grade: str | None = Field(default=None, max_length=2)
    decided_at: datetime = _instant()
    decided_on: date
    decided_by: str = Field(max_length=200)
    notice_starts_on: date | None = None
    notice_ends_at: datetime | None = _instant(default=None)
    confirmed_on: date | None = None
    signed_on: date | None = None
    ended_on: date | None = None
    end_reason: str | None = Field(default=None, max_length=1000)
    clawback_due_fen: int = _fen(default=0)
    clawback_received_fen: int = _fen(default=0)
    assessment: dict[str, Any] = _json(default_factory=dict)
    screening_id: str | None = Field(default=None, max_length=36)
    payee_account_name: str | None = Field(default=None, max_length=200)
    payee_bank_name: str | None = Field(default=None, max_length=200)
    payee_account_cipher: str | None = Field(default=None, sa_type=Text)
    award_seq: int = 0  # grants.award events staged for this award (= their per-key sequence)
    disbursement_seq: int = 0  # grants.disbursement events staged for this award
    version: int = 1


class Objection(GrantsModel, table=True):
    __tablename__ = "objections"
    id: str = Field(primary_key=True, max_length=36)
    award_id: str = Field(max_length=36, index=True)
    filed_by: str = Field(max_length=200)
    filed_role: str = Field(max_length=20)
    filed_at: datetime = _instant()
    reason: str = Field(sa_type=Text)
    status: str = Field(default="filed", max_length=20)  # filed | upheld | rejected
    decided_at: datetime | None = _instant(default=None)
    decided_by: str | None = Field(default=None, max_length=200)
    decision_reason: str | None = Field(default=None, sa_type=Text)
    reserve_application_id: str | None = Field(default=None, max_length=36)


class Disbursement(GrantsModel, table=True):
    """One tranche of an award and its payment state."""

    __tablename__ = "disbursements"
    __table_args__ = (UniqueConstraint("award_id", "tranche_no", name="uq_disbursements_tranche"),)
    id: str = Field(primary_key=True, max_length=36)
    award_id: str = Field(max_length=36, index=True)
    call_id: str = Field(max_length=36)
    tranche_no: int
    tranche_count: int
    basis_points: int
    trigger: str = Field(max_length=20)
    amount_fen: int = _fen()
    status: str = Field(max_length=20)
    suspended_from: str | None = Field(default=None, max_length=20)
    suspension_cause: str | None = Field(default=None, max_length=20)  # award | assessment
    due_on: date | None = None
    attempt: int = 0
    instruction_id: str | None = Field(default=None, max_length=36)
    finance_reference: str | None = Field(default=None, max_length=200)
    paid_at: datetime | None = _instant(default=None)
    released_at: datetime | None = _instant(default=None)
    overdue: bool = False
    version: int = 1


class PaymentAttempt(GrantsModel, table=True):
    __tablename__ = "payment_attempts"
    instruction_id: str = Field(primary_key=True, max_length=36)
    disbursement_id: str = Field(max_length=36, index=True)
    attempt: int
    status: str = Field(max_length=20)  # open | paid | failed | reversed | superseded | voided
    opened_at: datetime = _instant()
    closed_at: datetime | None = _instant(default=None)
    finance_reference: str | None = Field(default=None, max_length=200)
    paid_at: datetime | None = _instant(default=None)
    reason: str | None = Field(default=None, max_length=1000)


class PaymentPosting(GrantsModel, table=True):
    """Finance's postings, unique per (instruction, status, reference): a repeat changes nothing."""

    __tablename__ = "payment_postings"
    __table_args__ = (UniqueConstraint("instruction_id", "status", "finance_reference", name="uq_payment_postings"),)
    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    instruction_id: str = Field(max_length=36)
    disbursement_id: str = Field(max_length=36)
    status: str = Field(max_length=20)
    finance_reference: str = Field(max_length=200)
    posted_at: datetime = _instant()
    posted_by: str = Field(max_length=200)


class LedgerEntry(GrantsModel, table=True):
    """The booking entries of the finance contract, as published (same topic, key and sequence)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_call", "call_id", "id"), Index("ix_ledger_award", "award_id", "id"))
    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    call_id: str = Field(max_length=36)
    award_id: str = Field(max_length=36)
    disbursement_id: str | None = Field(default=None, max_length=36)
    region_code: str = Field(max_length=9)
    topic: str = Field(max_length=40)
    sequence: int = _big()
    event_type: str = Field(max_length=200)
    kind: str = Field(max_length=30)
    amount_fen: int = _fen()
    budget_line: str = Field(max_length=100)
    fiscal_year: int
    committed_total_fen: int = _fen()
    paid_total_fen: int = _fen()
    occurred_at: datetime = _instant()

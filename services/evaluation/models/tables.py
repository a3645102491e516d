"""The evaluation service's tables. Points are integer hundredths everywhere (never floats).

Rule sets, band tables and indicator templates live in one versioned catalogue
(`catalog_documents`, kind + id + version); every evaluation, sheet, history row and decision
stores the `{id, version}` of each document it used, so an appeal can replay it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from services.evaluation.models.base import EvaluationModel
from shared.tables import BigId, UtcDateTime


def _instant(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UtcDateTime(timezone=True), nullable=nullable))


def _json(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


class CatalogDocument(EvaluationModel, table=True):
    """A rule set, band table or indicator template, one row per version (presets and copies)."""

    __tablename__ = "catalog_documents"

    kind: str = Field(primary_key=True, max_length=20)  # rule_set | band_table | template
    id: str = Field(primary_key=True, max_length=60)
    version: int = Field(primary_key=True)
    name: str = Field(max_length=200)
    effective_from: date | None = None
    preset: bool = False
    region_code: str | None = Field(default=None, max_length=9)
    copy_of: str | None = Field(default=None, max_length=80)
    document: dict[str, Any] = _json()
    created_at: datetime = _instant()
    created_by: str = Field(max_length=200)


class OrgStanding(EvaluationModel, table=True):
    """Read model of `registry.organization`: the facts eligibility and downgrades depend on."""

    __tablename__ = "organizations"

    org_id: str = Field(primary_key=True, max_length=36)
    organization: dict[str, Any] = _json()
    kind: str = Field(max_length=30)
    region_code: str = Field(max_length=9)
    status: str = Field(max_length=20)
    registered_on: date | None = None
    annual: dict[str, Any] = _json()  # "2025" → {result, report_status, effective_on}
    penalties: list[dict[str, Any]] = _json()
    investigations: list[dict[str, Any]] = _json()
    listings: list[dict[str, Any]] = _json()
    updated_at: datetime = _instant()


class Round(EvaluationModel, table=True):
    __tablename__ = "rounds"
    __table_args__ = (Index("ix_rounds_region", "region_code", "year"),)

    id: str = Field(primary_key=True, max_length=36)
    title: str = Field(max_length=200)
    year: int
    region_code: str = Field(max_length=9)
    kinds: list[str] = _json()
    template_id: str = Field(max_length=60)
    template_version: int
    rule_set_id: str = Field(max_length=60)
    rule_set_version: int
    band_table_id: str = Field(max_length=60)
    band_table_version: int
    notice_working_days: int
    max_spread: int
    applications_close_on: date
    status: str = Field(max_length=20, default="open")
    closed_on: date | None = None
    version: int = 1
    created_at: datetime = _instant()
    created_by: str = Field(max_length=200)


class Evaluation(EvaluationModel, table=True):
    """One rating of one organization in a round, or one assessment (mid-term/final) of an award."""

    __tablename__ = "evaluations"
    __table_args__ = (
        Index("ix_evaluations_round", "round_id", "status"),
        Index("ix_evaluations_org", "org_id"),
        Index("ix_evaluations_award", "award_id"),
        UniqueConstraint("round_id", "org_id", name="uq_evaluations_round_org"),
        UniqueConstraint("award_id", "stage", name="uq_evaluations_award_stage"),
    )

    id: str = Field(primary_key=True, max_length=36)
    purpose: str = Field(max_length=20)  # rating | assessment
    round_id: str | None = Field(default=None, max_length=36)
    org_id: str = Field(max_length=36)
    organization: dict[str, Any] = _json()
    region_code: str = Field(max_length=9)
    kind: str | None = Field(default=None, max_length=30)
    status: str = Field(max_length=20)
    template_id: str = Field(max_length=60)
    template_version: int
    rule_set_id: str | None = Field(default=None, max_length=60)
    rule_set_version: int | None = None
    band_table_id: str | None = Field(default=None, max_length=60)
    band_table_version: int | None = None
    max_spread: int = 0
    # application and eligibility
    applied_on: date | None = None
    eligible: bool | None = None
    reasons: list[dict[str, Any]] = _json()
    re_evaluation: bool = False
    simplified_visit: bool = False
    eligibility_check_due_on: date | None = None
    # aggregation and decision
    total: int | None = None
    spread: int | None = None
    outliers: list[str] = _json()
    proposed_grade: str | None = Field(default=None, max_length=2)
    decided_grade: str | None = Field(default=None, max_length=2)
    decided_on: date | None = None
    quorum: dict[str, Any] | None = _json(nullable=True)
    notice_starts_on: date | None = None
    notice_ends_at: datetime | None = _instant(nullable=True)
    announced_on: date | None = None
    grade_id: str | None = Field(default=None, max_length=36)
    # project assessments
    award_id: str | None = Field(default=None, max_length=36)
    call_id: str | None = Field(default=None, max_length=36)
    stage: str | None = Field(default=None, max_length=10)
    due_on: date | None = None
    pass_threshold: int | None = None
    passed: bool | None = None
    completed_on: date | None = None
    version: int = 1
    created_at: datetime = _instant()
    updated_at: datetime = _instant()


class Agency(EvaluationModel, table=True):
    __tablename__ = "agencies"

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    uscc: str | None = Field(default=None, max_length=18)
    region_code: str = Field(max_length=9)
    status: str = Field(max_length=20, default="active")
    version: int = 1
    created_at: datetime = _instant()
    created_by: str = Field(max_length=200)


class Evaluator(EvaluationModel, table=True):
    """A person of an agency, known by the `sub` of the credentials the agency's identity client issues."""

    __tablename__ = "evaluators"

    id: str = Field(primary_key=True, max_length=36)
    agency_id: str = Field(max_length=36, index=True)
    sub: str = Field(max_length=200, unique=True)
    name: str = Field(max_length=100)
    qualifications: list[str] = _json()
    affiliations: list[dict[str, Any]] = _json()  # [{org_id, ended_on|null}]: recusal when < 2 years
    active: bool = True
    version: int = 1
    created_at: datetime = _instant()
    created_by: str = Field(max_length=200)


class Assignment(EvaluationModel, table=True):
    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("evaluation_id", "evaluator_sub", name="uq_assignments_evaluator"),)

    id: str = Field(primary_key=True, max_length=36)
    evaluation_id: str = Field(max_length=36)
    evaluator_id: str = Field(max_length=36)
    evaluator_sub: str = Field(max_length=200)
    agency_id: str = Field(max_length=36)
    status: str = Field(max_length=20, default="assigned")  # assigned | recused
    assigned_at: datetime = _instant()
    assigned_by: str = Field(max_length=200)


class Conflict(EvaluationModel, table=True):
    __tablename__ = "conflicts"
    __table_args__ = (Index("ix_conflicts_org_sub", "org_id", "evaluator_sub"),)

    id: str = Field(primary_key=True, max_length=36)
    evaluation_id: str = Field(max_length=36)
    org_id: str = Field(max_length=36)
    evaluator_sub: str = Field(max_length=200)
    evaluator_id: str = Field(max_length=36)
    declared_by: str = Field(max_length=20)  # evaluator | organization
    reason_code: str = Field(max_length=30)  # employment | relative | financial | other
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    worked_until: date | None = None
    status: str = Field(max_length=20)  # effective | pending | upheld | rejected
    decided_at: datetime | None = _instant(nullable=True)
    decided_by: str | None = Field(default=None, max_length=200)
    decision_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    version: int = 1
    created_at: datetime = _instant()
    created_by: str = Field(max_length=200)


class ScoreSheet(EvaluationModel, table=True):
    __tablename__ = "score_sheets"
    __table_args__ = (UniqueConstraint("evaluation_id", "evaluator_sub", name="uq_score_sheets_evaluator"),)

    id: str = Field(primary_key=True, max_length=36)
    evaluation_id: str = Field(max_length=36)
    evaluator_sub: str = Field(max_length=200)
    agency_id: str = Field(max_length=36)
    template_id: str = Field(max_length=60)
    template_version: int
    rule_set_id: str | None = Field(default=None, max_length=60)
    rule_set_version: int | None = None
    scores: dict[str, int] = _json()
    comments: dict[str, str] = _json()
    total: int
    status: str = Field(max_length=20, default="draft")  # draft | submitted
    version: int = 1
    created_at: datetime = _instant()
    updated_at: datetime = _instant()
    submitted_at: datetime | None = _instant(nullable=True)


class ScoreHistory(EvaluationModel, table=True):
    """Append-only: every save and submission of a sheet, as entered, with the documents in force."""

    __tablename__ = "score_history"
    __table_args__ = (Index("ix_score_history_evaluation", "evaluation_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    sheet_id: str = Field(max_length=36)
    evaluation_id: str = Field(max_length=36)
    evaluator_sub: str = Field(max_length=200)
    sheet_version: int
    action: str = Field(max_length=20)  # saved | submitted
    at: datetime = _instant()
    scores: dict[str, int] = _json()
    comments: dict[str, str] = _json()
    total: int
    template_id: str = Field(max_length=60)
    template_version: int
    rule_set_id: str | None = Field(default=None, max_length=60)
    rule_set_version: int | None = None
    request_id: str | None = Field(default=None, max_length=64)


class Decision(EvaluationModel, table=True):
    """Every decision on a grade or an assessment, with the documents and numbers it rested on."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_evaluation", "evaluation_id"), Index("ix_decisions_org", "org_id"))

    id: str = Field(primary_key=True, max_length=36)
    evaluation_id: str | None = Field(default=None, max_length=36)
    org_id: str = Field(max_length=36)
    kind: str = Field(max_length=30)  # committee | appeal | downgrade | revocation | expiry | assessment
    decided_on: date
    at: datetime = _instant()
    grade: str | None = Field(default=None, max_length=2)
    previous_grade: str | None = Field(default=None, max_length=2)
    total: int | None = None
    quorum: dict[str, Any] | None = _json(nullable=True)
    rule_set_id: str | None = Field(default=None, max_length=60)
    rule_set_version: int | None = None
    band_table_id: str | None = Field(default=None, max_length=60)
    band_table_version: int | None = None
    template_id: str | None = Field(default=None, max_length=60)
    template_version: int | None = None
    decided_by: str = Field(max_length=200)
    detail: dict[str, Any] = _json()


class Appeal(EvaluationModel, table=True):
    __tablename__ = "appeals"

    id: str = Field(primary_key=True, max_length=36)
    evaluation_id: str = Field(max_length=36, index=True)
    org_id: str = Field(max_length=36)
    grounds: str = Field(sa_column=Column(Text, nullable=False))
    filed_at: datetime = _instant()
    filed_on: date
    filed_by: str = Field(max_length=200)
    status: str = Field(max_length=20, default="pending")  # pending | upheld | rejected
    decided_on: date | None = None
    decided_by: str | None = Field(default=None, max_length=200)
    decision_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    grade_after: str | None = Field(default=None, max_length=2)
    notify_by: date | None = None
    version: int = 1


class Grade(EvaluationModel, table=True):
    """A published grade with its validity; at most one `active` per organization."""

    __tablename__ = "grades"
    __table_args__ = (Index("ix_grades_org", "org_id", "status"), Index("ix_grades_expiry", "status", "valid_until"))

    id: str = Field(primary_key=True, max_length=36)
    org_id: str = Field(max_length=36)
    organization: dict[str, Any] = _json()
    region_code: str = Field(max_length=9)
    evaluation_id: str | None = Field(default=None, max_length=36)
    round_id: str | None = Field(default=None, max_length=36)
    grade: str = Field(max_length=2)
    decided_on: date
    announced_on: date
    valid_from: date
    valid_until: date
    rule_set_id: str = Field(max_length=60)
    rule_set_version: int
    status: str = Field(max_length=20, default="active")  # active | downgraded | revoked | expired | superseded
    ended_on: date | None = None
    end_reason: str | None = Field(default=None, max_length=60)
    previous_grade_id: str | None = Field(default=None, max_length=36)
    certificate_return_by: date | None = None
    created_at: datetime = _instant()


class RatingProposal(EvaluationModel, table=True):
    """A downgrade or revocation the system proposes and an officer confirms or dismisses."""

    __tablename__ = "rating_proposals"
    __table_args__ = (Index("ix_rating_proposals_status", "status", "org_id"),)

    id: str = Field(primary_key=True, max_length=36)
    org_id: str = Field(max_length=36)
    region_code: str = Field(max_length=9)
    grade_id: str = Field(max_length=36)
    action: str = Field(max_length=20)  # downgrade | revoke
    reason: str = Field(max_length=60)
    facts: dict[str, Any] = _json()
    effective_on: date
    proposed_at: datetime = _instant()
    proposed_by: str = Field(max_length=200)
    status: str = Field(max_length=20, default="proposed")  # proposed | confirmed | dismissed
    decided_at: datetime | None = _instant(nullable=True)
    decided_by: str | None = Field(default=None, max_length=200)
    decision_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    version: int = 1

"""Request and response bodies of applications, eligibility and reviews."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from services.grants.models.base import Strict
from services.grants.models.io_calls import Score, Text200
from shared.http import Money

Category = Literal["personnel", "activities", "materials", "venue", "publicity", "travel", "management", "other"]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class BudgetLineIn(Strict):
    category: Category
    amount: Money
    description: Short | None = None


class PriorFundingIn(Strict):
    funder: Text200
    project_title: Text200
    amount: Money | None = None
    period_start: date | None = None
    period_end: date | None = None


class PayeeIn(Strict):
    account_name: Text200
    bank_name: Text200
    account_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{8,30}$")]


class ApplicationCreate(Strict):
    project_title: Text200
    summary: Annotated[str, StringConstraints(max_length=20_000)] = ""
    period_start: date | None = None
    period_end: date | None = None
    requested: Money | None = None
    budget_lines: list[BudgetLineIn] = Field(default_factory=list, max_length=200)
    prior_funding: list[PriorFundingIn] = Field(default_factory=list, max_length=50)
    payee: PayeeIn | None = None


class ApplicationUpdate(Strict):
    project_title: Text200 | None = None
    summary: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    period_start: date | None = None
    period_end: date | None = None
    requested: Money | None = None
    budget_lines: list[BudgetLineIn] | None = Field(default=None, max_length=200)
    prior_funding: list[PriorFundingIn] | None = Field(default=None, max_length=50)
    payee: PayeeIn | None = None


class SubmissionRequest(Strict):
    declaration: Literal[True] = Field(
        description="承诺书: the applicant confirms the application is true and complete"
    )
    version: int | None = Field(default=None, description="the draft version being submitted (412 when stale)")


class WithdrawalRequest(Strict):
    reason: Short | None = None


class ReasonPublic(BaseModel):
    rule: str
    detail: str
    basis: str


class EligibilityPublic(BaseModel):
    application_id: str
    eligible: bool | None
    reasons: list[ReasonPublic]
    warnings: list[ReasonPublic]
    on: date
    screened_at: datetime | None
    rescreen: bool
    rule_set: dict[str, object]
    preview: bool = Field(description="true for a draft: what a submission today would be told")


class PayeePublic(BaseModel):
    account_name: str | None
    bank_name: str | None
    account_number_masked: str | None


class ApplicationPublic(BaseModel):
    id: str
    call_id: str
    org_id: str
    organization: dict[str, object]
    status: str
    version: int
    project_title: str
    summary: str
    period_start: date | None
    period_end: date | None
    requested: Money | None
    project_budget: Money
    self_raised: Money
    personnel: Money
    budget_lines: list[dict[str, object]]
    prior_funding: list[dict[str, object]]
    payee: PayeePublic | None
    created_at: datetime
    submitted_at: datetime | None
    withdrawn_at: datetime | None
    eligible: bool | None
    eligibility: EligibilityPublic | None = None
    warnings: list[ReasonPublic]
    review_score: str | None
    reviews: int
    roadshow_score: str | None
    rank: int | None


class ReviewIn(Strict):
    scores: dict[Annotated[str, StringConstraints(max_length=40)], Score] = Field(max_length=30)
    comment: Annotated[str, StringConstraints(max_length=5000)] | None = None
    submit: bool = False


class ConflictIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class ReviewPublic(BaseModel):
    application_id: str
    reviewer_sub: str
    status: str
    scores: dict[str, str]
    total: str | None
    comment: str | None
    version: int
    submitted_at: datetime | None


class RoadshowIn(Strict):
    score: Score

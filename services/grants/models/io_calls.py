"""Request and response bodies of calls, reviewers, ranking and the budget."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from services.grants.models.base import Strict
from shared.http import Money

CallType = Literal["venture_philanthropy", "micro_venture", "service_purchase", "award_subsidy"]
Trigger = Literal["signing", "midterm_passed", "final_passed"]
Grade = Literal["5A", "4A", "3A", "2A", "1A"]
Kind = Literal["social_group", "social_service_agency", "foundation", "other", "community_filed"]
AnnualResult = Literal["qualified", "basically_qualified", "unqualified", "not_inspected"]
TieBreak = Literal["earlier_submission", "lower_request", "higher_roadshow"]
FundingSource = Literal[
    "welfare_lottery",
    "central_finance",
    "provincial_finance",
    "municipal_finance",
    "district_finance",
    "foundation_charity",
    "matching",
]
ProcurementMethod = Literal[
    "public_tender",
    "invited_tender",
    "competitive_negotiation",
    "competitive_consultation",
    "single_source",
    "request_for_quotation",
]
RegionCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}([0-9]{3})?$")]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Score = Annotated[str, StringConstraints(pattern=r"^(100(\.0{1,2})?|[0-9]{1,2}(\.[0-9]{1,2})?)$")]
BasisPoints = Annotated[int, Field(ge=0, le=10_000)]
DEFAULT_KINDS: tuple[Kind, ...] = ("social_group", "social_service_agency", "foundation")


class TrancheIn(Strict):
    basis_points: BasisPoints
    trigger: Trigger


class CriterionIn(Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]
    title: Text200
    weight_bp: BasisPoints


class LookbackIn(Strict):
    list: Literal["irregular", "serious"]
    months: Annotated[int, Field(ge=1, le=120)]


class EligibilityIn(Strict):
    kinds: list[Kind] = Field(default_factory=lambda: list(DEFAULT_KINDS))
    regions: list[RegionCode] = Field(default_factory=list, max_length=50)
    min_grade: Grade | None = None
    lookbacks: list[LookbackIn] = Field(default_factory=list, max_length=10)
    major_violation_months: Annotated[int, Field(ge=1, le=120)] | None = None
    annual_results: list[AnnualResult] | None = None
    max_applications: Annotated[int, Field(ge=1, le=100)] | None = 1
    exclude_under_investigation: bool = False
    double_funding_check: bool = True
    bases: dict[Code, Annotated[str, StringConstraints(max_length=500)]] = Field(default_factory=dict)


class AssessmentIn(Strict):
    template_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    pass_threshold: Score = "60.00"  # noqa: S105 - a score, not a secret
    midterm_months: Annotated[int, Field(ge=1, le=36)] = 6
    final_months: Annotated[int, Field(ge=1, le=60)] | None = None


class CallFields(Strict):
    title: Text200
    description: Annotated[str, StringConstraints(max_length=20_000)] = ""
    region_code: RegionCode
    budget: Money
    min_award: Money | None = None
    max_award: Money | None = None
    max_grant_bp: BasisPoints = 10_000
    personnel_cap_bp: BasisPoints = 10_000
    eligibility: EligibilityIn = Field(default_factory=EligibilityIn)
    opens_at: AwareDatetime
    closes_at: AwareDatetime
    notice_working_days: Annotated[int, Field(ge=1, le=30)] = 5
    rubric: list[CriterionIn] = Field(default_factory=list, max_length=30)
    reviewers_per_application: Annotated[int, Field(ge=1, le=15)] = 3
    roadshow_weight_bp: BasisPoints = 0
    tie_break: TieBreak = "earlier_submission"
    tranches: list[TrancheIn] = Field(min_length=1, max_length=12)
    first_tranche_working_days: Annotated[int, Field(ge=1, le=60)] = 15
    assessment: AssessmentIn = Field(default_factory=AssessmentIn)
    funding_source: FundingSource
    budget_classification_code: Code
    fiscal_year: Annotated[int, Field(ge=2000, le=2100)]
    authorisation_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    budget_line: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    procurement_method: ProcurementMethod | None = None
    contract_term_months: Annotated[int, Field(ge=1, le=36)] | None = None
    contract_term_justification: Annotated[str, StringConstraints(max_length=2000)] | None = None
    amount_per_grade: dict[Grade, Money] | None = None


class CallCreate(CallFields):
    call_type: CallType


class CallPublic(BaseModel):
    id: str
    version: int
    status: str
    call_type: CallType
    title: str
    description: str
    region_code: str
    budget: Money
    min_award: Money
    max_award: Money
    max_grant_bp: int
    personnel_cap_bp: int
    eligibility: dict[str, object]
    rule_set: dict[str, object]
    opens_at: datetime
    closes_at: datetime
    notice_working_days: int
    rubric: list[dict[str, object]]
    reviewers_per_application: int
    roadshow_weight_bp: int
    tie_break: str
    tranches: list[dict[str, object]]
    first_tranche_working_days: int
    assessment: dict[str, object]
    funding_source: str
    budget_classification_code: str
    fiscal_year: int
    authorisation_number: str
    budget_line: str
    procurement_method: str | None
    contract_term_months: int | None
    contract_term_justification: str | None
    amount_per_grade: dict[str, Money] | None
    created_at: datetime
    published_at: datetime | None
    cancelled_reason: str | None


class CancelRequest(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class BudgetPublic(BaseModel):
    call_id: str
    total: Money
    committed: Money
    paid: Money
    remaining: Money
    budget_line: str
    fiscal_year: int


class ReviewerIn(Strict):
    sub: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    agency_id: Annotated[str, StringConstraints(max_length=200)] | None = None
    conflicts: list[Annotated[str, StringConstraints(max_length=36)]] = Field(default_factory=list, max_length=200)


class ReviewersIn(Strict):
    reviewers: list[ReviewerIn] = Field(min_length=1, max_length=200)


class ReviewerPublic(BaseModel):
    sub: str
    agency_id: str | None
    conflicts: list[str]


class AssignmentRequest(Strict):
    per_application: Annotated[int, Field(ge=1, le=15)] | None = None


class RankingEntry(BaseModel):
    rank: int
    application_id: str
    org_id: str
    organization: dict[str, object]
    project_title: str
    requested: Money | None
    review_score: str | None
    reviews: int
    roadshow_score: str | None
    score: str
    awarded: bool


class RankingPublic(BaseModel):
    call_id: str
    tie_break: str
    frozen_at: datetime | None
    items: list[RankingEntry]
    incomplete: list[str]

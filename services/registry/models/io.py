"""Request and response bodies of the registry API (snake_case English, Chinese human text)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.http import Money

Kind = Literal["social_group", "social_service_agency", "foundation", "other", "community_filed"]
RegisteredKind = Literal["social_group", "social_service_agency", "foundation", "other"]
Category = Literal["industry_association", "science_technology", "charity", "community_service"]
Status = Literal["active", "deregistered", "revoked"]
ListName = Literal["irregular", "serious"]
AnnualResult = Literal["qualified", "basically_qualified", "unqualified", "not_inspected"]
ReportStatus = Literal["on_time", "late", "not_filed"]
PenaltyType = Literal["warning", "fine", "suspension", "licence_revoked"]
RemovalReason = Literal["rectified", "expired", "clean_period", "deregistered"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LegalRepresentativeIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    id_number: str = Field(min_length=1, max_length=40, description="公民身份号码 (GB 11643); stored encrypted")
    phone: str | None = Field(default=None, max_length=40)


class ContactIn(Strict):
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class OrganizationCreate(Strict):
    name: str = Field(min_length=1, max_length=300)
    kind: Kind
    uscc: str | None = Field(default=None, max_length=40)
    region_code: str = Field(min_length=1, max_length=12)
    registered_on: date | None = None
    filed_on: date | None = None
    category: Category | None = None
    supervising_unit: str | None = Field(default=None, max_length=200)
    service_domains: list[str] = Field(default_factory=list, max_length=20)
    legal_representative: LegalRepresentativeIn | None = None
    address: str | None = Field(default=None, max_length=500)
    contact: ContactIn | None = None


class OrganizationUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=300)
    address: str | None = Field(default=None, max_length=500)
    contact: ContactIn | None = None
    service_domains: list[str] | None = Field(default=None, max_length=20)
    category: Category | None = None
    supervising_unit: str | None = Field(default=None, max_length=200)
    legal_representative: LegalRepresentativeIn | None = None
    correction_reason: str | None = Field(
        default=None, max_length=500, description="admin correction of a deregistered or revoked organization (audited)"
    )


class RegistrationCreate(Strict):
    """Upgrade a filed community group to a registered organization, keeping its org_id."""

    kind: RegisteredKind
    uscc: str = Field(min_length=1, max_length=40)
    registered_on: date
    category: Category | None = None
    supervising_unit: str | None = Field(default=None, max_length=200)
    legal_representative: LegalRepresentativeIn
    name: str | None = Field(default=None, max_length=300, description="the registered name, if it changed")


class Finding(BaseModel):
    field: str
    rule: str
    message: str
    basis: str | None = None


class ContactPublic(BaseModel):
    name: str | None = None
    phone: str | None = Field(default=None, description="masked")
    email: str | None = None


class LegalRepresentativePublic(BaseModel):
    name: str
    id_number: str = Field(description="masked: 110105********002X")
    phone: str | None = Field(default=None, description="masked: 138****0000")
    since: date


class Listed(BaseModel):
    irregular: bool
    serious: bool


class OrganizationPublic(BaseModel):
    id: str
    name: str
    kind: Kind
    status: Status
    region_code: str
    uscc: str | None
    filing_number: str | None
    previous_filing_number: str | None
    registered_on: date | None
    filed_on: date | None
    upgraded_on: date | None
    registration_authority: str | None
    filing_authority: str | None
    category: Category | None
    supervising_unit: str | None
    service_domains: list[str]
    address: str | None
    contact: ContactPublic | None
    legal_representative: LegalRepresentativePublic | None
    listed: Listed
    deregistered_on: date | None
    revoked_on: date | None
    status_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    warnings: list[Finding] = Field(default_factory=list)


class OrganizationSummary(BaseModel):
    id: str
    name: str
    kind: Kind
    status: Status
    region_code: str
    uscc: str | None
    filing_number: str | None
    registered_on: date | None
    filed_on: date | None
    service_domains: list[str]
    listed: Listed


class StatusChange(Strict):
    on: date = Field(description="注销 / 撤销 date")
    reason: str = Field(min_length=1, max_length=500)


class Revocation(StatusChange):
    measure: Literal["annulled", "licence_revoked"] = Field(
        default="licence_revoked", description="撤销登记 (annulled) or 吊销登记证书 (licence_revoked)"
    )


class AnnualReportCreate(Strict):
    year: int = Field(ge=1988, le=2100)
    result: AnnualResult
    report_status: ReportStatus | None = None
    effective_on: date | None = Field(default=None, description="the date of the result; today when absent")


class AnnualReportPublic(BaseModel):
    org_id: str
    year: int
    result: AnnualResult
    report_status: ReportStatus | None
    effective_on: date
    source: str
    deadline: date | None = None


class PenaltyCreate(Strict):
    penalty_type: PenaltyType
    fine: Money | None = None
    decided_on: date
    executed_on: date | None = None
    reason: str = Field(min_length=1, max_length=1000)
    document_number: str | None = Field(default=None, max_length=100)


class PenaltyPublic(BaseModel):
    id: str
    org_id: str
    penalty_type: PenaltyType
    fine: Money | None
    decided_on: date
    executed_on: date | None
    reason: str
    document_number: str | None
    warnings: list[Finding] = Field(default_factory=list)


class InvestigationCreate(Strict):
    opened_on: date
    reason: str = Field(min_length=1, max_length=1000)


class InvestigationClosure(Strict):
    closed_on: date
    outcome: str = Field(min_length=1, max_length=1000)


class InvestigationPublic(BaseModel):
    id: str
    org_id: str
    opened_on: date
    closed_on: date | None
    reason: str
    outcome: str | None
    version: int


class ListingCreate(Strict):
    list: ListName
    reason_code: str = Field(min_length=1, max_length=40)
    reason: str | None = Field(
        default=None, max_length=1000, description="Chinese text; the reason code's text when absent"
    )
    listed_on: date | None = None
    rectifiable: bool | None = Field(default=None, description="something to rectify? default per reason code")


class ListingRemoval(Strict):
    reason: RemovalReason
    removed_on: date | None = None
    rectification_verified_on: date | None = None
    note: str | None = Field(default=None, max_length=1000)


class ObjectionCreate(Strict):
    grounds: str = Field(min_length=1, max_length=2000)
    filed_on: date | None = None


class ObjectionDecision(Strict):
    decision: Literal["upheld", "rejected"]
    reason: str = Field(min_length=1, max_length=1000)
    decided_on: date | None = None


class ObjectionPublic(BaseModel):
    id: str
    listing_id: str
    org_id: str
    filed_on: date
    filed_by_role: str
    grounds: str
    status: str
    decided_on: date | None
    decision_reason: str | None


class ListingPublic(BaseModel):
    id: str
    org_id: str
    list: ListName
    reason_code: str
    reason: str
    listed_on: date
    removed_on: date | None
    removal_reason: str | None
    rectifiable: bool
    rectification_verified_on: date | None
    escalated_from: str | None
    version: int
    warnings: list[Finding] = Field(default_factory=list)


class GradePublic(BaseModel):
    grade: str
    valid_from: date
    valid_until: date
    evaluation_id: str | None = None


class Standing(BaseModel):
    """The organization as it stood on `on`: facts recorded for later dates are left out, and a
    removal or closure after `on` is not shown (`removed_on` / `closed_on` null)."""

    org_id: str
    on: date
    organization: dict[str, str]
    kind: Kind
    region_code: str
    status: str
    registered_on: date | None
    filed_on: date | None
    deregistered_on: date | None
    revoked_on: date | None
    listings: list[ListingPublic] = Field(
        description="every listing since registration up to `on` (look-back windows need them)"
    )
    listed: Listed = Field(description="on a list on `on`")
    annual_results: list[AnnualReportPublic]
    penalties: list[PenaltyPublic]
    investigations: list[InvestigationPublic]
    open_investigations: list[InvestigationPublic]
    current_grade: GradePublic | None
    pending_grade: GradePublic | None
    sequence: int


class ImportPublic(BaseModel):
    id: str
    status: Literal["queued", "running", "completed", "failed"]
    mode: Literal["per_row", "all_or_nothing"]
    filename: str
    total_rows: int
    processed_rows: int
    imported: int
    existing: int
    failed: int
    progress: float
    message: str | None
    created_at: datetime
    finished_at: datetime | None
    errors_url: str


class ImportErrorPublic(BaseModel):
    row_number: int
    field: str
    rule: str
    message: str
    value: str | None

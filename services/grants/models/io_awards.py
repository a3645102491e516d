"""Request and response bodies of awards, objections, disbursements, payments and the ledger."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from services.grants.models.base import Strict
from services.grants.models.io_applications import PayeeIn, PayeePublic
from shared.http import Money

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class AwardItem(Strict):
    application_id: Annotated[str, StringConstraints(max_length=36)] | None = None
    org_id: Annotated[str, StringConstraints(max_length=36)] | None = None
    amount: Money | None = Field(default=None, description="defaults to the amount requested (subsidy: per grade)")
    payee: PayeeIn | None = None


class AwardBatch(Strict):
    awards: list[AwardItem] = Field(min_length=1, max_length=500)


class AwardPublic(BaseModel):
    id: str
    call_id: str
    application_id: str | None
    org_id: str
    organization: dict[str, object]
    call_type: str
    project_title: str
    amount: Money
    committed: Money
    paid: Money
    status: str
    rank: int | None
    grade: str | None
    decided_on: date
    notice_starts_on: date | None
    notice_ends_at: datetime | None
    confirmed_on: date | None
    signed_on: date | None
    ended_on: date | None
    end_reason: str | None
    clawback_due: Money
    clawback_received: Money
    version: int


class AwardBatchPublic(BaseModel):
    call_id: str
    awards: list[AwardPublic]
    budget: dict[str, Money]


class ObjectionIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class ObjectionDecisionIn(Strict):
    decision: Literal["upheld", "rejected"]
    reason: Reason


class ObjectionPublic(BaseModel):
    id: str
    award_id: str
    status: str
    reason: str
    filed_at: datetime
    decided_at: datetime | None
    decision_reason: str | None
    reserve_application_id: str | None


class AgreementIn(Strict):
    signed_on: date | None = None


class SuspensionIn(Strict):
    reason: Reason


class TerminationIn(Strict):
    reason: Reason
    clawback: Money | None = None


class ClawbackIn(Strict):
    amount: Money
    received_on: date


class DisbursementPublic(BaseModel):
    id: str
    award_id: str
    tranche_no: int
    tranche_count: int
    basis_points: int
    trigger: str
    amount: Money
    status: str
    due_on: date | None
    attempt: int
    payment_instruction_id: str | None
    finance_reference: str | None
    paid_at: datetime | None
    overdue: bool
    version: int


class PaymentIn(Strict):
    instruction_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    status: Literal["paid", "failed", "reversed"]
    finance_reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    paid_at: AwareDatetime | None = None
    reason: Reason | None = None


class PayeeAwardPublic(BaseModel):
    award_id: str
    org_id: str
    organization: dict[str, object]
    payee: PayeePublic
    account_number: str | None


class LedgerEntryPublic(BaseModel):
    entry_id: int
    event_id: str | None
    event_type: str
    topic: str
    partitionkey: str
    sequence: int
    call_id: str
    award_id: str
    disbursement_id: str | None
    booking: dict[str, object]
    committed_total: Money
    paid_total: Money
    occurred_at: datetime


class NoticeEntry(BaseModel):
    award_id: str
    organization: dict[str, object]
    project_title: str
    amount: Money
    rank: int | None
    status: str
    notice_starts_on: date | None
    notice_ends_at: datetime | None


class PublicNotice(BaseModel):
    call_id: str
    title: str
    items: list[NoticeEntry]

"""What notifications remembers of other services' events: just enough to route and remind.

Organizations (name, kind, region), calls (closing instant), applications (drafts), awards (region,
for disbursements that carry none), annual reports, assessments, evaluator assignments and public
notices. Each is written by the consumer from events (tolerant reader); never read elsewhere.
"""

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field

from services.notifications.models.base import NotificationsModel, instant


class OrganizationFact(NotificationsModel, table=True):
    __tablename__ = "organization_facts"
    __table_args__ = (Index("ix_organization_facts_region", "region_code"),)

    org_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(default="", max_length=300)
    kind: str = Field(default="", max_length=30)
    region_code: str = Field(default="", max_length=9)
    status: str = Field(default="active", max_length=20)
    dual_managed: bool = False
    updated_at: datetime = instant()


class CallFact(NotificationsModel, table=True):
    __tablename__ = "call_facts"

    call_id: str = Field(primary_key=True, max_length=36)
    title: str = Field(default="", max_length=300)
    call_type: str = Field(default="", max_length=30)
    region_code: str = Field(default="", max_length=9)
    closes_at: datetime | None = instant(nullable=True)
    status: str = Field(default="published", max_length=20)  # published | open | closed | cancelled
    updated_at: datetime = instant()


class ApplicationFact(NotificationsModel, table=True):
    __tablename__ = "application_facts"
    __table_args__ = (Index("ix_application_facts_call", "call_id", "status"),)

    application_id: str = Field(primary_key=True, max_length=36)
    call_id: str = Field(max_length=36)
    org_id: str = Field(max_length=36)
    status: str = Field(max_length=20)  # draft | submitted | withdrawn
    project_title: str = Field(default="", max_length=300)
    updated_at: datetime = instant()


class AwardFact(NotificationsModel, table=True):
    __tablename__ = "award_facts"

    award_id: str = Field(primary_key=True, max_length=36)
    org_id: str = Field(max_length=36)
    call_id: str = Field(default="", max_length=36)
    region_code: str = Field(default="", max_length=9)
    updated_at: datetime = instant()


class AnnualReportFact(NotificationsModel, table=True):
    __tablename__ = "annual_report_facts"

    org_id: str = Field(primary_key=True, max_length=36)
    year: int = Field(primary_key=True)
    result: str = Field(default="", max_length=30)
    recorded_at: datetime = instant()


class AssessmentFact(NotificationsModel, table=True):
    __tablename__ = "assessment_facts"

    assessment_id: str = Field(primary_key=True, max_length=36)
    award_id: str = Field(max_length=36)
    org_id: str = Field(max_length=36)
    stage: str = Field(default="", max_length=20)
    due_on: date | None = None
    status: str = Field(default="scheduled", max_length=20)  # scheduled | completed
    updated_at: datetime = instant()


class AssignmentFact(NotificationsModel, table=True):
    __tablename__ = "assignment_facts"
    __table_args__ = (Index("ix_assignment_facts_round", "round_id", "status"),)

    evaluation_id: str = Field(primary_key=True, max_length=36)
    evaluator_sub: str = Field(primary_key=True, max_length=200)
    round_id: str | None = Field(default=None, max_length=36)
    org_id: str = Field(default="", max_length=36)
    status: str = Field(default="assigned", max_length=20)  # assigned | scored | recused
    updated_at: datetime = instant()


class NoticeFact(NotificationsModel, table=True):
    __tablename__ = "notice_facts"

    notice_id: str = Field(primary_key=True, max_length=80)  # award:<id> | rating:<evaluation id>
    kind: str = Field(max_length=10)  # award | rating
    org_id: str = Field(max_length=36)
    region_code: str = Field(default="", max_length=9)
    ends_at: datetime = instant()
    status: str = Field(default="open", max_length=20)  # open | closed
    updated_at: datetime = instant()

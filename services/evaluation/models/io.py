"""Request bodies of the evaluation API (responses are plain JSON documents built by the handlers).

Points are decimal strings (`"45.50"`) or integers; JSON numbers with a fraction are refused by the
rules that read them, naming the field: a float is never exact.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.auth import is_region_code

GradeStr = Literal["5A", "4A", "3A", "2A", "1A"]
Kind = Literal["social_group", "social_service_agency", "foundation", "other"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _region(value: str) -> str:
    if not is_region_code(value):
        raise ValueError("a GB/T 2260 region code (6 digits) or a 9-digit street code")
    return value


class DocRef(Body):
    id: str = Field(min_length=1, max_length=60)
    version: int | None = Field(default=None, ge=1)


class RoundCreate(Body):
    title: str = Field(min_length=1, max_length=200)
    year: int = Field(ge=2000, le=2100)
    region_code: str
    kinds: list[Kind] = Field(min_length=1)
    template: DocRef
    rule_set: DocRef
    band_table: DocRef
    applications_close_on: date
    notice_working_days: int | None = Field(default=None, ge=1, le=60)
    max_spread: str | int | None = None

    _region = field_validator("region_code")(_region)


class ApplicationCreate(Body):
    org_id: str | None = Field(default=None, max_length=36)


class AgencyCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    region_code: str
    uscc: str | None = Field(default=None, max_length=18)

    _region = field_validator("region_code")(_region)


class Affiliation(Body):
    org_id: str = Field(min_length=1, max_length=36)
    ended_on: date | None = None


class EvaluatorCreate(Body):
    sub: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=100)
    qualifications: list[str] = Field(default_factory=list, max_length=20)
    affiliations: list[Affiliation] = Field(default_factory=list, max_length=50)


class AssignmentCreate(Body):
    evaluator_id: str = Field(min_length=1, max_length=36)


class ConflictCreate(Body):
    reason_code: Literal["employment", "relative", "financial", "other"]
    detail: str | None = Field(default=None, max_length=2000)
    worked_until: date | None = None
    evaluator_id: str | None = Field(default=None, max_length=36)


class ConflictDecision(Body):
    decision: Literal["upheld", "rejected"]
    reason: str | None = Field(default=None, max_length=2000)


class ScoresPut(Body):
    scores: dict[str, Any] = Field(default_factory=dict, max_length=500)
    comments: dict[str, str] = Field(default_factory=dict, max_length=500)
    total: str | int | None = None


class Quorum(Body):
    members: int = Field(ge=1, le=200)
    present: int = Field(ge=0, le=200)
    in_favour: int = Field(ge=0, le=200)


class DecisionCreate(Body):
    quorum: Quorum
    grade: GradeStr | None = None
    decided_on: date | None = None
    reason: str | None = Field(default=None, max_length=2000)


class AppealCreate(Body):
    grounds: str = Field(min_length=1, max_length=5000)


class AppealDecision(Body):
    decision: Literal["upheld", "rejected"]
    grade: GradeStr | None = None
    reason: str | None = Field(default=None, max_length=2000)
    quorum: Quorum | None = None


class ProposalCreate(Body):
    reason: Literal[
        "falsified_materials",
        "unqualified_inspection",
        "basically_qualified_twice",
        "administrative_penalty",
        "serious_listing",
    ]
    detail: str | None = Field(default=None, max_length=2000)


class ProposalDecision(Body):
    decision: Literal["confirmed", "dismissed"]
    reason: str | None = Field(default=None, max_length=2000)

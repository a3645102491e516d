"""The registry's tables. Personal data (ID numbers, phones) is stored only encrypted, with a
masked copy for display and a blind index for duplicate look-ups."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.dialects import postgresql
from sqlmodel import Field

from services.registry.models.base import RegistryModel
from shared.tables import BigId, UtcDateTime

# A list of strings: a real array on PostgreSQL (GIN-indexable, `@>`), JSON on SQLite.
StringList = JSON().with_variant(postgresql.ARRAY(String(100)), "postgresql")


class Organization(RegistryModel, table=True):
    __tablename__ = "organizations"
    __table_args__ = (
        # Duplicates: the same key in the same region, among organizations still on the register.
        Index(
            "uq_organizations_region_name_live",
            "region_code",
            "name_key",
            unique=True,
            postgresql_where=text("status <> 'deregistered'"),
            sqlite_where=text("status <> 'deregistered'"),
        ),
        Index("ix_organizations_region_id", "region_code", "id"),
        Index("ix_organizations_kind_id", "kind", "id"),
        Index("ix_organizations_name_key", "name_key"),
        # Name search (API.md): trigrams of the key for 3+ characters (pg_trgm), the array of
        # characters and bigrams for 1–2 characters (养老); service domains for their filter.
        # GIN on PostgreSQL; on SQLite (which searches with LIKE) they are plain, unused indexes.
        Index(
            "ix_organizations_name_key_trgm",
            "name_key",
            postgresql_using="gin",
            postgresql_ops={"name_key": "gin_trgm_ops"},
        ),
        Index("ix_organizations_name_grams", "name_grams", postgresql_using="gin"),
        Index("ix_organizations_service_domains", "service_domains", postgresql_using="gin"),
    )

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    name_key: str = Field(max_length=200)
    name_grams: list[str] | None = Field(default=None, sa_column=Column(StringList, nullable=True))
    kind: str = Field(max_length=30)
    status: str = Field(max_length=20, default="active")
    region_code: str = Field(max_length=9)
    uscc: str | None = Field(default=None, max_length=18, unique=True)
    filing_number: str | None = Field(default=None, max_length=24, unique=True)
    previous_filing_number: str | None = Field(default=None, max_length=24)
    registered_on: date | None = None
    filed_on: date | None = None
    upgraded_on: date | None = None
    registration_authority: str | None = Field(default=None, max_length=6)
    filing_authority: str | None = Field(default=None, max_length=9)
    category: str | None = Field(default=None, max_length=40)
    supervising_unit: str | None = Field(default=None, max_length=200)
    service_domains: list[str] = Field(default_factory=list, sa_column=Column(StringList, nullable=False))
    address: str | None = Field(default=None, max_length=500)
    contact_name: str | None = Field(default=None, max_length=100)
    contact_phone_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    contact_phone_masked: str | None = Field(default=None, max_length=40)
    contact_email: str | None = Field(default=None, max_length=200)
    listed_irregular: bool = False
    listed_serious: bool = False
    deregistered_on: date | None = None
    revoked_on: date | None = None
    status_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    version: int = 1
    created_at: datetime = Field(sa_column=Column(UtcDateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(timezone=True), nullable=False))


class LegalRepresentative(RegistryModel, table=True):
    __tablename__ = "legal_representatives"
    __table_args__ = (Index("ix_legal_representatives_org", "org_id", "current"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    org_id: str = Field(max_length=36)
    name: str = Field(max_length=100)
    id_number_enc: str = Field(sa_column=Column(Text, nullable=False))
    id_number_index: str = Field(max_length=64, index=True)
    id_number_masked: str = Field(max_length=24)
    phone_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    phone_masked: str | None = Field(default=None, max_length=40)
    since: date
    until: date | None = None
    current: bool = True


class AnnualReport(RegistryModel, table=True):
    __tablename__ = "annual_reports"
    __table_args__ = (UniqueConstraint("org_id", "year", name="uq_annual_reports_org_year"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    org_id: str = Field(max_length=36)
    year: int
    result: str = Field(max_length=30)
    report_status: str | None = Field(default=None, max_length=20)
    effective_on: date
    source: str = Field(max_length=20)
    recorded_at: datetime = Field(sa_column=Column(UtcDateTime(timezone=True), nullable=False))


class Penalty(RegistryModel, table=True):
    __tablename__ = "penalties"

    id: str = Field(primary_key=True, max_length=36)
    org_id: str = Field(max_length=36, index=True)
    penalty_type: str = Field(max_length=30)
    fine_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    decided_on: date
    executed_on: date | None = None
    reason: str = Field(sa_column=Column(Text, nullable=False))
    document_number: str | None = Field(default=None, max_length=100)
    recorded_at: datetime = Field(sa_column=Column(UtcDateTime(timezone=True), nullable=False))


class Investigation(RegistryModel, table=True):
    __tablename__ = "investigations"

    id: str = Field(primary_key=True, max_length=36)
    org_id: str = Field(max_length=36, index=True)
    opened_on: date
    closed_on: date | None = None
    reason: str = Field(sa_column=Column(Text, nullable=False))
    outcome: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    version: int = 1


class CreditListing(RegistryModel, table=True):
    __tablename__ = "credit_listings"

    id: str = Field(primary_key=True, max_length=36)
    org_id: str = Field(max_length=36, index=True)
    list: str = Field(max_length=20)
    reason_code: str = Field(max_length=40)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    listed_on: date
    removed_on: date | None = None
    removal_reason: str | None = Field(default=None, max_length=30)
    removal_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    rectifiable: bool = True
    rectification_verified_on: date | None = None
    escalated_from: str | None = Field(default=None, max_length=36)
    version: int = 1
    recorded_at: datetime = Field(sa_column=Column(UtcDateTime(timezone=True), nullable=False))


class ListingObjection(RegistryModel, table=True):
    __tablename__ = "listing_objections"

    id: str = Field(primary_key=True, max_length=36)
    listing_id: str = Field(max_length=36, index=True)
    org_id: str = Field(max_length=36)
    filed_on: date
    filed_by_role: str = Field(max_length=20)
    grounds: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=20, default="pending")
    decided_on: date | None = None
    decision_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Grade(RegistryModel, table=True):
    """Grades as `evaluation.rating` told them (the registry never decides a grade)."""

    __tablename__ = "grades"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    org_id: str = Field(max_length=36, index=True)
    grade: str = Field(max_length=4)
    valid_from: date
    valid_until: date
    ended_on: date | None = None
    end_reason: str | None = Field(default=None, max_length=40)
    evaluation_id: str | None = Field(default=None, max_length=64)
    decided_on: date | None = None
    announced_on: date | None = None
    rule_set_id: str | None = Field(default=None, max_length=100)
    source_event_id: str = Field(max_length=64)


class Street(RegistryModel, table=True):
    """Street / township codes (9 digits), loaded by `gongyi regions load`."""

    __tablename__ = "streets"

    code: str = Field(primary_key=True, max_length=9)
    name: str = Field(max_length=100)
    county_code: str = Field(max_length=6, index=True)
    source: str = Field(max_length=200)


class FilingCounter(RegistryModel, table=True):
    __tablename__ = "filing_counters"

    region_code: str = Field(primary_key=True, max_length=9)
    year: int = Field(primary_key=True)
    last: int = 0


class ImportJob(RegistryModel, table=True):
    __tablename__ = "imports"

    id: str = Field(primary_key=True, max_length=36)
    status: str = Field(max_length=20)
    mode: str = Field(max_length=20)
    filename: str = Field(max_length=255)
    file_format: str = Field(max_length=10)
    content: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    total_rows: int = 0
    processed_rows: int = 0
    imported: int = 0
    existing: int = 0
    failed: int = 0
    message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    actor_sub: str = Field(max_length=200)
    actor_role: str = Field(max_length=20)
    actor_region: str | None = Field(default=None, max_length=9)
    request_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(UtcDateTime(timezone=True), nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(timezone=True), nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(timezone=True), nullable=True))


class ImportRow(RegistryModel, table=True):
    """A parsed row waiting to be imported (deleted when the import ends)."""

    __tablename__ = "import_rows"

    import_id: str = Field(primary_key=True, max_length=36)
    row_number: int = Field(primary_key=True)
    data: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))


class ImportError_(RegistryModel, table=True):
    __tablename__ = "import_errors"
    __table_args__ = (Index("ix_import_errors_import_row", "import_id", "row_number"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    import_id: str = Field(max_length=36)
    row_number: int
    field: str = Field(max_length=100)
    rule: str = Field(max_length=100)
    message: str = Field(sa_column=Column(Text, nullable=False))
    value: str | None = Field(default=None, sa_column=Column(Text, nullable=True))

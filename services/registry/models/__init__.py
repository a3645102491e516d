"""Tables of the registry service (schema `registry`) and its I/O models."""

from __future__ import annotations

from services.registry.models.base import RegistryModel, infra
from services.registry.models.tables import (
    AnnualReport,
    CreditListing,
    FilingCounter,
    Grade,
    ImportError_,
    ImportJob,
    ImportRow,
    Investigation,
    LegalRepresentative,
    ListingObjection,
    Organization,
    Penalty,
    Street,
)

__all__ = [
    "AnnualReport",
    "CreditListing",
    "FilingCounter",
    "Grade",
    "ImportError_",
    "ImportJob",
    "ImportRow",
    "Investigation",
    "LegalRepresentative",
    "ListingObjection",
    "Organization",
    "Penalty",
    "RegistryModel",
    "Street",
    "infra",
]

"""HTTP routes of the registry service under `/registry/v1`."""

from __future__ import annotations

from fastapi import APIRouter

from services.registry.api import imports, organizations, reads, records

router = APIRouter()
router.include_router(organizations.router)
router.include_router(records.router)
router.include_router(reads.router)
router.include_router(imports.router)

"""Alembic environment of the grants service (version table in schema `grants`)."""

from services.grants.models import GrantsModel
from shared.migrations import run_env

run_env(GrantsModel.metadata)

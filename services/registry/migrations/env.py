"""Alembic environment of the registry service (version table in schema `registry`)."""

from services.registry.models import RegistryModel
from shared.migrations import run_env

run_env(RegistryModel.metadata)

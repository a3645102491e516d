"""Alembic environment of the evaluation service (version table in schema `evaluation`)."""

from services.evaluation.models import EvaluationModel
from shared.migrations import run_env

run_env(EvaluationModel.metadata)

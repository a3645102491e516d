"""Alembic environment of the notifications service (version table in schema `notifications`)."""

from services.notifications.models import NotificationsModel
from shared.migrations import run_env

run_env(NotificationsModel.metadata)

"""infrastructure tables

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

from shared.infra_migration import downgrade_0001, upgrade_0001

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_0001('grants')


def downgrade() -> None:
    downgrade_0001('grants')

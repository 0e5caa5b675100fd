"""predictions: each order's predicted ETA window and customs clearance (learning from history)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("eta", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch.add_column(sa.Column("customs_forecast", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("customs_forecast")
        batch.drop_column("eta")

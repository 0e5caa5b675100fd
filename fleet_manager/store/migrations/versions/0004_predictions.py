"""predictions: each order's predicted ETA window and customs clearance (learning from history); traffic reports

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
    op.create_table(
        "traffic_reports",
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("hub_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("latitude_deg", sa.Float(), nullable=False),
        sa.Column("longitude_deg", sa.Float(), nullable=False),
        sa.Column("radius_m", sa.Float(), nullable=False),
        sa.Column("speed_factor", sa.Float(), nullable=False),
        sa.Column("starts_at_s", sa.Float(), nullable=False),
        sa.Column("ends_at_s", sa.Float(), nullable=False),
        sa.Column("created_at_s", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("report_id"),
    )
    op.create_index("ix_traffic_reports_hub_end", "traffic_reports", ["hub_id", "ends_at_s"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_traffic_reports_hub_end", table_name="traffic_reports")
    op.drop_table("traffic_reports")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("customs_forecast")
        batch.drop_column("eta")

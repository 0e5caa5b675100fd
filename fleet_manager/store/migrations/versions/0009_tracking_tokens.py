"""recipient tracking links: hashed tokens per order

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-30 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "tracking_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.order_id", ondelete="CASCADE"), nullable=False),
        sa.Column("hub_id", sa.String(64), nullable=False),
        sa.Column("created_at_s", sa.Float(), nullable=False),
        sa.Column("expires_at_s", sa.Float(), nullable=False),
    )
    op.create_index("ix_tracking_tokens_order", "tracking_tokens", ["order_id", "created_at_s"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_tracking_tokens_order", table_name="tracking_tokens")
    op.drop_table("tracking_tokens")

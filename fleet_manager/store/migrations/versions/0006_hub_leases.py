"""scale-out: hub leases (leader per hub with a fencing token), relay cursors (outbox -> NATS JetStream)

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "hub_leases",
        sa.Column("hub_id", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at_s", sa.Float(), nullable=False),
        sa.Column("renewed_at_s", sa.Float(), nullable=False),
        sa.Column("expires_at_s", sa.Float(), nullable=False),
    )
    op.create_table(
        "relay_cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_s", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("relay_cursors")
    op.drop_table("hub_leases")

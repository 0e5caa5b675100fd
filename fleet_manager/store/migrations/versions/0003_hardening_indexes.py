"""hardening: indexes for in-order webhook delivery per subject and for pruning old idempotency keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 06:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index("ix_outbox_subject_seq", "outbox", ["subject", "seq"])
    op.create_index("ix_outbox_time", "outbox", ["time_s"])
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at_s"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_idempotency_keys_created", table_name="idempotency_keys")
    op.drop_index("ix_outbox_time", table_name="outbox")
    op.drop_index("ix_outbox_subject_seq", table_name="outbox")

"""cold chain and typed addresses: order handling, address resolution, unplannable reason; conditioned lockers;
parcel sensor readings and conditions

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("handling", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch.add_column(sa.Column("address_resolution", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch.add_column(sa.Column("unplannable_reason", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("lockers") as batch:
        batch.add_column(sa.Column("conditioned", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "parcel_readings",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("hub_id", sa.String(length=64), nullable=False),
        sa.Column("at_s", sa.Float(), nullable=False),
        sa.Column("temperature_c", sa.Float(), nullable=True),
        sa.Column("humidity_pct", sa.Float(), nullable=True),
        sa.Column("shock_g", sa.Float(), nullable=True),
        sa.Column("excursion", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.order_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_parcel_readings_order", "parcel_readings", ["order_id", "at_s"], unique=False)
    op.create_table(
        "parcel_conditions",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("hub_id", sa.String(length=64), nullable=False),
        sa.Column("at_s", sa.Float(), nullable=False),
        sa.Column("temperature_c", sa.Float(), nullable=True),
        sa.Column("humidity_pct", sa.Float(), nullable=True),
        sa.Column("shock_g", sa.Float(), nullable=True),
        sa.Column("readings", sa.Integer(), nullable=False),
        sa.Column("excursions", sa.Integer(), nullable=False),
        sa.Column("in_excursion", sa.Boolean(), nullable=False),
        sa.Column("first_excursion_at_s", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.order_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("order_id"),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("parcel_conditions")
    op.drop_index("ix_parcel_readings_order", table_name="parcel_readings")
    op.drop_table("parcel_readings")
    with op.batch_alter_table("lockers") as batch:
        batch.drop_column("conditioned")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("unplannable_reason")
        batch.drop_column("address_resolution")
        batch.drop_column("handling")

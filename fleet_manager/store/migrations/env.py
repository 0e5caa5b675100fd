"""Alembic environment: runs on the connection `Database.migrate()` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from fleet_manager.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    """Online migrations on the given connection (or on `sqlalchemy.url` when run by hand)."""
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///var/finalmile.db")
        with engine.begin() as own_connection:
            context.configure(connection=own_connection, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()

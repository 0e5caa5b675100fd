"""A throw-away PostgreSQL database on 127.0.0.1 for a benchmark (created, migrated, dropped)."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from fleet_manager.store.db import upgrade

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
logger = logging.getLogger(__name__)


@contextlib.contextmanager
def scratch_postgres() -> Iterator[str | None]:
    """Yields the URL of a new, migrated database (dropped afterwards), or None when PostgreSQL is unreachable."""
    name = f"finalmile_bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        logger.warning("PostgreSQL unreachable, skipping: %s", str(exc).splitlines()[0])
        yield None
        return
    try:
        yield upgrade(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

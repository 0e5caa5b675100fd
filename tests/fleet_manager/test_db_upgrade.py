"""Migrations run once (`finalmile db upgrade`), never in a service's start-up; a service refuses a schema behind.

Each test gets a database of its own that nobody has migrated: a SQLite file, and a fresh PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from alembic import command

from fleet_manager.api import create_app
from fleet_manager.config import Settings
from fleet_manager.errors import SchemaBehind
from fleet_manager.runtime import Runtime
from fleet_manager.store.db import Database, alembic_config

CLI = "import sys; from fleet_manager.cli import main; sys.exit(main(sys.argv[1:]))"


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, *args], env={**os.environ, "FINALMILE_DATABASE_URL": url},
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_service_refuses_an_empty_database_and_names_the_command(empty_database_url: str) -> None:
    """Runtime start-up (what `finalmile serve` runs) raises SchemaBehind naming `finalmile db upgrade`,
    and leaves the database untouched (no table created)."""
    settings = Settings(database_url=empty_database_url)
    with pytest.raises(SchemaBehind, match="finalmile db upgrade") as raised:
        asyncio.run(Runtime.start(settings))
    assert raised.value.current is None
    database = Database(empty_database_url)
    try:
        assert database.schema_revisions()[0] is None
    finally:
        database.dispose()


def test_the_app_lifespan_refuses_a_schema_one_revision_behind(empty_database_url: str) -> None:
    """A database left at an older revision: the app's start-up fails with the revision it found and the head."""
    database = Database(empty_database_url)
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    app = create_app(Settings(database_url=empty_database_url), database=database)

    async def start() -> None:
        async with app.router.lifespan_context(app):
            raise AssertionError("the app started on a schema behind the code")

    try:
        with pytest.raises(SchemaBehind, match="0002") as raised:
            asyncio.run(start())
        assert raised.value.head == database.schema_revisions()[1] != "0002"
    finally:
        database.dispose()


def test_db_current_then_upgrade_then_serve_checks_pass(empty_database_url: str) -> None:
    """`db current` exits 3 on an empty database; `db upgrade` brings it to head (twice: idempotent);
    `db current` then exits 0 and the service's check passes."""
    behind = _cli("db", "current", url=empty_database_url)
    assert behind.returncode == 3, behind.stderr
    assert behind.stdout.startswith("current=none head=")
    for _ in range(2):
        done = _cli("db", "upgrade", url=empty_database_url)
        assert done.returncode == 0, done.stderr
    current = _cli("db", "current", url=empty_database_url)
    assert current.returncode == 0, current.stderr
    head = current.stdout.split("head=")[1].strip()
    assert current.stdout.strip() == f"current={head} head={head}"
    database = Database(empty_database_url)
    try:
        database.require_current_schema()
    finally:
        database.dispose()


def test_serve_on_an_empty_database_exits_with_one_line(empty_database_url: str) -> None:
    """`finalmile serve` on an unmigrated database: exit 1, one line naming `finalmile db upgrade`, no traceback."""
    done = _cli("serve", "--port", "1", url=empty_database_url)
    assert done.returncode == 1, done.stderr
    assert "finalmile db upgrade" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.postgres
def test_two_upgrades_at_once_on_postgresql_both_succeed(empty_database_url: str) -> None:
    """Two `finalmile db upgrade` started together (two init jobs by mistake) both exit 0: the second waits."""
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("concurrent upgrades are a PostgreSQL matter (SQLite has one writer)")
    env = {**os.environ, "FINALMILE_DATABASE_URL": empty_database_url}
    processes = [subprocess.Popen([sys.executable, "-c", CLI, "db", "upgrade"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outcomes
    database = Database(empty_database_url)
    try:
        database.require_current_schema()
    finally:
        database.dispose()

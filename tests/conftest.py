"""Shared store fixtures: a migrated `Database` on SQLite and on PostgreSQL, and a unique hub id.

PostgreSQL runs in its own throw-away database (`finalmile_test_<random>`), created once per test
session and dropped at the end; its parameter is skipped with the reason when the server is unreachable.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from fleet_manager.store.db import Database

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def _fresh_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database named `<prefix><random>` (dropped at the end); skips when unreachable."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 unreachable: {str(exc).splitlines()[0]}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh, uniquely named PostgreSQL database for this test session (dropped afterwards)."""
    with _fresh_postgres_database("finalmile_test_") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, never-migrated database: a SQLite file, or a PostgreSQL database of this test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    with _fresh_postgres_database("finalmile_fresh_") as url:
        yield url


@pytest.fixture(scope="session")
def _postgres_database(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated database, once on a SQLite file (WAL) and once on PostgreSQL; use a unique `hub_id`."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path_factory.mktemp('store') / 'finalmile.db'}")
        db.migrate()
        yield db
        db.dispose()
    else:
        yield request.getfixturevalue("_postgres_database")


@pytest.fixture
def hub_id() -> str:
    """A hub of its own for each test, so tests sharing the PostgreSQL database never see each other's rows."""
    return f"hub-{uuid.uuid4().hex[:8]}"


# `make test` runs the suite on two xdist workers (`--dist loadgroup`). Tests that hold a resource of the
# machine run in one group each, one after the other on one worker: real SITL binds fixed ports
# (5760 + 10 * instance), and every ROS 2 user (the ROS suites, and the sim days and services that start
# sim robots) picks a random ROS_DOMAIN_ID out of the same hundred, where two at once could cross-talk.
_ROS_USERS = ("tests/ros/", "tests/e2e/", "tests/fleet_manager/test_serve.py",
              "tests/fleet_manager/test_fleet_file_map_frames.py", "tests/fleet_manager/test_learning_eta.py",
              "tests/fleet_manager/test_traffic.py", "tests/fleet_manager/test_cluster_failover.py",
              "tests/sim_worlds/test_mavsim_flight.py")


def _resource_group(nodeid: str) -> str | None:
    if nodeid.startswith("tests/sitl/") or "sitl" in nodeid.split("::")[-1]:
        return "sitl"
    if nodeid.startswith(_ROS_USERS):
        return "ros2"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the tests that share a machine resource into one xdist group (see `_resource_group`), the long
    groups first so that one worker is not left alone with them at the end."""
    order = {"sitl": 0, "ros2": 1, None: 2}
    groups = {item.nodeid: _resource_group(item.nodeid) for item in items}
    for item in items:
        group = groups[item.nodeid]
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda item: order[groups[item.nodeid]])

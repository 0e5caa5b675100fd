"""Shared store fixtures: a migrated `Database` on SQLite and on PostgreSQL, and a unique hub id.

PostgreSQL runs in its own throw-away database (`finalmile_test_<random>`), created once per test
session and dropped at the end; its parameter is skipped with the reason when the server is unreachable.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# `make test` runs the suite on three xdist workers (`--dist loadgroup --no-loadscope-reorder`). The machine's
# shared numbers (ROS_DOMAIN_IDs, SITL instances and so their ports) are leased per process
# (sim_worlds.leases), so tests no longer need to queue behind each other for them. What is grouped:
# - each test file, so its module-scoped set-up (a robots process, SITL drones, a browser) runs once, on
#   one worker, and its tests never race each other for a file or port of the module;
# - the whole simulated days (`finalmile sim` / run_day at 25-120x) together: each drives several processes
#   and needs most of the machine; two at once on two cores starve each other's clocks (at load ~20 such
#   days already end with nothing delivered by some vehicle kind). The lighter end-to-end stacks (one
#   simulator at 4-20x: dashboard, van hand-offs, staged carrier) are files like any other.
# Units are handed out heaviest first (by their markers: a whole day, a real SITL flight or a browser
# outweighs hundreds of unit tests), so that the last one to start is short and no worker idles at the end.
#
# The groups are not `xdist_group` marks: xdist 3.8 passes a mark's group to its scheduler by appending
# "@group" to the test's node id on the worker, which pytest 9.2 no longer lets it change (the id is
# structured), so every test became a unit of its own (pytest-dev/pytest-xdist#1386): the six days ran two at
# a time and each module set-up ran on both workers. `pytest_xdist_make_scheduler` below gives xdist a
# scheduler that reads the group from the node id itself, on the controller.
_SIM_DAYS = ("tests/e2e/test_safety_days.py", "tests/e2e/test_sim_andorra_day.py", "tests/e2e/test_sim_day.py",
             "tests/e2e/test_sim_day_van_drones.py", "tests/e2e/test_sim_fleet_comparison.py",
             "tests/e2e/test_sim_traffic.py")
_WEIGHT_S = {"slow": 40.0, "sitl": 20.0, "browser": 15.0, "sim": 15.0, "ros": 2.0, "postgres": 0.5}
# Files whose wall time the markers misjudge, in seconds of a whole file on the CI box (`--durations=0` of the runs
# of 2026-11-30: the CI figures where known, else the full run at load 8-16 scaled by ~0.6). They only rank the
# units: a file missing here (a new one) is guessed from its markers. Without them a 144 s file (one `sim` mark)
# was handed out after forty lighter ones, where it could end the run alone, and 401 quick unit tests outranked
# a SITL file.
_FILE_S = {
    "tests/e2e/test_safety_days.py": 90.0, "tests/e2e/test_sim_andorra_day.py": 90.0,
    "tests/e2e/test_sim_day.py": 80.0, "tests/e2e/test_sim_day_van_drones.py": 50.0,
    "tests/e2e/test_sim_fleet_comparison.py": 150.0, "tests/e2e/test_sim_traffic.py": 35.0,
    "tests/fleet_manager/test_cluster_failover.py": 130.0, "tests/fleet_manager/test_restart_reconcile.py": 144.0,
    "tests/fleet_manager/test_leadership_processes.py": 140.0, "tests/fleet_manager/test_event_replay.py": 90.0,
    "tests/sitl/test_sitl_adapter.py": 100.0, "tests/sitl/test_sim_sitl.py": 95.0,
    "tests/sitl/test_mavproxy.py": 100.0, "tests/sitl/test_terrain_frame.py": 70.0,
    "tests/sitl/test_differential.py": 60.0, "tests/sitl/test_sitl_gcs_failsafe.py": 50.0,
    "tests/sitl/test_real_vehicle_link.py": 25.0, "tests/fleet_manager/test_home_at_recovery.py": 65.0,
    "tests/e2e/test_staged_carrier.py": 73.0, "tests/e2e/test_van_handoff_execution.py": 110.0,
    "tests/e2e/test_van_recall_recovery.py": 100.0, "tests/e2e/test_van_handoff_reroute.py": 55.0,
    "tests/e2e/test_van_launch_hold.py": 55.0, "tests/e2e/test_dashboard_browser.py": 50.0,
    "tests/sim_worlds/test_mavsim_flight.py": 70.0, "tests/ros/test_ros2_adapter.py": 70.0,
    "tests/fleet_manager/test_reroute.py": 45.0, "tests/fleet_manager/test_mavlink_adapter.py": 45.0,
    "tests/ros/test_ros2_adoption.py": 40.0, "tests/fleet_manager/test_mavlink_real_link.py": 35.0,
    "tests/ros/test_ros2_map_frames.py": 30.0, "tests/fleet_manager/test_crash_safety.py": 30.0,
    "tests/sim_worlds/test_mavsim_sim_control.py": 30.0, "tests/sim_worlds/test_vans.py": 20.0,
    "tests/fleet_manager/test_state_machine.py": 2.0,
}


def _group(nodeid: str) -> str:
    path = nodeid.split("::")[0]
    return "sim-days" if path in _SIM_DAYS else path


_DAY_WEIGHT_S = 100.0  # a whole simulated day: 1-3 minutes of a loaded machine


def _weight_s(item: pytest.Item) -> float:
    """A rough guess of a test's wall time from its markers (only its rank among the others matters)."""
    marked = sum(weight for name, weight in _WEIGHT_S.items() if item.get_closest_marker(name) is not None)
    day = _DAY_WEIGHT_S if item.nodeid.split("::")[0] in _SIM_DAYS and item.get_closest_marker("sim") else 0.0
    return 0.3 + marked + day


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the tests by group (see above), the heaviest groups first; a group keeps its order. The workers send
    this order to the controller, whose scheduler hands the groups out in it."""
    weights: dict[str, float] = {}
    for path in {item.nodeid.split("::")[0] for item in items} & _FILE_S.keys():
        weights[_group(path)] = weights.get(_group(path), 0.0) + _FILE_S[path]
    for item in items:
        if item.nodeid.split("::")[0] not in _FILE_S:
            weights[_group(item.nodeid)] = weights.get(_group(item.nodeid), 0.0) + _weight_s(item)
    items.sort(key=lambda item: -weights[_group(item.nodeid)])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """For `--dist loadgroup`: xdist's scope scheduler (a group is one unit, on one worker, units handed out in
    collection order with --no-loadscope-reorder) with the scope being this file's group of the test."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileGroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return FileGroupScheduling(config, log)

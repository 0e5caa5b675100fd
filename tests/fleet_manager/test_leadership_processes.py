"""Hub leadership between real `finalmile serve --hubs` processes on one PostgreSQL store.

A leader and a standby name the same two hubs (one with a drone on mavsim). Killed with SIGKILL,
the leader's hubs are taken over by the standby (asserted on the lease rows, with the next token);
stopped with SIGSTOP until the standby has taken over, then continued, the old leader's operator
command is refused by its fence and never sent, and it steps down instead of taking the hubs back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import yaml
from fm_helpers import API_KEYS_ENV, SERVER_SECRET, auth, free_port, serve_subprocess, wait_until

from fleet_manager.store import leases
from fleet_manager.store.db import Database
from fleet_manager.world import load_world
from sim_worlds.mavsim.process import MavsimProcess

pytestmark = [pytest.mark.postgres, pytest.mark.sim]

HUBS = ("hub-north", "hub-south")
LEASE_TTL_S = 3.0
#: Generous: the standby needs the lease to expire (3 s) and one renewal round (1 s); the box is shared.
TAKEOVER_TIMEOUT_S = 45.0


@pytest.fixture
def store(empty_database_url: str) -> Iterator[tuple[str, Database]]:
    """A fresh PostgreSQL database of this test (the SQLite parameter is skipped: shards share PostgreSQL)."""
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("several shard processes share one PostgreSQL store")
    database = Database(empty_database_url)
    database.migrate()
    yield empty_database_url, database
    database.dispose()


def _fleet_file(path: Path, drone_url: str) -> Path:
    # Both hubs in one world: the world's lockers go to the first (a locker belongs to one hub).
    hubs = [{"hub_id": hub_id, "world": "helsinki", "recipient_presence": {"kind": "always"},
             **({} if index == 0 else {"lockers": []})} for index, hub_id in enumerate(HUBS)]
    path.write_text(yaml.safe_dump({
        "hubs": hubs,
        "vehicles": [{"vehicle_id": "drone-1", "kind": "drone", "url": drone_url, "hub": HUBS[0]}],
    }))
    return path


def _env(url: str, fleet_path: Path, node_id: str) -> dict[str, str]:
    return {"FINALMILE_DATABASE_URL": url, "FINALMILE_FLEET_FILE": str(fleet_path), "FINALMILE_NODE_ID": node_id,
            "FINALMILE_LEASE_TTL_S": str(LEASE_TTL_S), "FINALMILE_API_KEYS": API_KEYS_ENV,
            "FINALMILE_SERVER_SECRET": SERVER_SECRET}


def _holders(database: Database) -> dict[str, tuple[str, int] | None]:
    with database.read() as session:
        found = {hub_id: leases.current(session, hub_id=hub_id) for hub_id in HUBS}
    return {hub_id: None if lease is None else (lease.holder, lease.token) for hub_id, lease in found.items()}


def _start_pair(stack: ExitStack, url: str, fleet_path: Path, tmp_path: Path, database: Database
                ) -> tuple[subprocess.Popen[bytes], int, subprocess.Popen[bytes]]:
    """The leader, leading both hubs; then the standby. Returns (leader, leader's port, standby)."""
    hubs = ("--hubs", ",".join(HUBS))
    leader_port = free_port()
    leader = stack.enter_context(serve_subprocess(_env(url, fleet_path, "leader"), port=leader_port,
                                                  log_path=tmp_path / "leader.log", timeout_s=120.0, args=hubs))
    wait_until(lambda: _holders(database) == {hub_id: ("leader", 1) for hub_id in HUBS}, timeout_s=60,
               what="the leader holding both hubs", interval_s=0.2)
    standby = stack.enter_context(serve_subprocess(_env(url, fleet_path, "standby"), port=free_port(),
                                                   log_path=tmp_path / "standby.log", timeout_s=120.0,
                                                   args=(*hubs, "--standby")))
    return leader, leader_port, standby


@pytest.mark.timeout(300)
def test_kill_9_the_leader_and_the_standby_holds_its_hubs(store: tuple[str, Database], tmp_path: Path) -> None:
    """SIGKILL (no release of the lease): the standby holds both hubs with token 2 well within the timeout."""
    url, database = store
    hub = load_world("helsinki").hub
    with MavsimProcess(1, home=(hub.latitude_deg, hub.longitude_deg, 10.0)) as sim, ExitStack() as stack:
        leader, _port, _standby = _start_pair(stack, url, _fleet_file(tmp_path / "fleet.yaml", sim.urls[0]),
                                              tmp_path, database)
        assert _holders(database) == {hub_id: ("leader", 1) for hub_id in HUBS}  # the standby waits
        os.killpg(leader.pid, signal.SIGKILL)
        wait_until(lambda: _holders(database) == {hub_id: ("standby", 2) for hub_id in HUBS},
                   timeout_s=TAKEOVER_TIMEOUT_S, what="the standby holding both hubs", interval_s=0.2)


@pytest.mark.timeout(300)
def test_a_stopped_leader_is_fenced_out_when_it_wakes(store: tuple[str, Database], tmp_path: Path) -> None:
    """SIGSTOP the leader until the standby holds its hubs, then SIGCONT: an operator command through the old
    leader's API fails as refused by its fence (never sent), and the old leader steps down: the lease stays
    with the standby's token."""
    url, database = store
    hub = load_world("helsinki").hub
    with MavsimProcess(1, home=(hub.latitude_deg, hub.longitude_deg, 10.0)) as sim, ExitStack() as stack:
        leader, port, _standby = _start_pair(stack, url, _fleet_file(tmp_path / "fleet.yaml", sim.urls[0]),
                                             tmp_path, database)
        base = f"http://127.0.0.1:{port}/v1"

        def drone_known() -> bool:
            return httpx.get(f"{base}/vehicles/drone-1", headers=auth("viewer"), timeout=5).status_code == 200

        wait_until(drone_known, timeout_s=60, what="the leader registering drone-1", interval_s=0.3)
        os.killpg(leader.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: _holders(database) == {hub_id: ("standby", 2) for hub_id in HUBS},
                       timeout_s=TAKEOVER_TIMEOUT_S, what="the standby taking over", interval_s=0.2)
        finally:
            os.killpg(leader.pid, signal.SIGCONT)
        posted = httpx.post(f"{base}/vehicles/drone-1/commands", json={"command": "pause", "reason": "fencing test"},
                            headers=auth("operator"), timeout=30)
        assert posted.status_code == 202, posted.text
        command_url = f"{base}/vehicles/drone-1/commands/{posted.json()['command_id']}"
        outcome: dict[str, object] = {}

        def finished() -> bool:
            outcome.update(httpx.get(command_url, headers=auth("operator"), timeout=5).json())
            return outcome.get("status") in ("accepted", "failed")

        wait_until(finished, timeout_s=30, what="the command's outcome", interval_s=0.2)
        assert outcome["status"] == "failed", outcome
        assert "deposed leader" in str(outcome.get("error")), outcome
        log = tmp_path / "leader.log"
        wait_until(lambda: "deposed" in log.read_text(), timeout_s=30, what="the old leader stepping down")
        time.sleep(LEASE_TTL_S)  # a few of its lease rounds: it must not take the hubs back
        assert _holders(database) == {hub_id: ("standby", 2) for hub_id in HUBS}

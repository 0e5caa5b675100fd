"""Hub failover: `finalmile serve --hubs` leader killed with SIGKILL -> its standby holds the hub's lease.

Two processes name the same hub (no vehicles: this measures the lease, not re-adoption) on a throw-away
PostgreSQL database. Per round: wait until the leader holds the hub, SIGKILL its process group, and time
until the lease row names the standby with the next token. Repeated with a fresh pair per round, for the
default lease time (6 s) and a short one (3 s). Skips without PostgreSQL on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import text

from fleet_manager.store import leases
from fleet_manager.store.db import Database

from .pg_scratch import scratch_postgres

NAME = "failover"
HUB = "hub-failover"
CLI = "import sys; from fleet_manager.cli import main; sys.exit(main(sys.argv[1:]))"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.05)


def _serve(
    url: str, fleet: Path, node: str, ttl_s: float, log: Path, *extra: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {**os.environ, "FINALMILE_DATABASE_URL": url, "FINALMILE_FLEET_FILE": str(fleet), "FINALMILE_NODE_ID": node,
           "FINALMILE_LEASE_TTL_S": str(ttl_s)}
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-c", CLI, "serve", "--port", str(port), "--hubs", HUB, *extra],
                                   env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{node} exited: {log.read_text()[-1500:]}")
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        return False

    _wait(healthy, 120, f"{node} answering /healthz")
    return process, port


def _holder(database: Database) -> tuple[str, int] | None:
    with database.read() as session:
        lease = leases.current(session, hub_id=HUB)
    return None if lease is None else (lease.holder, lease.token)


def run(args: Any = None) -> list[dict[str, Any]]:
    """Rows: lease TTL, round, seconds from SIGKILL to the standby holding the lease, load average."""
    rows: list[dict[str, Any]] = []
    rounds = 1 if getattr(args, "quick", False) else 3
    with scratch_postgres() as url, tempfile.TemporaryDirectory(prefix="finalmile-failover-") as tmp:
        if url is None:
            return []
        database = Database(url)
        fleet = Path(tmp) / "fleet.yaml"
        fleet.write_text(yaml.safe_dump({"hubs": [{"hub_id": HUB, "recipient_presence": {"kind": "always"}}]}))
        try:
            for ttl_s in (6.0, 3.0):
                for index in range(rounds):
                    rows.append(_round(database, url, fleet, Path(tmp), ttl_s, index))
        finally:
            database.dispose()
    return rows


def _round(database: Database, url: str, fleet: Path, tmp: Path, ttl_s: float, index: int) -> dict[str, Any]:
    started = []
    try:
        leader, _ = _serve(url, fleet, f"leader-{ttl_s}-{index}", ttl_s, tmp / "leader.log")
        started.append(leader)
        _wait(lambda: (_holder(database) or ("", 0))[0].startswith("leader"), 60, "leader elected")
        standby, _ = _serve(url, fleet, f"standby-{ttl_s}-{index}", ttl_s, tmp / "standby.log", "--standby")
        started.append(standby)
        wanted = (f"standby-{ttl_s}-{index}", (_holder(database) or ("", 0))[1] + 1)
        killed = time.monotonic()
        os.killpg(leader.pid, signal.SIGKILL)
        _wait(lambda: _holder(database) == wanted, 60, "standby takeover")
        return {"lease_ttl_s": ttl_s, "round": index + 1,
                "kill9_to_standby_lease_s": round(time.monotonic() - killed, 2),
                "load_average_1m": round(os.getloadavg()[0], 2)}
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        with database.transaction() as session:  # the next round starts from a free hub
            session.execute(text("UPDATE hub_leases SET expires_at_s = 0"))

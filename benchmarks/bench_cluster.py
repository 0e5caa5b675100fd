"""The scale-out topology under load: K hubs, each led by a shard (`serve --hubs H`) with one standby for all,
two API replicas (`serve --api-only`), V mavsim drones per hub, one throw-away PostgreSQL and a nats-server
of the benchmark's own (JetStream, temporary store).

Per K it measures:
- order -> mission: POST of an order (one per drone, near its hub, drones free) until the order is `assigned`
  on the live stream of the *other* replica (p50/p95);
- event end-to-end latency: POST to replica A until the order's first event arrives on replica B's stream
  (read from JetStream), on sequential orders (p50/p95);
- orders/s: a burst through both replicas (8 concurrent clients, no hub id: routed by location), and the
  lost / duplicated counts afterwards (orders with a 201 missing from the store; one reference stored twice);
- failover: SIGKILL of hub 1's leader -> the standby holds its lease, and -> the first vehicle report that the
  standby's own telemetry recorder stores (its drone re-adopted and connected).
Skips without PostgreSQL on 127.0.0.1 or without `nats-server`. Quick: K = 1 only; full: K = 1, 2; `--hubs 1,2,4,8`
picks the counts. A K whose run fails (a process not up in time, a wait timed out) gives a row saying what broke
in `outcome` (and the load then), and the larger counts still run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import select

from fleet_manager.cli.keys import new_key
from fleet_manager.store import leases
from fleet_manager.store.db import Database
from fleet_manager.store.models import OrderRow, VehicleRow
from fleet_manager.world import load_world

from .pg_scratch import scratch_postgres

NAME = "cluster"
CLI = "import sys; from fleet_manager.cli import main; sys.exit(main(sys.argv[1:]))"
DRONES_PER_HUB = 2
HUB_SPACING_DEG = 0.03  # hub service areas' centres, ~3.3 km apart north-south (areas of 1.5 km)
KEYS = {role: new_key() for role in ("backend", "operator", "viewer")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate: Any, timeout_s: float, what: str, interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s} s")
        time.sleep(interval_s)


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


class _Topology:
    """Processes of one run (killed with their groups at the end)."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.env = env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, *args: str, python: tuple[str, ...] = ("-c", CLI)) -> subprocess.Popen[bytes]:
        with (self.tmp / f"{name}.log").open("ab") as out:
            process = subprocess.Popen([sys.executable, *python, *args], env={**os.environ, **self.env,
                                       "FINALMILE_NODE_ID": name}, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes[name] = process
        return process

    def serve(self, name: str, *args: str) -> str:
        port = _free_port()
        process = self.spawn(name, "serve", "--port", str(port), *args)

        def healthy() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited: {(self.tmp / f'{name}.log').read_text()[-1500:]}")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            return False

        _wait(healthy, 180, f"{name} answering /healthz", 0.2)
        return f"http://127.0.0.1:{port}/v1"

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def close(self) -> None:
        for name in list(self.processes):
            self.kill(name)


class _Stream:
    """SSE of one replica in a thread: when each order's statuses were first seen (monotonic)."""

    def __init__(self, base: str) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=None))
        self._open = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(base,), daemon=True)
        self._thread.start()
        if not self._open.wait(30):
            raise TimeoutError("the event stream did not open")

    def _read(self, base: str) -> None:
        headers = {"Authorization": f"Bearer {KEYS['viewer']}"}
        with contextlib.suppress(httpx.HTTPError, RuntimeError), self._client.stream(
                "GET", f"{base}/events/stream?types=com.finalmile.order", headers=headers) as response:
            for line in response.iter_lines():
                self._open.set()
                if line.startswith("data:"):
                    data = json.loads(line[5:]).get("data", {})
                    key = (str(data.get("order_id")), str(data.get("to_status")))
                    self.seen.setdefault(key, time.monotonic())

    def close(self) -> None:
        self._client.close()


def _post(base: str, latitude_deg: float, longitude_deg: float, reference: str,
          hub_id: str | None = None) -> tuple[str, float]:
    """POST one order (to `hub_id`, else routed by location); (order id, monotonic time the request was sent)."""
    sent = time.monotonic()
    answer = httpx.post(f"{base}/orders", timeout=60, json={
        "reference": reference, "recipient": {"name": "Bench"}, "weight_kg": 0.8, "customs_cleared": True,
        "destination": {"latitude_deg": latitude_deg, "longitude_deg": longitude_deg},
        **({"hub_id": hub_id} if hub_id else {})},
        headers={"Authorization": f"Bearer {KEYS['backend']}", "Idempotency-Key": reference})
    if answer.status_code != 201:
        raise RuntimeError(f"order {reference}: {answer.status_code} {answer.text[:300]}")
    return str(answer.json()["order_id"]), sent


def _waited(stream: _Stream, posted: dict[str, float], status: str, timeout_s: float) -> list[float]:
    """Seconds from each POST to its `status` on the stream (those seen within the timeout)."""
    with contextlib.suppress(TimeoutError):
        _wait(lambda: all((o, status) in stream.seen for o in posted), timeout_s, f"orders {status}", 0.1)
    return [stream.seen[(o, status)] - sent for o, sent in posted.items() if (o, status) in stream.seen]


def _run_k(url: str, nats_server: str, hubs: int, burst: int, tmp: Path) -> dict[str, Any]:
    world = load_world("helsinki")
    site = world.hub
    hub_ids = [f"bench-hub-{i + 1}" for i in range(hubs)]
    centres = [(site.latitude_deg - i * HUB_SPACING_DEG, site.longitude_deg) for i in range(hubs)]
    nats_port = _free_port()
    topology = _Topology(tmp, {"FINALMILE_DATABASE_URL": url, "FINALMILE_NATS_URL": f"nats://127.0.0.1:{nats_port}",
                               "FINALMILE_API_KEYS": ",".join(f"{r}:{k}" for r, k in KEYS.items()),
                               "FINALMILE_SERVER_SECRET": new_key(), "FINALMILE_LEASE_TTL_S": "3",
                               "FINALMILE_FLEET_FILE": str(tmp / "fleet.yaml")})
    database = Database(url)
    streams: list[_Stream] = []
    try:
        topology.processes["nats"] = subprocess.Popen(
            [nats_server, "-js", "-a", "127.0.0.1", "-p", str(nats_port), "-sd", str(tmp / "jetstream")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        sim_port = _free_port()
        topology.spawn("mavsim", "--count", str(hubs * DRONES_PER_HUB), "--base-port", str(sim_port),
                       "--udp-base-port", "0", "--home-lat", str(site.latitude_deg), "--home-lon",
                       str(site.longitude_deg), "--speedup", "4", "--boot-s", "3", python=("-m", "sim_worlds.mavsim"))
        (tmp / "fleet.yaml").write_text(yaml.safe_dump({
            "hubs": [{"hub_id": hub_id, "world": "helsinki", "recipient_presence": {"kind": "always"},
                      "service_area": {"latitude_deg": lat, "longitude_deg": lon, "radius_m": 1500},
                      **({} if i == 0 else {"lockers": []})}
                     for i, (hub_id, (lat, lon)) in enumerate(zip(hub_ids, centres, strict=True))],
            "vehicles": [{"vehicle_id": f"{hub_id}-drone-{d + 1}", "kind": "drone", "hub": hub_id,
                          "url": f"tcp:127.0.0.1:{sim_port + 10 * (h * DRONES_PER_HUB + d)}"}
                         for h, hub_id in enumerate(hub_ids) for d in range(DRONES_PER_HUB)]}))
        for hub_id in hub_ids:
            topology.serve(f"leader-{hub_id}", "--hubs", hub_id)
        _wait(lambda: all(_holder(database, h) for h in hub_ids), 90, "every hub led", 0.2)
        topology.serve("standby", "--hubs", ",".join(hub_ids), "--standby")
        replica_a = topology.serve("api-a", "--api-only")
        replica_b = topology.serve("api-b", "--api-only")
        stream = _Stream(replica_b)
        streams.append(stream)

        # Order -> mission: one order per drone, near the drones (all hubs use the Helsinki world and its
        # hub site, so every hub's drones start there: an order at another hub's area centre, 3 km south,
        # is outside the world's operating area and never assignable), sent to its hub by hub id.
        first: dict[str, float] = {}
        for h, hub_id in enumerate(hub_ids):
            for d in range(DRONES_PER_HUB):
                order_id, sent = _post(replica_a, site.latitude_deg + 0.002 * (d + 1), site.longitude_deg,
                                       f"mission-{h}-{d}-{uuid.uuid4().hex[:6]}", hub_id=hub_id)
                first[order_id] = sent
        to_mission = _waited(stream, first, "assigned", 120)

        # Event end-to-end: sequential orders to A, their first event on B.
        sequential: dict[str, float] = {}
        for index in range(20):
            lat, lon = centres[index % hubs]
            order_id, sent = _post(replica_a, lat - 0.003, lon + 0.002, f"latency-{index}-{uuid.uuid4().hex[:6]}")
            sequential[order_id] = sent
        end_to_end = _waited(stream, sequential, "received", 60)

        # Burst through both replicas, routed by location.
        references = [f"burst-{i}-{uuid.uuid4().hex[:6]}" for i in range(burst)]

        def one(index: int) -> str:
            lat, lon = centres[index % hubs]
            return _post((replica_a, replica_b)[index % 2], lat - 0.004, lon - 0.002, references[index])[0]

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            created = list(pool.map(one, range(burst)))
        burst_s = time.monotonic() - started
        stored = _stored_orders(database, references)
        lost = len(set(created) - {order_id for order_id, _ in stored})
        duplicated = len(stored) - len({reference for _, reference in stored})

        # Failover of hub 1: its leader killed, the standby's lease, then its first vehicle report.
        token = (_holder(database, hub_ids[0]) or ("", 0))[1]
        killed_epoch, killed = time.time(), time.monotonic()
        topology.kill(f"leader-{hub_ids[0]}")
        _wait(lambda: _holder(database, hub_ids[0]) == ("standby", token + 1), 60, "standby lease", 0.05)
        lease_s = time.monotonic() - killed
        _wait(lambda: _reported_since(database, f"{hub_ids[0]}-drone-1", killed_epoch), 120,
              "the standby's first vehicle report", 0.1)
        report_s = time.monotonic() - killed
        return {"hubs": hubs, "drones_per_hub": DRONES_PER_HUB, "api_replicas": 2,
                "order_to_assigned_p50_s": _round(_percentile(to_mission, 0.5)),
                "order_to_assigned_p95_s": _round(_percentile(to_mission, 0.95)),
                "assigned_seen": f"{len(to_mission)}/{len(first)}",
                "event_e2e_p50_ms": _round(_ms(_percentile(end_to_end, 0.5))),
                "event_e2e_p95_ms": _round(_ms(_percentile(end_to_end, 0.95))),
                "events_seen": f"{len(end_to_end)}/{len(sequential)}",
                "burst_orders": burst, "orders_per_s": round(burst / burst_s, 1), "lost": lost,
                "duplicated": duplicated, "failover_lease_s": round(lease_s, 2),
                "failover_first_report_s": round(report_s, 2), "load_average_1m": round(os.getloadavg()[0], 2)}
    finally:
        for stream in streams:
            stream.close()
        topology.close()
        database.dispose()


def _stored_orders(database: Database, references: list[str]) -> list[tuple[str, str]]:
    """(order id, reference) of every stored order with one of the references."""
    with database.read() as session:
        rows = session.execute(select(OrderRow.order_id, OrderRow.reference).where(OrderRow.reference.in_(references)))
        return [(str(order_id), str(reference)) for order_id, reference in rows]


def _holder(database: Database, hub_id: str) -> tuple[str, int] | None:
    with database.read() as session:
        lease = leases.current(session, hub_id=hub_id)
        expired = lease is None or lease.expires_at_s < leases.db_now_s(session)
    return None if lease is None or expired else (lease.holder, lease.token)


def _reported_since(database: Database, vehicle_id: str, since_epoch_s: float) -> bool:
    with database.read() as session:
        row = session.get(VehicleRow, vehicle_id)
        return row is not None and row.state_stamp_s is not None and row.state_stamp_s > since_epoch_s


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def run(args: Any = None) -> list[dict[str, Any]]:
    """Rows per hub count (see the module docstring)."""
    nats_server = shutil.which("nats-server")
    if nats_server is None:
        return []
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per order otherwise
    quick = getattr(args, "quick", False)
    counts = _hub_counts(getattr(args, "hubs", None), quick=quick)
    rows = []
    for hubs in counts:
        with scratch_postgres() as url, tempfile.TemporaryDirectory(prefix="finalmile-cluster-") as tmp:
            if url is None:
                return []
            try:
                rows.append({**_run_k(url, nats_server, hubs, 100 if quick else 300, Path(tmp)), "outcome": "ok"})
            except (TimeoutError, RuntimeError, httpx.HTTPError) as exc:
                logging.getLogger(__name__).exception("cluster: K = %d failed", hubs)
                rows.append({"hubs": hubs, "drones_per_hub": DRONES_PER_HUB, "api_replicas": 2,
                             "load_average_1m": round(os.getloadavg()[0], 2),
                             "outcome": f"failed: {type(exc).__name__}: {exc}"[:300]})
    return rows


def _hub_counts(option: str | None, *, quick: bool) -> tuple[int, ...]:
    """The hub counts of `--hubs` ("1,2,4"), else 1 (quick) or 1, 2."""
    if not option:
        return (1,) if quick else (1, 2)
    try:
        counts = tuple(int(part) for part in option.split(","))
    except ValueError as exc:
        raise ValueError(f"--hubs {option!r}: give hub counts like 1,2,4,8") from exc
    if any(count < 1 for count in counts):
        raise ValueError(f"--hubs {option!r}: every count must be >= 1")
    return counts

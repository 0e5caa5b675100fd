"""The cluster topology as plain processes for tests: shards, API replicas, a drone address to fly to."""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import yaml
from fm_helpers import API_KEYS_ENV, SERVER_SECRET, free_port, serve_subprocess
from shapely.geometry import LineString
from shapely.ops import unary_union

from fleet_manager.store import leases
from fleet_manager.store.db import Database
from fleet_manager.world import load_world
from fleet_manager.world.model import Building
from mission_planner.airspace import ZoneKind


def clear_address(distance_m: float) -> Building:
    """An address about `distance_m` from the Helsinki hub whose straight route crosses no zone."""
    world = load_world("helsinki")
    hub = world.hub
    no_fly = unary_union([z.polygon.buffer(80.0) for z in world.airspace.zones
                          if z.kind is not ZoneKind.OPERATING_AREA])
    reachable = [b for b in world.addresses if not LineString([(hub.x_m, hub.y_m), (b.x_m, b.y_m)]).intersects(no_fly)]
    return min(reachable, key=lambda b: abs(math.hypot(b.x_m - hub.x_m, b.y_m - hub.y_m) - distance_m))


def cluster_env(database_url: str, fleet_path: Path, nats_url: str, **extra: str) -> dict[str, str]:
    """What every process of the topology shares (keys, store, fleet, bus); `extra` FINALMILE_* on top."""
    return {"FINALMILE_DATABASE_URL": database_url, "FINALMILE_FLEET_FILE": str(fleet_path),
            "FINALMILE_NATS_URL": nats_url, "FINALMILE_API_KEYS": API_KEYS_ENV,
            "FINALMILE_SERVER_SECRET": SERVER_SECRET, **extra}


def start_process(env: dict[str, str], node_id: str, log_dir: Path, *args: str) -> tuple[
        AbstractContextManager[Any], str]:
    """`finalmile serve` as `node_id` (not yet entered) and its /v1 base URL."""
    port = free_port()
    process = serve_subprocess({**env, "FINALMILE_NODE_ID": node_id}, port=port, log_path=log_dir / f"{node_id}.log",
                               timeout_s=180.0, args=args)
    return process, f"http://127.0.0.1:{port}/v1"


def lease_holder(database: Database, hub_id: str) -> tuple[str, int] | None:
    """(holder, token) of the hub's lease row, or None."""
    with database.read() as session:
        lease = leases.current(session, hub_id=hub_id)
    return None if lease is None else (lease.holder, lease.token)


#: hub-south's service-area centre in the two-hub fleets: 2 km south of the Postitalo hub.
SOUTH_CENTRE = (60.1535, 24.9381)


def two_hub_fleet(path: Path, *, north_radius_m: float) -> Path:
    """A fleet file without vehicles: hub-north (its area around the Helsinki hub) and hub-south (1 km)."""
    hub = load_world("helsinki").hub
    path.write_text(yaml.safe_dump({"hubs": [
        {"hub_id": "hub-north", "world": "helsinki", "recipient_presence": {"kind": "always"},
         "service_area": {"latitude_deg": hub.latitude_deg, "longitude_deg": hub.longitude_deg,
                          "radius_m": north_radius_m}},
        {"hub_id": "hub-south", "world": "helsinki", "recipient_presence": {"kind": "always"}, "lockers": [],
         "service_area": {"latitude_deg": SOUTH_CENTRE[0], "longitude_deg": SOUTH_CENTRE[1], "radius_m": 1000}},
    ], "vehicles": []}))
    return path

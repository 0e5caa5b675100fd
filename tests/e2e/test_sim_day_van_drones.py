"""`finalmile sim` with a van that carries drones and a hub that swaps batteries: a short day runs.

The van carries two of the three drones; the dispatcher launches them at van stops and takes
them back aboard at the stop the plan names (the same or a later one), so some parcels go by
drone from away from the hub; every launch is a webhook the backend received.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
from pathlib import Path

import pytest
import yaml
from _sim_run import run_sim

from fleet_manager.world import load_world
from sim_worlds.scenario import load_scenario

pytestmark = [pytest.mark.sim, pytest.mark.slow, pytest.mark.timeout(150)]
# A 30-minute day: the van departure rule (tested in tests/fleet_manager/test_van_departure.py) would keep the van at
# the hub for up to its trip's drive out and back, most of such a day; here it leaves as soon as a trip is due.
LEAVE_WHEN_DUE = {"FINALMILE_VAN_HOLD_MAX_S": "0"}


def _scenario(tmp_path: Path) -> Path:
    data = load_scenario("helsinki_day").model_dump(mode="json")
    data.update(name="van_drones_day", duration_s=1800, speedup=120, seed=11)
    data["fleet"]["drones"].update(count=3, swap_time_s=60)
    data["fleet"]["robots"]["count"] = 0
    data["fleet"]["vans"].update(count=1, carries_drones=2)  # drone-1 and drone-2 ride; drone-3 flies from the hub
    data["demand"]["orders_per_hour"] = [60.0]
    data["demand"].update(customs_delay_min_s=120, customs_delay_max_s=300)
    data["zone_events"] = []
    data["recipients"].update(presence_probability=1.0, presence_spread=0.0)  # a drop is a delivery: tests handoff
    path = tmp_path / "van_drones_day.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_day_with_van_carried_drones_and_hub_swaps(tmp_path: Path) -> None:
    """Van-launched drones deliver away from the hub without fence breaches; hub drones get full packs."""
    runs = tmp_path / "runs"
    returncode, text = run_sim(_scenario(tmp_path), runs, "vd", timeout_s=140, env=LEAVE_WHEN_DUE)
    assert returncode == 0, text[-2000:]
    run_dir = runs / "vd"
    kpis = json.loads((run_dir / "kpis.json").read_text())
    assert kpis["delivered"] + kpis["delivered_to_locker"] > 0
    assert "vans can carry drone-1, drone-2, drone-3" in (run_dir / "vans.log").read_text()
    swaps = [line for line in (run_dir / "sim.log").read_text().splitlines() if "got a full pack" in line]
    assert swaps, "no drone had its battery swapped at the hub"
    assert kpis["geofence_violations"] == 0
    launched = _van_launched_deliveries(run_dir / "finalmile.db")
    assert launched, "no parcel was delivered by a drone the van launched"
    hub = load_world("helsinki").hub
    for drone_id, latitude_deg, longitude_deg in launched:
        assert drone_id in ("drone-1", "drone-2")
        away_m = math.hypot((latitude_deg - hub.latitude_deg) * 111_320.0,
                            (longitude_deg - hub.longitude_deg) * 111_320.0 * math.cos(math.radians(hub.latitude_deg)))
        assert away_m > 100.0, f"{drone_id} was launched {away_m:.0f} m from the hub"
    with contextlib.closing(sqlite3.connect(run_dir / "finalmile.db")) as db:
        launches = db.execute("SELECT delivered_at_s FROM outbox WHERE type = 'com.finalmile.vehicle.launched'")
        delivered = [at_s for (at_s,) in launches]
    assert len(delivered) >= len({d for d, _lat, _lon in launched}), "a launch without its event"
    assert all(at_s is not None for at_s in delivered), "a launch event never reached the backend's webhook"


def _van_launched_deliveries(db_path: Path) -> list[tuple[str, float, float]]:
    """(drone, launch lat, launch lon) of each parcel delivered (mode drone) on a mission launched from a van."""
    found = []
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        missions = db.execute("SELECT vehicle_id, order_ids, details FROM missions").fetchall()
        for vehicle_id, order_ids, details in missions:
            facts = json.loads(details)
            if not facts.get("launched_from"):
                continue
            for order_id in json.loads(order_ids):
                events = {to: json.loads(d) for to, d in db.execute(
                    "SELECT to_status, details FROM order_events WHERE order_id = ? ORDER BY seq", (order_id,))}
                if (events.get("out_for_delivery", {}).get("mode") == "drone"
                        and events.get("delivered", {}).get("vehicle_id") == vehicle_id):
                    found.append((vehicle_id, facts["launch_latitude_deg"], facts["launch_longitude_deg"]))
    return found

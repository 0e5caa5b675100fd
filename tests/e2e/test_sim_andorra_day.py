"""`finalmile sim andorra_day`, short: a mountain day runs with deliveries, no geofence breach, and every drone
position it reported 30..120 m above the elevation model while moving on (`terrain_clearance_violations` 0),
and its typed addresses (buildings without numbers) resolved or sent to review, never to a wrong door.

The scenario is the shipped one (fleet, vans carrying drones, customs, lockers, cold chain), cut to 30
simulated minutes at 25x; demand is denser and customs quicker so parcels go out within it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from _sim_run import run_sim

from sim_worlds.scenario import load_scenario

pytestmark = [pytest.mark.sim, pytest.mark.slow, pytest.mark.timeout(480)]
# A 30-minute day: the van departure rule (tested in tests/fleet_manager/test_van_departure.py) would keep the vans at
# the hub for up to their trips' drive out and back, most of such a day; here they leave as soon as a trip is due.
LEAVE_WHEN_DUE = {"FINALMILE_VAN_HOLD_MAX_S": "0"}


def _scenario(tmp_path: Path, *, duration_s: float = 1800, speedup: float = 25) -> Path:
    # The speed-up is modest on purpose: a plan of the Andorra fleet takes 10-40 s of wall time on a busy 2-core
    # machine, and at 100x that is the whole short day (runs under load ended with 0 deliveries).
    data = load_scenario("andorra_day").model_dump(mode="json")
    data.update(name="andorra_short", duration_s=duration_s, speedup=speedup)
    data["demand"]["orders_per_hour"] = [60.0]
    data["demand"].update(customs_delay_min_s=120, customs_delay_max_s=300,
                          stop_ordering_before_end_s=min(600.0, duration_s / 3))
    data["demand"]["cold_chain"]["orders"] = 2
    # a few typed addresses (most Andorran ones wait for the operator), decided within the short run
    data["demand"]["typed_addresses"].update(orders=5, operator_review_delay_s=120)
    path = tmp_path / "andorra_short.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_short_andorra_day_delivers_with_no_geofence_or_terrain_clearance_violation(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    # the scenario's own fleet (4 drones carried, 4 from the hub), not the three-way comparison it defaults to
    returncode, text = run_sim(_scenario(tmp_path), runs, "ad", "--no-robots", "--fleet-variant", "scenario",
                               timeout_s=450, env=LEAVE_WHEN_DUE)
    run_dir = runs / "ad"
    kpis = json.loads((run_dir / "kpis.json").read_text())
    assert kpis["delivered"] + kpis["delivered_to_locker"] > 0, text[-2000:]
    assert kpis["geofence_violations"] == 0
    # the KPI judged real flights: drones flew over the terrain, and each reported position was checked
    assert kpis["km_by_mode"]["drone"] > 0
    episodes = json.loads((run_dir / "terrain_clearance.json").read_text())
    assert kpis["terrain_clearance_violations"] == len(episodes) == 0, episodes
    # typed addresses of buildings without numbers: found by name or street and village, or left to the operator
    assert kpis["addresses_typed"] > 0
    assert kpis["addresses_resolved"] + kpis["addresses_reviewed"] == kpis["addresses_typed"]
    assert kpis["addresses_wrong"] == 0, kpis["addresses_by_kind"]
    assert returncode == 0, text[-2000:]

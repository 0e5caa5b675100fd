"""`finalmile sim` with street traffic: the scenario's rush hour and incidents reach the van simulator (the world)
and, when reported, the Fleet API's traffic feed (the planner's belief); an unreported incident never does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml
from _sim_run import run_sim

from sim_worlds.scenario import load_scenario

pytestmark = [pytest.mark.sim, pytest.mark.slow, pytest.mark.timeout(300)]


def _traffic_day(tmp_path: Path) -> Path:
    data = load_scenario("helsinki_day").model_dump(mode="json")
    data.update(name="traffic_day", duration_s=1200, speedup=120, seed=11)
    data["fleet"]["drones"]["count"] = 0
    data["fleet"]["robots"]["count"] = 0
    data["fleet"]["vans"].update(count=2, carries_drones=0, carries_robots=0)
    data["demand"]["orders_per_hour"] = [30.0]
    data["zone_events"] = []
    start = data["start_time"]
    data["traffic"] = {
        "rush_hours": [{"start": start, "end": "23:00", "van_speed_factor": 0.6}],
        "incidents": [{"incident_id": "crash-1", "starts_at": start, "duration_s": 1800, "latitude_deg": 60.1665,
                       "longitude_deg": 24.9320, "radius_m": 80, "reported_after_s": 60},
                      {"incident_id": "unseen", "starts_at": start, "duration_s": 1800, "latitude_deg": 60.1700,
                       "longitude_deg": 24.9450, "radius_m": 80, "reported": False}]}
    path = tmp_path / "traffic_day.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_day_traffic_reaches_the_world_and_only_reported_events_the_feed(tmp_path: Path) -> None:
    code, output = run_sim(_traffic_day(tmp_path), tmp_path / "runs", "traffic", timeout_s=280)
    assert code == 0, output[-3000:]
    run = tmp_path / "runs" / "traffic"
    with sqlite3.connect(run / "finalmile.db") as db:
        reports = sorted(db.execute("select kind, radius_m, speed_factor from traffic_reports").fetchall())
    assert reports == [("congestion", 2000.0, 0.6), ("incident", 80.0, 0.05)]
    vans_log = (run / "vans.log").read_text()
    assert "world traffic: crash-1 x0.05, rush-1 x0.6, unseen x0.05" in vans_log

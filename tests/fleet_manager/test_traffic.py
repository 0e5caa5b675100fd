"""Street traffic for vans: rush hours learnt from history, reports through POST /v1/traffic, the planner's times."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fm_helpers import API_KEYS_ENV, auth, database_url_for, serve_in_thread
from learning_helpers import learning_scenario

from fleet_manager.api import create_app
from fleet_manager.config import Settings
from fleet_manager.learning.features import build_tables
from fleet_manager.learning.traffic_profile import VanSpeedProfile
from fleet_manager.planning import FleetPlanner
from fleet_manager.store import traffic as traffic_store
from fleet_manager.store.db import Database
from fleet_manager.traffic import TrafficReport
from fleet_manager.world import World, load_world
from sim_worlds.history_day import simulate_history, varied_days

TZ = "Europe/Helsinki"


@pytest.fixture(scope="module")
def world() -> World:
    return load_world("helsinki")


def test_rush_hour_profile_learnt_from_van_legs(world: World, tmp_path: Path) -> None:
    """Vans only, rush 08:00-09:00 at 0.4x: the learnt factor is low at 08 and near 1 at 09; JSON round trip."""
    database = Database(f"sqlite:///{tmp_path / 'vans.db'}")
    database.migrate()
    base = learning_scenario(fleet={"drones": {"count": 0}, "robots": {"count": 0},
                                    "vans": {"count": 4, "capacity_parcels": 3}})
    for day in varied_days(base, 2, seed=4):
        simulate_history(day, database, addresses=world.addresses, hub=world.hub, hub_id="vans")
    with database.read() as session:
        legs = build_tables(session.connection(), hub_ids=["vans"], timezone=TZ).legs
    database.dispose()
    profile = VanSpeedProfile.learn(legs, timezone=TZ)
    at_8 = dt.datetime(2025, 6, 12, 8, 20, tzinfo=dt.timezone(dt.timedelta(hours=3))).timestamp()
    assert profile.legs[8] >= 5 and profile.legs[9] >= 5
    assert profile.factor_at(at_8) < 0.7 < profile.factor_at(at_8 + 3600)
    assert profile.factors[3] == 1.0  # no legs at 03: plan as before
    assert VanSpeedProfile.from_json(profile.to_json()) == profile
    with pytest.raises(ValueError, match="24 positive"):
        VanSpeedProfile.from_json('{"timezone": "UTC", "factors": [1.0]}')


def _van_seconds(planner: FleetPlanner, world: World, now_s: float) -> float:
    """The planner's van time from the hub to a building across the centre."""
    travel = planner.travel(world.airspace, [], now_s)
    far = max(world.addresses, key=lambda b: (b.x_m - world.hub.x_m) ** 2 + (b.y_m - world.hub.y_m) ** 2)
    return float(travel.van.matrices([(world.hub.x_m, world.hub.y_m), (far.x_m, far.y_m)]).duration_s[0, 1])


def test_planner_drives_vans_through_rush_hour_and_reported_congestion(world: World) -> None:
    """Half speed in the learnt rush hour doubles the van time; a jam reported around the hub slows it only
    while it lasts."""
    planner = FleetPlanner(world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph,
                           hub_xy=(world.hub.x_m, world.hub.y_m))
    now_s = 1_749_711_600.0
    free = _van_seconds(planner, world, now_s)
    planner.set_traffic(van_speed_at=lambda at_s: 0.5 if at_s < now_s + 3600 else 1.0)
    assert _van_seconds(planner, world, now_s) == pytest.approx(2 * free, rel=1e-6)
    assert _van_seconds(planner, world, now_s + 3600) == pytest.approx(free, rel=1e-6)
    jam = TrafficReport("t-1", "incident", world.hub.latitude_deg, world.hub.longitude_deg, 400.0, 0.1,
                        now_s + 3600, now_s + 7200)
    planner.set_traffic(reports=[jam])
    assert _van_seconds(planner, world, now_s + 4000) > 1.5 * free
    assert _van_seconds(planner, world, now_s + 7300) == pytest.approx(free, rel=1e-6)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """The API on a free port, once on SQLite and once on PostgreSQL; yields (URL, database URL, hub)."""
    hub_id = f"hub-traffic-{uuid.uuid4().hex[:6]}"
    database_url = database_url_for(request, tmp_path_factory, "traffic")
    settings = Settings(database_url=database_url, api_keys=API_KEYS_ENV, hub_id=hub_id)  # type: ignore[arg-type]
    with serve_in_thread(create_app(settings)) as url:
        yield url, database_url, hub_id


def test_traffic_feed_over_http(service: tuple[str, str, str]) -> None:
    """An operator reports a closed street; it is listed, stored with an outbox event; bad input is a 422."""
    url, database_url, hub_id = service
    now = dt.datetime.now(dt.UTC)
    body = {"kind": "incident", "latitude_deg": 60.1699, "longitude_deg": 24.9384, "radius_m": 150,
            "speed_factor": 0.0, "ends_at": (now + dt.timedelta(hours=1)).isoformat()}
    with httpx.Client(base_url=url, timeout=30.0) as client:
        created = client.post("/v1/traffic", json=body, headers=auth("operator"))
        assert created.status_code == 201, created.text
        report = created.json()
        assert report["kind"] == "incident" and report["speed_factor"] == 0.0
        listed = client.get("/v1/traffic", headers=auth("viewer")).json()
        assert [r["report_id"] for r in listed] == [report["report_id"]]
        assert client.post("/v1/traffic", json=body, headers=auth("viewer")).status_code == 403
        bad = client.post("/v1/traffic", json={**body, "speed_factor": 2.0}, headers=auth("operator"))
        assert bad.status_code == 422 and "speed_factor" in bad.text
        over = client.post("/v1/traffic", json={**body, "ends_at": (now - dt.timedelta(hours=1)).isoformat()},
                           headers=auth("operator"))
        assert over.status_code == 409
    database = Database(database_url)
    with database.read() as session:
        stored = traffic_store.list_reports(session, hub_id=hub_id, not_over_at_s=now.timestamp())
    database.dispose()
    assert [r.report_id for r in stored] == [report["report_id"]] and stored[0].active(now.timestamp() + 60)

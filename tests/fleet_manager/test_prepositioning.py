"""Demand forecast and pre-positioning: the forecast learnt from area-hour history (recent days weigh more),
and, in a short simulated morning, a van staged near the forecast demand before the peak hour begins."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
from pathlib import Path

import httpx
import pandas as pd
import pytest
import uvicorn

from fleet_manager.config import Role, Settings
from fleet_manager.learning.areas import area_of
from fleet_manager.learning.demand_model import DemandForecast
from fleet_manager.learning.eta_model import LearningError
from fleet_manager.learning.model_store import load_models, save_models
from fleet_manager.store.db import upgrade
from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from sim_worlds.vans import VanFleetServer, build_vans

TZ = "Europe/Helsinki"
PEAK_HOUR = 11
KEYS = {"backend": "bk-staging-Zq7Lm2Xc9Vb4Nt8Hw1Jd6Fs3", "viewer": "vw-staging-Kp5Ry0Tg3Wc8Mb2Qx7Vn4Hd9"}


@pytest.fixture(scope="module")
def world() -> World:
    return load_world("helsinki")


def _history(busy_area: str, quiet_area: str, days: int) -> pd.DataFrame:
    """`days` days: the busy area orders 12 at 11:00 (6 on the older half of the days), 1 an hour else 08-16."""
    rows = []
    for day in range(days):
        date = (dt.date(2025, 6, 1) + dt.timedelta(days=day)).isoformat()
        for hour in range(8, 17):
            peak = (12 if day >= days // 2 else 6) if hour == PEAK_HOUR else 1
            rows.append({"hub_id": "h", "area": busy_area, "local_date": date, "local_hour": hour, "orders": peak,
                         "attempts": 0, "failed_attempts": 0})
            if hour % 2 == 0:
                rows.append({"hub_id": "h", "area": quiet_area, "local_date": date, "local_hour": hour, "orders": 1,
                             "attempts": 0, "failed_attempts": 0})
    return pd.DataFrame(rows)


def _areas(world: World) -> tuple[str, str, float, float]:
    """A busy area 0.8-1.5 km from the hub (with its address), and a quiet one elsewhere."""
    hub = world.hub
    busy = next(b for b in world.addresses if 800 <= math.hypot(b.x_m - hub.x_m, b.y_m - hub.y_m) <= 1500)
    busy_area = area_of(busy.latitude_deg, busy.longitude_deg)
    quiet = next(b for b in world.addresses if area_of(b.latitude_deg, b.longitude_deg) != busy_area)
    return busy_area, area_of(quiet.latitude_deg, quiet.longitude_deg), busy.latitude_deg, busy.longitude_deg


def test_forecast_weighs_recent_days_finds_the_peak_and_round_trips(world: World, tmp_path: Path) -> None:
    busy, quiet, _lat, _lon = _areas(world)
    history = _history(busy, quiet, 14)
    weighted = DemandForecast.learn(history, timezone=TZ)
    flat = DemandForecast.learn(history, timezone=TZ, half_life_days=None)
    assert flat.rates[busy][PEAK_HOUR] == pytest.approx(9.0)
    assert weighted.rates[busy][PEAK_HOUR] > 9.5  # the newer, busier days count more
    assert weighted.rates[quiet][9] == 0.0 and weighted.rates[quiet][10] == pytest.approx(1.0)
    assert weighted.peak_hours(1.5) == [PEAK_HOUR]
    recent = _history(busy, quiet, 14)
    recent = recent[recent["local_date"] >= "2025-06-08"]
    assert weighted.evaluate(recent)["mae_orders_per_area_hour"] < flat.evaluate(recent)["mae_orders_per_area_hour"]
    assert DemandForecast.from_json(weighted.to_json()) == weighted
    save_models(tmp_path, metrics={}, demand=weighted)
    loaded = load_models(tmp_path)
    assert loaded is not None and loaded.demand == weighted and loaded.eta is None
    with pytest.raises(LearningError, match="no orders"):
        DemandForecast.learn(history.iloc[0:0], timezone=TZ)
    with pytest.raises(ValueError, match="24 non-negative"):
        DemandForecast.from_json('{"timezone": "UTC", "rates": {"cell:1:1": [1.0]}}')


@pytest.mark.sim
@pytest.mark.timeout(180)
async def test_van_is_staged_near_the_forecast_demand_before_the_peak_hour(world: World, tmp_path: Path) -> None:
    """Forecast peak at 11:00 in one area; the day starts at 10:40 with two vans at the hub. Before 11:00 one van
    stands at the staging point in that area (its own reported position), the other stays at the hub
    (one busy area: one point); GET /v1/forecast shows the peak, the hours ahead and the staging."""
    from fleet_manager.fleet_file import parse_fleet
    from fleet_manager.runtime import Runtime
    from sim_worlds.day import free_port

    busy, quiet, busy_lat, busy_lon = _areas(world)
    models_dir = tmp_path / "models"
    save_models(models_dir, metrics={}, demand=DemandForecast.learn(_history(busy, quiet, 14), timezone=TZ))
    peak_s = dt.datetime(2025, 6, 12, PEAK_HOUR, 0, tzinfo=dt.timezone(dt.timedelta(hours=3))).timestamp()
    clock = Clock(start_s=peak_s - 20 * 60, speedup=10.0)
    van_server = VanFleetServer(build_vans(world, 2), clock)
    van_port = await van_server.start()
    fleet_file = parse_fleet({
        "hubs": [{"hub_id": "hub-staging", "world": "helsinki", "recipient_presence": {"kind": "always"}}],
        "vehicles": [{"vehicle_id": f"van-{i}", "kind": "van", "url": f"tcp:127.0.0.1:{van_port}"} for i in (1, 2)],
    }, "test fleet")
    port = free_port()
    settings = Settings(database_url=upgrade(f"sqlite:///{tmp_path / 'fm.db'}"), hub_id="hub-staging", port=port,
                        models_dir=models_dir, staging_lead_s=1800.0,
                        api_keys={KEYS["backend"]: frozenset({Role.BACKEND}),
                                  KEYS["viewer"]: frozenset({Role.VIEWER})})
    runtime = await Runtime.start(settings, fleet_file, clock=clock)
    stager = runtime.hub.stager
    assert stager is not None
    server = uvicorn.Server(uvicorn.Config(runtime.app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        deadline = loop.time() + 60.0
        while not stager.staged.get(peak_s):
            assert loop.time() < deadline, "no van was staged"
            await asyncio.sleep(0.05)
        [(van_id, point)] = stager.staged[peak_s]
        assert point.areas == (busy,)
        target = world.frame.to_local(point.latitude_deg, point.longitude_deg)
        assert math.dist(target, world.frame.to_local(busy_lat, busy_lon)) < 600.0  # in or by the busy cell
        van = runtime.fleet.get(van_id)
        other = runtime.fleet.get("van-2" if van_id == "van-1" else "van-1")
        while True:
            state = van.state()
            assert state is not None
            if math.dist(world.frame.to_local(state.latitude_deg, state.longitude_deg), target) < 30.0 \
                    and state.mode == "IDLE":
                break
            assert clock.now() < peak_s, "the van was not at its staging point before the peak hour"
            assert loop.time() < deadline + 60.0
            await asyncio.sleep(0.05)
        arrived_s = clock.now()
        assert arrived_s < peak_s
        other_state = other.state()
        assert other_state is not None
        hub_xy = world.frame.to_local(other.home_latitude_deg, other.home_longitude_deg)
        assert math.dist(world.frame.to_local(other_state.latitude_deg, other_state.longitude_deg), hub_xy) < 30.0
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
            body = (await http.get("/v1/forecast", params={"hours": 3},
                                   headers={"Authorization": f"Bearer {KEYS['viewer']}"})).json()
            bad = await http.get("/v1/forecast", params={"hours": 0},
                                 headers={"Authorization": f"Bearer {KEYS['viewer']}"})
        assert bad.status_code == 422
        assert body["peak_hours"] == [PEAK_HOUR]
        assert [h["local_hour"] for h in body["hours"]] == [10, 11, 12]
        assert body["hours"][1]["areas"][0]["area"] == busy
        assert body["staging"][0]["points"][0]["vehicle_id"] == van_id
        assert body["staging"][0]["peak_starts_at_s"] == peak_s
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(serving, 10)
        await runtime.close()
        await van_server.close()


def test_a_staged_van_is_planned_from_the_hub_and_drives_there_to_load(world: World) -> None:
    """Parcels wait at the hub: a van standing 1 km away is planned at the hub once driven back, and its
    mission starts with the drive there; a van at the hub is planned where it stands."""
    from types import SimpleNamespace

    from fleet_manager.adapters.base import Mission, MissionStep, StepKind, VehicleKind, VehicleState
    from fleet_manager.domain.orders import DeliveryMode
    from fleet_manager.fleet import FleetVehicle, VehicleProfile
    from fleet_manager.planning import FleetPlanner
    from fleet_manager.sorties import FleetSlot, Sortie, via_hub_if_away

    hub = world.hub
    away_lat, away_lon = world.frame.to_wgs84(hub.x_m + 1000.0, hub.y_m)
    adapter = SimpleNamespace(vehicle_id="van-1", kind=VehicleKind.VAN)
    profile = VehicleProfile(max_payload_kg=300.0, battery_wh=60_000.0, speed_m_s=10.0)
    van = FleetVehicle(adapter, "h", profile, hub.latitude_deg, hub.longitude_deg)  # type: ignore[arg-type]
    planner = FleetPlanner(world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph,
                           hub_xy=(hub.x_m, hub.y_m))
    staged = FleetSlot(van, state=VehicleState("van-1", VehicleKind.VAN, 1000.0, away_lat, away_lon))
    spec = planner.vehicle_spec(staged)
    assert spec is not None and (spec.latitude_deg, spec.longitude_deg) == (hub.latitude_deg, hub.longitude_deg)
    assert spec.available_from_s == pytest.approx(1000.0 + 1000.0 * 1.4 / 10.0, rel=1e-3)
    tour = Sortie("van-1", DeliveryMode.VAN, Mission("m", (MissionStep(StepKind.DELIVER, 60.17, 24.93, order_id="o"),
                                                            MissionStep(StepKind.RETURN))), ("o",), {}, 0.0)
    steps = via_hub_if_away(tour, staged, world.frame).mission.steps
    assert [s.kind for s in steps] == [StepKind.GOTO, StepKind.DELIVER, StepKind.RETURN]
    assert (steps[0].latitude_deg, steps[0].longitude_deg) == (hub.latitude_deg, hub.longitude_deg)
    at_hub = FleetSlot(van, state=VehicleState("van-1", VehicleKind.VAN, 1000.0, hub.latitude_deg, hub.longitude_deg))
    spec = planner.vehicle_spec(at_hub)
    assert spec is not None and spec.available_from_s is None
    assert via_hub_if_away(tour, at_hub, world.frame) is tour

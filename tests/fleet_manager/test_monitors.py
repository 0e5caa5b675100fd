"""Safety monitors: geofence conformance from reported positions, and a no-fly zone published through the
Fleet API while a drone flies (MAVLink simulator over TCP, fleet manager over HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
from pathlib import Path

import httpx
import pytest
import uvicorn
from shapely.geometry import Point

from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter, MavlinkTimeouts
from fleet_manager.config import Role, Settings
from fleet_manager.monitors import GeofenceLedger, position_violation, zone_blocks_at
from mission_planner.airspace import Airspace, Zone, ZoneKind
from mission_planner.clock import Clock
from sim_worlds.world import load_world

HUB = "hub-monitor-test"


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return load_world("helsinki")


def test_position_violation_uses_time_and_altitude(world) -> None:  # type: ignore[no-untyped-def]
    """Inside a no-fly zone counts; above its ceiling, outside its time window or outside the area is judged too."""
    esplanadi = next(z for z in world.airspace.zones if z.zone_id == "esplanadi-daytime")
    inside = esplanadi.polygon.representative_point()
    noon_utc = dt.datetime(2025, 6, 12, 10, 0, tzinfo=dt.UTC).timestamp()
    night_utc = dt.datetime(2025, 6, 12, 23, 0, tzinfo=dt.UTC).timestamp()
    assert position_violation(world.airspace, inside.x, inside.y, 40.0, noon_utc) == "esplanadi-daytime"
    assert position_violation(world.airspace, inside.x, inside.y, 80.0, noon_utc) is None  # above its 60 m ceiling
    assert position_violation(world.airspace, inside.x, inside.y, 40.0, night_utc) is None  # zone closed at night
    assert position_violation(world.airspace, 5000.0, 5000.0, 40.0, noon_utc) == "operating-area"
    assert not zone_blocks_at(esplanadi, night_utc, 40.0)


def test_ledger_counts_episodes_not_samples() -> None:
    """Many samples inside the same zone are one violation; leaving and re-entering is a second."""
    ledger = GeofenceLedger()
    assert ledger.observe("d1", "z", 1.0)
    assert not ledger.observe("d1", "z", 2.0)
    assert not ledger.observe("d1", None, 3.0)
    assert ledger.observe("d1", "z", 4.0)
    assert ledger.violations == 2 and [e[1] for e in ledger.episodes] == ["d1", "d1"]


def _circle_feature(zone_id: str, lat: float, lon: float, radius_m: float) -> dict[str, object]:
    lat_m, lon_m = 111_320.0, 111_320.0 * math.cos(math.radians(lat))
    ring = [[lon + radius_m * math.cos(2 * math.pi * i / 16) / lon_m, lat + radius_m * math.sin(2 * math.pi * i / 16)
             / lat_m] for i in range(16)]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
            "properties": {"id": zone_id, "kind": "no_fly", "lower_m": 0, "upper_m": 120, "name": "pop-up"}}


@pytest.mark.sim
@pytest.mark.timeout(150)
async def test_new_no_fly_zone_reroutes_or_recalls_drone_in_flight(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    """A zone POSTed to /v1/zones across a flying drone's route: within seconds the monitor re-routes or
    recalls it, and the drone's own reported positions never enter the zone."""
    from fleet_manager.api.app import create_app
    from fleet_manager.dispatcher import Dispatcher, DispatcherConfig
    from fleet_manager.fleet import Fleet, VehicleProfile
    from fleet_manager.handover import AlwaysPresent
    from fleet_manager.monitors import SafetyMonitor
    from fleet_manager.planning import FleetPlanner
    from fleet_manager.store.db import Database
    from sim_worlds.day import drone_parameters, free_port
    from sim_worlds.mavsim.process import MavsimProcess
    from sim_worlds.scenario import load_scenario

    speedup = 10.0
    scenario = load_scenario("helsinki_day")
    hub = world.hub
    clock = Clock(start_s=dt.datetime(2025, 6, 12, 3, 0, tzinfo=dt.UTC).timestamp(), speedup=speedup)
    # The farthest address reached by a straight flight (no corners) gives a long leg to cut across.
    paths = FleetPlanner(world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph,
                         hub_xy=(hub.x_m, hub.y_m)).drone_paths(world.airspace, 60.0)

    def straight_m(building) -> float:  # type: ignore[no-untyped-def]
        try:
            path = paths.path((hub.x_m, hub.y_m), (building.x_m, building.y_m), start_s=clock.now(),
                              end_s=clock.now() + 3600)
        except Exception:
            return 0.0
        return path.horizontal_m if len(path.waypoints) == 4 else 0.0

    target = max(world.addresses, key=straight_m)
    assert straight_m(target) > 400
    keys = {"backend": "backend-key-monitor", "operator": "operator-key-monitor"}
    with MavsimProcess(1, speedup=speedup, home=(hub.latitude_deg, hub.longitude_deg, 10.0),
                       params=drone_parameters(scenario)) as sim:
        adapter = MavlinkAdapter("drone-1", sim.urls[0], clock=clock, battery_capacity_wh=500.0,
                                 timeouts=MavlinkTimeouts(mode_change_clock_s=30.0, link_lost_clock_s=30.0))
        await adapter.connect(timeout_s=60)
        try:
            fleet = Fleet()
            fleet.add(HUB, adapter, VehicleProfile(max_payload_kg=2.5, battery_wh=500.0, speed_m_s=12.0,
                                                   cruise_altitude_m=60.0, reserve_pct=25.0),
                      home_latitude_deg=hub.latitude_deg, home_longitude_deg=hub.longitude_deg)
            database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
            planner = FleetPlanner(world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph,
                                   hub_xy=(hub.x_m, hub.y_m))
            dispatcher = Dispatcher(database=database, fleet=fleet, planner=planner, clock=clock,
                                    frame=world.frame, recipients=AlwaysPresent(),
                                    config=DispatcherConfig(hub_id=HUB), base_airspace=world.airspace)
            monitor = SafetyMonitor(fleet=fleet, dispatcher=dispatcher, clock=clock, frame=world.frame)
            port = free_port()
            settings = Settings(database_url=f"sqlite:///{tmp_path / 'fm.db'}", hub_id=HUB, port=port,
                                api_keys={keys["backend"]: frozenset({Role.BACKEND}),
                                          keys["operator"]: frozenset({Role.OPERATOR})})
            app = create_app(settings, clock=clock, database=database, commander=dispatcher, frame=world.frame,
                             background=[dispatcher.run, monitor.run])
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
            serving = asyncio.create_task(server.serve())
            seen: list[tuple[float, float, float]] = []

            async def record() -> None:
                async for state in adapter.telemetry():
                    seen.append((state.latitude_deg, state.longitude_deg, state.relative_altitude_m))

            recorder = asyncio.create_task(record())
            try:
                while not server.started:
                    await asyncio.sleep(0.05)
                base = f"http://127.0.0.1:{port}/v1"
                async with httpx.AsyncClient(timeout=20) as http:
                    response = await http.post(
                        f"{base}/orders", headers={"Authorization": f"Bearer {keys['backend']}",
                                                   "Idempotency-Key": "monitor-test-1"},
                        json={"reference": "monitor-test-1", "recipient": {"name": "Aino"}, "weight_kg": 1.0,
                              "customs_cleared": True,
                              "destination": {"latitude_deg": target.latitude_deg,
                                              "longitude_deg": target.longitude_deg}})
                    assert response.status_code == 201, response.text
                    # Wait until the drone is cruising on its way out.
                    for _ in range(600):
                        state = adapter.latest_state()
                        if dispatcher.running and state and state.relative_altitude_m > 40:
                            break
                        await asyncio.sleep(0.1)
                    else:
                        raise AssertionError("the drone never took off with the order")
                    state = adapter.latest_state()
                    assert state is not None
                    here = world.frame.to_local(state.latitude_deg, state.longitude_deg)
                    # A zone 60 % of the way from the drone to the drop point, across its straight leg.
                    cx = here[0] + 0.6 * (target.x_m - here[0])
                    cy = here[1] + 0.6 * (target.y_m - here[1])
                    lat, lon = world.frame.to_wgs84(cx, cy)
                    published_s = asyncio.get_running_loop().time()
                    response = await http.post(f"{base}/zones", headers={"Authorization": f"Bearer {keys['operator']}"},
                                               json=_circle_feature("pop-up-test", lat, lon, 60.0))
                    assert response.status_code == 201, response.text
                    for _ in range(100):
                        if any(a.kind in ("zone_reroute", "zone_recall") for a in monitor.alerts):
                            break
                        await asyncio.sleep(0.05)
                    reacted_s = asyncio.get_running_loop().time() - published_s
                    kinds = [a.kind for a in monitor.alerts]
                    assert "zone_reroute" in kinds or "zone_recall" in kinds, kinds
                    assert reacted_s < 5.0
                    await asyncio.sleep(8.0)  # let it fly on (~80 simulated seconds)
                zone = Zone("pop-up-test", ZoneKind.NO_FLY,
                            Point(cx, cy).buffer(60.0, quad_segs=4), 0.0, 120.0)
                airspace = Airspace(world.frame, (zone,))
                inside = [p for p in seen if p[2] > 1.0 and position_violation(
                    airspace, *world.frame.to_local(p[0], p[1]), p[2], clock.now()) == "pop-up-test"]
                assert seen and not inside
            finally:
                recorder.cancel()
                server.should_exit = True
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(serving, 10)
                database.dispose()
        finally:
            await adapter.close()

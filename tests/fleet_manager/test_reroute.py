"""In-flight re-routing: the MAVLink adapter replaces a flying drone's mission (in-repo simulator and,
with FINALMILE_SITL_BINARY, real ArduCopter SITL), and a no-fly zone published through the Fleet API
makes the safety monitor re-route a drone in flight, which then still delivers its parcel."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from shapely.geometry import Point

from fleet_manager.adapters.base import (
    FencePolygon,
    Geofence,
    Mission,
    MissionEvent,
    MissionOutcome,
    MissionStep,
    StepKind,
)
from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter
from fleet_manager.adapters.mavlink_codec import FENCE
from fleet_manager.config import Role, Settings
from fleet_manager.store.db import upgrade
from fleet_manager.zone_rules import position_violation
from mission_planner.airspace import Airspace, Zone, ZoneKind
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame

SPEEDUP = 10.0
HOME = (60.1715, 24.9381, 10.0)
HUB = "hub-reroute-test"


def _square(frame: LocalFrame, cx_m: float, cy_m: float, half_m: float, *, inclusion: bool) -> FencePolygon:
    corners = [(cx_m - half_m, cy_m - half_m), (cx_m + half_m, cy_m - half_m), (cx_m + half_m, cy_m + half_m),
               (cx_m - half_m, cy_m + half_m)]
    return FencePolygon(tuple(frame.to_wgs84(x, y) for x, y in corners), inclusion=inclusion)


def _here(drone: MavlinkAdapter, frame: LocalFrame) -> tuple[float, float]:
    state = drone.latest_state()
    if state is None:
        raise AssertionError("no telemetry")
    return frame.to_local(state.latitude_deg, state.longitude_deg)


async def fly_and_replace(drone: MavlinkAdapter, frame: LocalFrame) -> None:
    """Fly east towards a far drop, replace the mission 40 m out with a drop to the north, check the outcome.

    Shared by the simulator and the SITL test: both autopilots must behave the same.
    """
    events: list[MissionEvent] = []
    track: list[tuple[float, float]] = []

    async def collect() -> None:
        async for event in drone.mission_events():
            events.append(event)

    async def watch() -> None:
        async for state in drone.telemetry():
            if state.relative_altitude_m > 1.0:
                track.append(frame.to_local(state.latitude_deg, state.longitude_deg))

    tasks = [asyncio.create_task(collect()), asyncio.create_task(watch())]
    await asyncio.sleep(0)
    try:
        far_lat, far_lon = frame.to_wgs84(300.0, 0.0)
        first = Mission("east", (MissionStep(StepKind.TAKEOFF, altitude_m=20.0),
                                 MissionStep(StepKind.DELIVER, far_lat, far_lon, altitude_m=20.0, order_id="far"),
                                 MissionStep(StepKind.RETURN)))
        await drone.start_mission(first, geofence=Geofence(polygons=(_square(frame, 0, 0, 500, inclusion=True),)))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60.0
        while _here(drone, frame)[0] < 40.0:
            assert loop.time() < deadline, "the drone never flew 40 m east"
            await asyncio.sleep(0.02)
        x_at_replace = _here(drone, frame)[0]
        corner_lat, corner_lon = frame.to_wgs84(40.0, 80.0)
        drop_lat, drop_lon = frame.to_wgs84(0.0, 120.0)
        second = Mission("north", (MissionStep(StepKind.GOTO, corner_lat, corner_lon, altitude_m=20.0),
                                   MissionStep(StepKind.DELIVER, drop_lat, drop_lon, altitude_m=20.0, order_id="near"),
                                   MissionStep(StepKind.RETURN)), cruise_speed_m_s=3.0)
        # The new zone (x 120..200) lies ahead on the old route; a second exclusion contains the drone. The adapter
        # judges "inside" when the fence goes up, after the new mission is current: at 3 m/s the drone needs 13 s
        # (1.3 s of wall time) to leave this 40 m square, so the judgement does not depend on the machine's load
        # (at 8 m/s and 15 m it left before the fence went up on a loaded machine, and the exclusion was kept).
        here_x, here_y = _here(drone, frame)
        fence = Geofence(polygons=(_square(frame, 0, 0, 500, inclusion=True),
                                   _square(frame, 160, 0, 40, inclusion=False),
                                   _square(frame, here_x, here_y, 40, inclusion=False)))
        started = loop.time()
        await drone.replace_mission(second, geofence=fence)
        replaced_wall_s = loop.time() - started
        # The old mission flies on while the new one uploads (wall time, longer on a loaded machine): the turn is
        # judged from where the drone was once the replacement was in.
        x_replaced = _here(drone, frame)[0]
        stored_fence = await drone.download_items(FENCE)
        assert len(stored_fence) == 8, "the exclusion around the drone's own position must be left out"
        result = await drone.wait_mission(timeout_s=600)
        await asyncio.sleep(0.2)
    finally:
        for task in tasks:
            task.cancel()
    ended = [e for e in events if e.what == "mission_ended" and e.mission_id == "east"]
    assert ended and ended[0].detail.startswith("canceled") and "replaced by mission north" in ended[0].detail
    assert result.mission_id == "north" and result.outcome is MissionOutcome.SUCCEEDED, result
    released = [e for e in events if e.what == "payload_released"]
    assert [(e.mission_id, e.detail) for e in released] == [("north", "near")]
    assert released[0].latitude_deg is not None and released[0].longitude_deg is not None
    drop_x, drop_y = frame.to_local(released[0].latitude_deg, released[0].longitude_deg)
    assert math.hypot(drop_x, drop_y - 120.0) < 3.0
    farthest_east = max(x for x, _ in track)
    # It turned at once: a few metres of braking past where the replacement took over, nowhere near the old drop
    # or zone.
    assert farthest_east < x_replaced + 30.0, (farthest_east, x_at_replace, x_replaced, replaced_wall_s)
    assert not any(abs(y) < 40 and 120 < x < 200 for x, y in track)
    assert not any(e.what == "failsafe" for e in events), [e.detail for e in events if e.what == "failsafe"]


def test_vehicle_waits_keep_a_wall_clock_floor_at_high_speedup() -> None:
    """At speed-up 60 a 5 s mode-change wait is not 0.08 s of wall time; long waits still scale."""
    drone = MavlinkAdapter("drone-x", "udpout:127.0.0.1:9", clock=Clock(speedup=60.0))
    assert drone._vehicle_wait_wall(drone.timeouts.mode_change_clock_s) == pytest.approx(5.0)
    assert drone._vehicle_wait_wall(600.0) == pytest.approx(10.0)
    assert drone._vehicle_wait_wall(0.5) == pytest.approx(0.5)


@pytest.fixture
async def mavsim_drone() -> AsyncIterator[MavlinkAdapter]:
    """One simulator vehicle (fence enabled) behind a connected, ready adapter."""
    from sim_worlds.mavsim.process import MavsimProcess

    with MavsimProcess(1, speedup=SPEEDUP, home=HOME, params={"FENCE_ENABLE": 1, "FENCE_TYPE": 7}) as sim:
        drone = MavlinkAdapter("drone-1", sim.urls[0], clock=Clock(speedup=SPEEDUP))
        await drone.connect(timeout_s=30)
        try:
            await drone.wait_ready(timeout_s=300)
            yield drone
        finally:
            await drone.close()


@pytest.mark.sim
@pytest.mark.timeout(120)
async def test_adapter_replaces_the_mission_of_a_flying_drone(mavsim_drone: MavlinkAdapter) -> None:
    """Simulator: a new mission sent in flight is flown from where the drone is; the old one ends CANCELED."""
    await fly_and_replace(mavsim_drone, LocalFrame.at(HOME[0], HOME[1]))


@pytest.fixture
def sitl_drone_url() -> Iterator[tuple[str, tuple[float, float]]]:
    """One real ArduCopter SITL (FINALMILE_SITL_BINARY; skipped when unset): (url, home lat/lon)."""
    from sim_worlds.sitl import BINARY_ENV, start_on_free_instances

    binary = os.environ.get(BINARY_ENV, "")
    if not binary or not os.access(binary, os.X_OK):
        pytest.skip(f"{BINARY_ENV} is not set to an executable ArduCopter SITL binary")
    fleet = start_on_free_instances(binary, 1, speedup=SPEEDUP)
    try:
        lat, lon, _, _ = fleet.vehicles[0].home
        yield fleet.urls[0], (lat, lon)
    finally:
        fleet.stop()


@pytest.mark.sitl
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_adapter_replaces_the_mission_of_a_flying_sitl_drone(
    sitl_drone_url: tuple[str, tuple[float, float]],
) -> None:
    """Real ArduCopter SITL: the same in-flight replacement behaves as on the simulator."""
    url, (lat, lon) = sitl_drone_url
    drone = MavlinkAdapter("sitl-1", url, clock=Clock(speedup=SPEEDUP))
    await drone.connect(timeout_s=60)
    try:
        await drone.set_parameter("FENCE_ENABLE", 1)
        await drone.wait_ready(timeout_s=900)
        await fly_and_replace(drone, LocalFrame.at(lat, lon))
    finally:
        await drone.close()


# ---------------------------------------------------------------------- through the API, monitor and dispatcher


def _circle_feature(zone_id: str, lat: float, lon: float, radius_m: float) -> dict[str, object]:
    lat_m, lon_m = 111_320.0, 111_320.0 * math.cos(math.radians(lat))
    ring = [[lon + radius_m * math.cos(2 * math.pi * i / 16) / lon_m, lat + radius_m * math.sin(2 * math.pi * i / 16)
             / lat_m] for i in range(16)]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
            "properties": {"id": zone_id, "kind": "no_fly", "lower_m": 0, "upper_m": 120, "name": "pop-up"}}


@pytest.mark.sim
@pytest.mark.timeout(180)
async def test_zone_created_through_the_api_reroutes_a_drone_in_flight(tmp_path: Path) -> None:
    """A zone POSTed to /v1/zones across a flying drone's route: within seconds the drone gets a new mission
    around it (not a recall), its own reported positions never enter the zone, and the parcel is delivered."""
    from fleet_manager.fleet_file import parse_fleet
    from fleet_manager.planning import FleetPlanner
    from fleet_manager.runtime import Runtime
    from fleet_manager.world import load_world
    from sim_worlds.day import free_port
    from sim_worlds.fleet_setup import drone_parameters
    from sim_worlds.mavsim.process import MavsimProcess
    from sim_worlds.scenario import load_scenario

    world = load_world("helsinki")
    scenario = load_scenario("helsinki_day")
    hub = world.hub
    clock = Clock(start_s=dt.datetime(2025, 6, 12, 3, 0, tzinfo=dt.UTC).timestamp(), speedup=SPEEDUP)
    # The farthest address reached by a straight flight (no corners) gives a long leg to cut across.
    paths = FleetPlanner(world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph,
                         hub_xy=(hub.x_m, hub.y_m)).drone_paths(world.airspace, 60.0)

    def straight_m(building: Any) -> float:
        try:
            path = paths.path((hub.x_m, hub.y_m), (building.x_m, building.y_m), start_s=clock.now(),
                              end_s=clock.now() + 3600)
        except Exception:
            return 0.0
        return path.horizontal_m if len(path.waypoints) == 4 else 0.0

    target = max(world.addresses, key=straight_m)
    assert straight_m(target) > 400
    keys = {"backend": "bk-reroute-Zq7Lm2Xc9Vb4Nt8Hw1Jd6Fs3", "operator": "op-reroute-Kp5Ry0Tg3Wc8Mb2Qx7Vn4Hd9"}
    with MavsimProcess(1, speedup=SPEEDUP, home=(hub.latitude_deg, hub.longitude_deg, 10.0),
                       params=drone_parameters(scenario)) as sim:
        fleet_file = parse_fleet({
            "hubs": [{"hub_id": HUB, "world": "helsinki", "recipient_presence": {"kind": "always"}}],
            "vehicles": [{"vehicle_id": "drone-1", "kind": "drone", "url": sim.urls[0],
                          "profile": {"battery_wh": 500.0, "cruise_altitude_m": 60.0}}],
        }, "test fleet")
        port = free_port()
        settings = Settings(database_url=upgrade(f"sqlite:///{tmp_path / 'fm.db'}"), hub_id=HUB, port=port,
                            api_keys={keys["backend"]: frozenset({Role.BACKEND}),
                                      keys["operator"]: frozenset({Role.OPERATOR})})
        runtime = await Runtime.start(settings, fleet_file, clock=clock)
        adapter = runtime.fleet.get("drone-1").adapter
        missions, monitor = runtime.hub.missions, runtime.hub.monitor
        try:
            app = runtime.app
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
            serving = asyncio.create_task(server.serve())
            seen: list[tuple[float, float, float]] = []

            async def record() -> None:
                async for state in adapter.telemetry():
                    seen.append((state.latitude_deg, state.longitude_deg, state.relative_altitude_m))

            recorder = asyncio.create_task(record())
            loop = asyncio.get_running_loop()
            try:
                while not server.started:
                    await asyncio.sleep(0.05)
                base = f"http://127.0.0.1:{port}/v1"
                backend = {"Authorization": f"Bearer {keys['backend']}"}
                async with httpx.AsyncClient(timeout=20) as http:
                    response = await http.post(
                        f"{base}/orders", headers={**backend, "Idempotency-Key": "reroute-test-1"},
                        json={"reference": "reroute-test-1", "recipient": {"name": "Aino"}, "weight_kg": 1.0,
                              "customs_cleared": True,
                              "destination": {"latitude_deg": target.latitude_deg,
                                              "longitude_deg": target.longitude_deg}})
                    assert response.status_code == 201, response.text
                    order_id = response.json()["order_id"]
                    deadline = loop.time() + 60.0
                    while not (missions.running and (s := adapter.latest_state()) and s.relative_altitude_m > 40):
                        assert loop.time() < deadline, "the drone never took off with the order"
                        await asyncio.sleep(0.05)
                    first_mission = missions.running["drone-1"].mission.mission_id
                    here = world.frame.to_local(*_lat_lon(adapter))
                    # A zone 60 % of the way from the drone to the drop point, across its straight leg.
                    cx = here[0] + 0.6 * (target.x_m - here[0])
                    cy = here[1] + 0.6 * (target.y_m - here[1])
                    lat, lon = world.frame.to_wgs84(cx, cy)
                    published = loop.time()
                    response = await http.post(f"{base}/zones", headers={"Authorization": f"Bearer {keys['operator']}"},
                                               json=_circle_feature("pop-up-test", lat, lon, 60.0))
                    assert response.status_code == 201, response.text
                    while missions.running["drone-1"].mission.mission_id == first_mission:
                        assert loop.time() - published < 10.0, [a.message for a in monitor.alerts]
                        await asyncio.sleep(0.02)
                    latency_s = loop.time() - published
                    print(f"re-route: new mission {latency_s:.2f} s (wall) after POST /v1/zones")
                    # The monitor raises its alert once replace_mission has returned: give it a moment.
                    while not monitor.alerts and loop.time() - published < 10.0:
                        await asyncio.sleep(0.02)
                    kinds = [a.kind for a in monitor.alerts]
                    assert "zone_reroute" in kinds and "zone_recall" not in kinds, (kinds, latency_s)
                    deadline = loop.time() + 90.0
                    while (status := (await http.get(f"{base}/orders/{order_id}", headers=backend)).json()[
                            "status"]) != "delivered":
                        assert loop.time() < deadline, f"order still {status}"
                        await asyncio.sleep(0.25)
                    missions = (await http.get(f"{base}/missions", headers=backend)).json()
                zone = Zone("pop-up-test", ZoneKind.NO_FLY, Point(cx, cy).buffer(60.0, quad_segs=4), 0.0, 120.0)
                airspace = Airspace(world.frame, (zone,))
                inside = [p for p in seen if p[2] > 1.0 and position_violation(
                    airspace, *world.frame.to_local(p[0], p[1]), p[2], clock.now()) == "pop-up-test"]
                assert seen and not inside
                statuses = {m["mission_id"]: m["status"] for m in _items(missions)}
                assert statuses[first_mission] == "canceled", statuses
                assert len(statuses) == 2, statuses
            finally:
                recorder.cancel()
                server.should_exit = True
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(serving, 10)
        finally:
            await runtime.close()


def _lat_lon(adapter: MavlinkAdapter) -> tuple[float, float]:
    state = adapter.latest_state()
    if state is None:
        raise AssertionError("no telemetry")
    return state.latitude_deg, state.longitude_deg


def _items(body: Any) -> list[dict[str, Any]]:
    return list(body["items"] if isinstance(body, dict) else body)

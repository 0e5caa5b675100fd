"""A drone inside a no-fly zone heads out at once, before its path home is planned or uploaded.

Safety days (seeds 19005, 19011, the reserve breach of 19097) read: the drone flew on, deeper into
the zone, for the seconds of wall time (minutes of flight at x100) the path home took to be planned
and uploaded. Now the rerouter first sends a GUIDED go-to the escape point (MAV_CMD_DO_REPOSITION with
the change-mode flag, as ArduCopter's `handle_command_int_do_reposition` takes it), then plans and
uploads the way home. Here over MAVLink UDP to mavsim: the mission upload is held back, and the drone
must be out of the zone meanwhile; and the autopilot refuses a go-to into its own fence, leaving its
mode alone, as ArduCopter's `set_destination` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from shapely.geometry import Point, box

from fleet_manager.adapters.base import FencePolygon, Geofence, Mission, MissionStep, StepKind
from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter
from fleet_manager.errors import CommandRefused
from fleet_manager.fleet import FleetVehicle, VehicleProfile
from fleet_manager.planning import FleetPlanner
from fleet_manager.reroute import Rerouter
from mission_planner.airspace import Airspace, Zone, ZoneKind
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame

SPEEDUP = 10.0
HOME = (60.1715, 24.9381, 10.0)
FRAME = LocalFrame.at(HOME[0], HOME[1])
ZONE = box(60.0, -150.0, 900.0, 150.0)  # the drone's eastbound leg runs along its middle, y = 0
DRONE = VehicleProfile(max_payload_kg=2.5, battery_wh=500.0, speed_m_s=10.0, cruise_altitude_m=30.0)
pytestmark = pytest.mark.timeout(180)


class _SlowUpload:
    """The mission control's face the rerouter uses; the upload waits until `release` (a loaded host)."""

    def __init__(self) -> None:
        self.running: dict[str, Any] = {}
        self.release = asyncio.Event()
        self.sent: list[Mission] = []

    def van_launched(self, vehicle_id: str) -> bool:
        return False  # a drone from the hub

    async def replace_mission(self, vehicle: Any, mission: Mission) -> None:
        await asyncio.wait_for(self.release.wait(), 120.0)
        self.sent.append(mission)


@pytest.fixture
async def drone() -> AsyncIterator[MavlinkAdapter]:
    from sim_worlds.mavsim.process import MavsimProcess

    with MavsimProcess(1, speedup=SPEEDUP, home=HOME, params={"FENCE_ENABLE": 1, "FENCE_TYPE": 4}) as sim:
        adapter = MavlinkAdapter("drone-1", sim.urls[0], clock=Clock(speedup=SPEEDUP))
        await adapter.connect(timeout_s=30)
        try:
            await adapter.wait_ready(timeout_s=300)
            yield adapter
        finally:
            await adapter.close()


def _here(drone: MavlinkAdapter) -> tuple[float, float]:
    state = drone.latest_state()
    assert state is not None
    return FRAME.to_local(state.latitude_deg, state.longitude_deg)


async def _fly_east_until(drone: MavlinkAdapter, x_m: float, fence: Geofence | None = None) -> None:
    far_lat, far_lon = FRAME.to_wgs84(800.0, 0.0)
    mission = Mission("east", (MissionStep(StepKind.TAKEOFF, altitude_m=30.0),
                               MissionStep(StepKind.GOTO, far_lat, far_lon, altitude_m=30.0),
                               MissionStep(StepKind.RETURN)))
    await drone.start_mission(mission, geofence=fence)
    deadline = asyncio.get_running_loop().time() + 90.0
    while _here(drone)[0] < x_m:
        assert asyncio.get_running_loop().time() < deadline, "the drone never flew east"
        await asyncio.sleep(0.02)


@pytest.mark.sim
async def test_a_drone_inside_a_zone_leaves_it_before_its_path_home_is_uploaded(drone: MavlinkAdapter) -> None:
    await _fly_east_until(drone, 150.0)
    zone = Zone("popup", ZoneKind.NO_FLY, ZONE, 0.0, 120.0)
    airspace = Airspace(FRAME, (zone,))
    missions = _SlowUpload()
    planner = FleetPlanner(FRAME, walk_graph=None, street_graph=None, hub_xy=(0.0, 0.0))
    rerouter = Rerouter(planner=planner, missions=missions, frame=FRAME)  # type: ignore[arg-type]
    vehicle = FleetVehicle(drone, "hub", DRONE, HOME[0], HOME[1])
    clock = drone._session.clock
    recall = asyncio.create_task(rerouter.recall(vehicle, airspace, clock.now()))
    try:
        # 30 s of flight (3 s of wall time at x10) with the upload held back: out of the zone by then (the
        # nearest edge is 150 m away at 10 m/s); flying on east along the old mission it would still be inside
        out_by_s = clock.now() + 30.0
        while ZONE.covers(Point(_here(drone))):
            assert clock.now() < out_by_s, f"still inside the zone at {_here(drone)} while the path home uploads"
            await asyncio.sleep(0.02)
        assert missions.sent == [] and drone.latest_state().mode == "GUIDED"  # type: ignore[union-attr]
        # it stops short of the margin's far side and holds there: never deeper, never back in
        for _ in range(50):
            await asyncio.sleep(0.02)
            assert not ZONE.covers(Point(_here(drone)))
        missions.release.set()
        await asyncio.wait_for(recall, 60.0)
    finally:
        recall.cancel()
        rerouter.paths.close()
    (home_path,) = missions.sent
    assert home_path.steps[-1].kind in (StepKind.RETURN, StepKind.LAND)


@pytest.mark.sim
async def test_the_autopilot_refuses_a_go_to_into_its_fence_and_keeps_its_mode(drone: MavlinkAdapter) -> None:
    corners = [FRAME.to_wgs84(x, y) for x, y in ((300.0, 100.0), (400.0, 100.0), (400.0, 200.0), (300.0, 200.0))]
    await _fly_east_until(drone, 50.0, Geofence(polygons=(FencePolygon(tuple(corners), inclusion=False),)))
    inside_lat, inside_lon = FRAME.to_wgs84(350.0, 150.0)
    with pytest.raises(CommandRefused) as refused:
        await drone.fly_to(inside_lat, inside_lon, 30.0)
    assert refused.value.result_name == "MAV_RESULT_FAILED"
    assert drone.latest_state().mode == "AUTO"  # type: ignore[union-attr]
    clear_lat, clear_lon = FRAME.to_wgs84(100.0, 150.0)
    await drone.fly_to(clear_lat, clear_lon, 30.0)
    clock = drone._session.clock
    deadline_s = clock.now() + 60.0
    while Point(_here(drone)).distance(Point(100.0, 150.0)) > 3.0:
        assert clock.now() < deadline_s, f"never reached the go-to point: at {_here(drone)}"
        await asyncio.sleep(0.05)


def test_the_way_out_of_a_zone_does_not_lead_into_its_neighbour() -> None:
    """Two zones side by side, 20 m apart (less than the margin): from inside the first, near the gap, the escape
    point lies clear of both zones and their margins (the path planner can start there), not in the gap."""
    west = Zone("west", ZoneKind.NO_FLY, box(0.0, 0.0, 200.0, 400.0), 0.0, 120.0)
    east = Zone("east", ZoneKind.NO_FLY, box(220.0, 0.0, 420.0, 400.0), 0.0, 120.0)
    airspace = Airspace(FRAME, (west, east))
    planner = FleetPlanner(FRAME, walk_graph=None, street_graph=None, hub_xy=(0.0, 0.0))
    rerouter = Rerouter(planner=planner, missions=_SlowUpload(), frame=FRAME)  # type: ignore[arg-type]
    margin_m = rerouter.safety_margin_m
    for here in ((195.0, 200.0), (210.0, 200.0), (100.0, 390.0)):
        escape = rerouter._escape(airspace, here, 30.0, 0.0)
        assert escape is not None
        for zone in (west, east):
            assert zone.polygon.distance(Point(escape)) > margin_m, (here, escape, zone.zone_id)
    assert rerouter._escape(airspace, (100.0, 500.0), 30.0, 0.0) is None  # clear of both

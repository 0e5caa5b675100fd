"""A van-launched drone recalled for its battery over terrain flies to the van, following the ground.

Its home is its launch stop, which the van has left. An RTL flies there straight at a height above
that stop: in the Andorra day it crossed a valley 225 m above the ground (a terrain clearance
episode), and the van was not there to take it back. The recall instead sends it along a
terrain-following path to where its mission lands (beside the van at the recovery stop), with
altitudes still relative to its launch point, as the autopilot flies them.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from test_planning_terrain import DRONE, NOW_S, _heights_along, _planner

from fleet_manager.adapters.base import LinkStatus, Mission, MissionStep, StepKind, VehicleKind, VehicleState
from fleet_manager.adapters.mavlink_codec import mission_plan
from fleet_manager.adapters.mavlink_link import mavlink
from fleet_manager.fleet import FleetVehicle
from fleet_manager.reroute import Rerouter
from fleet_manager.world import load_world

pytestmark = pytest.mark.timeout(180)
LAUNCH = (42.5323793, 1.5745827)  # where van-4 launched drone-4 in a 2 h Andorra day (rev 44024e7)
RECOVERY = (42.5323267, 1.5878773)  # its recovery stop there, 149 m higher; the RTL episode lay between


class _Missions:
    """The mission control's face the rerouter uses: the running mission, and the replacement it is sent."""

    def __init__(self, vehicle_id: str, mission: Mission) -> None:
        self.running = {vehicle_id: SimpleNamespace(mission=mission)}
        self.sent: list[Mission] = []

    async def replace_mission(self, vehicle: Any, mission: Mission) -> None:
        self.sent.append(mission)


class _Adapter:
    vehicle_id = "drone-3"
    kind = VehicleKind.DRONE

    def __init__(self) -> None:
        self.paused = 0
        self.rtl = 0

    async def pause(self) -> None:
        self.paused += 1

    async def return_home(self) -> None:
        self.rtl += 1


def test_a_recalled_van_launched_drone_follows_the_terrain_to_the_vans_recovery_stop() -> None:
    world = load_world("andorra")
    frame, terrain = world.frame, world.terrain
    launch_ground_m = terrain.elevation_at(*frame.to_local(*LAUNCH))
    recovery_ground_m = terrain.elevation_at(*frame.to_local(*RECOVERY))
    assert recovery_ground_m - launch_ground_m > 100.0
    # the mission in flight: climb above the launch stop, ..., land beside the van (altitudes above the launch stop)
    climb_ground_above_home_m = 0.0
    in_flight = Mission("drone-3-1", (
        MissionStep(StepKind.TAKEOFF, altitude_m=60.0),
        MissionStep(StepKind.GOTO, *LAUNCH, altitude_m=60.0, ground_above_home_m=climb_ground_above_home_m),
        MissionStep(StepKind.LAND, *RECOVERY),
    ))
    # recalled half-way, 60 m above the ground there
    here_xy = [(a + b) / 2.0 for a, b in zip(frame.to_local(*LAUNCH), frame.to_local(*RECOVERY), strict=True)]
    here = frame.to_wgs84(*here_xy)
    here_agl_alt_m = terrain.elevation_at(*here_xy) + 60.0 - launch_ground_m
    state = VehicleState("drone-3", VehicleKind.DRONE, NOW_S, *here, relative_altitude_m=here_agl_alt_m,
                         armed=True, link=LinkStatus.CONNECTED)
    adapter = _Adapter()
    vehicle = FleetVehicle(adapter, "hub", DRONE, world.hub.latitude_deg, world.hub.longitude_deg,  # type: ignore[arg-type]
                           carried_by="van-3")
    missions = _Missions("drone-3", in_flight)
    rerouter = Rerouter(planner=_planner(world), missions=missions, frame=frame)  # type: ignore[arg-type]
    asyncio.run(rerouter.go_to_recovery(vehicle, state, world.airspace, NOW_S))
    assert adapter.paused == 0
    (mission,) = missions.sent
    assert mission.steps[-1].kind is StepKind.LAND  # not RETURN: the launch stop is no place to land
    assert (mission.steps[-1].latitude_deg, mission.steps[-1].longitude_deg) == RECOVERY
    # as the autopilot receives it (relative to home, the launch stop): 30..120 m above the ground on every leg,
    # from here to the column above the van's stop
    plan = mission_plan(mission, home=(*LAUNCH, launch_ground_m))
    relative = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT
    cruise = [i for i in plan.items[1:] if i.command == mavlink.MAV_CMD_NAV_WAYPOINT and i.frame == relative]
    heights = _heights_along(world, cruise, launch_ground_m)
    assert heights.min() >= 30.0 and heights.max() <= 120.0, (heights.min(), heights.max())
    last_xy = frame.to_local(cruise[-1].x / 1e7, cruise[-1].y / 1e7)
    assert abs(last_xy[0] - frame.to_local(*RECOVERY)[0]) < 5.0 and abs(last_xy[1] - frame.to_local(*RECOVERY)[1]) < 5.0


def test_without_a_mission_in_flight_the_recalled_drone_flies_its_rtl() -> None:
    """Holding would keep it there until the autopilot's battery failsafe flies the same RTL with less energy
    left; the RTL is the autopilot's, above the ground where RTL_ALT_TYPE is 1 (tests/sim_worlds/
    test_mavsim_terrain_rtl.py)."""
    world = load_world("andorra")
    adapter = _Adapter()
    vehicle = FleetVehicle(adapter, "hub", DRONE, world.hub.latitude_deg, world.hub.longitude_deg,  # type: ignore[arg-type]
                           carried_by="van-3")
    missions = _Missions("drone-9", Mission("x", (MissionStep(StepKind.RETURN),)))
    state = VehicleState("drone-3", VehicleKind.DRONE, NOW_S, *LAUNCH, relative_altitude_m=60.0, armed=True)
    rerouter = Rerouter(planner=_planner(world), missions=missions, frame=world.frame)  # type: ignore[arg-type]
    asyncio.run(rerouter.go_to_recovery(vehicle, state, world.airspace, NOW_S))
    assert adapter.rtl == 1 and adapter.paused == 0 and missions.sent == []


def test_a_recall_waits_for_a_plan_in_progress_instead_of_sharing_the_path_planner() -> None:
    """GEOS prepared geometry is not thread-safe (libgeos/geos#825): a recall's path query runs only while no plan
    (a worker thread) uses the same path planner; the event loop stays free meanwhile."""
    world = load_world("andorra")
    frame = world.frame
    in_flight = Mission("drone-3-1", (MissionStep(StepKind.TAKEOFF, altitude_m=60.0),
                                      MissionStep(StepKind.GOTO, *LAUNCH, altitude_m=60.0),
                                      MissionStep(StepKind.LAND, *RECOVERY)))
    state = VehicleState("drone-3", VehicleKind.DRONE, NOW_S, *LAUNCH, relative_altitude_m=60.0, armed=True)
    vehicle = FleetVehicle(_Adapter(), "hub", DRONE, world.hub.latitude_deg, world.hub.longitude_deg,  # type: ignore[arg-type]
                           carried_by="van-3")
    missions = _Missions("drone-3", in_flight)
    planner = _planner(world)
    rerouter = Rerouter(planner=planner, missions=missions, frame=frame)  # type: ignore[arg-type]

    async def scenario() -> None:
        with planner._paths_lock:  # a plan is running
            recall = asyncio.create_task(rerouter.go_to_recovery(vehicle, state, world.airspace, NOW_S))
            for _ in range(50):  # the loop keeps turning while the recall waits
                await asyncio.sleep(0)
            assert not recall.done() and missions.sent == []
        await asyncio.wait_for(recall, 60.0)

    asyncio.run(scenario())
    assert len(missions.sent) == 1 and missions.sent[0].steps[-1].kind is StepKind.LAND

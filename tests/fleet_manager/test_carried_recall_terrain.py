"""A van-launched drone recalled for its battery over terrain flies to the van, following the ground.

Its home is its launch stop, which the van has left. An RTL flies there straight at a height above
that stop: in the Andorra day it crossed a valley 225 m above the ground (a terrain clearance
episode), and the van was not there to take it back. The recall instead sends it along a
terrain-following path to where its mission lands (beside the van at the recovery stop), with
altitudes still relative to its launch point, as the autopilot flies them.
"""

from __future__ import annotations

import asyncio
import math
import threading
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

    def __init__(self, vehicle_id: str, mission: Mission, launched_from: str | None = "van-3") -> None:
        self.running = {vehicle_id: SimpleNamespace(mission=mission, launched_from=launched_from)}
        self.sent: list[Mission] = []

    def van_launched(self, vehicle_id: str) -> bool:
        running = self.running.get(vehicle_id)
        return running is not None and running.launched_from is not None

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


def test_a_recall_is_planned_and_sent_while_a_plan_is_in_progress() -> None:
    """A recall never waits for the dispatcher's plan (which holds the fleet planner's path planner for seconds:
    300-800 s of flight at a simulation's x100, the safety days' violations): it plans with a path planner of its
    own, in a thread of its own, on geometry of its own (GEOS prepared geometry is not thread-safe,
    libgeos/geos#825: sharing it crashed a day)."""
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
        with planner._paths_lock:  # a plan is running, and runs on until the recall is sent
            await asyncio.wait_for(rerouter.go_to_recovery(vehicle, state, world.airspace, NOW_S), 60.0)
            assert len(missions.sent) == 1 and missions.sent[0].steps[-1].kind is StepKind.LAND

    try:
        asyncio.run(scenario())
    finally:
        rerouter.paths.close()
    # planned off the event loop, in one thread, on polygons no other thread holds
    assert len(rerouter.paths.thread_ids) == 1 and threading.get_ident() not in rerouter.paths.thread_ids
    own = rerouter.paths._planner
    assert own is not None and own is not planner._drone_paths
    world_polygons = {id(z.polygon) for z in world.airspace.zones}
    assert not world_polygons & {id(z.polygon) for z in own.airspace.zones}


@pytest.mark.parametrize("carried_by", ["van-3", None])
def test_a_drone_recalled_low_after_a_release_climbs_straight_up_before_it_moves_on(carried_by: str | None) -> None:
    """Recalled just after a drop, the drone hangs a few metres above the door: the new mission climbs straight up
    to the path's height there first (the top of the path's start column), then follows the ground 30-120 m up;
    flown from the door to the path's next corner it would move on low down."""
    world = load_world("andorra")
    frame, terrain = world.frame, world.terrain
    launch_ground_m = terrain.elevation_at(*frame.to_local(*LAUNCH))
    in_flight = Mission("drone-3-1", (MissionStep(StepKind.TAKEOFF, altitude_m=60.0),
                                      MissionStep(StepKind.GOTO, *LAUNCH, altitude_m=60.0, ground_above_home_m=0.0),
                                      MissionStep(StepKind.LAND, *RECOVERY)))
    door_xy = [a + (b - a) * 0.3 for a, b in zip(frame.to_local(*LAUNCH), frame.to_local(*RECOVERY), strict=True)]
    door = frame.to_wgs84(*door_xy)
    home = (*LAUNCH, launch_ground_m) if carried_by else (world.hub.latitude_deg, world.hub.longitude_deg,
                                                          terrain.elevation_at(world.hub.x_m, world.hub.y_m))
    state = VehicleState("drone-3", VehicleKind.DRONE, NOW_S, *door,
                         relative_altitude_m=terrain.elevation_at(*door_xy) + 5.0 - home[2], armed=True,
                         link=LinkStatus.CONNECTED, position_valid=True)
    vehicle = FleetVehicle(_Adapter(), "hub", DRONE, home[0], home[1], carried_by=carried_by)  # type: ignore[arg-type]
    missions = _Missions("drone-3", in_flight)
    rerouter = Rerouter(planner=_planner(world), missions=missions, frame=frame)  # type: ignore[arg-type]
    try:
        go = rerouter.go_to_recovery if carried_by else rerouter.go_home
        asyncio.run(go(vehicle, state, world.airspace, NOW_S))
    finally:
        rerouter.paths.close()
    (mission,) = missions.sent
    plan = mission_plan(mission, home=home)
    relative = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT
    cruise = [i for i in plan.items[1:] if i.command == mavlink.MAV_CMD_NAV_WAYPOINT and i.frame == relative]
    first_xy = frame.to_local(cruise[0].x / 1e7, cruise[0].y / 1e7)
    assert math.dist(first_xy, door_xy) < 1.0, "the first waypoint is not straight above the drone"
    heights = _heights_along(world, cruise, home[2])
    assert heights.min() >= 30.0 and heights.max() <= 120.0, (heights.min(), heights.max())


def test_a_recalled_drone_holds_where_it_is_while_its_path_is_planned() -> None:
    """The path starts where the drone is after it stopped: it holds (BRAKE) before the path is planned, not after.
    It flew on while the path was planned and sent (seconds under load: minutes at a simulation's speed-up) and then
    flew back from wherever that left it, low down in its next drop's column, to the path's start, climbing as it
    went: a terrain clearance episode on the short Andorra day (CI, drone-5, 41 s after the end of the day)."""
    world = load_world("andorra")
    frame, terrain = world.frame, world.terrain
    hub = world.hub
    home_ground_m = terrain.elevation_at(hub.x_m, hub.y_m)
    asked = (hub.x_m + 900.0, hub.y_m + 300.0)  # where the monitor saw it: cruising
    held = (asked[0] + 12.0, asked[1] + 4.0)  # where it stopped (BRAKE decelerates over a few metres)
    calls: list[str] = []

    def state_at(xy: tuple[float, float]) -> VehicleState:
        return VehicleState("drone-5", VehicleKind.DRONE, NOW_S, *frame.to_wgs84(*xy),
                            relative_altitude_m=terrain.elevation_at(*xy) + 60.0 - home_ground_m, armed=True)

    class Holding(_Adapter):
        vehicle_id = "drone-5"
        position = asked

        async def pause(self) -> None:
            calls.append("hold")
            self.position = held

        def latest_state(self) -> VehicleState:
            return state_at(self.position)

    class Recording(_Missions):
        async def replace_mission(self, vehicle: Any, mission: Mission) -> None:
            calls.append("mission")
            await super().replace_mission(vehicle, mission)

    vehicle = FleetVehicle(Holding(), "hub", DRONE, hub.latitude_deg, hub.longitude_deg)  # type: ignore[arg-type]
    missions = Recording("drone-5", Mission("drone-5-1", (MissionStep(StepKind.TAKEOFF, altitude_m=60.0),)),
                         launched_from=None)
    rerouter = Rerouter(planner=_planner(world), missions=missions, frame=frame)  # type: ignore[arg-type]
    try:
        asyncio.run(rerouter.recall(vehicle, world.airspace, NOW_S))
    finally:
        rerouter.paths.close()
    assert calls == ["hold", "mission"]
    (mission,) = missions.sent
    first = next(s for s in mission.steps if s.kind is StepKind.GOTO)
    assert first.latitude_deg is not None and first.longitude_deg is not None
    assert math.dist(frame.to_local(first.latitude_deg, first.longitude_deg), held) < 1.0
    assert mission.steps[-1].kind is StepKind.RETURN

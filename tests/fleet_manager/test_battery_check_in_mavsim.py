"""The live battery check against what mavsim's drone draws flying the same way, over Andorra's terrain in the
handoff day's wind (5 m/s from 300°).

On the full Andorra handoff day drones landed under their 25 % reserve (drone-2 20 %, drone-3 and drone-5 24 %)
after `low_battery` recalls. A van-launched drone keeps its launch stop's height as home (its home is moved to the
van's recovery stop, the altitude kept) and lands beside the van, at a stop that may stand hundreds of metres lower
or higher. The check priced that landing as a descent from the drone's height above home: from -140 m above home
over a stop 200 m lower, no landing at all, where the drone descends its last 60 m (the last 10 at LAND_SPEED).
Flown over the real protocol (mavsim at x60 with this terrain and wind, the MAVLink adapter, the monitor and its
recall), a drone recalled with 190 Wh left and 51 Wh priced to finish drew 76 Wh and landed with 113 Wh against its
125 Wh reserve: 11 Wh of it the landing, 8 Wh the hold while its recall was planned and sent. A parcel aboard (a
recall brings it back) adds 13-15 % for 1 kg, which the check, pricing the drone empty, did not count either.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from test_planning_terrain import DRONE

from fleet_manager.adapters.base import LinkStatus, Mission, MissionStep, StepKind, VehicleKind, VehicleState
from fleet_manager.adapters.mavlink_codec import mission_plan
from fleet_manager.fleet import Fleet, FleetVehicle
from fleet_manager.missions import drone_reroute
from fleet_manager.monitors import SafetyMonitor
from fleet_manager.planning_config import PlanningConfig
from fleet_manager.reroute_paths import ReroutePaths
from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from mission_planner.energy import MultirotorModel
from sim_worlds.fleet_setup import drone_parameters
from sim_worlds.mavsim import modes
from sim_worlds.mavsim.autopilot import Vehicle
from sim_worlds.mavsim.mission_protocol import MISSION
from sim_worlds.mavsim.params import ParamTable
from sim_worlds.mavsim.physics import GeoOrigin
from sim_worlds.scenario import load_scenario

pytestmark = pytest.mark.timeout(180)
NOW_S = 1_760_600_000.0
# Two addresses of the Andorra extract 2.1 km apart, the second 200 m lower: a van's launch stop and a later
# recovery stop down the valley.
LAUNCH = (42.5218836, 1.5727931)
RECOVERY = (42.5335964, 1.5927205)
CRUISE_M = 60.0
STEP_S = 0.05


@pytest.fixture(scope="module")
def andorra() -> World:
    return load_world("andorra")


class _Missions:
    """The mission control's face the monitor reads: the mission a van launched the drone on."""

    def __init__(self, mission: Mission, parcel_kg: float) -> None:
        self.running = SimpleNamespace(mission=mission, order_ids=["o-1"] if parcel_kg else [], resolved=set(),
                                       payload_kg={"o-1": parcel_kg}, launched_from="van-1")

    def running_mission(self, vehicle_id: str) -> Any:
        return self.running


def _fly(world: World, mission: Mission, launch_ground_m: float, parcel_kg: float, *, top_step: int = 1,
         launch: tuple[float, float] = LAUNCH) -> tuple[VehicleState, float]:
    """Fly `mission` in mavsim (in this process, its clock stepped) from `launch`, in the scenario's wind, with a
    parcel of `parcel_kg` in its gripper; return the drone's state once past step `top_step` (the top of its climb,
    as the adapter reports it) and the energy (Wh) it drew from there on."""
    frame, terrain = world.frame, world.terrain
    assert terrain is not None
    scenario = load_scenario("andorra_day")
    # the scenario's autopilot parameters, the parcel it brings back, no fence to load
    params = {**drone_parameters(scenario, over_terrain=True, terrain_data=True), "SIM_PAYLOAD_KG": parcel_kg,
              "AUTO_OPTIONS": 2, "FENCE_ENABLE": 0}
    drone = Vehicle(0, GeoOrigin(*launch, launch_ground_m), MultirotorModel(), ParamTable(params),
                    ground=lambda lat, lon: float(terrain.elevation_at(*frame.to_local(lat, lon))))
    plan = mission_plan(mission, home=(*launch, launch_ground_m))
    now_s = 0.0
    drone.start_boot(now_s)
    while not drone.position_ok or drone.arming_failures():
        now_s += 0.5
        drone.step(now_s)
        assert now_s < 120.0, drone.arming_failures()
    assert drone.commit_items(MISSION, list(plan.items)) == 0
    assert drone.set_mode(modes.GUIDED) and drone.arm() and drone.set_mode(modes.AUTO)
    top_seq = plan.last_seq_of_step[top_step]
    top: VehicleState | None = None
    used_at_top_wh = 0.0
    while drone.armed:
        now_s += STEP_S
        drone.step(now_s)
        if top is None and drone.executor.current_seq > top_seq:
            latitude_deg, longitude_deg = drone.location()
            top = VehicleState("drone-1", VehicleKind.DRONE, NOW_S + now_s, latitude_deg, longitude_deg,
                               relative_altitude_m=drone.kin.alt_m, armed=True, link=LinkStatus.CONNECTED,
                               wind_speed_m_s=scenario.wind.speed_m_s, wind_from_deg=scenario.wind.direction_deg)
            used_at_top_wh = drone.battery.used_wh
        assert now_s < 1_800.0, "the drone never landed"
    assert top is not None
    return top, drone.battery.used_wh - used_at_top_wh


# mavsim's power model (MultirotorModel's defaults) lifts 2 kg at most
@pytest.mark.parametrize("parcel_kg", [0.0, 1.0, 2.0], ids=["empty", "1kg-aboard", "2kg-aboard"])
def test_the_check_prices_the_way_to_a_van_at_a_lower_stop_as_mavsim_flies_it(andorra: World, parcel_kg: float) -> None:
    """The way a recall sends a van-launched drone to its van (`Rerouter.go_to_recovery`: a terrain-following path,
    altitudes above the launch stop, LAND beside the van), flown by mavsim from the top of the climb above the
    launch stop, empty or bringing back its parcel (a refused drop, or recalled before it): what the check priced
    from there, plus its margin, covers what the drone drew, and is no more than 3 % under it (a tenth while mavsim
    stopped at every waypoint, which ArduCopter does not and the model does not count)."""
    frame, terrain = andorra.frame, andorra.terrain
    assert terrain is not None
    launch_xy, recovery_xy = frame.to_local(*LAUNCH), frame.to_local(*RECOVERY)
    launch_ground_m = float(terrain.elevation_at(*launch_xy))
    assert launch_ground_m - float(terrain.elevation_at(*recovery_xy)) > 150.0
    path = ReroutePaths(PlanningConfig(), terrain).path_now(andorra.airspace, CRUISE_M, launch_xy, recovery_xy, NOW_S)
    to_van = drone_reroute("m-recall", None, None, path, frame, cruise_speed_m_s=DRONE.speed_m_s,
                           home_ground_m=launch_ground_m, land_at=RECOVERY)
    mission = Mission("m-recall", (MissionStep(StepKind.TAKEOFF, altitude_m=CRUISE_M),
                                   MissionStep(StepKind.GOTO, *LAUNCH, altitude_m=CRUISE_M), *to_van.steps),
                      cruise_speed_m_s=DRONE.speed_m_s)
    top, drawn_wh = _fly(andorra, mission, launch_ground_m, parcel_kg)

    adapter = SimpleNamespace(vehicle_id="drone-1", kind=VehicleKind.DRONE)
    vehicle = FleetVehicle(adapter, "hub", DRONE, andorra.hub.latitude_deg, andorra.hub.longitude_deg,  # type: ignore[arg-type]
                           carried_by="van-1")
    monitor = SafetyMonitor(fleet=Fleet(), clock=Clock(start_s=NOW_S), frame=frame,
                            airspace=SimpleNamespace(add_listener=lambda _listener: None),  # type: ignore[arg-type]
                            missions=_Missions(mission, parcel_kg), rerouter=None)  # type: ignore[arg-type]
    model = monitor._energy_model(vehicle)
    priced_wh = monitor._energy_to_finish_wh(vehicle, top, model)
    assert drawn_wh <= priced_wh + monitor.config.battery_margin_wh, (priced_wh, drawn_wh)
    assert priced_wh >= 0.97 * drawn_wh, (priced_wh, drawn_wh)


# drone-5's drop on the Andorra handoff day (hub trip 539): up the valley from the hub, with a ridge 250 m above the
# drop on the way back
DROP = (42.532177, 1.5764843)


def test_a_hub_drone_flying_home_over_a_ridge_draws_what_the_check_priced(andorra: World) -> None:
    """The terrain-following way home of a hub drone recalled at its drop (what `Rerouter.go_home` sends: 6 km,
    ~250 m of climb over a ridge, ~460 m of descent to the hub, 11 waypoints), flown by mavsim with a 0.29 kg parcel
    aboard in the scenario's wind, draws within 2.5 % of what the check priced from the drop (before its margin).
    Stopping at every waypoint, as mavsim did where ArduCopter flies through a waypoint followed by another
    (ModeAuto::set_next_wp), it drew 3.5 % more; on the handoff day the recalls of hub drones drew 2.4-4.7 % more."""
    frame, terrain = andorra.frame, andorra.terrain
    assert terrain is not None
    hub = (andorra.hub.latitude_deg, andorra.hub.longitude_deg)
    hub_xy, drop_xy = frame.to_local(*hub), frame.to_local(*DROP)
    hub_ground_m = float(terrain.elevation_at(*hub_xy))
    paths = ReroutePaths(PlanningConfig(), terrain)
    out = drone_reroute("m-out", None, None, paths.path_now(andorra.airspace, CRUISE_M, hub_xy, drop_xy, NOW_S),
                        frame, cruise_speed_m_s=DRONE.speed_m_s, home_ground_m=hub_ground_m)
    home = drone_reroute("m-home", None, None, paths.path_now(andorra.airspace, CRUISE_M, drop_xy, hub_xy, NOW_S),
                         frame, cruise_speed_m_s=DRONE.speed_m_s, home_ground_m=hub_ground_m)
    outbound = out.steps[:-1]  # to the drop, without its RETURN
    mission = Mission("m-trip", (MissionStep(StepKind.TAKEOFF, altitude_m=CRUISE_M), *outbound, *home.steps),
                      cruise_speed_m_s=DRONE.speed_m_s)
    top, drawn_wh = _fly(andorra, mission, hub_ground_m, 0.29, top_step=len(outbound), launch=hub)

    adapter = SimpleNamespace(vehicle_id="drone-1", kind=VehicleKind.DRONE)
    vehicle = FleetVehicle(adapter, "hub", DRONE, *hub)  # type: ignore[arg-type]
    running = _Missions(home, 0.29)
    running.running.launched_from = None  # a hub drone: it lands at home
    monitor = SafetyMonitor(fleet=Fleet(), clock=Clock(start_s=NOW_S), frame=frame,
                            airspace=SimpleNamespace(add_listener=lambda _listener: None),  # type: ignore[arg-type]
                            missions=running, rerouter=None)  # type: ignore[arg-type]
    priced_wh = monitor._energy_to_finish_wh(vehicle, top, monitor._energy_model(vehicle))
    assert abs(drawn_wh - priced_wh) <= 0.025 * priced_wh, (priced_wh, drawn_wh)

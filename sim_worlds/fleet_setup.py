"""A scenario's fleet as a fleet file, and the autopilot parameters of its drones.

`finalmile sim` starts the simulators the scenario asks for, then describes them to the fleet
manager the way an operator would: a fleet file (`fleet_manager.fleet_file`) with each vehicle's
kind, URL, profile and carrier, and the hub's lockers and recipient-presence service. The file
is written into the run folder; the shipped `scenarios/helsinki_day.fleet.yaml` is the same fleet
on the simulators' default ports, for `finalmile serve --fleet-file`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleet_manager.fleet_file import FleetFile, parse_fleet
from mission_planner.energy import MultirotorModel

from .scenario import Scenario

# The simulators' ports when started by hand with their defaults (`finalmile mavsim`, `python -m sim_worlds.vans`).
DEFAULT_DRONE_PORT = 5760
DEFAULT_VAN_PORT = 7100


_PLANNER_DRONE = MultirotorModel()


def drone_parameters(scenario: Scenario, *, over_terrain: bool = False,
                     terrain_data: bool = False) -> dict[str, float]:
    """Autopilot parameters of the scenario's delivery drones (same names on SITL and the simulator).

    `over_terrain` (a world with an elevation model): the fence keeps its polygons but drops the
    altitude ceiling. FENCE_ALT_MAX is measured from home, and a terrain-following drone flies up a
    valley hundreds of metres above its take-off point while staying 30..120 m above the ground under
    it; that band is the planner's (`DronePathPlanner`) and is measured by the KPI
    `terrain_clearance_violations`.

    `terrain_data` (over terrain, an autopilot that has the ground's heights): every RTL flies RTL_ALT above
    the ground, ArduCopter's RTL_ALT_TYPE 1. ArduCopter refuses to arm with it until its terrain database
    is loaded (AP_Arming_Copter::terrain_database_required), which on SITL means a ground station answering
    TERRAIN_REQUEST; mavsim reads the world's elevation model directly.
    """
    drones = scenario.fleet.drones
    return {
        "FENCE_ENABLE": 1,
        # polygons (+ max altitude in flat worlds); the fleet manager uploads the polygons per mission
        "FENCE_TYPE": 4 if over_terrain else 5,
        "FENCE_ACTION": 1,  # RTL
        "FENCE_ALT_MAX": 120,
        # round the fence's zones by itself in AUTO, GUIDED and RTL (a lost link's RTL too); read only at boot
        "OA_TYPE": 2,
        "RTL_ALT": round(drones.cruise_altitude_m * 100),
        # over terrain an RTL (the battery failsafe's, a refused recall's last resort) at RTL_ALT above home flies
        # straight through a ridge or far above a valley: above the ground instead
        **({"RTL_ALT_TYPE": 1, "TERRAIN_ENABLE": 1} if over_terrain and terrain_data else {}),
        "WPNAV_SPEED": round(drones.cruise_speed_m_s * 100),
        # the climb and descent rates the planner's energy model flies sloped legs at (MultirotorModel): slower
        # autopilot rates stretch a terrain-following leg (ArduCopter's 2.5/1.5 m/s) and drain more than planned
        "WPNAV_SPEED_UP": round(_PLANNER_DRONE.climb_rate_m_s * 100),
        "WPNAV_SPEED_DN": round(_PLANNER_DRONE.descent_rate_m_s * 100),
        "SIM_WIND_SPD": scenario.wind.speed_m_s,
        "SIM_WIND_DIR": scenario.wind.direction_deg,
        "SIM_BATT_CAP_AH": round(drones.battery_wh / 11.1, 2),  # 3S pack at 11.1 V nominal
    }


def scenario_fleet(
    scenario: Scenario, *, drone_urls: Sequence[str], robot_count: int, van_urls: Sequence[tuple[str, str]],
    recipient_presence_url: str | None, vans_carry_drones: bool = True,
) -> FleetFile:
    """The fleet file for the vehicles a run started: drones `drone-i`, robots `robot_i`, the vans by id.

    The first `carries_drones` drones and `carries_robots` robots per van ride on it (the dispatcher
    launches them from its stops). `recipient_presence_url` None means every recipient is at home (an
    explicit choice). `vans_carry_drones` False: the drones all fly from the hub (a drone simulator the
    van cannot move, such as ArduPilot SITL).
    """
    fleet = scenario.fleet
    drones, robots, vans = fleet.drones, fleet.robots, fleet.vans
    carriers: dict[str, str] = {}
    drone_ids = [f"drone-{i + 1}" for i in range(len(drone_urls))]
    robot_ids = [f"robot_{i + 1}" for i in range(robot_count)]
    for number, (van_id, _url) in enumerate(van_urls):
        for drone_id in drone_ids[number * vans.carries_drones:(number + 1) * vans.carries_drones]:
            if vans_carry_drones:
                carriers[drone_id] = van_id
        for robot_id in robot_ids[number * vans.carries_robots:(number + 1) * vans.carries_robots]:
            carriers[robot_id] = van_id
    vehicles: list[dict[str, Any]] = []
    for number, (drone_id, url) in enumerate(zip(drone_ids, drone_urls, strict=True)):
        vehicles.append({"vehicle_id": drone_id, "kind": "drone", "url": url,
                         **({"carried_by": carriers[drone_id]} if drone_id in carriers else {}),
                         # the first `insulated_boxes` drones carry an insulated box (cold-chain parcels)
                         **({"profile": {"cold_chain": True}} if number < drones.insulated_boxes else {})})
    vehicles += [{"vehicle_id": robot_id, "kind": "robot", "url": f"ros2:/{robot_id}",
                  **({"carried_by": carriers[robot_id]} if robot_id in carriers else {})} for robot_id in robot_ids]
    vehicles += [{"vehicle_id": van_id, "kind": "van", "url": url} for van_id, url in van_urls]
    presence = ({"kind": "http", "url": recipient_presence_url} if recipient_presence_url
                else {"kind": "always"})
    data = {
        "hubs": [{"hub_id": scenario.hub_id, "world": scenario.world, "lockers": "world",
                  "recipient_presence": presence}],
        "profiles": {
            "drone": {"max_payload_kg": drones.max_payload_kg, "battery_wh": drones.battery_wh,
                      "speed_m_s": drones.cruise_speed_m_s, "cruise_altitude_m": drones.cruise_altitude_m,
                      "reserve_pct": drones.reserve_pct, "swap_time_s": drones.swap_time_s},
            "robot": {"max_payload_kg": robots.max_payload_kg, "battery_wh": robots.battery_wh,
                      "speed_m_s": robots.speed_m_s, "reserve_pct": robots.reserve_pct,
                      "energy_wh_per_km": robots.energy_wh_per_km},
            "van": {"max_payload_kg": vans.max_payload_kg, "capacity_parcels": vans.capacity_parcels,
                    "energy_wh_per_km": vans.energy_wh_per_km, "battery_wh": vans.battery_wh},
        },
        "vehicles": vehicles,
    }
    return parse_fleet(data, f"scenario {scenario.name!r} fleet")


def default_ports_fleet(scenario: Scenario, *, recipient_presence_url: str | None = None) -> FleetFile:
    """The scenario's fleet on the simulators' default ports (what the shipped demo fleet file holds)."""
    vans = [(f"van-{i + 1}", f"tcp:127.0.0.1:{DEFAULT_VAN_PORT}") for i in range(scenario.fleet.vans.count)]
    drones = [f"tcp:127.0.0.1:{DEFAULT_DRONE_PORT + 10 * i}" for i in range(scenario.fleet.drones.count)]
    return scenario_fleet(scenario, drone_urls=drones, robot_count=scenario.fleet.robots.count, van_urls=vans,
                          recipient_presence_url=recipient_presence_url)

"""Van handoff in plan_fleet: drones riding a van launch at one stop and land on it at the same or a later one,
as the caller's HandoffPolicy allows, each on the charge it left with."""

from __future__ import annotations

import itertools
import random

import pytest

from mission_planner.energy import MultirotorModel, ReservePolicy
from mission_planner.errors import PlanningError
from mission_planner.fleet import FleetTravel, OrderSpec, VehicleSpec, plan_fleet
from mission_planner.model import VehicleKind
from mission_planner.plan import LegKind
from mission_planner.van_handoff import HandoffPolicy, Recovery

NOW_S = 1_750_000_000.0


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    from fleet_manager.world import load_world

    return load_world("helsinki")


def _van_and_drones(world, **drone_battery_wh: float | None) -> list[VehicleSpec]:  # type: ignore[no-untyped-def]
    """van-1 at the hub carrying the drones named (charge in Wh, None = full)."""
    hub = world.hub
    return [VehicleSpec("van-1", VehicleKind.VAN, hub.latitude_deg, hub.longitude_deg)] + [
        VehicleSpec(drone_id, VehicleKind.DRONE, hub.latitude_deg, hub.longitude_deg, carried_by="van-1",
                    battery_wh=battery_wh)
        for drone_id, battery_wh in drone_battery_wh.items()
    ]


def _parcels(world, count: int = 20) -> list[OrderSpec]:  # type: ignore[no-untyped-def]
    """Light parcels at random Helsinki addresses (seeded), due within five hours."""
    return [
        OrderSpec(f"o{i}", b.latitude_deg, b.longitude_deg, 1.0, earliest_s=NOW_S, latest_s=NOW_S + 5 * 3600)
        for i, b in enumerate(random.Random(3).sample(list(world.addresses), count))
    ]


@pytest.fixture(scope="module")
def setting(world):  # type: ignore[no-untyped-def]
    """One van carrying two drones, 20 light parcels at Helsinki addresses."""
    travel = FleetTravel.for_world(world)
    plan = plan_fleet(travel, _van_and_drones(world, **{"vd-1": None, "vd-2": None}), _parcels(world),
                      now_s=NOW_S, seed=0, time_budget_s=1.0)
    return travel, plan


def test_every_parcel_is_delivered_once_by_van_or_drone(setting) -> None:
    """20 parcels, each dropped off exactly once; some of them by the carried drones."""
    _, plan = setting
    assert sorted(plan.planned_order_ids) == sorted(f"o{i}" for i in range(20))
    drone_orders = [o for r in plan.routes if r.kind is VehicleKind.DRONE for o in r.order_ids]
    assert drone_orders


def test_sorties_launch_and_land_on_the_van(setting) -> None:
    """Each sortie starts where the van is at launch time and ends at a van stop reached no later than recovery."""
    travel, plan = setting
    van = plan.route("van-1")
    assert van is not None
    van_places = {leg.to_xy_m for leg in van.legs} | {(travel.hub.x_m, travel.hub.y_m)}
    model = MultirotorModel()
    min_power_w = min(model.power_w(0.0, speed_m_s) for speed_m_s in range(0, 25))
    max_airborne_s = model.battery_capacity_wh * (1 - ReservePolicy().reserve_fraction) / min_power_w * 3600
    for route in plan.routes:
        if route.kind is not VehicleKind.DRONE:
            continue
        legs = route.legs
        for launch, drop, recovery in zip(legs[0::3], legs[1::3], legs[2::3], strict=True):
            assert (launch.kind, drop.kind, recovery.kind) == (LegKind.LAUNCH, LegKind.DROPOFF, LegKind.RECOVERY)
            assert launch.from_xy_m in van_places and recovery.to_xy_m in van_places
            assert launch.end_s <= drop.arrival_s <= recovery.start_s <= recovery.end_s
            # Time aloft (flying, and hovering while the van comes) is bounded by the usable battery at the
            # model's most economical airspeed: no sortie can outlast it, whatever the van does.
            assert recovery.end_s - launch.start_s <= max_airborne_s
            points = [(w.x_m, w.y_m, w.altitude_m) for w in (*drop.waypoints, *recovery.waypoints)]
            assert travel.airspace.is_path_clear(points, margin_m=20.0)


def test_van_starting_away_from_the_hub_drops_each_parcel_once(world) -> None:  # type: ignore[no-untyped-def]
    """A van parked away from the hub starts with a zero-length pickup where it stands; after the handoff its
    route must not repeat the first stop (it did: the stop was kept from before the pickup and re-added)."""
    from collections import Counter

    travel = FleetTravel.for_world(world)
    hub = world.hub
    van_lat, van_lon = world.frame.to_wgs84(hub.x_m + 150.0, hub.y_m)
    vehicles = [
        VehicleSpec("van-1", VehicleKind.VAN, van_lat, van_lon),
        VehicleSpec("vd-1", VehicleKind.DRONE, hub.latitude_deg, hub.longitude_deg, carried_by="van-1"),
    ]
    orders = [
        OrderSpec(f"o{i}", b.latitude_deg, b.longitude_deg, 1.0, earliest_s=NOW_S, latest_s=NOW_S + 5 * 3600)
        for i, b in enumerate(random.Random(0).sample(list(world.addresses), 8))
    ]
    plan = plan_fleet(travel, vehicles, orders, now_s=NOW_S, seed=0, time_budget_s=0.5)
    van = plan.route("van-1")
    assert van is not None and van.legs[0].kind is LegKind.PICKUP and van.legs[0].start_s == van.legs[0].end_s
    drops = Counter(o for route in plan.routes for leg in route.legs if leg.kind is LegKind.DROPOFF
                    for o in leg.order_ids)
    assert sorted(drops) == sorted(o.order_id for o in orders)
    assert set(drops.values()) == {1}, [o for o, n in drops.items() if n > 1]
    van_legs = [leg for leg in van.legs if leg.kind is not LegKind.PICKUP]
    for a, b in itertools.pairwise(van_legs):
        assert a.to_xy_m == b.from_xy_m and a.end_s <= b.start_s + 1e-6


@pytest.fixture(scope="module")
def same_stop(world):  # type: ignore[no-untyped-def]
    """The setting's van and drones, planned for a caller that executes only launch and recovery at one van stop,
    one drone per stop, one sortie per drone (the dispatcher); vd-2 starts with 60 % of its pack."""
    travel = FleetTravel.for_world(world)
    vehicles = _van_and_drones(world, **{"vd-1": None, "vd-2": 0.6 * travel.drone.model.battery_capacity_wh})
    policy = HandoffPolicy(Recovery.SAME_STOP, launch_at_depot=False, launches_per_stop=1, sorties_per_carrier=1)
    plan = plan_fleet(travel, vehicles, _parcels(world), now_s=NOW_S, seed=0, time_budget_s=1.0, handoff=policy)
    return travel, vehicles, plan


def test_same_stop_policy_launches_and_recovers_at_one_van_stop(same_stop) -> None:
    """Every sortie leaves from a stop where the van delivers and lands back at that very stop while the van waits;
    never from the hub; one drone per stop, one sortie per drone; each parcel still dropped once."""
    travel, _vehicles, plan = same_stop
    van = plan.route("van-1")
    assert van is not None
    drone_routes = [r for r in plan.routes if r.kind is VehicleKind.DRONE]
    assert drone_routes, "no sortie: the test would prove nothing"
    stops = [leg for leg in van.legs if leg.kind is LegKind.DROPOFF]
    launches = []
    for route in drone_routes:
        assert len(route.trips()) == 1
        for launch, drop, recovery in route.trips():
            assert (launch.kind, drop.kind, recovery.kind) == (LegKind.LAUNCH, LegKind.DROPOFF, LegKind.RECOVERY)
            assert recovery.to_xy_m == launch.from_xy_m != (travel.hub.x_m, travel.hub.y_m)
            stop = next(leg for leg in stops if leg.to_xy_m == launch.from_xy_m)
            # the van is there from before the launch until after the recovery
            assert stop.arrival_s <= launch.start_s and recovery.end_s <= stop.end_s + 1e-6
            launches.append(launch.from_xy_m)
    assert len(launches) == len(set(launches))
    drops = [o for r in plan.routes for leg in r.legs if leg.kind is LegKind.DROPOFF for o in leg.order_ids]
    assert sorted(drops) == sorted(f"o{i}" for i in range(20))


def test_same_stop_sorties_carry_their_paths_energy_within_the_drones_charge(same_stop) -> None:
    """The legs fly safe paths out and back to the stop, their energy is those paths' energy (plus the hover at the
    drop), and the sortie keeps the reserve of the pack the drone left with."""
    travel, vehicles, plan = same_stop
    charge_wh = {v.vehicle_id: v.battery_wh or travel.drone.model.battery_capacity_wh for v in vehicles}
    model = travel.drone.model
    for route in (r for r in plan.routes if r.kind is VehicleKind.DRONE):
        for launch, drop, recovery in route.trips():
            out = travel.drone.path(launch.from_xy_m, drop.to_xy_m)
            back = travel.drone.path(drop.to_xy_m, launch.from_xy_m)
            assert drop.waypoints == out.waypoints and recovery.waypoints == back.waypoints
            assert drop.energy_wh == pytest.approx(out.energy_wh(model, 1.0) + model.hover_energy_wh(1.0, 30.0))
            assert recovery.energy_wh == pytest.approx(back.energy_wh(model, 0.0))
            points = [(w.x_m, w.y_m, w.altitude_m) for w in (*drop.waypoints, *recovery.waypoints)]
            assert travel.airspace.is_path_clear(points, margin_m=20.0)
            assert travel.reserve.is_feasible(model.battery_capacity_wh, charge_wh[route.vehicle_id],
                                              drop.energy_wh + recovery.energy_wh)


def test_drained_carrier_flies_no_sortie_its_pack_cannot_cover(world) -> None:  # type: ignore[no-untyped-def]
    """A carried drone with a pack just above its reserve gets no sortie; the van keeps those stops."""
    travel = FleetTravel.for_world(world)
    capacity_wh = travel.drone.model.battery_capacity_wh
    vehicles = _van_and_drones(world, **{"vd-1": (travel.reserve.reserve_fraction + 0.01) * capacity_wh})
    orders = _parcels(world)
    plan = plan_fleet(travel, vehicles, orders, now_s=NOW_S, seed=0, time_budget_s=1.0)
    assert plan.route("vd-1") is None
    assert sorted(plan.planned_order_ids) == sorted(o.order_id for o in orders)
    full = plan_fleet(travel, _van_and_drones(world, **{"vd-1": None}), orders, now_s=NOW_S, seed=0,
                      time_budget_s=1.0)
    assert full.route("vd-1") is not None  # with a full pack it does fly: the charge is what kept it aboard


def test_handoff_policy_refuses_bad_limits() -> None:
    """Limits are None or whole numbers >= 1; a clear error names the field."""
    with pytest.raises(PlanningError, match="launches_per_stop"):
        HandoffPolicy(launches_per_stop=0)
    with pytest.raises(PlanningError, match="recovery"):
        HandoffPolicy(recovery="whenever")  # type: ignore[arg-type]


def _recovered_at_hub(travel, plan) -> int:  # type: ignore[no-untyped-def]
    """How many carried trips end at the hub (the van's trip's end) rather than at one of the van's stops."""
    hub_xy = (travel.hub.x_m, travel.hub.y_m)
    return sum(1 for route in plan.routes if route.kind is VehicleKind.DRONE for trip in route.trips()
               for leg in trip if leg.kind is LegKind.RECOVERY and leg.to_xy_m == hub_xy)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_dispatchers_policy_recovers_no_carrier_at_the_hub(world, seed: int) -> None:  # type: ignore[no-untyped-def]
    """The dispatcher executes recovery only at a van stop (the van's mission has no stop at the hub to take a
    drone back at): with `recovery_at_depot` off the plan has sorties, launched and recovered at van stops only.
    The Andorra day planned such hub recoveries, which the dispatcher then dropped, parcels and all."""
    travel = FleetTravel.for_world(world)
    vehicles = _van_and_drones(world, **{"vd-1": None, "vd-2": None})
    policy = HandoffPolicy(Recovery.LATER_STOP, launch_at_depot=False, recovery_at_depot=False)
    plan = plan_fleet(travel, vehicles, _parcels(world), now_s=NOW_S, seed=seed, time_budget_s=1.0, handoff=policy)
    assert any(r.kind is VehicleKind.DRONE and r.trips() for r in plan.routes), "no sortie: proves nothing"
    assert _recovered_at_hub(travel, plan) == 0


def test_the_van_search_problem_forbids_hub_recovery_when_asked() -> None:
    """`handoff_problem`: every (launch, parcel, hub) sortie is infeasible without `recovery_at_depot`, and only
    those (the hub is node 0, where the van's trip ends)."""
    import numpy as np

    from mission_planner.handoff import HandoffParams
    from mission_planner.van_search import CarrierLimits, handoff_problem

    size = 4
    times = np.full((size, size), 60.0)
    np.fill_diagonal(times, 0.0)
    limits = CarrierLimits(np.ones((1, size), dtype=bool), (500.0,), (500.0,), (50.0,), 0.0, 0)
    params = HandoffParams(carriers=1, launch_s=60.0, recovery_s=60.0, van_service_s=60.0, carrier_service_s=30.0)
    common = {"launch_at_depot": False, "windows_s": np.array([[0.0, 1e9]] * size), "limits": limits,
              "sortie_wh": np.ones((size, size, size))}
    allowed = handoff_problem(times, times, {1, 2, 3}, params, recovery_at_depot=True, **common)
    forbidden = handoff_problem(times, times, {1, 2, 3}, params, recovery_at_depot=False, **common)
    assert allowed.endurance(1, 2, 0) > 0 and forbidden.endurance(1, 2, 0) < 0
    assert forbidden.endurance(1, 2, 3) == allowed.endurance(1, 2, 3) > 0


def test_drones_and_robots_on_one_van_are_all_launched_and_recovered_at_its_stops(world) -> None:  # type: ignore[no-untyped-def]
    """A van carrying drones and a robot: every carried trip, of either kind, leaves from a van stop the van has
    reached by the launch and comes back to one it reaches by the recovery. The robots' pass took stops off the
    van where the drones' pass had launched or recovered drones (the Andorra handoff day: 'trip of drone-3 ...
    is not launched and recovered at its stops', the trip and its parcel dropped at dispatch)."""
    from mission_planner.van_handoff import launch_and_recovery_stops

    hub = world.hub
    travel = FleetTravel.for_world(world)
    vehicles = [*_van_and_drones(world, **{"vd-1": None, "vd-2": None}),
                VehicleSpec("vr-1", VehicleKind.ROBOT, hub.latitude_deg, hub.longitude_deg, carried_by="van-1")]
    # Budgets in iterations, not seconds: which stops the search leaves to the robot depends on the van's tour, and a
    # 1 s search on a busy CI machine found a tour whose robot trips would have stranded drone trips (so no robot
    # trip, and nothing to check). Counted budgets give the same plan on any machine (the times are never reached).
    policy = HandoffPolicy(Recovery.LATER_STOP, launch_at_depot=False, recovery_at_depot=False, search_s=60.0,
                           search_iterations=50)
    plan = plan_fleet(travel, vehicles, _parcels(world, 30), now_s=NOW_S, seed=0, time_budget_s=60.0,
                      max_iterations=1000, handoff=policy)
    van = plan.route("van-1")
    assert van is not None
    stops = [leg for leg in van.legs if leg.kind is LegKind.DROPOFF and leg.order_ids]
    trips = [(r.kind, trip) for r in plan.routes if r.kind is not VehicleKind.VAN for trip in r.trips()]
    assert {kind for kind, _ in trips} == {VehicleKind.DRONE, VehicleKind.ROBOT}, "one kind only: proves nothing"
    unmatched = [trip[0].order_ids for _, trip in trips if launch_and_recovery_stops(trip, stops) is None]
    assert unmatched == []
    assert sorted(plan.planned_order_ids) == sorted(f"o{i}" for i in range(30))


def test_a_replan_keeps_the_vans_drones_flying(world) -> None:  # type: ignore[no-untyped-def]
    """A re-plan (a new order joins the plan in force) places the carried drones on the new van route as the full
    plan does. It left them out: on a 4 h Andorra handoff day 3 of the first 5 van trips were dispatched from a
    re-plan and left with none of their drones (they stayed at the hub, carried by a van that had gone)."""
    from mission_planner.fleet import plan_fleet_result
    from mission_planner.replan import PlanState, replan

    travel = FleetTravel.for_world(world)
    parcels = _parcels(world, 21)
    first = plan_fleet_result(travel, _van_and_drones(world, **{"vd-1": None, "vd-2": None}), parcels[:20],
                              now_s=NOW_S, seed=0, time_budget_s=1.0)
    assert any(r.kind is VehicleKind.DRONE and r.legs for r in first.plan.routes)
    again = replan(PlanState(first, NOW_S), [parcels[20]], 1.0, seed=0, handoff=HandoffPolicy())
    plan = again.plan
    launched = [leg for r in plan.routes if r.kind is VehicleKind.DRONE for leg in r.legs if leg.kind is LegKind.LAUNCH]
    assert launched, "the re-planned van trip carries no drone trip"
    # every parcel once, the new one included, by the van or a drone
    assert sorted(plan.planned_order_ids) == sorted(p.order_id for p in parcels)


def test_sorties_in_wind_are_priced_as_the_autopilot_flies_their_paths(world) -> None:  # type: ignore[no-untyped-def]
    """In the plan's wind (`DroneTravel.wind_m_s`) a sortie's legs carry the energy of their paths flown at the
    cruise ground speed in that wind (`wind_flight`), not in still air, within the pack's reserve."""
    travel = FleetTravel.for_world(world)
    travel.drone.wind_m_s = (-7.0, 3.0)
    model = travel.drone.model
    plan = plan_fleet(travel, _van_and_drones(world, **{"vd-1": None, "vd-2": None}), _parcels(world),
                      now_s=NOW_S, seed=0, time_budget_s=1.0)
    trips = [trip for r in plan.routes if r.kind is VehicleKind.DRONE for trip in r.trips()]
    assert trips
    for launch, drop, recovery in trips:
        out = travel.drone.path(launch.from_xy_m, drop.to_xy_m)
        windy_wh = out.energy_in_wind_wh(model, 1.0, model.cruise_airspeed_m_s, travel.drone.wind_m_s)
        assert drop.energy_wh == pytest.approx(windy_wh + model.hover_energy_wh(1.0, 30.0))
        assert windy_wh != pytest.approx(out.energy_wh(model, 1.0))  # a tailwind leg may cost less than still air
        assert travel.reserve.is_feasible(model.battery_capacity_wh, model.battery_capacity_wh,
                                          drop.energy_wh + recovery.energy_wh)


def test_a_drone_flies_home_to_the_hub_after_its_last_sortie_when_it_lands_well_before_the_van() -> None:
    """With `return_to_hub` a drone's last sortie of the van trip ends at the hub, never an earlier one, only where
    it lands there `HOMEBOUND_GAIN_S` before the van is back, on a way home its battery covers with the reserve
    kept; every other carried trip (the robot's too) still leaves from and comes back to the van's stops. Andorra:
    in 1.5 km of Helsinki a drone is never that far ahead of its van."""
    from fleet_manager.world import load_world
    from mission_planner.hub_return import HOMEBOUND_GAIN_S
    from mission_planner.van_handoff import homebound_launch_stop, launch_and_recovery_stops

    world = load_world("andorra")
    hub = world.hub
    hub_xy = (hub.x_m, hub.y_m)
    travel = FleetTravel.for_world(world)
    vehicles = [*_van_and_drones(world, **{"vd-1": None, "vd-2": None}),
                VehicleSpec("vr-1", VehicleKind.ROBOT, hub.latitude_deg, hub.longitude_deg, carried_by="van-1")]
    parcels = [OrderSpec(f"o{i}", b.latitude_deg, b.longitude_deg, 1.0, earliest_s=NOW_S, latest_s=NOW_S + 8 * 3600)
               for i, b in enumerate(random.Random(1).sample(list(world.addresses), 12))]
    policy = HandoffPolicy(Recovery.LATER_STOP, launch_at_depot=False, recovery_at_depot=False, search_s=60.0,
                           search_iterations=50, return_to_hub=True)
    plan = plan_fleet(travel, vehicles, parcels, now_s=NOW_S, seed=0, time_budget_s=60.0, max_iterations=1000,
                      handoff=policy)
    van = plan.route("van-1")
    assert van is not None
    stops = [leg for leg in van.legs if leg.kind is LegKind.DROPOFF and leg.order_ids]
    van_back_s = next(leg.arrival_s for leg in van.legs if leg.kind is LegKind.RETURN)
    capacity_wh = MultirotorModel().battery_capacity_wh
    homebound = 0
    for route in plan.routes:
        if route.kind is VehicleKind.VAN:
            continue
        trips = route.trips()
        for number, trip in enumerate(trips):
            if launch_and_recovery_stops(trip, stops) is not None:
                continue
            assert route.kind is VehicleKind.DRONE and number == len(trips) - 1, "not a drone's last sortie"
            assert homebound_launch_stop(trip, stops, hub_xy) is not None
            assert trip[-1].arrival_s + HOMEBOUND_GAIN_S <= van_back_s + 1e-6
            used_wh = sum(leg.energy_wh for t in trips for leg in t)  # every sortie of the van trip on one pack
            assert ReservePolicy().is_feasible(capacity_wh, capacity_wh, used_wh)
            homebound += 1
    assert homebound, "no drone flew home: proves nothing"
    assert any(r.kind is VehicleKind.ROBOT and r.trips() for r in plan.routes), "the robot's trips were dropped"
    assert sorted(plan.planned_order_ids) == sorted(f"o{i}" for i in range(12))

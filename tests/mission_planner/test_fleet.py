"""plan_fleet on the Helsinki world: the dispatcher's entry point, in WGS84 in and out."""

from __future__ import annotations

import itertools
import math

import pytest

from mission_planner.fleet import FleetTravel, OrderSpec, VehicleSpec, plan_fleet
from mission_planner.model import Objective, ObjectiveKind, SizeClass, VehicleKind
from mission_planner.plan import LegKind

NOW_S = 1_750_000_000.0


@pytest.fixture(scope="module")
def travel() -> FleetTravel:
    """The Helsinki world's travel model (caches shared by the tests of this module)."""
    from fleet_manager.world import load_world

    return FleetTravel.for_world(load_world("helsinki"))


@pytest.fixture(scope="module")
def plan(travel: FleetTravel):
    """A plan for 12 parcels with 2 drones, 1 robot and 1 van, minimising energy."""
    from fleet_manager.world import load_world

    world = load_world("helsinki")
    hub = world.hub
    vehicles = [
        VehicleSpec("drone-1", VehicleKind.DRONE, hub.latitude_deg, hub.longitude_deg),
        VehicleSpec("drone-2", VehicleKind.DRONE, hub.latitude_deg, hub.longitude_deg),
        VehicleSpec("robot-1", VehicleKind.ROBOT, hub.latitude_deg, hub.longitude_deg),
        VehicleSpec("van-1", VehicleKind.VAN, hub.latitude_deg, hub.longitude_deg),
    ]
    orders = []
    for number, building in enumerate(world.addresses[:12]):
        orders.append(
            OrderSpec(
                f"o{number}",
                building.latitude_deg,
                building.longitude_deg,
                weight_kg=1.0 if number % 3 else 12.0,
                size_class=SizeClass.S if number % 3 else SizeClass.L,
                earliest_s=NOW_S,
                latest_s=NOW_S + 4 * 3600,
                customs_cleared=number != 5,
                locker_site_id="locker-forum" if number == 7 else None,
            )
        )
    # energy objective: drones (~20 Wh/km) take what they can, the e-van (250 Wh/km) the rest
    objective = Objective(ObjectiveKind.ENERGY)
    return plan_fleet(travel, vehicles, orders, now_s=NOW_S, seed=0, time_budget_s=1.0, objective=objective)


def test_every_cleared_order_is_planned_once(plan) -> None:
    """11 cleared orders planned exactly once; o5 waits for customs."""
    assert plan.unplanned == {"o5": "customs not cleared"}
    assert sorted(plan.planned_order_ids) == sorted(f"o{i}" for i in range(12) if i != 5)
    assert plan.feasible


def test_heavy_parcels_go_by_van(plan) -> None:
    """12 kg, size L parcels are only on the van."""
    van = plan.route("van-1")
    assert van is not None
    assert {"o0", "o3", "o6", "o9"} <= set(van.order_ids)


def test_drone_legs_avoid_buffered_zones_and_carry_wgs84(plan, travel: FleetTravel) -> None:
    """Every drone flight is clear of every zone grown by the 20 m margin at the time it flies; legs have lat/lon."""
    drone_legs = [leg for r in plan.routes if r.kind is VehicleKind.DRONE for leg in r.legs if leg.waypoints]
    assert drone_legs
    for leg in drone_legs:
        points = [(w.x_m, w.y_m, w.altitude_m) for w in leg.waypoints]
        assert travel.airspace.is_path_clear(points, margin_m=20.0)
        assert leg.to_latitude_deg is not None and 60.16 < leg.to_latitude_deg < 60.18
        _lat, lon, alt = leg.waypoints_wgs84(travel.frame)[1]
        assert alt == 60.0 and 24.93 < lon < 24.96


def test_legs_are_in_time_order_with_energy(plan, travel: FleetTravel) -> None:
    """Per vehicle, legs follow each other; every drone sortie leaves the 20 % reserve."""
    for route in plan.routes:
        timed = [leg for leg in route.legs if leg.kind is not LegKind.CHARGE]
        for a, b in itertools.pairwise(timed):
            assert a.end_s <= b.start_s + 1e-6
        assert all(leg.start_s >= NOW_S for leg in route.legs)
        if route.kind is VehicleKind.DRONE:
            capacity = travel.drone.model.battery_capacity_wh
            for trip in {leg.trip for leg in route.legs}:
                used = sum(leg.energy_wh for leg in route.legs if leg.trip == trip)
                assert 0 < used <= 0.8 * capacity
    assert not math.isnan(plan.objective_value)


def test_an_iteration_budget_gives_the_same_plan_however_long_the_machine_takes(travel: FleetTravel) -> None:
    """With `max_iterations` the search stops after that many iterations (the time budget a backstop), so two runs
    give the same plan, whatever else the machine is doing; a budget below one iteration is refused."""
    from fleet_manager.world import load_world
    from mission_planner.errors import PlanningError

    hub = load_world("helsinki").hub
    vehicles = [VehicleSpec(f"drone-{n}", VehicleKind.DRONE, hub.latitude_deg, hub.longitude_deg) for n in (1, 2)]
    vehicles.append(VehicleSpec("van-1", VehicleKind.VAN, hub.latitude_deg, hub.longitude_deg))
    orders = [OrderSpec(f"o{n}", b.latitude_deg, b.longitude_deg, 1.0, earliest_s=NOW_S, latest_s=NOW_S + 4 * 3600)
              for n, b in enumerate(load_world("helsinki").addresses[20:32])]

    def routes(seed: int) -> list[tuple[str, tuple[str, ...]]]:
        plan = plan_fleet(travel, vehicles, orders, now_s=NOW_S, seed=seed, time_budget_s=60.0, max_iterations=300)
        return sorted((r.vehicle_id, r.order_ids) for r in plan.routes)

    first = routes(0)
    assert sorted(o for _, ids in first for o in ids) == sorted(o.order_id for o in orders)
    assert routes(0) == first
    with pytest.raises(PlanningError, match="max_iterations"):
        plan_fleet(travel, vehicles, orders, now_s=NOW_S, max_iterations=0)


def test_a_van_is_given_no_trip_longer_than_its_charge_takes_it(travel: FleetTravel) -> None:
    """A van charges at the hub for hours, not in a swap: its trip fits the range its charge gives
    (`VehicleSpec.range_m`); what does not fit is left unplanned with a reason, and an empty van gets nothing."""
    from fleet_manager.world import load_world

    world = load_world("helsinki")
    hub = world.hub
    far = sorted(world.addresses, key=lambda b: -math.hypot(b.x_m - hub.x_m, b.y_m - hub.y_m))[:10:2]
    orders = [OrderSpec(f"o{n}", b.latitude_deg, b.longitude_deg, 20.0, size_class=SizeClass.L, earliest_s=NOW_S,
                        latest_s=NOW_S + 8 * 3600) for n, b in enumerate(far)]  # vans only: 20 kg, size L

    def van_plan(range_m: float | None):  # type: ignore[no-untyped-def]
        van = VehicleSpec("van-1", VehicleKind.VAN, hub.latitude_deg, hub.longitude_deg, range_m=range_m)
        return plan_fleet(travel, [van], orders, now_s=NOW_S, seed=0, time_budget_s=10.0, max_iterations=400)

    full = van_plan(None)
    assert not full.unplanned and len(full.routes) == 1
    full_m = sum(leg.distance_m for leg in full.routes[0].legs)
    half = van_plan(0.75 * full_m)  # more than any one parcel's round trip (~3 km here), less than the tour
    assert half.routes, "a van with some charge still delivers what it can reach"
    assert sum(leg.distance_m for leg in half.routes[0].legs) <= 0.75 * full_m + 1.0
    assert half.unplanned and all("no feasible" in why for why in half.unplanned.values())
    empty = van_plan(0.0)
    assert not empty.routes and sorted(empty.unplanned) == sorted(o.order_id for o in orders)
    assert all(why.startswith("left out: farther than the charge of van-1 takes it now")
               for why in empty.unplanned.values()), empty.unplanned

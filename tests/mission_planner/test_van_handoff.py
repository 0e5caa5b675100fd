"""Van handoff in plan_fleet: drones riding a van launch at one stop and land on it at the same or a later one."""

from __future__ import annotations

import itertools
import random

import pytest

from mission_planner.energy import MultirotorModel, ReservePolicy
from mission_planner.fleet import FleetTravel, OrderSpec, VehicleSpec, plan_fleet
from mission_planner.model import VehicleKind
from mission_planner.plan import LegKind

NOW_S = 1_750_000_000.0


@pytest.fixture(scope="module")
def setting():
    """One van carrying two drones, 20 light parcels at Helsinki addresses."""
    from fleet_manager.world import load_world

    world = load_world("helsinki")
    travel = FleetTravel.for_world(world)
    hub = world.hub
    vehicles = [
        VehicleSpec("van-1", VehicleKind.VAN, hub.latitude_deg, hub.longitude_deg),
        VehicleSpec("vd-1", VehicleKind.DRONE, hub.latitude_deg, hub.longitude_deg, carried_by="van-1"),
        VehicleSpec("vd-2", VehicleKind.DRONE, hub.latitude_deg, hub.longitude_deg, carried_by="van-1"),
    ]
    rng = random.Random(3)
    orders = [
        OrderSpec(f"o{i}", b.latitude_deg, b.longitude_deg, 1.0, earliest_s=NOW_S, latest_s=NOW_S + 5 * 3600)
        for i, b in enumerate(rng.sample(list(world.addresses), 20))
    ]
    plan = plan_fleet(travel, vehicles, orders, now_s=NOW_S, seed=0, time_budget_s=1.0)
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


def test_van_starting_away_from_the_hub_drops_each_parcel_once() -> None:
    """A van parked away from the hub starts with a zero-length pickup where it stands; after the handoff its
    route must not repeat the first stop (it did: the stop was kept from before the pickup and re-added)."""
    from collections import Counter

    from fleet_manager.world import load_world

    world = load_world("helsinki")
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

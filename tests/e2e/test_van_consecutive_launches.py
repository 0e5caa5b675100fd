"""A drone recovered at one van stop and planned out again from the next is launched at the next stop, not where the
van still stands: the van simulator with a mavsim drone, driven through the fleet manager's mission control.

A van held at a stop until its drone is back has finished its hand-over there, so the van reports the next stop's
index with the recovery. Taken for arrival, that launched the drone's next trip on the spot, with a mission planned
from the next stop: on the full Andorra day such a drone flew level from a road 80 m below the next stop into the
hillside (2 terrain clearance violations).
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from _van_drone_stack import events_by_type, van_with_drone
from test_van_handoff_execution import DRONE, HUB, NOW_S, VAN_SPEED_M_S, _create_orders, _stops

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.sorties import FleetSlot
from fleet_manager.store.db import Database
from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from mission_planner.fleet import OrderSpec
from mission_planner.plan import Leg, LegKind, Plan, VehicleRoute

pytestmark = [pytest.mark.sim, pytest.mark.timeout(300)]
SPEEDUP = 20.0


def _beside(world: World, near: tuple[int, ...], taken: tuple[int, ...], low_m: float = 120.0,
            high_m: float = 350.0) -> int:
    """An address `low_m`-`high_m` from each of the addresses `near`, not one of `taken`."""
    places = world.addresses
    for index, place in enumerate(places):
        if index not in taken and all(low_m <= math.dist((place.x_m, place.y_m), (places[n].x_m, places[n].y_m))
                                      <= high_m for n in near):
            return index
    raise AssertionError("no address beside those stops")


def _plan(world: World, planner, order_ids: list[str], stops: tuple[int, ...]) -> Plan:  # type: ignore[no-untyped-def]
    """Van: hub -> A -> B -> C -> hub. The drone: launched at A, drops D, back to A (the van waits there); then
    launched at B, drops E, recovered at C."""
    places = world.addresses
    hub_xy = (world.hub.x_m, world.hub.y_m)
    a, b, c, d, e = ((places[i].x_m, places[i].y_m) for i in stops)
    legs = [Leg(LegKind.PICKUP, "van-1", NOW_S, NOW_S, NOW_S, hub_xy, hub_xy, order_ids=tuple(order_ids[:3]))]
    t, here = NOW_S, hub_xy
    arrivals = {}
    for order_id, xy in zip(order_ids[:3], (a, b, c), strict=True):
        drive_s = math.dist(here, xy) / VAN_SPEED_M_S
        arrivals[order_id] = t + drive_s
        legs.append(Leg(LegKind.DROPOFF, "van-1", t, t + drive_s, t + drive_s + 120.0, here, xy,
                        order_ids=(order_id,)))
        t, here = t + drive_s + 120.0, xy
    legs.append(Leg(LegKind.RETURN, "van-1", t, t + math.dist(hub_xy, here) / VAN_SPEED_M_S,
                    t + math.dist(hub_xy, here) / VAN_SPEED_M_S, here, hub_xy))
    paths = planner.drone_paths(world.airspace, DRONE.cruise_altitude_m)
    carried: list[Leg] = []
    for order_id, launch_at, launch_xy, drop_xy, recovery_xy in ((order_ids[3], order_ids[0], a, d, a),
                                                                 (order_ids[4], order_ids[1], b, e, c)):
        out = paths.path(launch_xy, drop_xy, start_s=NOW_S, end_s=NOW_S + 3600)
        back = paths.path(drop_xy, recovery_xy, start_s=NOW_S, end_s=NOW_S + 3600)
        launch_s = arrivals[launch_at] + 120.0
        dropped_s = launch_s + 60.0 + out.horizontal_m / DRONE.speed_m_s
        home_s = dropped_s + 30.0 + back.horizontal_m / DRONE.speed_m_s
        carried += [
            Leg(LegKind.LAUNCH, "drone-1", launch_s, launch_s, launch_s + 60.0, launch_xy, launch_xy,
                order_ids=(order_id,)),
            Leg(LegKind.DROPOFF, "drone-1", launch_s + 60.0, dropped_s, dropped_s + 30.0, launch_xy, drop_xy,
                out.horizontal_m, order_ids=(order_id,), waypoints=out.waypoints),
            Leg(LegKind.RECOVERY, "drone-1", dropped_s + 30.0, home_s, home_s + 60.0, drop_xy, recovery_xy,
                back.horizontal_m, waypoints=back.waypoints),
        ]
    return Plan((VehicleRoute("van-1", VehicleKind.VAN, tuple(legs)),
                 VehicleRoute("drone-1", VehicleKind.DRONE, tuple(carried))), {}, 0.0, True, NOW_S, 0.0)



async def test_a_drone_recovered_at_one_stop_is_launched_again_at_the_next_one(tmp_path: Path) -> None:
    """Trip 1 from A and back to A (the van holds there past its hand-over), trip 2 launched at B: the second
    launch is reported at B, the van having driven there; every parcel is delivered."""
    world = load_world("helsinki")
    clock = Clock(start_s=NOW_S, speedup=SPEEDUP)
    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    a, b, c, _d = _stops(world, (250.0, 450.0))
    d = _beside(world, (a,), (a, b, c), 550.0, 800.0)  # a long trip: the van's hand-over and waits at A end first
    e = _beside(world, (b, c), (a, b, c, d))
    stops = (a, b, c, d, e)
    order_ids = _create_orders(database, world, stops)
    async with van_with_drone(world, clock, database, HUB, SPEEDUP) as stack:
        plan = _plan(world, stack.services.planner, order_ids, stops)
        slots = [FleetSlot(v, None, v.state()) for v in stack.fleet]
        specs = {o: OrderSpec(o, world.addresses[i].latitude_deg, world.addresses[i].longitude_deg, 1.0)
                 for o, i in zip(order_ids, stops, strict=True)}
        (sortie,) = stack.services.planner.trips_due(plan, slots, specs, clock.now())
        assert [(h.launch_order_id, h.recovery_order_id) for h in sortie.handoffs] == [
            (order_ids[0], order_ids[0]), (order_ids[1], order_ids[2])]
        task = await stack.services.missions.start(sortie)
        assert task is not None
        await asyncio.wait_for(task, timeout=240.0)
    by_type = events_by_type(database)
    database.dispose()
    launches = by_type["vehicle.launched"]
    assert [ev.data["launch_stop_order_id"] for ev in launches] == [order_ids[0], order_ids[1]]
    second = launches[1].data
    at = world.frame.to_local(second["latitude_deg"], second["longitude_deg"])
    place_a, place_b = world.addresses[a], world.addresses[b]
    assert math.dist(at, (place_b.x_m, place_b.y_m)) < math.dist(at, (place_a.x_m, place_a.y_m)), \
        "the second trip was launched where the van stood for the first, not at its own stop"
    handed = {ev.data["order_id"]: ev.data["at_s"] for ev in by_type["order.status_changed"]
              if ev.data["to_status"] == "delivered"}
    assert set(handed) == set(order_ids)

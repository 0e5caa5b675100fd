"""A drone its van left at the hub flies from the hub while the van is out: the van simulator with a mavsim drone,
driven through the fleet manager's own dispatcher (planner, mission control, store).

Before, a carried drone was planned only together with its van: a van that took no trip of it left it idle at the
hub for as long as the van was out (on the full Andorra day, 8 carried drones flew 3.5 hours in 10).
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from _van_drone_stack import van_with_drone
from test_van_handoff_execution import HUB, NOW_S

from fleet_manager.domain.orders import Address, OrderStatus, Recipient
from fleet_manager.planning_config import PlanningConfig
from fleet_manager.store import fleet as fleet_store
from fleet_manager.store import orders as order_store
from fleet_manager.store.db import Database
from fleet_manager.van_departure import VanConsolidation
from fleet_manager.world import Building, World, load_world
from mission_planner.clock import Clock

pytestmark = [pytest.mark.sim, pytest.mark.timeout(300)]
SPEEDUP = 20.0


def _place(world: World, low_m: float, high_m: float) -> Building:
    hub = world.hub
    return next(a for a in world.addresses if low_m <= math.hypot(a.x_m - hub.x_m, a.y_m - hub.y_m) <= high_m)


def _opposite(world: World, place: Building, low_m: float, high_m: float) -> Building:
    """An address `low_m`..`high_m` from the hub on the side away from `place`."""
    hub = world.hub
    return min((a for a in world.addresses if low_m <= math.hypot(a.x_m - hub.x_m, a.y_m - hub.y_m) <= high_m),
               key=lambda a: (a.x_m - hub.x_m) * (place.x_m - hub.x_m) + (a.y_m - hub.y_m) * (place.y_m - hub.y_m))


def _order(database: Database, place: Building, weight_kg: float, reference: str) -> str:
    with database.transaction() as session:
        order, _ = order_store.create_order(session, new=order_store.NewOrder(
            hub_id=HUB, recipient=Recipient(reference), reference=reference, weight_kg=weight_kg,
            destination=Address(place.latitude_deg, place.longitude_deg, street=place.address),
            customs_cleared=True), actor="backend", at_s=NOW_S)
    return order.order_id


def _status(database: Database, order_id: str) -> OrderStatus:
    with database.read() as session:
        return order_store.get_order(session, order_id=order_id).status


async def test_a_drone_its_van_left_at_the_hub_delivers_from_the_hub_while_the_van_is_out(tmp_path: Path) -> None:
    """A parcel only the van can carry sends the van out without its drone; a light parcel ordered meanwhile goes
    by that drone, from the hub, while the van is still out, on a trip planned to end before the van is due back;
    the drone's mission is a hub trip (no van launched it) and it lands back at the hub."""
    world = load_world("helsinki")
    clock = Clock(start_s=NOW_S, speedup=SPEEDUP)
    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    planning = PlanningConfig(van_consolidation=VanConsolidation(max_hold_s=0.0))  # the van leaves when due
    async with van_with_drone(world, clock, database, HUB, SPEEDUP, planning=planning) as stack:
        dispatcher = stack.services.dispatcher
        heavy = _order(database, _place(world, 850.0, 1100.0), 8.0, "heavy")  # over the drone's 2.5 kg
        sorties = await dispatcher.cycle()
        assert [(s.vehicle_id, s.handoffs) for s in sorties] == [("van-1", ())]
        (van_trip,) = sorties
        light = _order(database, _place(world, 250.0, 500.0), 1.0, "light")
        sorties = await dispatcher.cycle()
        assert [(s.vehicle_id, s.order_ids) for s in sorties] == [("drone-1", (light,))], \
            "the drone its van left at the hub was not given the light parcel"
        (drone_trip,) = sorties
        # planned to be back before its van, so it is there to ride out on the van's next trip
        assert drone_trip.planned_end_s <= van_trip.planned_end_s
        while _status(database, light) is not OrderStatus.DELIVERED:
            assert clock.now() < NOW_S + 1800.0, f"light parcel not delivered: {_status(database, light)}"
            await asyncio.sleep(0.2)
        assert stack.services.missions.is_busy("van-1"), "the van was back before the drone delivered"
        assert _status(database, heavy) is OrderStatus.OUT_FOR_DELIVERY
        while stack.services.missions.is_busy("drone-1"):
            assert clock.now() < NOW_S + 3600.0, "the drone's mission did not end"
            await asyncio.sleep(0.2)
        with database.read() as session:
            record = fleet_store.get_mission(session, mission_id=drone_trip.mission.mission_id)
        assert record.status is fleet_store.MissionStatus.SUCCEEDED and "launched_from" not in record.details
        state = stack.fleet.get("drone-1").state()
        assert state is not None and not state.armed
        hub = world.hub
        assert math.dist(world.frame.to_local(state.latitude_deg, state.longitude_deg), (hub.x_m, hub.y_m)) < 30.0


async def test_a_carried_drone_with_work_at_the_hub_flies_from_there_and_the_van_leaves_without_it(
        tmp_path: Path) -> None:
    """Van and drone both free at the hub, a heavy parcel for the van and a light one near the hub: the drone takes
    the light one from the hub at once (the hub has work for it now) instead of riding the van's trip, and delivers
    it while the van is out (`PlanningConfig.hub_first`; without it the van launches the drone from its stop)."""
    world = load_world("helsinki")
    clock = Clock(start_s=NOW_S, speedup=SPEEDUP)
    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    planning = PlanningConfig(van_consolidation=VanConsolidation(max_hold_s=0.0), hub_first=True)
    async with van_with_drone(world, clock, database, HUB, SPEEDUP, planning=planning) as stack:
        far = _place(world, 850.0, 1100.0)
        heavy = _order(database, far, 8.0, "heavy")
        light = _order(database, _opposite(world, far, 300.0, 600.0), 1.0, "light")  # a detour for the van
        sorties = await stack.services.dispatcher.cycle()
        assert sorted((s.vehicle_id, s.order_ids, len(s.handoffs)) for s in sorties) == [
            ("drone-1", (light,), 0), ("van-1", (heavy,), 0)]
        drone_trip = next(s for s in sorties if s.vehicle_id == "drone-1")
        while _status(database, light) is not OrderStatus.DELIVERED:
            assert clock.now() < NOW_S + 1800.0, f"light parcel not delivered: {_status(database, light)}"
            await asyncio.sleep(0.2)
        assert stack.services.missions.is_busy("van-1"), "the van was back before the drone delivered"
        with database.read() as session:
            record = fleet_store.get_mission(session, mission_id=drone_trip.mission.mission_id)
        assert "launched_from" not in record.details

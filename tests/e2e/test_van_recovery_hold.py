"""A van waits at a recovery stop for the plan's wait plus a margin, not until its drone's mission times out.

On a 4 h Andorra handoff day a van-launched drone's mission never ended after a battery recall, and its van stood at
the recovery stop from 66 min into the day to its end (the 3 h mission timeout), 13 parcels aboard. Here the drone
(mavsim over MAVLink) is told to hold where it is once it flies, so it never comes back. The van (the van simulator)
must wait the plan's wait there plus the margin, leave the drone out of service where it is (an event says why) and
drive on home; the parcels it carries were handed over on the way.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from _van_drone_stack import events_by_type, until_flying, van_carrying, van_sortie
from test_van_handoff_execution import DRONE_PARAMS, HUB, NOW_S, SPEEDUP, _plan, _store_with_orders

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.mission_control import MissionConfig
from fleet_manager.world import load_world
from mission_planner.clock import Clock
from sim_worlds.mavsim.process import MavsimProcess

pytestmark = [pytest.mark.sim, pytest.mark.timeout(300)]


async def test_a_drone_that_does_not_come_back_is_left_and_the_van_drives_on(tmp_path: Path) -> None:
    world = load_world("helsinki")
    hub = world.hub
    clock = Clock(start_s=NOW_S, speedup=SPEEDUP)
    database, stops, order_ids = _store_with_orders(tmp_path, world)
    margin_s = 60.0
    with MavsimProcess(1, speedup=SPEEDUP, home=(hub.latitude_deg, hub.longitude_deg, 10.0), params=DRONE_PARAMS,
                       control=True, exit_with_parent=True) as drones:
        async with van_carrying(world, clock, database, HUB, drone_url=drones.urls[0], control_url=drones.control_url,
                                mission_config=MissionConfig(launch_hold_margin_s=margin_s)) as stack:
            plan = _plan(world, stack.services.planner, order_ids, stops, "drone-1", VehicleKind.DRONE)
            sortie = van_sortie(stack, world, plan, order_ids, stops, clock.now())
            (handoff,) = sortie.handoffs
            task = await stack.services.missions.start(sortie)
            assert task is not None
            drone = stack.drone
            await until_flying(drone, task)
            await drone.pause()  # it holds where it is: its mission never ends, it never comes to the van
            # without the bound the van stands at the recovery stop until the 3 h mission timeout (540 s here)
            await asyncio.wait_for(task, timeout=200.0)
            vehicle = stack.fleet.get("drone-1")
            out_of_service = vehicle.out_of_service
    by_type = events_by_type(database)
    database.dispose()

    (failed,) = by_type["vehicle.recovery_failed"]
    assert failed.webhook and failed.data["vehicle_id"] == "drone-1"
    assert failed.data["recovery_stop_order_id"] == order_ids[2]
    assert "not back at the recovery stop" in failed.data["why"] and "the van drives on" in failed.data["why"]
    assert f"plus {margin_s:.0f} s" in failed.data["why"]
    assert "left at a van stop" in out_of_service
    assert "vehicle.recovered" not in by_type
    # the van handed over its own three parcels and came back without the drone
    delivered = {e.data["order_id"]: e.data for e in by_type["order.status_changed"]
                 if e.data["to_status"] == "delivered"}
    assert set(delivered) == set(order_ids[:3]) and all(d["vehicle_id"] == "van-1" for d in delivered.values())
    # it left the recovery stop after the plan's wait plus the margin, not sooner
    held_s = failed.data["at_s"] - delivered[order_ids[2]]["at_s"]
    assert held_s >= handoff.planned_wait_s + margin_s - 5.0, held_s

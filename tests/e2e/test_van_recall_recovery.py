"""A van-launched drone brought in mid-sortie over terrain lands beside the van at its recovery stop and is taken back
aboard there (Andorra: mavsim on the elevation model over MAVLink UDP, the van simulator).

On a full Andorra handoff day (before the drone's home was moved to the recovery stop at launch) two battery-recalled
drones were found "5,171 m away" by the van at the recovery stop, exactly the launch-to-recovery distance: the
drone's mission had ended in the air and its RTL (the autopilot's GCS failsafe under a starved ground station, or the
recall's fallback) flew to its home, the launch stop. The van's position and the drone's reported position were
right. These runs fail if either the recall or an RTL lands anywhere but at the van's recovery stop."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from _van_drone_stack import events_by_type, until_flying, van_carrying, van_sortie
from test_van_handoff_execution import DRONE_PARAMS, HUB, NOW_S, _create_orders, _plan

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.store.db import Database
from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from sim_worlds.mavsim.process import MavsimProcess

pytestmark = [pytest.mark.sim, pytest.mark.timeout(400)]
SPEEDUP = 20.0


def _stops(world: World) -> tuple[int, int, int, int]:
    """A, B, C (van) and D (drone) as in test_van_handoff_execution, A within 4 km of the hub (Andorra's hub is at
    the customs site, away from the houses)."""
    hub, places = world.hub, world.addresses

    def far(i: int, x: float, y: float) -> float:
        return math.hypot(places[i].x_m - x, places[i].y_m - y)

    for a in sorted(range(len(places)), key=lambda i: far(i, hub.x_m, hub.y_m))[:400:7]:
        for c in range(0, len(places), 3):
            if not 600.0 <= far(c, places[a].x_m, places[a].y_m) <= 900.0:
                continue
            mid = ((places[a].x_m + places[c].x_m) / 2, (places[a].y_m + places[c].y_m) / 2)
            b = min(range(len(places)), key=lambda i: far(i, *mid))
            if far(b, *mid) > 150.0 or b in (a, c):
                continue
            for d in range(len(places)):
                if d not in (a, b, c) and all(500.0 <= far(d, places[n].x_m, places[n].y_m) <= 900.0 for n in (a, c)):
                    return a, b, c, d
    raise AssertionError("no A-B-C stops with a drop D beside them in this world")


@pytest.mark.parametrize("how", ["recall", "rtl"])
async def test_a_van_launched_drone_brought_in_early_is_recovered_at_the_recovery_stop(
    tmp_path: Path, how: str,
) -> None:
    """`recall`: the fleet manager's battery recall (a terrain-following mission to the recovery stop); `rtl`: the
    drone's own RTL (as its GCS failsafe flies it), which ends its mission in the air and flies to its home."""
    world = load_world("andorra")
    hub = world.hub
    clock = Clock(start_s=NOW_S, speedup=SPEEDUP)
    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    stops = _stops(world)
    order_ids = _create_orders(database, world, stops)
    ground_m = float(world.terrain.elevation_at(hub.x_m, hub.y_m))
    with MavsimProcess(1, speedup=SPEEDUP, home=(hub.latitude_deg, hub.longitude_deg, ground_m), params=DRONE_PARAMS,
                       control=True, exit_with_parent=True, extra_args=("--terrain-world", "andorra")) as drones:
        async with van_carrying(world, clock, database, HUB, drone_url=drones.urls[0],
                                control_url=drones.control_url) as stack:
            plan = _plan(world, stack.services.planner, order_ids, stops, "drone-1", VehicleKind.DRONE)
            task = await stack.services.missions.start(van_sortie(stack, world, plan, order_ids, stops, clock.now()))
            assert task is not None
            drone = stack.drone
            await until_flying(drone, task)
            if how == "rtl":
                await drone.return_home()
            else:
                recall = stack.services.missions.recall_drone
                assert recall is not None
                await recall(stack.fleet.get("drone-1"))
            await asyncio.wait_for(task, timeout=300.0)
    by_type = events_by_type(database)
    database.dispose()
    failed = by_type.get("vehicle.recovery_failed", [])
    assert not failed, failed[0].data["why"]
    (recovered,) = by_type["vehicle.recovered"]
    assert recovered.data["trip_flown"] is True and recovered.data["recovery_stop_order_id"] == order_ids[2]

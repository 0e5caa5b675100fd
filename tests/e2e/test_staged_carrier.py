"""A van that carries a drone is staged before a forecast peak with the drone aboard: the van simulator with a
mavsim drone (the van's carriage moves it), driven through the fleet manager's stager and mission control.

The drone, charged and idle at the hub, boards the van there (event `vehicle.loaded`, the van simulator stows
it over its sim-control channel), rides to the staging point (mavsim reports it there) and stays aboard.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from pathlib import Path

import pandas as pd
import pytest
from _van_drone_stack import van_with_drone
from test_van_handoff_execution import HUB, _create_orders, _plan, _stops

from fleet_manager.adapters.base import Carrier, StepKind, VehicleKind
from fleet_manager.learning.areas import area_of
from fleet_manager.learning.demand_model import DemandForecast
from fleet_manager.prepositioning import Stager, StagingConfig
from fleet_manager.sorties import FleetSlot
from fleet_manager.store import outbox
from fleet_manager.store.db import Database
from fleet_manager.world import load_world
from mission_planner.clock import Clock
from mission_planner.fleet import OrderSpec
from sim_worlds.vans import CARRY_SYNC_M

pytestmark = [pytest.mark.sim, pytest.mark.timeout(360)]
TZ = "Europe/Helsinki"
PEAK_HOUR = 11
SPEEDUP = 20.0


def _forecast(area: str) -> DemandForecast:
    """Two weeks of one area ordering 10 at 11:00 and 1 in every other hour 08-16."""
    rows = [{"hub_id": HUB, "area": area, "local_date": (dt.date(2025, 6, 1) + dt.timedelta(days=day)).isoformat(),
             "local_hour": hour, "orders": 10 if hour == PEAK_HOUR else 1, "attempts": 0, "failed_attempts": 0}
            for day in range(14) for hour in range(8, 17)]
    return DemandForecast.learn(pd.DataFrame(rows), timezone=TZ)


async def test_a_carrier_is_staged_with_its_charged_drone_aboard_and_flies_it_from_its_next_stops(
        tmp_path: Path) -> None:
    """Twenty minutes before the forecast peak the van leaves for its staging point with its drone: the drone was
    boarded at the hub (vehicle.loaded before fleet.staged, which names it), mavsim reports it at the staging
    point once the van stands there, and it is still aboard. Orders then come: the van's mission goes to the hub
    for the parcels first, the drone is launched at its planned stop without a second boarding, delivers its
    parcel and is recovered and unloaded."""
    world = load_world("helsinki")
    hub = world.hub
    busy = next(b for b in world.addresses if 800 <= math.hypot(b.x_m - hub.x_m, b.y_m - hub.y_m) <= 1500)
    peak_s = dt.datetime(2025, 6, 12, PEAK_HOUR, 0, tzinfo=dt.timezone(dt.timedelta(hours=3))).timestamp()
    clock = Clock(start_s=peak_s - 20 * 60, speedup=SPEEDUP)
    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    async with van_with_drone(world, clock, database, HUB, SPEEDUP) as stack:
        van, drone = stack.van, stack.drone
        stager = Stager(database=database, fleet=stack.fleet, missions=stack.services.missions, clock=clock,
                        frame=world.frame, street_graph=world.street_graph, hub_id=HUB,
                        forecast=_forecast(area_of(busy.latitude_deg, busy.longitude_deg)),
                        config=StagingConfig(lead_s=1800.0))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        while (state := drone.latest_state()) is None or state.battery_remaining_pct is None:
            assert loop.time() < deadline, "the drone never reported its charge"
            await asyncio.sleep(0.05)
        assert state.battery_remaining_pct >= stager.config.min_carried_charge_pct
        [(van_id, point)] = await stager.check()
        assert van_id == "van-1"
        target = world.frame.to_local(point.latitude_deg, point.longitude_deg)
        deadline = loop.time() + 120.0
        while not ((van_state := van.latest_state()) and van_state.mode == "IDLE" and math.dist(
                world.frame.to_local(van_state.latitude_deg, van_state.longitude_deg), target) < 30.0):
            assert loop.time() < deadline and clock.now() < peak_s, "the van was not staged before the peak"
            await asyncio.sleep(0.1)
        deadline = loop.time() + 30.0
        while math.dist(world.frame.to_local((d := drone.latest_state()).latitude_deg,  # type: ignore[union-attr]
                                             d.longitude_deg), target) > CARRY_SYNC_M + 30.0:  # type: ignore[union-attr]
            assert loop.time() < deadline, "mavsim does not report the drone at the staging point"
            await asyncio.sleep(0.1)
        assert isinstance(van, Carrier) and "drone-1" in van.carried  # still aboard, ready to launch
        assert not stack.services.missions.is_busy("drone-1")  # planned with its van from here on
        # Orders come: the van drives back to load the parcels and flies the drone from its stops without
        # boarding it again (the plan made by hand, as in test_van_handoff_execution).
        stops = _stops(world, (250.0, 450.0))
        order_ids = _create_orders(database, world, stops)
        specs = {o: OrderSpec(o, world.addresses[i].latitude_deg, world.addresses[i].longitude_deg, 1.0)
                 for o, i in zip(order_ids, stops, strict=True)}
        planner = stack.services.planner
        plan = _plan(world, planner, order_ids, stops, "drone-1", VehicleKind.DRONE)
        (sortie,) = planner.trips_due(plan, [FleetSlot(v, None, v.state()) for v in stack.fleet], specs, clock.now())
        first = sortie.mission.steps[0]
        assert first.kind is StepKind.GOTO and math.dist(  # to the hub first, where the parcels are
            world.frame.to_local(first.latitude_deg, first.longitude_deg), (hub.x_m, hub.y_m)) < 5.0  # type: ignore[arg-type]
        task = await stack.services.missions.start(sortie)
        assert task is not None
        await asyncio.wait_for(task, timeout=240.0)
    with database.read() as session:
        events = outbox.events_after(session, after_seq=0, limit=10_000)
    database.dispose()
    types = [e.type.removeprefix(outbox.EVENT_TYPE_PREFIX) for e in events]
    loaded = [e for e in events if e.type.endswith("vehicle.loaded")]
    staged = [e for e in events if e.type.endswith("fleet.staged")]
    assert [e.data["vehicle_id"] for e in loaded] == ["drone-1"] and loaded[0].data["van_id"] == "van-1"
    assert len(staged) == 1 and staged[0].data["points"][0]["carried"] == ["drone-1"]
    assert types.index("vehicle.loaded") < types.index("fleet.staged")
    # The handoff trip after staging: launched at A (no second boarding), recovered at C, unloaded at the hub.
    (launched,) = [e for e in events if e.type.endswith("vehicle.launched")]
    (recovered,) = [e for e in events if e.type.endswith("vehicle.recovered")]
    assert launched.data["launch_stop_order_id"] == order_ids[0]
    assert recovered.data["recovery_stop_order_id"] == order_ids[2] and recovered.data["trip_flown"] is True
    assert [e.data["vehicle_id"] for e in events if e.type.endswith("vehicle.unloaded")] == ["drone-1"]
    delivered = {e.data["order_id"]: e.data["vehicle_id"] for e in events if e.type.endswith("order.status_changed")
                 and e.data["to_status"] == "delivered"}
    assert delivered == {order_ids[0]: "van-1", order_ids[1]: "van-1", order_ids[2]: "van-1",
                         order_ids[3]: "drone-1"}

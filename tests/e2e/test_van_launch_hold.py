"""A van holds at a launch stop only for the plan's launch time plus a margin, not until a stuck launch fails.

On a full Andorra handoff day the van stood at its launch stop 17-29 sim-min each time a launched
drone's mission upload stalled: the hold lasted until the drone set out or its start failed, and a
MAVLink upload gives up on wall-clock timeouts (minutes of a fast simulated day). Here the drone
(mavsim over MAVLink UDP) hears nothing the ground station sends once the van has left the hub (a
relay drops that direction; the drone's own messages still come through, so its link stays up):
its start can only stall. The van (the van simulator) must give the launch up once the plan's
launch time and the margin have passed, take the drone back aboard where it set it down, drive on
and deliver its own parcels; the drone's parcel goes back to be planned again (neither lost nor
delivered), and an event says why.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from _van_drone_stack import events_by_type, van_carrying, van_sortie
from test_van_handoff_execution import DRONE_PARAMS, HUB, NOW_S, SPEEDUP, _plan, _store_with_orders

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.mission_control import MissionConfig
from fleet_manager.store import orders as order_store
from fleet_manager.world import load_world
from mission_planner.clock import Clock
from mission_planner.plan import LegKind, Plan, VehicleRoute
from sim_worlds.mavsim.process import MavsimProcess

pytestmark = [pytest.mark.sim, pytest.mark.timeout(300)]
LAUNCH_S = 10.0  # the plan's launch time at the stop (the van mission's WAIT there)


class _Relay:
    """A UDP relay between the ground station and the drone whose uplink can be cut (the drone still talks)."""

    def __init__(self, drone_port: int) -> None:
        self.drone_port = drone_port
        self.uplink = True
        self.gcs_address: tuple[str, int] | None = None
        self._gcs_side: asyncio.DatagramTransport | None = None
        self._drone_side: asyncio.DatagramTransport | None = None

    async def start(self) -> int:
        """Open both sides; returns the port the ground station sends to."""
        loop = asyncio.get_running_loop()
        relay = self

        class FromGcs(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                relay.gcs_address = addr
                if relay.uplink and relay._drone_side is not None:
                    relay._drone_side.sendto(data)

        class FromDrone(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                if relay.gcs_address is not None and relay._gcs_side is not None:
                    relay._gcs_side.sendto(data, relay.gcs_address)

        self._gcs_side, _ = await loop.create_datagram_endpoint(FromGcs, local_addr=("127.0.0.1", 0))
        self._drone_side, _ = await loop.create_datagram_endpoint(
            FromDrone, remote_addr=("127.0.0.1", self.drone_port))
        return int(self._gcs_side.get_extra_info("sockname")[1])

    def close(self) -> None:
        for side in (self._gcs_side, self._drone_side):
            if side is not None:
                side.close()


def _short_launch(plan: Plan, carried_id: str) -> Plan:
    """The hand-made plan with a launch of `LAUNCH_S` at the stop (the van's WAIT there)."""
    routes = []
    for route in plan.routes:
        legs = route.legs
        if route.vehicle_id == carried_id:
            legs = tuple(dataclasses.replace(leg, end_s=leg.start_s + LAUNCH_S) if leg.kind is LegKind.LAUNCH else leg
                         for leg in legs)
        routes.append(VehicleRoute(route.vehicle_id, route.kind, legs))
    return dataclasses.replace(plan, routes=tuple(routes))


async def test_a_launch_that_does_not_set_out_within_the_hold_is_given_up_and_the_van_drives_on(
    tmp_path: Path,
) -> None:
    world = load_world("helsinki")
    hub = world.hub
    clock = Clock(start_s=NOW_S, speedup=SPEEDUP)
    database, stops, order_ids = _store_with_orders(tmp_path, world)
    margin_s = 20.0
    with MavsimProcess(1, speedup=SPEEDUP, home=(hub.latitude_deg, hub.longitude_deg, 10.0), params=DRONE_PARAMS,
                       control=True, exit_with_parent=True) as drones:
        relay = _Relay(drones.udp_ports[0])
        relay_port = await relay.start()
        try:
            async with van_carrying(world, clock, database, HUB, drone_url=f"udpout:127.0.0.1:{relay_port}",
                                    control_url=drones.control_url,
                                    mission_config=MissionConfig(launch_hold_margin_s=margin_s)) as stack:
                plan = _short_launch(_plan(world, stack.services.planner, order_ids, stops, "drone-1",
                                           VehicleKind.DRONE), "drone-1")
                sortie = van_sortie(stack, world, plan, order_ids, stops, clock.now())
                relay.uplink = False  # from now on the drone hears nothing: its start at the launch stop stalls
                task = await stack.services.missions.start(sortie)
                assert task is not None
                await asyncio.wait_for(task, timeout=240.0)
        finally:
            relay.close()
    by_type = events_by_type(database)
    with database.read() as session:
        statuses = {o: order_store.get_order(session, order_id=o).status.value for o in order_ids}
    database.dispose()

    (launched,) = by_type["vehicle.launched"]
    (given_up,) = by_type["vehicle.launch_given_up"]
    assert given_up.webhook and given_up.data["vehicle_id"] == "drone-1"
    assert given_up.data["launch_stop_order_id"] == order_ids[0]
    assert given_up.data["order_ids"] == [order_ids[3]]
    assert given_up.data["hold_s"] == pytest.approx(LAUNCH_S + margin_s)
    assert "had not set out" in given_up.data["why"] and "the van drives on" in given_up.data["why"]
    # taken back aboard where it was set down, its trip not flown; it rode home with the van
    (recovered,) = by_type["vehicle.recovered"]
    assert recovered.data["trip_flown"] is False and recovered.data["recovery_stop_order_id"] == order_ids[0]
    assert [e.data["vehicle_id"] for e in by_type["vehicle.unloaded"]] == ["drone-1"]
    # the van drove on and handed over its own parcels; the drone's parcel is ready to be planned again
    delivered = {e.data["order_id"]: e.data for e in by_type["order.status_changed"]
                 if e.data["to_status"] == "delivered"}
    assert set(delivered) == set(order_ids[:3]) and all(d["vehicle_id"] == "van-1" for d in delivered.values())
    assert statuses[order_ids[3]] == "ready", statuses
    assert launched.data["at_s"] <= given_up.data["at_s"] < delivered[order_ids[1]]["at_s"]

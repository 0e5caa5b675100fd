"""A van simulator van carrying one mavsim drone, connected to a hub's services (mission control, planner ...)
built by the fleet manager's own `build_hub`: the stack of the van-and-drone e2e tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from test_van_handoff_execution import DRONE, DRONE_PARAMS, VAN

from fleet_manager.adapters.base import VehicleAdapter
from fleet_manager.adapters.factory import AdapterFactory
from fleet_manager.fleet import Fleet
from fleet_manager.handover import AlwaysPresent
from fleet_manager.mission_control import MissionConfig
from fleet_manager.planning_config import PlanningConfig
from fleet_manager.runtime import HubServices, build_hub
from fleet_manager.sorties import FleetSlot, Sortie
from fleet_manager.store import outbox
from fleet_manager.store.db import Database
from fleet_manager.world import World
from mission_planner.clock import Clock
from mission_planner.fleet import OrderSpec
from mission_planner.plan import Plan
from sim_worlds.mavsim.process import MavsimProcess
from sim_worlds.mavsim.sim_control import MavsimControl
from sim_worlds.van_carriage import Carriages, ChannelCarriage
from sim_worlds.vans import VanFleetServer, build_vans


@dataclass(frozen=True)
class VanDroneStack:
    """van-1 (van simulator, at `van_url`) carrying drone-1 (mavsim), both connected and in `fleet`."""

    fleet: Fleet
    services: HubServices
    van: VehicleAdapter
    drone: VehicleAdapter
    van_url: str


@contextlib.asynccontextmanager
async def van_with_drone(world: World, clock: Clock, database: Database, hub_id: str,
                         speedup: float, *, planning: PlanningConfig | None = None) -> AsyncIterator[VanDroneStack]:
    """Start mavsim and the van simulator (its carriage moves the drone over mavsim's sim control), connect both
    adapters, build the hub's services; everything is closed on exit."""
    hub = world.hub
    with MavsimProcess(1, speedup=speedup, home=(hub.latitude_deg, hub.longitude_deg, 10.0), params=DRONE_PARAMS,
                       control=True, exit_with_parent=True) as drones:
        async with van_carrying(world, clock, database, hub_id, drone_url=drones.urls[0],
                                control_url=drones.control_url, planning=planning) as stack:
            yield stack


@contextlib.asynccontextmanager
async def van_carrying(world: World, clock: Clock, database: Database, hub_id: str, *, drone_url: str,
                       control_url: str, mission_config: MissionConfig | None = None,
                       planning: PlanningConfig | None = None) -> AsyncIterator[VanDroneStack]:
    """van-1 (the van simulator, in this process) carrying drone-1 at `drone_url` (a running mavsim with its
    sim-control channel at `control_url`), both connected, and the hub's services; closed on exit."""
    hub = world.hub
    carriage = Carriages([ChannelCarriage.numbered(MavsimControl(control_url), swaps_packs=True)])
    server = VanFleetServer(build_vans(world, 1, carriage=carriage), clock)
    van_url = f"tcp:127.0.0.1:{await server.start()}"
    factory = AdapterFactory(frame=world.frame, clock=clock)
    drone = factory.build("drone-1", "mavlink", drone_url, DRONE)
    van = factory.build("van-1", "van", van_url, VAN)
    try:
        for adapter in (drone, van):
            await adapter.connect(timeout_s=30.0)
            await adapter.wait_ready(timeout_s=60.0)
        fleet = Fleet()
        fleet.add(hub_id, van, VAN, home_latitude_deg=hub.latitude_deg, home_longitude_deg=hub.longitude_deg)
        fleet.add(hub_id, drone, DRONE, home_latitude_deg=hub.latitude_deg, home_longitude_deg=hub.longitude_deg,
                  carried_by="van-1")
        services = build_hub(hub_id=hub_id, database=database, fleet=fleet, world=world, clock=clock,
                             recipients=AlwaysPresent(), mission_config=mission_config, planning=planning)
        yield VanDroneStack(fleet, services, van, drone, van_url)
    finally:
        for adapter in (drone, van):
            with contextlib.suppress(Exception):
                await adapter.close()
        await server.close()


def events_by_type(database: Database) -> dict[str, list[outbox.OutboxEvent]]:
    """The outbox's events by type (without the `finalmile.` prefix)."""
    with database.read() as session:
        events = outbox.events_after(session, after_seq=0, limit=10_000)
    by_type: dict[str, list[outbox.OutboxEvent]] = {}
    for event in events:
        by_type.setdefault(event.type.removeprefix(outbox.EVENT_TYPE_PREFIX), []).append(event)
    return by_type


def van_sortie(stack: VanDroneStack, world: World, plan: Plan, order_ids: list[str],
               stops: tuple[int, ...], now_s: float) -> Sortie:
    """The van's one sortie (with the drone's handoff) the dispatcher's planner makes of a hand-made `plan`."""
    slots = [FleetSlot(v, None, v.state()) for v in stack.fleet]
    specs = {o: OrderSpec(o, world.addresses[i].latitude_deg, world.addresses[i].longitude_deg, 1.0)
             for o, i in zip(order_ids, stops, strict=True)}
    (sortie,) = stack.services.planner.trips_due(plan, slots, specs, now_s)
    return sortie


async def until_flying(drone: VehicleAdapter, task: asyncio.Task[None], timeout_wall_s: float = 200.0) -> None:
    """Wait until the launched drone is armed and 20 m up (fails when the van's mission ends first, or after
    `timeout_wall_s` of wall time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_wall_s
    while (state := drone.latest_state()) is None or not state.armed or state.relative_altitude_m < 20.0:
        assert loop.time() < deadline and not task.done(), "the drone never flew"
        await asyncio.sleep(0.05)

"""A van simulator van carrying one mavsim drone, connected to a hub's services (mission control, planner ...)
built by the fleet manager's own `build_hub`: the stack of the van-and-drone e2e tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from test_van_handoff_execution import DRONE, DRONE_PARAMS, VAN

from fleet_manager.adapters.base import VehicleAdapter
from fleet_manager.adapters.factory import AdapterFactory
from fleet_manager.fleet import Fleet
from fleet_manager.handover import AlwaysPresent
from fleet_manager.runtime import HubServices, build_hub
from fleet_manager.store.db import Database
from fleet_manager.world import World
from mission_planner.clock import Clock
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
                         speedup: float) -> AsyncIterator[VanDroneStack]:
    """Start mavsim and the van simulator (its carriage moves the drone over mavsim's sim control), connect both
    adapters, build the hub's services; everything is closed on exit."""
    hub = world.hub
    with MavsimProcess(1, speedup=speedup, home=(hub.latitude_deg, hub.longitude_deg, 10.0), params=DRONE_PARAMS,
                       control=True, exit_with_parent=True) as drones:
        carriage = Carriages([ChannelCarriage.numbered(MavsimControl(drones.control_url), swaps_packs=True)])
        server = VanFleetServer(build_vans(world, 1, carriage=carriage), clock)
        van_url = f"tcp:127.0.0.1:{await server.start()}"
        factory = AdapterFactory(frame=world.frame, clock=clock)
        drone = factory.build("drone-1", "mavlink", drones.urls[0], DRONE)
        van = factory.build("van-1", "van", van_url, VAN)
        try:
            for adapter in (drone, van):
                await adapter.connect(timeout_s=30.0)
                await adapter.wait_ready(timeout_s=60.0)
            fleet = Fleet()
            fleet.add(hub_id, van, VAN, home_latitude_deg=hub.latitude_deg, home_longitude_deg=hub.longitude_deg)
            fleet.add(hub_id, drone, DRONE, home_latitude_deg=hub.latitude_deg,
                      home_longitude_deg=hub.longitude_deg, carried_by="van-1")
            services = build_hub(hub_id=hub_id, database=database, fleet=fleet, world=world, clock=clock,
                                 recipients=AlwaysPresent())
            yield VanDroneStack(fleet, services, van, drone, van_url)
        finally:
            for adapter in (drone, van):
                with contextlib.suppress(Exception):
                    await adapter.close()
            await server.close()

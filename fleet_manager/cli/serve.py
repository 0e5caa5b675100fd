"""`finalmile serve`: run the fleet manager — Fleet API, event stream, webhooks and, with vehicles, the dispatcher."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleet_manager.config import Settings

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `serve` command."""
    parser = subparsers.add_parser(
        "serve",
        help="run the fleet manager service",
        description=(
            "Run the fleet manager. Configuration comes from FINALMILE_* variables (see fleet_manager.config); "
            "with FINALMILE_VEHICLES set (e.g. 'drone-1=tcp:127.0.0.1:5760,robot_1=ros2:/robot_1') it connects "
            "to those vehicles and runs the dispatcher and the safety monitors too."
        ),
    )
    parser.add_argument("--host", default=None, help="bind address (default FINALMILE_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default FINALMILE_PORT or 8000)")
    parser.add_argument("--vehicles", default=None, help="vehicles to drive (default FINALMILE_VEHICLES)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the settings, refuse unsafe set-ups, and serve until interrupted."""
    from fleet_manager.config import Settings

    overrides = {
        key: value
        for key, value in (("host", args.host), ("port", args.port), ("vehicles", args.vehicles))
        if value is not None
    }
    settings = Settings(**overrides)
    settings.check_safe_to_serve()
    asyncio.run(serve(settings))
    return 0


async def serve(settings: Settings) -> None:
    """Connect the configured vehicles, start dispatcher and monitors, and serve the API until cancelled."""
    import uvicorn

    from fleet_manager.api.app import create_app
    from fleet_manager.dispatcher import Dispatcher, DispatcherConfig
    from fleet_manager.fleet import Fleet
    from fleet_manager.handover import AlwaysPresent
    from fleet_manager.monitors import SafetyMonitor
    from fleet_manager.planning import FleetPlanner
    from fleet_manager.store.db import Database
    from fleet_manager.vehicle_config import build_adapters, parse_vehicles
    from fleet_manager.world import load_world
    from mission_planner.clock import Clock
    from mission_planner.profiles import DEFAULT_PROFILES

    endpoints = parse_vehicles(settings.vehicles)
    clock = Clock()
    if not endpoints:
        app = create_app(settings, clock=clock)
        logger.warning("FinalMile fleet manager (API only, no vehicles) on http://%s:%d", settings.host, settings.port)
        await uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning")).serve()
        return
    world = load_world(settings.world)
    adapters, bridge = build_adapters(endpoints, frame=world.frame, clock=clock, ros_domain_id=settings.ros_domain_id)
    try:
        await asyncio.gather(*(adapter.connect(timeout_s=settings.vehicle_connect_timeout_s) for adapter in adapters))
        # A vehicle still booting (a drone without GPS fix / EKF position) would be left out of the first plan;
        # the next periodic plan is minutes away, so wait for every vehicle to be ready before taking orders.
        await asyncio.gather(*(adapter.wait_ready(timeout_s=settings.vehicle_connect_timeout_s)
                               for adapter in adapters))
        fleet = Fleet()
        for adapter in adapters:
            fleet.add(settings.hub_id, adapter, DEFAULT_PROFILES[adapter.kind],
                      home_latitude_deg=world.hub.latitude_deg, home_longitude_deg=world.hub.longitude_deg)
        database = Database(settings.database_url)
        await asyncio.to_thread(database.migrate)
        planner = FleetPlanner(world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph,
                               hub_xy=(world.hub.x_m, world.hub.y_m))
        # Recipients are asked at the door by the backend's own flow; without one, a courier hands over.
        dispatcher = Dispatcher(database=database, fleet=fleet, planner=planner, clock=clock, frame=world.frame,
                                recipients=AlwaysPresent(), config=DispatcherConfig(hub_id=settings.hub_id),
                                base_airspace=world.airspace)
        monitor = SafetyMonitor(fleet=fleet, dispatcher=dispatcher, clock=clock, frame=world.frame)
        app = create_app(settings, clock=clock, database=database, commander=dispatcher, frame=world.frame,
                         background=[dispatcher.run, monitor.run])
        logger.warning("FinalMile fleet manager on http://%s:%d driving %s", settings.host, settings.port,
                       ", ".join(adapter.vehicle_id for adapter in adapters))
        await uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning")).serve()
    finally:
        await asyncio.gather(*(adapter.close() for adapter in adapters), return_exceptions=True)
        if bridge is not None:
            bridge.close()

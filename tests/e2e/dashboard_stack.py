"""A small running fleet for the dashboard's browser test, built from the product's own parts.

Fleet API (`create_app`, served by uvicorn), the dispatcher, the safety monitors, and N drones of
the in-repo MAVLink simulator reached through the real MAVLink adapter — the same parts the
`finalmile sim` day runner wires, without its backend, robots, vans or report. Run as a script:

    python tests/e2e/dashboard_stack.py --port P --database-url sqlite:///... --drones 2 --speedup 4

API keys come from FINALMILE_API_KEYS. It serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

logger = logging.getLogger("dashboard_stack")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--drones", type=int, default=2)
    parser.add_argument("--speedup", type=float, default=4.0)
    parser.add_argument("--world", default="helsinki")
    return parser.parse_args()


async def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter
    from fleet_manager.api.app import create_app
    from fleet_manager.config import Settings
    from fleet_manager.dispatcher import Dispatcher, DispatcherConfig
    from fleet_manager.fleet import Fleet, VehicleProfile
    from fleet_manager.handover import AlwaysPresent
    from fleet_manager.planning import FleetPlanner
    from fleet_manager.store.db import Database
    from mission_planner.clock import Clock
    from sim_worlds.mavsim.process import MavsimProcess
    from sim_worlds.world import load_world

    world = load_world(args.world)
    clock = Clock(speedup=args.speedup)
    settings = Settings(
        database_url=args.database_url,
        port=args.port,
        world=world.name,
        hub_latitude_deg=world.frame.origin_latitude_deg,
        hub_longitude_deg=world.frame.origin_longitude_deg,
        stream_poll_interval_s=0.2,
    )
    database = Database(settings.database_url)
    database.migrate()
    hub = world.hub
    with MavsimProcess(args.drones, speedup=args.speedup, home=(hub.latitude_deg, hub.longitude_deg, 10.0)) as sim:
        fleet = Fleet()
        adapters = []
        for index, url in enumerate(sim.urls):
            adapter = MavlinkAdapter(f"drone-{index + 1}", url, clock=clock, battery_capacity_wh=180.0)
            await adapter.connect(timeout_s=60.0)
            adapters.append(adapter)
            fleet.add(
                settings.hub_id,
                adapter,
                VehicleProfile(max_payload_kg=2.5, battery_wh=180.0, speed_m_s=10.0, cruise_altitude_m=40.0),
                home_latitude_deg=hub.latitude_deg,
                home_longitude_deg=hub.longitude_deg,
            )
        dispatcher = Dispatcher(
            database=database,
            fleet=fleet,
            planner=FleetPlanner(
                world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph, hub_xy=(hub.x_m, hub.y_m)
            ),
            clock=clock,
            frame=world.frame,
            recipients=AlwaysPresent(),
            config=DispatcherConfig(hub_id=settings.hub_id, replan_period_s=30.0),
            base_airspace=world.airspace,
        )
        background: list[Any] = [dispatcher.run]
        holder: dict[str, Any] = {}
        try:
            from fleet_manager.monitors import SafetyMonitor
        except ImportError:  # the monitors are optional for this stack: re-routing needs them
            logger.warning("fleet_manager.monitors is missing: no in-flight re-routing around new zones")
        else:

            def publish(alert: Any) -> None:
                service = holder.get("service")
                if service is not None:
                    service.broker.publish_ephemeral(
                        hub_id=settings.hub_id,
                        event_type="com.finalmile.vehicle.alert",
                        subject=f"vehicles/{alert.vehicle_id}",
                        data={"vehicle_id": alert.vehicle_id, "kind": alert.kind, "message": alert.message},
                        at_s=alert.at_s,
                    )

            monitor = SafetyMonitor(
                fleet=fleet, dispatcher=dispatcher, clock=clock, frame=world.frame, on_alert=publish
            )
            background.append(monitor.run)
        app = create_app(
            settings, clock=clock, database=database, commander=dispatcher, frame=world.frame, background=background
        )
        holder["service"] = app.state.service
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning"))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        serving = asyncio.create_task(server.serve())
        await stop.wait()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(serving, timeout=15.0)
        for adapter in adapters:
            with contextlib.suppress(Exception):
                await adapter.close()


def main() -> None:
    """Entry point."""
    logging.basicConfig(level=os.environ.get("STACK_LOG_LEVEL", "WARNING"))
    asyncio.run(_serve(_parse()))


if __name__ == "__main__":
    main()

"""Command-line arguments shared by `finalmile mavsim` and `python -m sim_worlds.mavsim`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from sim_worlds.mavsim.autopilot import BootTimeline
from sim_worlds.mavsim.params import parse_overrides
from sim_worlds.mavsim.runner import FleetConfig, SimulatorConfigError, run_fleet

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's options."""
    parser.add_argument("--count", type=int, default=1, help="number of vehicles (sysid 1..N)")
    parser.add_argument("--base-port", type=int, default=5760, help="TCP port of vehicle 0; vehicle i: +10*i")
    parser.add_argument("--udp-base-port", type=int, default=14550,
                        help="UDP port of vehicle 0 (+10*i; replies go to the last sender); 0 disables UDP")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--world", default="helsinki", help="world whose hub is home (unless --home-lat/--home-lon)")
    parser.add_argument("--home-lat", type=float, default=None, help="home latitude, degrees")
    parser.add_argument("--home-lon", type=float, default=None, help="home longitude, degrees")
    parser.add_argument("--home-alt", type=float, default=10.0, help="home altitude AMSL, metres")
    parser.add_argument("--terrain-world", default=None, metavar="WORLD",
                        help="a world with an elevation model: a vehicle placed by sim-control stands on its ground")
    parser.add_argument("--speedup", type=float, default=1.0, help="simulated seconds per wall second")
    parser.add_argument("--param", action="append", metavar="NAME=VALUE",
                        help="override a parameter on every vehicle (repeatable), e.g. FENCE_ENABLE=1")
    parser.add_argument("--boot-s", type=float, default=None,
                        help="simulated seconds from first connection until armable in GUIDED (default 20; SITL ~41)")
    parser.add_argument("--event-log", type=Path, default=None,
                        help="append JSON lines for payload releases to this file")
    parser.add_argument("--serial", default=None, metavar="DEVICE[,BAUD]",
                        help="also serve every vehicle on this serial device, one link carrying all system ids "
                             "(e.g. one end of a pseudo-terminal pair; baud default 57600)")
    parser.add_argument("--param-names", choices=("4.7", "before-4.7"), default="4.7",
                        help="parameter names of ArduCopter 4.7 (MAV_GCS_SYSID) or of older firmware (SYSID_MYGCS)")
    parser.add_argument("--control-port", type=int, default=None,
                        help="open the sim-control channel (place, recharge; sim_control.py) on this TCP port"
                             " (0 = any free port, logged at start-up)")


def config_from_args(args: argparse.Namespace) -> FleetConfig:
    """Validate the options into a FleetConfig (loads the world only when no home is given)."""
    if (args.home_lat is None) != (args.home_lon is None):
        raise SimulatorConfigError("give both --home-lat and --home-lon, or neither")
    if args.home_lat is None:
        from fleet_manager.world import load_world

        hub = load_world(args.world).hub
        latitude, longitude = hub.latitude_deg, hub.longitude_deg
    else:
        latitude, longitude = args.home_lat, args.home_lon
    ground = None
    if getattr(args, "terrain_world", None):
        ground = _world_ground(args.terrain_world)
    return FleetConfig(
        ground=ground,
        count=args.count, home_latitude_deg=latitude, home_longitude_deg=longitude,
        home_altitude_m=args.home_alt, base_port=args.base_port,
        udp_base_port=args.udp_base_port or None, host=args.host, speedup=args.speedup,
        params=parse_overrides(args.param), event_log=args.event_log, control_port=args.control_port,
        serial=args.serial, names_before_4_7=getattr(args, "param_names", "4.7") == "before-4.7",
        timeline=BootTimeline() if args.boot_s is None else BootTimeline.scaled(args.boot_s),
    )


def _world_ground(world_name: str) -> Callable[[float, float], float]:
    """(lat, lon) -> ground m AMSL from the world's elevation model alone (not its streets and buildings,
    which take seconds to build); SimulatorConfigError when the world has none."""
    from fleet_manager.world.model import world_spec
    from fleet_manager.world.terrain import load_terrain
    from mission_planner.geodesy import LocalFrame

    spec, folder = world_spec(world_name)
    terrain_file = spec.get("terrain_file")
    if not terrain_file:
        raise SimulatorConfigError(f"--terrain-world {world_name}: the world has no elevation model")
    frame = LocalFrame.at(float(spec["origin"]["latitude_deg"]), float(spec["origin"]["longitude_deg"]))
    terrain = load_terrain(folder / str(terrain_file), frame)

    def ground(latitude_deg: float, longitude_deg: float) -> float:
        return float(terrain.elevation_at(*frame.to_local(latitude_deg, longitude_deg)))

    return ground


def run(args: argparse.Namespace) -> int:
    """Run the simulator until SIGINT/SIGTERM; exit code 0."""
    config = config_from_args(args)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_fleet(config, stop)

    asyncio.run(main())
    return 0

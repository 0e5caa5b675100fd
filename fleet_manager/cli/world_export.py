"""`finalmile world export-sdf WORLD -o FILE`: hand a world over to Gazebo and ArduPilot SITL."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(world_subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `world export-sdf` to the `world` command group."""
    export = world_subparsers.add_parser(
        "export-sdf",
        help="write the world as a Gazebo SDFormat 1.9 world (buildings extruded, hub, lockers, lat/lon origin)",
    )
    export.add_argument("world", nargs="?", default="helsinki", help="world name or path to a world YAML")
    export.add_argument("-o", "--output", type=Path, default=None, help="SDF file to write (default var/<world>.sdf)")
    export.add_argument(
        "--elevation-m",
        type=float,
        default=0.0,
        help="ground elevation above mean sea level at the origin (the world has no terrain); "
        "use the same altitude as SITL's --home",
    )
    export.add_argument(
        "--no-gz-systems", action="store_true", help="leave out the gz-sim system plugins (physics, sensors, ...)"
    )
    export.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from fleet_manager.world import load_world
    from sim_worlds.sdf_export import SdfOptions, export_sdf, sitl_home

    world = load_world(args.world)
    options = SdfOptions(ground_elevation_m=args.elevation_m, include_gz_systems=not args.no_gz_systems)
    path = export_sdf(world, args.output or Path("var") / f"{world.name}.sdf", options)
    sys.stdout.write(
        f"wrote {path} ({len(world.buildings)} buildings, hub, {len(world.lockers)} lockers)\n"
        f"  gz sim -r {path}\n"
        f"  ArduPilot SITL: --home {sitl_home(world, options)}\n"
    )
    return 0

"""`finalmile world ...`: inspect the delivery worlds."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `world show` (and the world sub-commands other modules attach)."""
    parser = subparsers.add_parser("world", help="inspect a delivery world (streets, buildings, hub, lockers, zones)")
    world_commands = parser.add_subparsers(dest="world_command", metavar="WORLD_COMMAND", required=True)
    show = world_commands.add_parser("show", help="print a summary of a world and draw its map")
    show.add_argument("world", nargs="?", default="helsinki", help="world name or path to a world YAML")
    show.add_argument("--picture", type=Path, default=None, help="PNG to write (default var/<world>.png)")
    show.add_argument("--json", action="store_true", help="print the summary as JSON")
    show.set_defaults(func=_show)
    # `world export-sdf` lives in its own module; absent until it is built.
    if importlib.util.find_spec(f"{__package__}.world_export") is not None:
        importlib.import_module(f"{__package__}.world_export").register(world_commands)


def _show(args: argparse.Namespace) -> int:
    from fleet_manager.world import load_world
    from sim_worlds.map_picture import draw_world

    world = load_world(args.world)
    summary = world.summary()
    picture = args.picture or Path("var") / f"{world.name}.png"
    draw_world(world, picture)
    summary["picture"] = str(picture)
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        return 0
    lines = [f"World {summary['world']} (origin {summary['origin'][0]:.5f} N, {summary['origin'][1]:.5f} E)"]
    lines.append(f"  streets (vans):      {summary['street_edges']} directed edges, {summary['street_km']} km")
    lines.append(f"  walkways (robots):   {summary['walk_edges']} edges, {summary['walk_km']} km")
    lines.append(
        f"  buildings:           {summary['buildings']} ({summary['buildings_with_address']} with street addresses)"
    )
    derived = summary["delivery_points"] - summary["buildings_with_address"]
    if derived:
        lines.append(f"  delivery points:     {summary['delivery_points']} ({derived} derived from streets)")
    if summary["terrain"] is not None:
        terrain = summary["terrain"]
        lines.append(
            f"  terrain:             {terrain['source']}, {terrain['cells'][0]} x {terrain['cells'][1]} cells, "
            f"{terrain['min_m']:g}-{terrain['max_m']:g} m above sea level"
        )
    lines.append(f"  hub:                 {summary['hub']}")
    lines.extend(f"  locker:              {name}" for name in summary["lockers"])
    lines.extend(f"  zone:                {zone}" for zone in summary["zones"])
    lines.append(f"  map picture:         {picture}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0

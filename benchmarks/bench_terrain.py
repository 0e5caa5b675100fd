"""Terrain: Andorra world load time, elevation lookups per second, and terrain-following drone paths.

Rows:
- `load-world` — `load_world("andorra")` in a fresh process (OSM graphs, buildings and their derived
  delivery points, zones, terrain), and the terrain alone (`load_terrain`: read the crop, fill voids,
  build the index map);
- `lookup` — `ElevationGrid.elevation_m` on batches of random points in the operating area:
  lookups per second for batch sizes 1, 100, 10,000 and 1,000,000;
- `path` — `DronePathPlanner.path` with terrain from the hub to each locker (world airspace, scene
  already built): time per path, cruise length, waypoints and total climb.

Run as `python -m benchmarks terrain`. Results: benchmarks/results/terrain.csv.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

NAME = "terrain"

_LOAD = (
    "import time; t = time.perf_counter(); from fleet_manager.world import load_world; load_world('andorra'); "
    "print(time.perf_counter() - t)"
)


def _load_rows(repeats: int) -> list[dict[str, Any]]:
    from fleet_manager.world.terrain import load_terrain
    from mission_planner.geodesy import LocalFrame

    seconds = [float(subprocess.run([sys.executable, "-c", _LOAD], capture_output=True, text=True, check=True,
                                    timeout=300).stdout.split()[-1]) for _ in range(repeats)]  # fmt: skip
    path = Path(str(resources.files("fleet_manager.world") / "worlds" / "andorra_srtm.npz"))
    frame = LocalFrame.at(42.51090, 1.53420)
    terrain_s = []
    for _ in range(repeats * 5):
        started = time.perf_counter()
        load_terrain(path, frame)
        terrain_s.append(time.perf_counter() - started)
    return [
        {"row": "load-world", "what": "load_world('andorra'), fresh process (incl. imports)", "n": repeats,
         "median_s": statistics.median(seconds), "min_s": min(seconds)},
        {"row": "load-world", "what": "load_terrain (crop, voids, index map)", "n": len(terrain_s),
         "median_s": statistics.median(terrain_s), "min_s": min(terrain_s)},
    ]  # fmt: skip


def _lookup_rows(world: Any, quick: bool) -> list[dict[str, Any]]:
    terrain = world.terrain
    area = world.airspace.operating_area()
    min_x, min_y, max_x, max_y = area.bounds
    rng = np.random.default_rng(0)
    rows = []
    for batch in (1, 100, 10_000, 1_000_000):
        total = 20_000 if batch == 1 else (2_000_000 if not quick else 200_000)
        calls = max(1, total // batch)
        x = rng.uniform(min_x, max_x, batch)
        y = rng.uniform(min_y, max_y, batch)
        started = time.perf_counter()
        for _ in range(calls):
            terrain.elevation_m(x, y)
        elapsed = time.perf_counter() - started
        rows.append({"row": "lookup", "what": f"elevation_m, batches of {batch:,}", "n": calls * batch,
                     "lookups_per_s": calls * batch / elapsed, "us_per_call": elapsed / calls * 1e6})  # fmt: skip
    return rows


def _path_rows(world: Any) -> list[dict[str, Any]]:
    from mission_planner.drone_paths import DronePathPlanner

    planner = DronePathPlanner(world.airspace, terrain=world.terrain)
    started = time.perf_counter()
    planner.path((world.hub.x_m, world.hub.y_m), (world.hub.x_m, world.hub.y_m))
    rows = [{"row": "path", "what": "visibility scene (zones, once per airspace)", "n": 1,
             "median_s": time.perf_counter() - started}]  # fmt: skip
    for locker in world.lockers:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            path = planner.path((world.hub.x_m, world.hub.y_m), (locker.x_m, locker.y_m))
            times.append(time.perf_counter() - started)
        rows.append({
            "row": "path", "what": f"hub -> {locker.site_id}", "n": len(times), "median_s": statistics.median(times),
            "cruise_km": round(path.horizontal_m / 1000, 2), "waypoints": len(path.waypoints),
            "climb_m": round(path.climb_m), "max_amsl_m": round(max(w.elevation_m for w in path.waypoints)),
        })  # fmt: skip
    return rows


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """All rows of the terrain benchmark."""
    from fleet_manager.world import load_world

    world = load_world("andorra")
    return [*_load_rows(2 if args.quick else 5), *_lookup_rows(world, args.quick), *_path_rows(world)]

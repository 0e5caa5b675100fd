"""Safety at volume (issue 19, item 8): randomised short days, and 10,000 fuzzed MAVLink frames.

Run as `python -m benchmarks safety [--days N] [--workers W] [--seed S]` (`--quick`: 3 shorter days
and 1,000 frames). Results in benchmarks/results/safety.csv: one row per day, a `total` row, and
one row per fuzz target.

Days (`safety_days`, `safety_run`, definitions in `safety_counts`): each a short Helsinki day on
the embedded simulators at x100 with 3 drones and a van, its own seed for demand and recipients
(away 5-70 % of the time), wind, 1-3 no-fly zones popping up on the drones' way, and radio links
dropped for 30-400 simulated seconds. Counted from the vehicles' own telemetry and the store:
geofence violations, terrain violations (none possible in flat Helsinki: the column stays empty),
battery reserve breaches, lost, stuck and doubly delivered orders, and crashed days. Target: 0.

Fuzz (`mavlink_fuzz`): the same frames (random bytes, truncated frames, bad CRCs, a foreign
system id) at the adapter (spliced into its stream by a proxy) and at the simulator; a crash is a
dead adapter task, a link without heartbeats afterwards, the spoofer's id taken, an unhandled
loop exception, or a simulator that exited or stopped answering.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from sim_worlds.mavsim.process import MavsimProcess

from .mavlink_fuzz import fuzz_adapter, fuzz_frames, fuzz_simulator

NAME = "safety"
SEED = 19
DEFAULT_DAYS = 100
QUICK_DAYS = 3
RUNS_DIR = Path("var/safety-days")
logger = logging.getLogger(__name__)


def run(args: Any = None) -> list[dict[str, Any]]:
    """The randomised days (one row each and a total), then the fuzz (one row per target)."""
    quick = bool(getattr(args, "quick", False))
    days = getattr(args, "days", None)
    days = (QUICK_DAYS if quick else DEFAULT_DAYS) if days is None else days
    if days < 0:
        raise ValueError(f"--days {days}: give 0 or more days")
    rows = []
    if days:
        rows += run_days(days, quick=quick, workers=max(1, int(getattr(args, "workers", 2) or 1)),
                         first_seed=getattr(args, "seed", None) or SEED * 1000)
    return rows + run_fuzz(quick=quick)


def run_days(count: int, *, quick: bool, workers: int, first_seed: int) -> list[dict[str, Any]]:
    """`count` randomised days (seeds first_seed, first_seed + 1, ...) and their total."""
    from fleet_manager.world import load_world

    from .safety_days import random_day
    from .safety_run import run_days as run_each
    from .safety_run import total_row

    world = load_world("helsinki")
    days = [random_day(index, first_seed + index, world, quick=quick) for index in range(count)]
    started = time.perf_counter()
    rows = run_each(days, RUNS_DIR / time.strftime("%Y%m%d-%H%M%S"), workers=workers)
    total = total_row(rows)
    total["elapsed_wall_s"] = round(time.perf_counter() - started, 1)
    total["workers"] = workers
    return [{"kind": "day", **row} for row in rows] + [{"kind": "total", **total}]


def run_fuzz(*, quick: bool) -> list[dict[str, Any]]:
    """Fuzz the adapter (through a splicing proxy) and the simulator; one row per target."""
    count = 1_000 if quick else 10_000
    frames = fuzz_frames(count, seed=SEED)
    rows = []
    with MavsimProcess(1, speedup=1.0, control=True, extra_args=("--boot-s", "2")) as sim:
        for name, fuzz in (("adapter", lambda: fuzz_adapter(sim.urls[0], frames)),
                           ("mavsim", lambda: fuzz_simulator(sim, frames))):
            started = time.perf_counter()
            result = asyncio.run(fuzz())
            for problem in result.problems:
                logger.error("%s: %s", name, problem)
            rows.append({"kind": "fuzz", **result.as_row(), "seed": SEED,
                         "seconds": round(time.perf_counter() - started, 1)})
    return rows

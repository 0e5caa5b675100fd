"""Safety at volume (issue 19, item 8), the part built so far: 10,000 fuzzed MAVLink frames at adapter and mavsim.

Run as `python -m benchmarks safety` (`--quick`: 1,000 frames). Each target gets the same frames
(random bytes, truncated frames, bad CRCs, a foreign system id); a crash is a dead adapter task, a
link without heartbeats afterwards, the spoofer's id taken, an unhandled loop exception, or a
simulator that exited or stopped answering. Results: benchmarks/results/safety.csv.

Not built yet: the N randomised short days counting geofence/terrain violations, reserve
breaches and lost/stuck orders (the run logs that they are missing).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sim_worlds.mavsim.process import MavsimProcess

from .mavlink_fuzz import fuzz_adapter, fuzz_frames, fuzz_simulator

NAME = "safety"
SEED = 19
logger = logging.getLogger(__name__)


def run(args: Any = None) -> list[dict[str, Any]]:
    """Fuzz the adapter (through a splicing proxy) and the simulator; one row per target."""
    count = 1_000 if getattr(args, "quick", False) else 10_000
    frames = fuzz_frames(count, seed=SEED)
    logger.error("randomised days are not built yet: this run covers the MAVLink fuzz only")
    rows = []
    with MavsimProcess(1, speedup=1.0, control=True, extra_args=("--boot-s", "2")) as sim:
        for name, fuzz in (("adapter", lambda: fuzz_adapter(sim.urls[0], frames)),
                           ("mavsim", lambda: fuzz_simulator(sim, frames))):
            started = time.perf_counter()
            result = asyncio.run(fuzz())
            for problem in result.problems:
                logger.error("%s: %s", name, problem)
            rows.append({**result.as_row(), "seed": SEED, "seconds": round(time.perf_counter() - started, 1)})
    return rows

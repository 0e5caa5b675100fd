"""`finalmile sim --fleet-variant compare`: the same day three ways (vans only, hub drones, handoff), one table.

Each variant is a whole `finalmile sim` day in its own process (its own simulators, fleet manager,
database and run folder `<run>/<variant>/`), one after the other by default so that each has the
machine to itself (`--parallel`: all three at once). The demand and seed are the scenario's in
each; only who carries whom changes (`sim_worlds.fleet_variants`). The table is printed and
written with its plots to `<run>/comparison.html`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _child_command(args: argparse.Namespace, variant: str, run_id: str) -> list[str]:
    """The `finalmile sim` command line of one variant (the user's overrides passed on)."""
    command = [sys.executable, "-m", "fleet_manager.cli", *(["-v"] * args.verbose), "sim", args.scenario,
               "--fleet-variant", variant, "--headless", "--runs-dir", str(args.runs_dir), "--run-id", run_id,
               "--drones", args.drones]
    for flag, value in (("--speedup", args.speedup), ("--duration", args.duration), ("--seed", args.seed),
                        ("--drone-count", args.drone_count)):
        if value is not None:
            command += [flag, str(value)]
    if args.no_robots:
        command.append("--no-robots")
    return command


def run_comparison(args: argparse.Namespace, scenario: Any) -> int:
    """Run the three variants, print the table, write comparison.html; the worst exit code of the three."""
    from sim_worlds.comparison import comparison_row, comparison_table, write_comparison
    from sim_worlds.fleet_variants import COMPARED

    run_id = args.run_id or f"{dt.datetime.now():%Y%m%d-%H%M%S}-{scenario.name}-s{scenario.seed}-compare"
    folder = Path(args.runs_dir) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    codes: dict[str, int] = {}
    walls: dict[str, float] = {}
    started: dict[str, tuple[subprocess.Popen[bytes], float, Any, Any]] = {}
    for variant in COMPARED:
        sys.stderr.write(f"fleet variant {variant}: {scenario.duration_s / 3600:.1f} h of {scenario.name}\n")
        stdout = (folder / f"{variant}.stdout.txt").open("wb")
        stderr = (folder / f"{variant}.stderr.txt").open("wb") if args.parallel else None
        process = subprocess.Popen(_child_command(args, variant.value, f"{run_id}/{variant.value}"),
                                   stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        started[variant.value] = (process, time.monotonic(), stdout, stderr)
        if not args.parallel:
            _finish(variant.value, started, codes, walls)
    for name in list(started):
        _finish(name, started, codes, walls)
    rows = []
    for variant in COMPARED:
        kpis_path = folder / variant.value / "kpis.json"
        if not kpis_path.exists():
            logger.error("fleet variant %s wrote no KPIs (exit code %d; see %s)", variant, codes[variant.value],
                         folder / f"{variant}.stdout.txt")
            continue
        rows.append(comparison_row(variant.value, json.loads(kpis_path.read_text())))
    page = write_comparison(folder, f"{scenario.name} (seed {scenario.seed}): three fleets", rows)
    times = ", ".join(f"{v} {walls[v]:.0f} s" for v in walls)
    sys.stdout.write(f"run folder: {folder}\n{comparison_table(rows)}\n"
                     f"report: {page}\nwall time: {times}{' (in parallel)' if args.parallel else ''}\n")
    failed = [code for code in codes.values() if code != 0]
    return max(failed) if failed else (0 if len(rows) == len(COMPARED) else 1)


def _finish(variant: str, started: dict[str, tuple[subprocess.Popen[bytes], float, Any, Any]],
            codes: dict[str, int], walls: dict[str, float]) -> None:
    """Wait for one variant's process (stopping it on Ctrl-C) and close its output files."""
    process, start, stdout, stderr = started.pop(variant)
    try:
        codes[variant] = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        codes[variant] = process.wait()
        raise
    finally:
        walls[variant] = time.monotonic() - start
        stdout.close()
        if stderr is not None:
            stderr.close()

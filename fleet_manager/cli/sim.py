"""`finalmile sim`: run a whole simulated delivery day and write its KPIs and report."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SITL_DEFAULT_SPEEDUP = 10.0
FLEET_VARIANTS = ("scenario", "vans_only", "hub_drones", "handoff", "compare")


def register(subparsers: Any) -> None:
    """Add the `sim` command."""
    parser = subparsers.add_parser(
        "sim",
        help="run a simulated delivery day end to end (the demo)",
        description="Run a delivery day on the embedded simulators (or SITL drones) and write var/runs/<id>/.",
    )
    parser.add_argument("scenario", nargs="?", default="helsinki", help="scenario name/YAML or world name")
    parser.add_argument("--speedup", type=float, default=None, help="simulated seconds per wall second")
    parser.add_argument("--duration", default=None, help="length of the day, e.g. 4h, 30min")
    parser.add_argument("--seed", type=int, default=None, help="demand and presence seed")
    parser.add_argument("--headless", action="store_true", help="do not point at the dashboard (still served)")
    parser.add_argument("--drones", choices=("embedded", "sitl"), default="embedded", help="drone back-end")
    parser.add_argument("--port", type=int, default=0, help="fleet manager port (default: a free one)")
    parser.add_argument("--runs-dir", type=Path, default=Path("var/runs"), help="where run folders go")
    parser.add_argument("--run-id", default=None, help="name of the run folder (default: time-scenario-seed)")
    parser.add_argument("--drone-count", type=int, default=None, help="override the scenario's drone count")
    parser.add_argument("--no-robots", action="store_true", help="leave the ROS 2 robots out")
    parser.add_argument("--fleet-variant", choices=FLEET_VARIANTS, default=None,
                        help="who carries whom: vans_only, hub_drones (drones and robots from the hub), handoff (all "
                             "carried by the vans), scenario (as the file says) or compare (all three, one table; "
                             "the default for scenarios with fleet_comparison, such as andorra_day)")
    parser.add_argument("--parallel", action="store_true",
                        help="with compare: run the three days at once (faster, but they share the CPU)")
    parser.set_defaults(func=run)


class _Progress:
    """A one-line progress bar on stderr (rich when it is a terminal, plain lines otherwise)."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._last_pct = -10

    def __call__(self, elapsed_s: float, total_s: float, counters: dict[str, Any]) -> None:
        pct = int(100 * min(1.0, elapsed_s / total_s))
        hours, minutes = divmod(int(elapsed_s // 60), 60)
        text = (f"sim {hours:d}:{minutes:02d} / {total_s / 3600:.1f}h  orders {counters['sent']}  "
                f"delivered {counters['delivered']}  webhooks {counters['webhooks']}  alerts {counters['alerts']}")
        if self._tty:
            bar = "#" * (pct // 4) + "-" * (25 - pct // 4)
            sys.stderr.write(f"\r[{bar}] {pct:3d}%  {text}   ")
            sys.stderr.flush()
        elif pct >= self._last_pct + 10:
            self._last_pct = pct
            sys.stderr.write(f"[{pct:3d}%] {text}\n")
            sys.stderr.flush()

    def done(self) -> None:
        if self._tty:
            sys.stderr.write("\n")


def _log_to_file(path: Path, *, quiet_console: bool) -> None:
    """Everything at INFO into the run folder; the console keeps warnings (vehicle chatter stays in the file)."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    logging.getLogger().addHandler(handler)
    if quiet_console:
        for console in logging.getLogger().handlers:
            if console is not handler:
                console.setLevel(logging.WARNING)


def run(args: argparse.Namespace) -> int:
    """Load the scenario, run the day, write and print the report."""
    from sim_worlds.day import RunOptions, SimInterrupted, run_day
    from sim_worlds.report import compute_kpis, kpi_table, write_report
    from sim_worlds.scenario import load_scenario

    scenario = load_scenario(args.scenario).with_overrides(
        speedup=args.speedup, duration_s=args.duration, seed=args.seed
    )
    variant = args.fleet_variant or ("compare" if scenario.fleet_comparison else "scenario")
    if variant == "compare":
        from .sim_compare import run_comparison

        return run_comparison(args, scenario)
    from sim_worlds.fleet_variants import FleetVariant, with_fleet_variant

    scenario = with_fleet_variant(scenario, FleetVariant(variant))
    if args.drone_count is not None:
        fleet = scenario.fleet.model_copy(update={"drones": scenario.fleet.drones.model_copy(
            update={"count": args.drone_count})})
        scenario = scenario.model_copy(update={"fleet": fleet})
    if args.drones == "sitl" and args.speedup is None and scenario.speedup > SITL_DEFAULT_SPEEDUP:
        # Real firmware does not keep up with the embedded simulator's speed-up on a small machine.
        scenario = scenario.with_overrides(speedup=SITL_DEFAULT_SPEEDUP)
    progress = _Progress()

    def show_url(url: str) -> None:
        # Stays above the progress line: the dashboard is reachable for the whole run.
        sys.stderr.write(f"FinalMile dashboard: {url}\n")
        sys.stderr.flush()

    run_id = args.run_id or f"{dt.datetime.now():%Y%m%d-%H%M%S}-{scenario.name}-s{scenario.seed}"
    run_dir = args.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    _log_to_file(run_dir / "sim.log", quiet_console=not args.verbose)
    options = RunOptions(
        drones_backend=args.drones,
        port=args.port,
        headless=args.headless,
        runs_dir=args.runs_dir,
        run_id=run_id,
        with_robots=not args.no_robots,
        sitl_binary=os.environ.get("FINALMILE_SITL_BINARY"),
        progress=progress,
        on_url=show_url,
    )
    logger.info("simulating %s: %.1f h at x%g, seed %d, drones on %s", scenario.name, scenario.duration_s / 3600,
                scenario.speedup, scenario.seed, args.drones)
    try:
        result = asyncio.run(run_day(scenario, options))
    except (SimInterrupted, KeyboardInterrupt):
        logger.warning("interrupted; partial run left in %s", run_dir)
        return 130
    finally:
        progress.done()
    kpis = {**compute_kpis(result), "fleet_variant": variant}
    folder = write_report(result, kpis)
    sys.stdout.write(f"run folder: {folder}\n{kpi_table(kpis)}\n")
    if kpis["geofence_violations"]:
        logger.error("%d geofence violations (see report.html)", kpis["geofence_violations"])
        return 3
    if kpis["terrain_clearance_violations"]:
        logger.error("%d terrain clearance violations (see report.html)", kpis["terrain_clearance_violations"])
        return 3
    return 0

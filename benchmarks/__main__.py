"""Benchmark runner: discovers `benchmarks/bench_*.py`, runs the chosen ones, prints tables, writes CSVs."""

from __future__ import annotations

import argparse
import csv
import importlib
import logging
import os
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
RESULTS_DIR = PACKAGE_DIR / "results"


def discover() -> dict[str, str]:
    """Benchmark name -> module name, for every `bench_*.py` in this package."""
    found = {}
    for info in pkgutil.iter_modules([str(PACKAGE_DIR)]):
        if info.name.startswith("bench_"):
            found[info.name.removeprefix("bench_")] = f"benchmarks.{info.name}"
    return dict(sorted(found.items()))


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain fixed-width table of the rows (union of their keys, in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.7g}" if abs(value) < 1e7 else f"{value:.0f}"
        return "" if value is None else str(value)

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells)
    return "\n".join(lines)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows with the union of their keys as header."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line of the runner."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(discover())})")
    parser.add_argument("--quick", action="store_true", help="few instances, short time limits")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("FINALMILE_BENCH_DATA"),
        help="folder with non-redistributable data (truck-drone instances); default $FINALMILE_BENCH_DATA",
    )
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per instance and solver (override)")
    parser.add_argument(
        "--mfstsp-subset",
        default="stated",
        help="truck_drone: mFSTSP runs (stated: every 8-customer run, one vehicle file per other problem; all: 1600; "
        "stated:8,10 or all:25: those problem sizes only)",
    )
    parser.add_argument(
        "--mfstsp-slice",
        default=None,
        help="truck_drone: i/m runs every m-th mFSTSP configuration from the i-th (split a run over processes)",
    )
    parser.add_argument(
        "--truck-drone-parts",
        default=None,
        help="truck_drone: comma-separated parts to run, of fstsp, mfstsp, worlds (default: all three)",
    )
    parser.add_argument("--results-dir", default=str(RESULTS_DIR), help="where <name>.csv files go")
    parser.add_argument(
        "--days",
        type=int,
        default=None,
        help="safety: randomised days to run (default 100, --quick 3; 0: the MAVLink fuzz only)",
    )
    parser.add_argument("--workers", type=int, default=2, help="safety: days run at once, each in its own process")
    parser.add_argument("--seed", type=int, default=None, help="safety: first day's seed (day i uses seed + i)")
    parser.add_argument("--hubs", default=None, metavar="K[,K...]",
                        help="cluster: hub counts to run (default 1,2; --quick 1), e.g. 1,2,4,8")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; exit code 2 for an unknown name, 0 otherwise."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    available = discover()
    names = args.names or list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    for name in names:
        module = importlib.import_module(available[name])
        label = getattr(module, "NAME", name)
        print(f"\n=== {label} ({'quick' if args.quick else 'full'}) ===", flush=True)
        started = time.perf_counter()
        rows = module.run(args)
        elapsed = time.perf_counter() - started
        if not rows:
            print(f"{label}: empty result set (its data is missing or nothing applied; see the log above)")
            continue
        print(format_table(rows))
        path = Path(args.results_dir) / f"{label}.csv"
        write_csv(path, rows)
        print(f"-> {path} ({len(rows)} rows, {elapsed:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

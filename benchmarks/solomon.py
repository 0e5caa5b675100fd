"""Solomon VRPTW instances (original text format) and their best-known values, from `benchmarks/data/solomon/`."""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

SOLOMON_DIR = Path(__file__).resolve().parent / "data" / "solomon"
CONVENTION = "cvrplib_distance_truncated_1_decimal"


@dataclass(frozen=True)
class SolomonInstance:
    """One instance: row 0 is the depot; times and coordinates in Solomon's abstract units."""

    name: str
    vehicles: int
    capacity: int
    x: tuple[float, ...]
    y: tuple[float, ...]
    demand: tuple[int, ...]
    ready: tuple[int, ...]
    due: tuple[int, ...]
    service: tuple[int, ...]

    @property
    def customers(self) -> int:
        """Number of customers (rows after the depot)."""
        return len(self.x) - 1


def read_instance(path: Path) -> SolomonInstance:
    """Parse a Solomon file: every line with exactly 7 numeric tokens is a node row."""
    lines = path.read_text().splitlines()
    rows = []
    vehicles = capacity = 0
    for number, line in enumerate(lines):
        tokens = line.split()
        if tokens[:2] == ["NUMBER", "CAPACITY"]:
            vehicles, capacity = (int(v) for v in lines[number + 1].split())
        if len(tokens) == 7 and all(t.replace(".", "", 1).isdigit() for t in tokens):
            rows.append([float(t) for t in tokens])
    if not rows or rows[0][0] != 0 or not vehicles:
        raise ValueError(f"{path}: not a Solomon instance (no depot row 0 or no VEHICLE block)")
    columns = list(zip(*rows, strict=True))
    return SolomonInstance(
        name=lines[0].strip(),
        vehicles=vehicles,
        capacity=capacity,
        x=tuple(columns[1]),
        y=tuple(columns[2]),
        demand=tuple(int(v) for v in columns[3]),
        ready=tuple(int(v) for v in columns[4]),
        due=tuple(int(v) for v in columns[5]),
        service=tuple(int(v) for v in columns[6]),
    )


def instance_names() -> list[str]:
    """Names of the shipped instances (C1, R1, RC1 families)."""
    return sorted(p.stem for p in SOLOMON_DIR.glob("*.txt") if re.fullmatch(r"(C|R|RC)\d{3}", p.stem))


def best_known(convention: str = CONVENTION) -> dict[str, float]:
    """Instance -> best-known total distance in the given convention."""
    with (SOLOMON_DIR / "best_known.csv").open() as handle:
        return {
            row["instance"]: float(row["distance"]) for row in csv.DictReader(handle) if row["convention"] == convention
        }


def truncated_matrix(instance: SolomonInstance) -> list[list[int]]:
    """Distances × 10, each arc truncated to an integer (the CVRPLIB one-decimal convention)."""
    n = len(instance.x)
    return [
        [
            math.floor(10 * math.hypot(instance.x[i] - instance.x[j], instance.y[i] - instance.y[j]) + 1e-9)
            for j in range(n)
        ]
        for i in range(n)
    ]

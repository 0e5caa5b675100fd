"""Truck–drone (FSTSP) makespan: our van-handoff heuristic vs the values Murray & Chu (2015) published.

Data: the 36 FSTSP instances of Murray & Chu (2015) (`tuliotoffolo/fstsp`, GPL-3.0) are read in
place from `<data-dir>/mfstsp/FSTSP_MurrayChu2015/` (`--data-dir` or `FINALMILE_BENCH_DATA`); they
are not redistributed here. Without them this part is skipped with a message.

Settings (Murray & Chu's): one drone, endurance 20 min, launch and recovery 1 min each, no
service times; truck/drone times from `tau.csv`/`tauprime.csv` (minutes). `FSTSP_OFV.csv` holds the
published makespan for 11 instances (`best_known`); the others are reported without one.
Our method: PyVRP TSP tour for the truck, then the greedy sortie-insertion of
`mission_planner.handoff.improve`.

Second table part: Helsinki, the drone-reachable ones of 30 random addresses, through `plan_fleet`:
"hub-only" (2 drones flying from the hub) vs a van alone vs a van carrying 2 drones (handoff);
makespan in minutes (cost objective).
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from mission_planner.handoff import HandoffParams, improve, van_tour

NAME = "truck_drone"
logger = logging.getLogger(__name__)
ENDURANCE_MIN = 20.0
LAUNCH_MIN = RECOVERY_MIN = 1.0


def fstsp_dir(args: Any) -> Path | None:
    """The FSTSP folder under --data-dir / FINALMILE_BENCH_DATA, or None."""
    root = getattr(args, "data_dir", None) or os.environ.get("FINALMILE_BENCH_DATA")
    if not root:
        return None
    folder = Path(root) / "mfstsp" / "FSTSP_MurrayChu2015"
    return folder if folder.is_dir() else None


def solve_fstsp(folder: Path, seed: int = 0) -> tuple[float, float, int]:
    """(truck-only makespan, truck+drone makespan, sorties), minutes."""
    tau = np.loadtxt(folder / "tau.csv", delimiter=",")
    tau_drone = np.loadtxt(folder / "tauprime.csv", delimiter=",")
    size = tau.shape[0] - 1  # the last row is the depot's copy (the return)
    van_time, drone_time = tau[:size, :size] * 60.0, tau_drone[:size, :size] * 60.0
    eligible = {int(v) for v in (folder / "Cprime.csv").read_text().replace("\n", ",").split(",") if v.strip()}
    tour = van_tour(van_time, seed=seed)
    params = HandoffParams(
        carriers=1, launch_s=LAUNCH_MIN * 60, recovery_s=RECOVERY_MIN * 60, endurance_s=ENDURANCE_MIN * 60
    )
    schedule = improve(tour, van_time, drone_time, eligible, params)
    truck_only = sum(van_time[a, b] for a, b in itertools.pairwise(tour))
    return truck_only / 60.0, schedule.makespan_s / 60.0, len(schedule.sorties)


def fstsp_rows(args: Any) -> list[dict[str, Any]]:
    """One row per FSTSP instance (all 36, or 6 with --quick)."""
    folder = fstsp_dir(args)
    if folder is None:
        logger.warning(
            "FSTSP data not found: pass --data-dir DIR or set FINALMILE_BENCH_DATA to a folder holding "
            "mfstsp/FSTSP_MurrayChu2015 (clone tuliotoffolo/fstsp, fstsp-python/data); skipping"
        )
        return []
    instances = sorted(p for p in folder.iterdir() if (p / "tau.csv").is_file())
    if getattr(args, "quick", False):
        instances = [p for p in instances if (p / "FSTSP_OFV.csv").is_file()][:6]
    rows = []
    for instance in instances:
        started = time.perf_counter()
        truck_only, makespan, sorties = solve_fstsp(instance)
        wall_s = time.perf_counter() - started
        published_file = instance / "FSTSP_OFV.csv"
        published = float(published_file.read_text().strip()) if published_file.is_file() else None
        rows.append(
            {
                "instance": instance.name,
                "solver": "planner-handoff",
                "objective": round(makespan, 2),
                "best_known": published,
                "gap_pct": round(100 * (makespan - published) / published, 2) if published else None,
                "truck_only": round(truck_only, 2),
                "sorties": sorties,
                "unit": "min",
                "wall_s": round(wall_s, 3),
            }
        )
    with_ref = [r["gap_pct"] for r in rows if r["gap_pct"] is not None]
    if with_ref:
        rows.append(
            {
                "instance": "MEAN(published)",
                "solver": "planner-handoff",
                "objective": None,
                "best_known": None,
                "gap_pct": round(sum(with_ref) / len(with_ref), 2),
                "truck_only": None,
                "sorties": None,
                "unit": "min",
                "wall_s": round(sum(r["wall_s"] for r in rows), 2),
            }
        )
    return rows


def helsinki_rows(args: Any) -> list[dict[str, Any]]:
    """Same parcels, three fleets via `plan_fleet`: 2 hub drones (hub-only), a van alone, a van carrying 2 drones."""
    from fleet_manager.world import load_world
    from mission_planner.fleet import FleetTravel, OrderSpec, VehicleSpec, plan_fleet
    from mission_planner.model import VehicleKind

    world = load_world("helsinki")
    travel = FleetTravel.for_world(world)
    rng = random.Random(7)
    buildings = rng.sample(list(world.addresses), 30)
    now = 1_750_000_000.0
    # keep the parcels a drone can reach from the hub, so every fleet can serve all of them
    hub = world.hub
    points = [(hub.x_m, hub.y_m)] + [(b.x_m, b.y_m) for b in buildings]
    drone = travel.drone.matrices(points)
    reachable = [b for i, b in enumerate(buildings, start=1) if np.isfinite(drone.distance_m[0, i])]
    orders = [
        OrderSpec(f"o{i}", b.latitude_deg, b.longitude_deg, 1.0, earliest_s=now, latest_s=now + 6 * 3600)
        for i, b in enumerate(reachable)
    ]

    def vehicle(vehicle_id: str, kind: VehicleKind, carried_by: str | None = None) -> VehicleSpec:
        return VehicleSpec(vehicle_id, kind, hub.latitude_deg, hub.longitude_deg, carried_by=carried_by)

    fleets = {
        "hub-only-2-drones": [vehicle("d1", VehicleKind.DRONE), vehicle("d2", VehicleKind.DRONE)],
        "van-only": [vehicle("van", VehicleKind.VAN)],
        "van+2-carried-drones": [
            vehicle("van", VehicleKind.VAN),
            vehicle("d1", VehicleKind.DRONE, "van"),
            vehicle("d2", VehicleKind.DRONE, "van"),
        ],
    }
    budget_s = 2.0 if getattr(args, "quick", False) else 5.0
    rows = []
    for name, fleet in fleets.items():
        started = time.perf_counter()
        plan = plan_fleet(travel, fleet, orders, now_s=now, seed=0, time_budget_s=budget_s)
        wall_s = time.perf_counter() - started
        sorties = sum(1 for r in plan.routes for leg in r.legs if leg.kind.value == "launch")
        rows.append(
            {
                "instance": f"helsinki-{len(orders)}",
                "solver": name,
                "objective": round(plan.makespan_s / 60, 2),
                "best_known": None,
                "gap_pct": None,
                "truck_only": None,
                "sorties": sorties,
                "unit": "min",
                "wall_s": round(wall_s, 2),
                "planned": len(plan.planned_order_ids),
            }
        )
    return rows


def run(args: Any = None) -> list[dict[str, Any]]:
    """FSTSP rows (when the data is there) and the Helsinki handoff-vs-hub-only rows."""
    return fstsp_rows(args) + helsinki_rows(args)

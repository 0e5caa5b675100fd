"""Truck–drone makespans: `mission_planner.truck_drone` on FSTSP (Murray & Chu 2015) and mFSTSP (Murray & Raj 2020).

Data (not redistributed; read in place from `--data-dir` or `FINALMILE_BENCH_DATA`; without it
these parts are skipped with a message):
- `<data>/mfstsp/FSTSP_MurrayChu2015/`: the 36 FSTSP instances (clone `tuliotoffolo/fstsp`,
  `fstsp-python/data`, GPL-3.0); `FSTSP_OFV.csv` holds a published makespan for 11 of them.
- `<data>/mfstsp/mFSTSP/`: clone `optimatorlab/mFSTSP` (no licence stated): `Problems/<name>/`,
  `Problems/tbl_vehicles_10{1..4}.csv`, `performance_summary_archive.csv` (their heuristic's and
  IP's makespans; `makespans_by_config.csv` in the shared copy is that archive pivoted).

FSTSP settings (Murray & Chu's rules): one drone; launch and recovery 1 min each, a launch at the
depot takes no time; no service times; run at e = 20 and e = 40 min (the data does not say which
endurance a published value used), each under two endurance rules: the strict one (from the drone's
departure to the end of its recovery, waiting in the air included) and Murray & Chu's
(`MURRAY_CHU_2015_ENDURANCE`: their MILP's constraint t'_k - (t'_j - tau'_ij) <= e leaves waiting
out, see `mission_planner.truck_drone`). The published values look like e = 40 values: e.g.
20140810T123443v1's 55.4929 is reached (to the last digit) by a schedule whose one sortie flies
34.7 min, more than 20; rows say so where it applies. Times from `tau.csv`/`tauprime.csv` (minutes).

Search budget: `search_iterations` (moves, from the instance size; seed 0), so a row does not depend
on machine load; the wall limit (10 s, `--time-limit`) is only a safety cap and a row whose search
it cut says so. `cpu_s` is the process CPU time (what the search costs, nearly load-independent).
Up to `EXACT_UP_TO` customers (the 8- and 10-customer mFSTSP problems, FSTSP) the exact branch and bound
of `mission_planner.sortie_exact` runs after a quarter-budget search, with a node budget; each row's
notes start with the method that produced its schedule ("method: exact branch and bound (proven optimal
for simulate's timing ...)" or "method: search ...").

mFSTSP settings (Murray & Raj's code: requireTruckAtDepot, requireDriver, Etype 1): UAV travel
times and the nonlinear endurance of `mission_planner.sortie_energy`; truck times from
`tbl_truck_travel_data_PG.csv`; truck service 30 s, UAV service 60 s, launch 60 s (also at the
depot), recovery 30 s; parcels over 5 lb go by truck; makespan in seconds. The full set is
100 problems x 4 vehicle files x 1–4 UAVs = 1600 runs; the default run is the stated subset
`--mfstsp-subset` (all 320 runs of the 8-customer problems, which have IP values, and for the
others vehicle file 101 + (problem index mod 4) with 1–4 UAVs); `--mfstsp-subset all` runs them all;
`stated:8,10` (or `all:25`) keeps the problems of those sizes only.

Every schedule reported is checked by `mission_planner.schedule_check` (independent of the
solver); a row whose schedule breaks a rule says so in `valid` and `notes`.
"""

from __future__ import annotations

import csv
import logging
import os
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mission_planner.schedule_check import violations
from mission_planner.sortie_energy import UavParams, endurance_s, flight_times_s, haversine_m
from mission_planner.sortie_exact import exact
from mission_planner.truck_drone import (
    MURRAY_CHU_2015_ENDURANCE,
    TruckDroneProblem,
    TruckDroneResult,
    search_iterations,
    solve,
)

NAME = "truck_drone"
logger = logging.getLogger(__name__)
# (label, endurance min, Murray & Chu's rule): the strict rule (waiting counted) and Murray & Chu's
# (`MURRAY_CHU_2015_ENDURANCE`: waiting not counted), each at e = 20 and 40 (see the module docstring)
FSTSP_SETTINGS = (
    ("e=20min", 20.0, False),
    ("e=40min", 40.0, False),
    ("e=20min-murray-chu", 20.0, True),
    ("e=40min-murray-chu", 40.0, True),
)
LAUNCH_MIN = RECOVERY_MIN = 1.0
# The search budget is a move count from the instance size (`search_iterations`), so results do not
# depend on machine load; the wall limit is only a safety cap, and a row says when it cut a search.
WALL_CAP_S = 10.0
SEED = 0
# The exact branch and bound runs after the search up to this many customers (its Held–Karp table has 2^n
# rows), with a node budget (deterministic, like the search's moves) of a few seconds of CPU at most.
EXACT_UP_TO = 10
EXACT_NODE_BUDGET = 250_000


def data_root(args: Any) -> Path | None:
    """--data-dir / FINALMILE_BENCH_DATA, or None."""
    root = getattr(args, "data_dir", None) or os.environ.get("FINALMILE_BENCH_DATA")
    return Path(root) if root else None


def fstsp_dir(args: Any) -> Path | None:
    """The FSTSP folder under the data directory, or None."""
    root = data_root(args)
    folder = root / "mfstsp" / "FSTSP_MurrayChu2015" if root else None
    return folder if folder is not None and folder.is_dir() else None


def schedule_text(result: TruckDroneResult) -> str:
    """The schedule in one cell: truck tour, then sorties as drone:launch>customer>recovery (nodes)."""
    tour = result.tour
    sorties = " ".join(f"d{s.drone}:{tour[s.launch_pos]}>{s.customer}>{tour[s.recovery_pos]}" for s in result.sorties)
    return f"truck {'-'.join(map(str, tour))}; {sorties}".strip()


def fstsp_problem(folder: Path, endurance_min: float, murray_chu: bool = False) -> TruckDroneProblem:
    """An FSTSP instance in seconds (the last matrix row, the depot's copy, is dropped); `murray_chu` takes
    Murray & Chu's endurance rule, else the strict one (launch not counted, waiting and recovery counted)."""
    tau = np.loadtxt(folder / "tau.csv", delimiter=",")
    tau_drone = np.loadtxt(folder / "tauprime.csv", delimiter=",")
    size = tau.shape[0] - 1
    eligible = {int(v) for v in (folder / "Cprime.csv").read_text().replace("\n", ",").split(",") if v.strip()}
    return TruckDroneProblem.build(
        tau[:size, :size] * 60.0,
        tau_drone[:size, :size] * 60.0,
        eligible,
        drones=1,
        launch_s=LAUNCH_MIN * 60,
        recovery_s=RECOVERY_MIN * 60,
        depot_launch_s=0.0,
        endurance_s=endurance_min * 60,
        **(
            MURRAY_CHU_2015_ENDURANCE
            if murray_chu
            else {"endurance_counts_launch": False, "endurance_counts_recovery": True}
        ),
    )


def fstsp_rows(args: Any) -> list[dict[str, Any]]:
    """One row per FSTSP instance and endurance (36 x 2, or 6 x 2 with --quick), then the mean gaps."""
    folder = fstsp_dir(args)
    if folder is None:
        logger.warning(
            "FSTSP data not found: pass --data-dir DIR or set FINALMILE_BENCH_DATA to a folder holding "
            "mfstsp/FSTSP_MurrayChu2015 (clone tuliotoffolo/fstsp, fstsp-python/data); skipping"
        )
        return []
    instances = sorted(p for p in folder.iterdir() if (p / "tau.csv").is_file() and p.name.startswith("2014"))
    if getattr(args, "quick", False):
        instances = [p for p in instances if (p / "FSTSP_OFV.csv").is_file()][:6]
    rows: list[dict[str, Any]] = []
    for label, endurance_min, murray_chu in FSTSP_SETTINGS:
        block: list[dict[str, Any]] = []
        for instance in instances:
            problem = fstsp_problem(instance, endurance_min, murray_chu)
            result, wall_s, cpu_s, budget, method = _solve(problem, args)
            broken = violations(problem, result)
            published_file = instance / "FSTSP_OFV.csv"
            published = float(published_file.read_text().strip()) if published_file.is_file() else None
            makespan_min = result.makespan_s / 60.0
            gap = 100 * (makespan_min - published) / published if published else None
            notes = method + _budget_note(result, budget)
            if broken:
                notes = "INVALID: " + "; ".join(f"{v.rule}: {v.detail}" for v in broken[:3])
            elif gap is not None and gap < -0.005:
                notes += "published value not optimal under these rules: validated schedule attached"
            block.append(
                {
                    "set": "FSTSP",
                    "instance": instance.name,
                    "config": label,
                    "objective": round(makespan_min, 3),
                    "reference": published,
                    "gap_pct": round(gap, 2) if gap is not None else None,
                    "ip_optimum": None,
                    "gap_ip_pct": None,
                    "truck_only": round(result.truck_only_s / 60.0, 3),
                    "sorties": len(result.sorties),
                    "unit": "min",
                    "wall_s": round(wall_s, 2),
                    "cpu_s": round(cpu_s, 2),
                    "iterations": result.iterations,
                    "valid": not broken,
                    "notes": notes,
                    "schedule": schedule_text(result),
                    "longest_flight_min": round(_longest_flight_s(problem, result) / 60, 2),
                }
            )
        gaps = [r["gap_pct"] for r in block if r["gap_pct"] is not None]
        rows.extend(block)
        rows.append(
            {
                "set": "FSTSP",
                "instance": f"MEAN({len(gaps)} published)",
                "config": label,
                "gap_pct": round(sum(gaps) / len(gaps), 2) if gaps else None,
                "unit": "min",
                "wall_s": round(max(r["wall_s"] for r in block), 2),
                "cpu_s": round(max(r["cpu_s"] for r in block), 2),
                "valid": all(r["valid"] for r in block),
                "notes": f"wall_s, cpu_s = slowest instance; {sum(r['sorties'] == 0 for r in block)} without a sortie",
            }
        )
    _explain_gaps(rows)
    return rows


def _longest_flight_s(problem: TruckDroneProblem, result: TruckDroneResult) -> float:
    """The longest flight time (launch -> customer -> recovery, service included) of the schedule's sorties."""
    tour = result.tour
    return max(
        (
            float(problem.drone_s[tour[s.launch_pos], s.customer])
            + float(problem.drone_service_s[s.customer])
            + float(problem.drone_s[s.customer, tour[s.recovery_pos]])
            for s in result.sorties
        ),
        default=0.0,
    )


def _explain_gaps(rows: list[dict[str, Any]]) -> None:
    """Notes on rows above the published value that another setting explains: the strict rule's rows when
    Murray & Chu's reaches the published value; e=20 rows when the e=40 schedule reaching it flies over 20 min."""
    by_config = {(r["instance"], r.get("config")): r for r in rows}
    for row in rows:
        if "schedule" not in row or row.get("gap_pct") is None or row["gap_pct"] <= 0.005 or not row["valid"]:
            continue
        config = row["config"]
        other = by_config.get((row["instance"], f"{config}-murray-chu"))
        if other is not None and other["valid"] and other["gap_pct"] <= 0.005:
            row["notes"] += (
                f"published value reached only with Murray & Chu's endurance rule ({other['objective']} min): "
                "its schedule waits in the air beyond e; "
            )
        if config.startswith("e=20min"):
            at_40 = by_config.get((row["instance"], config.replace("e=20min", "e=40min")))
            if at_40 is not None and at_40["valid"] and at_40["gap_pct"] <= 0.005 and at_40["longest_flight_min"] > 20:
                row["notes"] += (
                    f"at e=40 {at_40['objective']} min with a sortie flying {at_40['longest_flight_min']} min > 20: "
                    "the published value looks like an e=40 value; "
                )


def _solve(problem: TruckDroneProblem, args: Any) -> tuple[TruckDroneResult, float, float, int, str]:
    """(result, wall s, CPU s, move budget, method note).

    Up to `EXACT_UP_TO` customers: the search with a quarter of its `search_iterations` moves gives the
    incumbent of the exact branch and bound (`mission_planner.sortie_exact`, with a node budget); when that
    does not finish, the search runs its full budget and the better of its and the exact method's schedules is
    reported. Above: the
    search with its budget. Either way the wall limit is only a cap."""
    cap_s = getattr(args, "time_limit", None) or WALL_CAP_S
    started, started_cpu = time.perf_counter(), time.process_time()
    result, budget, method = _search_then_exact(problem, cap_s)
    return result, time.perf_counter() - started, time.process_time() - started_cpu, budget, method


def _search_then_exact(problem: TruckDroneProblem, cap_s: float) -> tuple[TruckDroneResult, int, str]:
    """(result, move budget, method note) of `_solve`."""
    budget = search_iterations(problem)
    if problem.customers > EXACT_UP_TO:
        return solve(problem, seed=SEED, time_limit_s=cap_s, max_iterations=budget), budget, "method: search; "
    budget //= 4
    searched = solve(problem, seed=SEED, time_limit_s=cap_s, max_iterations=budget)
    outcome = exact(problem, incumbent_s=searched.makespan_s, node_budget=EXACT_NODE_BUDGET)
    found = outcome.result
    if outcome.proven:
        method = f"method: exact branch and bound (proven optimal for simulate's timing, {outcome.nodes:,} nodes"
        method += ")" if found is not None else "; the search's schedule)"
    else:
        budget = search_iterations(problem)
        searched = solve(problem, seed=SEED, time_limit_s=cap_s, max_iterations=budget)
        if found is not None and found.makespan_s >= searched.makespan_s:
            found = None
        method = f"method: {'exact branch and bound' if found else 'search'} (the exact one stopped at its "
        method += f"{EXACT_NODE_BUDGET:,}-node budget, not proven)"
    if found is None:
        return searched, budget, method + "; "
    return replace(found, truck_only_s=searched.truck_only_s, iterations=searched.iterations), budget, method + "; "


def _budget_note(result: TruckDroneResult, budget: int) -> str:
    """A note when the wall cap stopped the search before its move budget (then the row depends on load)."""
    if result.iterations >= budget or (not result.sorties and result.iterations == 0):
        return ""
    return f"wall cap hit after {result.iterations}/{budget} moves (load-dependent); "


# --- mFSTSP ------------------------------------------------------------------------------------
def _rows_of(path: Path) -> list[list[str]]:
    """Data rows of one of their CSV files (lines starting with % are comments)."""
    with path.open() as handle:
        return [
            [cell.strip() for cell in row]
            for row in csv.reader(handle)
            if row and not row[0].lstrip().startswith("%") and any(cell.strip() for cell in row)
        ]


def read_uav(problems: Path, vehicle_file: int) -> UavParams:
    """The UAV row (all UAVs of a file are alike) of `tbl_vehicles_<id>.csv`."""
    for row in _rows_of(problems / f"tbl_vehicles_{vehicle_file}.csv"):
        if row[1] == "2":
            values = [float(v) for v in row[2:12]]
            return UavParams(*values)
    raise ValueError(f"no UAV in tbl_vehicles_{vehicle_file}.csv")


def read_truck_service_s(problems: Path, vehicle_file: int) -> float:
    """The truck's service time (s) in `tbl_vehicles_<id>.csv`."""
    for row in _rows_of(problems / f"tbl_vehicles_{vehicle_file}.csv"):
        if row[1] == "1":
            return float(row[10])
    raise ValueError(f"no truck in tbl_vehicles_{vehicle_file}.csv")


def mfstsp_problem(problems: Path, name: str, vehicle_file: int, uavs: int) -> TruckDroneProblem:
    """One mFSTSP configuration as a `TruckDroneProblem` (seconds)."""
    nodes = _rows_of(problems / name / "tbl_locations.csv")
    lat = np.array([float(r[2]) for r in nodes])
    lon = np.array([float(r[3]) for r in nodes])
    weight_lb = np.array([float(r[5]) for r in nodes])
    size = len(nodes)
    truck = np.zeros((size, size))
    for row in _rows_of(problems / name / "tbl_truck_travel_data_PG.csv"):
        truck[int(float(row[0])), int(float(row[1]))] = float(row[2])
    uav = read_uav(problems, vehicle_file)
    distance = haversine_m(lat, lon)
    endurance = endurance_s(uav, distance, weight_lb)
    eligible = [j for j in range(1, size) if 0 <= weight_lb[j] <= uav.capacity_lb]
    return TruckDroneProblem.build(
        truck,
        flight_times_s(uav, distance),
        eligible,
        drones=uavs,
        launch_s=uav.launch_s,
        recovery_s=uav.recovery_s,
        depot_launch_s=uav.launch_s,
        truck_service_s=read_truck_service_s(problems, vehicle_file),
        drone_service_s=uav.service_s,
        endurance_s=endurance,
        endurance_counts_launch=False,
        endurance_counts_recovery=False,
    )


def published_mfstsp(folder: Path) -> dict[tuple[str, int, int, str], float]:
    """(problem, vehicle file, UAVs, 'heuristic' | 'ip' | 'ip_optimal') -> makespan s, from their archive."""
    found: dict[tuple[str, int, int, str], float] = {}
    with (folder / "performance_summary_archive.csv").open() as handle:
        for row in csv.DictReader(handle):
            key = (row["problemName"].strip(), int(row["vehicleFileID"]), int(row["numUAVs"]))
            kind = "ip" if row["problemType"].strip() == "1" else "heuristic"
            found[(*key, kind)] = float(row["ofv"])
            if kind == "ip" and row["isOptimal"].strip() == "True":
                found[(*key, "ip_optimal")] = float(row["ofv"])
    return found


def mfstsp_configs(folder: Path, subset: str) -> list[tuple[str, int, int, int]]:
    """(problem, customers, vehicle file, UAVs) to run, in a fixed order."""
    info = {}
    with (folder / "performance_summary_archive.csv").open() as handle:
        for row in csv.DictReader(handle):
            info[row["problemName"].strip()] = int(row["numCustomers"])
    names = sorted(n for n in info if (folder / "Problems" / n / "tbl_locations.csv").is_file())
    sizes = None
    if ":" in subset:  # e.g. "stated:8,10": that subset, problems of these sizes only
        subset, wanted = subset.split(":", 1)
        sizes = {int(v) for v in wanted.split(",")}
    configs: list[tuple[str, int, int, int]] = []
    for index, name in enumerate(names):
        if sizes is not None and info[name] not in sizes:
            continue
        files = (101, 102, 103, 104) if subset == "all" or info[name] == 8 else (101 + index % 4,)
        configs.extend((name, info[name], f, u) for f in files for u in (1, 2, 3, 4))
    configs.sort(key=lambda c: (c[1], c[0], c[2], c[3]))
    return configs


def mfstsp_rows(args: Any) -> list[dict[str, Any]]:
    """One row per mFSTSP configuration run, then per-size summaries."""
    root = data_root(args)
    folder = root / "mfstsp" / "mFSTSP" if root else None
    if folder is None or not (folder / "performance_summary_archive.csv").is_file():
        logger.warning(
            "mFSTSP data not found: pass --data-dir DIR or set FINALMILE_BENCH_DATA to a folder holding "
            "mfstsp/mFSTSP (clone optimatorlab/mFSTSP); skipping"
        )
        return []
    subset = getattr(args, "mfstsp_subset", None) or "stated"
    configs = mfstsp_configs(folder, subset)
    if getattr(args, "quick", False):
        configs = [c for c in configs if c[3] == 2][::10]
    part = getattr(args, "mfstsp_slice", None)
    if part:  # "i/m": every m-th configuration from the i-th (one run split over processes)
        index, count = (int(v) for v in part.split("/"))
        configs = configs[index::count]
        subset = f"{subset}, slice {part}"
    published = published_mfstsp(folder)
    rows: list[dict[str, Any]] = []
    for name, customers, vehicle_file, uavs in configs:
        problem = mfstsp_problem(folder / "Problems", name, vehicle_file, uavs)
        result, wall_s, cpu_s, budget, method = _solve(problem, args)
        broken = violations(problem, result)
        heuristic = published.get((name, vehicle_file, uavs, "heuristic"))
        ip = published.get((name, vehicle_file, uavs, "ip_optimal"))
        gap = 100 * (result.makespan_s - heuristic) / heuristic if heuristic else None
        gap_ip = 100 * (result.makespan_s - ip) / ip if ip else None
        notes = "INVALID: " + "; ".join(f"{v.rule}: {v.detail}" for v in broken[:3]) if broken else ""
        if not broken:
            notes = method + _budget_note(result, budget)
        if not broken and gap_ip is not None and gap_ip < -0.005:
            notes += "below their proven IP optimum: check the rule set (validated schedule attached)"
        rows.append(
            {
                "set": f"mFSTSP-{customers}",
                "instance": name,
                "config": f"veh{vehicle_file}/{uavs}uav",
                "objective": round(result.makespan_s, 1),
                "reference": heuristic,
                "gap_pct": round(gap, 2) if gap is not None else None,
                "ip_optimum": ip,
                "gap_ip_pct": round(gap_ip, 2) if gap_ip is not None else None,
                "truck_only": round(result.truck_only_s, 1),
                "sorties": len(result.sorties),
                "unit": "s",
                "wall_s": round(wall_s, 2),
                "cpu_s": round(cpu_s, 2),
                "iterations": result.iterations,
                "valid": not broken,
                "notes": notes,
                "schedule": schedule_text(result),
            }
        )
        logger.info(
            "%s %s: %.1f s (heuristic gap %s %%, IP gap %s %%)",
            name,
            rows[-1]["config"],
            result.makespan_s,
            rows[-1]["gap_pct"],
            rows[-1]["gap_ip_pct"],
        )
    return rows + mfstsp_summaries(rows, subset)


def mfstsp_summaries(rows: list[dict[str, Any]], subset: str) -> list[dict[str, Any]]:
    """One summary row per problem size of the mFSTSP rows (`subset` names the configurations run)."""
    summaries: list[dict[str, Any]] = []
    for size in sorted({int(r["set"].split("-")[1]) for r in rows if r["instance"] != "SUMMARY"}):
        block = [r for r in rows if r["set"] == f"mFSTSP-{size}" and r["instance"] != "SUMMARY"]
        gaps = [r["gap_pct"] for r in block if r["gap_pct"] is not None]
        ip_gaps = [r["gap_ip_pct"] for r in block if r["gap_ip_pct"] is not None]
        summary = (
            f"{len(block)} runs; <= their heuristic on {sum(g <= 0.005 for g in gaps)}/{len(gaps)}; "
            f"max gap {max(gaps):.2f} %"
            if gaps
            else f"{len(block)} runs"
        )
        if ip_gaps:
            summary += (
                f"; within 1 % of the IP optimum on {sum(g <= 1.0 for g in ip_gaps)}/{len(ip_gaps)}, "
                f"mean {sum(ip_gaps) / len(ip_gaps):.2f} %"
            )
        exact_rows = sum("method: exact" in r["notes"] for r in block)
        proven = sum("proven optimal" in r["notes"] for r in block)
        if any("branch and bound" in r["notes"] for r in block):
            summary += f"; exact method's schedule on {exact_rows}, optimum proven (simulate's timing) on {proven}"
        summaries.append(
            {
                "set": f"mFSTSP-{size}",
                "instance": "SUMMARY",
                "gap_pct": round(sum(gaps) / len(gaps), 2) if gaps else None,
                "gap_ip_pct": round(sum(ip_gaps) / len(ip_gaps), 2) if ip_gaps else None,
                "unit": "s",
                "wall_s": round(max(r["wall_s"] for r in block), 2),
                "cpu_s": round(max(r["cpu_s"] for r in block), 2),
                "valid": all(r["valid"] for r in block),
                "notes": summary
                + f"; wall cap hit on {sum('wall cap' in r['notes'] for r in block)}"
                + "; wall_s, cpu_s = slowest; subset "
                + ("all 1600" if subset == "all" else f"{subset} (full: --mfstsp-subset all)"),
            }
        )
    return summaries


def world_rows(args: Any, world_name: str, reachable_only: bool) -> list[dict[str, Any]]:
    """Same parcels, several fleets via `plan_fleet` (its handoff planner included): hub drones alone, a van
    alone, a van plus drones flying from the hub, a van carrying the same drones.

    `reachable_only` keeps the parcels a drone can reach from the hub (so hub drones alone can serve them
    all: the Helsinki rows); otherwise every sampled parcel stays and hub drones alone are not run.
    """
    from fleet_manager.world import load_world
    from mission_planner.fleet import FleetTravel, OrderSpec, VehicleSpec, plan_fleet
    from mission_planner.model import VehicleKind

    world = load_world(world_name)
    travel = FleetTravel.for_world(world)
    rng = random.Random(7)
    buildings = rng.sample(list(world.addresses), 30)
    now = 1_750_000_000.0
    hub = world.hub
    if reachable_only:
        points = [(hub.x_m, hub.y_m)] + [(b.x_m, b.y_m) for b in buildings]
        drone = travel.drone.matrices(points)
        buildings = [b for i, b in enumerate(buildings, start=1) if np.isfinite(drone.distance_m[0, i])]
    orders = [
        OrderSpec(f"o{i}", b.latitude_deg, b.longitude_deg, 1.0, earliest_s=now, latest_s=now + 6 * 3600)
        for i, b in enumerate(buildings)
    ]

    def vehicle(vehicle_id: str, kind: VehicleKind, carried_by: str | None = None) -> VehicleSpec:
        return VehicleSpec(vehicle_id, kind, hub.latitude_deg, hub.longitude_deg, carried_by=carried_by)

    fleets = {
        "van-only": [vehicle("van", VehicleKind.VAN)],
        "van+2-hub-drones": [
            vehicle("van", VehicleKind.VAN),
            vehicle("d1", VehicleKind.DRONE),
            vehicle("d2", VehicleKind.DRONE),
        ],
        "van+2-carried-drones": [
            vehicle("van", VehicleKind.VAN),
            vehicle("d1", VehicleKind.DRONE, "van"),
            vehicle("d2", VehicleKind.DRONE, "van"),
        ],
    }
    if reachable_only:
        fleets = {"hub-only-2-drones": [vehicle("d1", VehicleKind.DRONE), vehicle("d2", VehicleKind.DRONE)], **fleets}
    budget_s = 2.0 if getattr(args, "quick", False) else 5.0
    rows = []
    for name, fleet in fleets.items():
        started = time.perf_counter()
        plan = plan_fleet(travel, fleet, orders, now_s=now, seed=0, time_budget_s=budget_s)
        wall_s = time.perf_counter() - started
        sorties = sum(1 for r in plan.routes for leg in r.legs if leg.kind.value == "launch")
        rows.append(
            {
                "set": world_name,
                "instance": f"{world_name}-{len(orders)}",
                "config": name,
                "objective": round(plan.makespan_s / 60, 2),
                "sorties": sorties,
                "unit": "min",
                "wall_s": round(wall_s, 2),
                "planned": len(plan.planned_order_ids),
            }
        )
    return rows


def run(args: Any = None) -> list[dict[str, Any]]:
    """FSTSP and mFSTSP rows (when the data is there) and the Helsinki and Andorra fleet rows
    (`--truck-drone-parts` picks some of fstsp, mfstsp, worlds)."""
    parts = set((getattr(args, "truck_drone_parts", None) or "fstsp,mfstsp,worlds").split(","))
    worlds = world_rows(args, "helsinki", True) + world_rows(args, "andorra", False) if "worlds" in parts else []
    fstsp = fstsp_rows(args) if "fstsp" in parts else []
    return fstsp + (mfstsp_rows(args) if "mfstsp" in parts else []) + worlds

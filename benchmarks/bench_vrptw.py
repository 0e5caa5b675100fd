"""Solomon VRPTW (C1, R1, RC1; 100 customers): our planner core vs OR-Tools vs VROOM, same run, same limit.

Distance convention: CVRPLIB/VRPLIB — coordinates × 10, every arc's Euclidean length truncated
to an integer (one decimal), objective = total distance only (≤ 25 vehicles of capacity 200,
hard time windows, service times as given). Every solver gets the same integer matrix; the
reported objective is that total / 10, compared with the `cvrplib_distance_truncated_1_decimal`
best-knowns in `benchmarks/data/solomon/best_known.csv`.

Solvers: `planner` = `mission_planner.solve` (PyVRP iterated local search) through the public
`Model` API; `ortools` = OR-Tools routing (PARALLEL_CHEAPEST_INSERTION + guided local search); `vroom` =
pyvroom at exploration level 5. Each gets the same wall-clock limit (default 10 s, `--quick` 2 s on
3 instances) and 2 threads at most (VROOM: nb_threads=2; the others are single-threaded).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import numpy as np

from benchmarks.solomon import SOLOMON_DIR, SolomonInstance, best_known, instance_names, read_instance, truncated_matrix
from mission_planner.model import Model, Objective, ObjectiveKind, VehicleKind
from mission_planner.solver import MaxRuntime, solve
from mission_planner.travel import EuclideanTravel

NAME = "vrptw"
QUICK_INSTANCES = ("C101", "R101", "RC101")
logger = logging.getLogger(__name__)


def planner_problem(instance: SolomonInstance) -> Any:
    """The instance through the planner's public Model API (coordinates scaled × 10, arcs truncated)."""
    model = Model(Objective(ObjectiveKind.DISTANCE))
    model.require_all = True
    depot = model.add_depot(instance.x[0] * 10, instance.y[0] * 10, opens_s=0, closes_s=instance.due[0] * 10)
    for number in range(instance.vehicles):
        model.add_vehicle(
            f"v{number}",
            VehicleKind.VAN,
            depot,
            capacity_kg=instance.capacity,
            capacity_parcels=instance.customers,
            speed_m_s=1.0,
            service_s=instance.service[1] * 10,
            shift_start_s=0,
            shift_end_s=instance.due[0] * 10,
        )
    for i in range(1, instance.customers + 1):
        model.add_order(
            f"c{i}",
            instance.x[i] * 10,
            instance.y[i] * 10,
            weight_kg=instance.demand[i],
            size_class="L",
            earliest_s=instance.ready[i] * 10,
            latest_s=instance.due[i] * 10,
        )
    return model.problem({VehicleKind.VAN: EuclideanTravel(1.0, truncate_decimals=0)})


def run_planner(instance: SolomonInstance, limit_s: float, seed: int = 0) -> tuple[float, bool, int]:
    """(total distance, feasible, routes) from our core."""
    result = solve(planner_problem(instance), MaxRuntime(limit_s), seed=seed)
    routes = sum(1 for r in result.plan.routes if r.order_ids)
    complete = len(result.plan.planned_order_ids) == instance.customers
    return result.cost() / 10.0, result.is_feasible() and complete, routes


def run_ortools(instance: SolomonInstance, limit_s: float) -> tuple[float, bool, int]:
    """(total distance, feasible, routes) from OR-Tools routing with guided local search."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    matrix = truncated_matrix(instance)
    size = len(matrix)
    manager = pywrapcp.RoutingIndexManager(size, instance.vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)

    def distance(i: int, j: int) -> int:
        return matrix[manager.IndexToNode(i)][manager.IndexToNode(j)]

    def travel_time(i: int, j: int) -> int:
        a, b = manager.IndexToNode(i), manager.IndexToNode(j)
        return matrix[a][b] + instance.service[a] * 10

    arc = routing.RegisterTransitCallback(distance)
    routing.SetArcCostEvaluatorOfAllVehicles(arc)
    time_cb = routing.RegisterTransitCallback(travel_time)
    horizon = instance.due[0] * 10
    routing.AddDimension(time_cb, horizon, horizon, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    for node in range(1, size):
        time_dim.CumulVar(manager.NodeToIndex(node)).SetRange(instance.ready[node] * 10, instance.due[node] * 10)
    for vehicle in range(instance.vehicles):
        time_dim.CumulVar(routing.Start(vehicle)).SetRange(0, horizon)
        time_dim.CumulVar(routing.End(vehicle)).SetRange(0, horizon)
    demand_cb = routing.RegisterUnaryTransitCallback(lambda i: instance.demand[manager.IndexToNode(i)])
    routing.AddDimensionWithVehicleCapacity(demand_cb, 0, [instance.capacity] * instance.vehicles, True, "load")
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(int(limit_s * 1000))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        return float("nan"), False, 0
    routes = sum(
        1 for v in range(instance.vehicles) if not routing.IsEnd(solution.Value(routing.NextVar(routing.Start(v))))
    )
    return solution.ObjectiveValue() / 10.0, True, routes


def run_vroom(instance: SolomonInstance, limit_s: float) -> tuple[float, bool, int]:
    """(total distance, feasible, routes) from VROOM (cost = the same integer matrix)."""
    import vroom

    matrix = np.asarray(truncated_matrix(instance), dtype=np.uint32)
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=matrix)
    horizon = instance.due[0] * 10
    for number in range(instance.vehicles):
        problem.add_vehicle(
            vroom.Vehicle(
                number + 1, start=0, end=0, capacity=[instance.capacity], time_window=vroom.TimeWindow(0, horizon)
            )
        )
    for i in range(1, instance.customers + 1):
        problem.add_job(
            vroom.Job(
                i,
                location=i,
                default_service=instance.service[i] * 10,
                delivery=[instance.demand[i]],
                time_windows=[vroom.TimeWindow(instance.ready[i] * 10, instance.due[i] * 10)],
            )
        )
    solution = problem.solve(exploration_level=5, nb_threads=2, timeout=timedelta(seconds=limit_s))
    served = int((solution.routes["type"] == "job").sum())
    routes = int(solution.routes["vehicle_id"].nunique())
    return solution.summary.cost / 10.0, served == instance.customers, routes


SOLVERS = {"planner": run_planner, "ortools": run_ortools, "vroom": run_vroom}


def run(args: Any = None) -> list[dict[str, Any]]:
    """One row per instance × solver."""
    quick = bool(getattr(args, "quick", False))
    limit_s = getattr(args, "time_limit", None) or (2.0 if quick else 10.0)
    names = list(QUICK_INSTANCES) if quick else instance_names()
    if not names:
        logger.warning("no Solomon instances in %s", SOLOMON_DIR)
        return []
    best = best_known()
    rows = []
    for name in names:
        instance = read_instance(SOLOMON_DIR / f"{name}.txt")
        for solver, function in SOLVERS.items():
            started = time.perf_counter()
            objective, feasible, routes = function(instance, limit_s)
            wall_s = time.perf_counter() - started
            bks = best.get(name)
            rows.append(
                {
                    "instance": name,
                    "solver": solver,
                    "objective": round(objective, 1),
                    "best_known": bks,
                    "gap_pct": round(100.0 * (objective - bks) / bks, 2) if bks else None,
                    "feasible": feasible,
                    "routes": routes,
                    "limit_s": limit_s,
                    "wall_s": round(wall_s, 2),
                }
            )
            logger.info(
                "%s %s: %.1f (%s) in %.1f s", name, solver, objective, "ok" if feasible else "INFEASIBLE", wall_s
            )
    for solver in SOLVERS:
        gaps = [r["gap_pct"] for r in rows if r["solver"] == solver and r["gap_pct"] is not None and r["feasible"]]
        if gaps:
            rows.append(
                {
                    "instance": "MEAN",
                    "solver": solver,
                    "objective": None,
                    "best_known": None,
                    "gap_pct": round(sum(gaps) / len(gaps), 2),
                    "feasible": len(gaps) == len(names),
                    "routes": None,
                    "limit_s": limit_s,
                    "wall_s": round(sum(r["wall_s"] for r in rows if r["solver"] == solver), 1),
                }
            )
    return rows

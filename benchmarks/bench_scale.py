"""Scale: 1,000 open orders × 100 vehicles on the Helsinki world — plan time and memory; re-plan after one new order.

Fleet: 60 drones and 30 sidewalk robots at the hub, 10 vans. Orders: 1,000 parcels at the
world's street addresses (seeded), 70 % small (drone-size), 20 % medium, 10 % large, windows of
4 h spread over a 12 h day, one in seven with a locker fallback, 2 % not cleared by customs.
Rows: `plan` (cold: travel matrices + solve, time budget 30 s; `--quick` 5 s), `replan-1-order`
(one new order, budget 1 s, warm start from the plan; target < 1 s). `objective` is the plan's
cost (EUR, incl. unplanned penalties), `peak_rss_mb` the process's peak resident memory.
"""

from __future__ import annotations

import random
import resource
import time
from typing import Any

from mission_planner.fleet import FleetTravel, OrderSpec, VehicleSpec, plan_fleet_result
from mission_planner.model import SizeClass, VehicleKind
from mission_planner.replan import PlanState, replan

NAME = "scale"
DAY_START_S = 1_750_000_000.0  # any fixed instant: plans are relative to it


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def scenario(orders: int = 1000, seed: int = 0) -> tuple[Any, list[VehicleSpec], list[OrderSpec]]:
    """The Helsinki world's travel model, 100 vehicles and `orders` open orders."""
    from fleet_manager.world import load_world

    world = load_world("helsinki")
    travel = FleetTravel.for_world(world)
    hub = world.hub
    vehicles = [
        VehicleSpec(f"drone-{i:02d}", VehicleKind.DRONE, hub.latitude_deg, hub.longitude_deg) for i in range(60)
    ]
    vehicles += [
        VehicleSpec(f"robot-{i:02d}", VehicleKind.ROBOT, hub.latitude_deg, hub.longitude_deg) for i in range(30)
    ]
    vehicles += [VehicleSpec(f"van-{i:02d}", VehicleKind.VAN, hub.latitude_deg, hub.longitude_deg) for i in range(10)]
    rng = random.Random(seed)
    lockers = [site.site_id for site in world.lockers]
    specs = []
    for number in range(orders):
        building = rng.choice(world.addresses)
        size = rng.choices([SizeClass.S, SizeClass.M, SizeClass.L], weights=[70, 20, 10])[0]
        low, high = {SizeClass.S: (0.2, 2.0), SizeClass.M: (1.0, 9.0), SizeClass.L: (5.0, 30.0)}[size]
        weight = rng.uniform(low, high)
        start = DAY_START_S + rng.uniform(0, 8 * 3600)
        specs.append(
            OrderSpec(
                f"order-{number:04d}",
                building.latitude_deg,
                building.longitude_deg,
                round(weight, 2),
                size,
                earliest_s=start,
                latest_s=start + 4 * 3600,
                priority=rng.choice([1, 1, 1, 2]),
                customs_cleared=rng.random() > 0.02,
                locker_site_id=rng.choice(lockers) if number % 7 == 0 else None,
            )
        )
    return travel, vehicles, specs


def run(args: Any = None) -> list[dict[str, Any]]:
    """Plan, then re-plan after one new order."""
    quick = bool(getattr(args, "quick", False))
    budget_s = getattr(args, "time_limit", None) or (5.0 if quick else 30.0)
    travel, vehicles, orders = scenario()
    rss_before = _peak_rss_mb()
    started = time.perf_counter()
    result = plan_fleet_result(travel, vehicles, orders, now_s=DAY_START_S, seed=0, time_budget_s=budget_s)
    plan_wall = time.perf_counter() - started
    plan = result.plan
    rows: list[dict[str, Any]] = [
        {
            "instance": "helsinki-1000x100",
            "solver": "plan",
            "objective": round(result.cost(), 2),
            "best_known": None,
            "gap_pct": None,
            "wall_s": round(plan_wall, 2),
            "budget_s": budget_s,
            "planned": len(plan.planned_order_ids),
            "unplanned": len(plan.unplanned),
            "vehicles_used": sum(1 for r in plan.routes if r.legs),
            "feasible": result.is_feasible(),
            "peak_rss_mb": round(_peak_rss_mb(), 1),
            "rss_growth_mb": round(_peak_rss_mb() - rss_before, 1),
        }
    ]
    hub = travel.hub
    new = OrderSpec(
        "order-new",
        *travel.frame.to_wgs84(hub.x_m + 300.0, hub.y_m - 200.0),
        1.0,
        earliest_s=DAY_START_S,
        latest_s=DAY_START_S + 6 * 3600,
    )
    now_s = DAY_START_S + 600.0
    started = time.perf_counter()
    again = replan(PlanState(result, now_s), [new], time_budget_s=1.0, seed=0)
    replan_wall = time.perf_counter() - started
    rows.append(
        {
            "instance": "helsinki-1000x100",
            "solver": "replan-1-order",
            "objective": round(again.cost(), 2),
            "best_known": None,
            "gap_pct": None,
            "wall_s": round(replan_wall, 3),
            "budget_s": 1.0,
            "planned": len(again.plan.planned_order_ids),
            "unplanned": len(again.plan.unplanned),
            "vehicles_used": sum(1 for r in again.plan.routes if r.legs),
            "feasible": again.is_feasible(),
            "peak_rss_mb": round(_peak_rss_mb(), 1),
            "rss_growth_mb": None,
            "new_order_planned": "order-new" in again.plan.planned_order_ids,
        }
    )
    return rows

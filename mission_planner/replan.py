"""Incremental re-planning: `replan(state, events, time_budget_s)` keeps committed legs and returns in time.

Events are new orders (the planner's own `OrderSpec`, placed with the problem's world frame and
lockers, so the problem must come from `plan_fleet_result` or `Model.problem(frame=...)`),
`CancelOrder` and `VehicleDown`.

Committed means already started by `state.now_s`: a leg in progress is finished as planned (a drone
in the air is not teleported), and for drones and robots the whole trip it belongs to (the flight
back to the depot included). Each vehicle then starts over from where and when its committed legs
end. The rest is solved again by PyVRP, warm-started from the previous plan's routes (minus
cancelled orders), for what is left of the budget; the new orders are inserted by its search.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .energy import ReservePolicy
from .errors import PlanningError
from .fleet import OrderSpec, add_order_spec, with_wgs84
from .model import Model, Vehicle, VehicleKind
from .plan import Leg, LegKind, Plan, VehicleRoute
from .solver import Result, solve
from .travel import build_problem
from .van_handoff import HandoffPolicy, apply_handoff


@dataclass(frozen=True)
class PlanState:
    """The plan in force and the time now (epoch s)."""

    result: Result
    now_s: float


@dataclass(frozen=True)
class CancelOrder:
    """An order withdrawn (not yet picked up by a committed leg)."""

    order_id: str


@dataclass(frozen=True)
class VehicleDown:
    """A vehicle that can take no new work (its committed legs still finish)."""

    vehicle_id: str


Event = OrderSpec | CancelOrder | VehicleDown  # an OrderSpec is an order that arrived after the plan was made


def committed_legs(route: VehicleRoute, now_s: float) -> tuple[Leg, ...]:
    """Legs of `route` that must be kept at `now_s` (started ones; whole trips for drones and robots)."""
    started = [leg for leg in route.legs if leg.start_s < now_s]
    if not started:
        return ()
    if route.kind is VehicleKind.VAN:
        return tuple(started)
    trip = next(trip for trip in route.trips() if started[-1] in trip)
    return tuple(leg for leg in route.legs if leg.start_s < now_s or leg in trip)


def replan(
    state: PlanState, events: Sequence[Event], time_budget_s: float, *, seed: int = 0,
    handoff: HandoffPolicy | None = None,
) -> Result:
    """A new plan after `events`, keeping committed legs, returned within `time_budget_s` (plus decode time).

    `handoff`: the drones and robots riding vans are placed on the new van routes as `plan_fleet_result` places
    them (`apply_handoff`); None leaves them out, so a van trip planned by a re-plan carries none of them."""
    started = time.perf_counter()
    if not math.isfinite(time_budget_s) or time_budget_s <= 0:
        raise PlanningError(f"time_budget_s must be > 0, got {time_budget_s!r}")
    old = state.result
    problem = old.problem
    now_s = state.now_s
    cancelled = {e.order_id for e in events if isinstance(e, CancelOrder)}
    down = {e.vehicle_id for e in events if isinstance(e, VehicleDown)}
    unknown = sorted(down - {v.vehicle_id for v in problem.vehicles})
    if unknown:
        raise PlanningError(f"VehicleDown for unknown vehicle(s) {', '.join(unknown)}")
    new_orders = [e for e in events if isinstance(e, OrderSpec)]
    if new_orders and problem.frame is None:
        raise PlanningError(
            f"replan: new order {new_orders[0].order_id!r} is in WGS84 but the plan's problem has no frame "
            "(make it with plan_fleet_result or Model.problem(travel, frame=...))"
        )

    kept: dict[str, tuple[Leg, ...]] = {}
    for route in old.plan.routes:
        kept[route.vehicle_id] = committed_legs(route, now_s)
    delivered = {o for legs in kept.values() for leg in legs if leg.kind is LegKind.DROPOFF for o in leg.order_ids}

    model = Model(problem.objective)
    model.depots = list(problem.depots)
    model.require_all = problem.require_all
    for vehicle in problem.vehicles:
        if vehicle.vehicle_id in down:
            continue
        model.vehicles.append(_restart(vehicle, kept.get(vehicle.vehicle_id, ()), now_s))
    carried_over = [o for o in problem.orders if o.order_id not in delivered and o.order_id not in cancelled]
    model.orders = [replace(o, index=i) for i, o in enumerate(carried_over)]
    for spec in new_orders:
        if problem.frame is not None:  # checked above; narrows the type
            add_order_spec(model, spec, problem.frame, problem.lockers)
    new_problem = build_problem(
        model,
        problem.travel,
        now_s=now_s,
        reserve=ReservePolicy(problem.reserve_fraction),
        safe_landing_xy=problem.safe_landing_xy,
        frame=problem.frame,
        lockers=problem.lockers,
    )
    warm = [
        (route.vehicle_id, [o for o in route.order_ids if o not in delivered and o not in cancelled])
        for route in old.plan.routes
        if route.vehicle_id not in down
    ]
    new_ids = [e.order_id for e in new_orders]
    result = solve(
        new_problem, seed=seed, initial_routes=warm, insert_first=new_ids, deadline_s=started + time_budget_s
    )
    # orders the old problem could not plan at all (customs, closed windows) are still reported
    carried = {k: v for k, v in problem.skipped.items() if k not in cancelled and k not in result.plan.unplanned}
    result = replace(result, plan=replace(result.plan, unplanned={**carried, **result.plan.unplanned}))
    # a vehicle taken down by an earlier replan is no longer in the problem but its committed legs still fly
    kinds = {route.vehicle_id: route.kind for route in old.plan.routes}
    kinds.update({v.vehicle_id: v.kind for v in problem.vehicles})
    plan = result.plan
    if handoff is not None:
        plan = apply_handoff(new_problem, plan, ReservePolicy(problem.reserve_fraction), handoff)
    planned = plan if problem.frame is None else with_wgs84(plan, problem.frame)
    merged = _merge(planned, kept, kinds, time.perf_counter() - started)  # committed legs stay verbatim
    return replace(result, plan=merged, runtime_s=merged.runtime_s)


def _restart(vehicle: Vehicle, legs: tuple[Leg, ...], now_s: float) -> Vehicle:
    if not legs:
        return replace(vehicle, available_from_s=max(now_s, vehicle.available_from_s or now_s))
    end = legs[-1]
    at_depot = math.dist(end.to_xy_m, (vehicle.depot.x_m, vehicle.depot.y_m)) < 1.0
    return replace(
        vehicle,
        available_from_s=max(now_s, end.end_s),
        battery_wh=vehicle.battery_capacity_wh if at_depot else vehicle.battery_wh,  # back home: a swapped battery
        start_x_m=None if at_depot else end.to_xy_m[0],
        start_y_m=None if at_depot else end.to_xy_m[1],
    )


def _merge(plan: Plan, kept: dict[str, tuple[Leg, ...]], kinds: dict[str, VehicleKind], runtime_s: float) -> Plan:
    routes = []
    seen = set()
    for route in plan.routes:
        seen.add(route.vehicle_id)
        routes.append(VehicleRoute(route.vehicle_id, route.kind, kept.get(route.vehicle_id, ()) + route.legs))
    for vehicle_id, legs in kept.items():
        if vehicle_id not in seen and legs:
            routes.append(VehicleRoute(vehicle_id, kinds[vehicle_id], legs))
    return replace(plan, routes=tuple(routes), runtime_s=runtime_s)

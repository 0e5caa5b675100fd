"""Incremental re-planning: `replan(state, events, time_budget_s)` keeps committed legs and returns in time.

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

from .errors import PlanningError
from .model import Locker, Model, Order, SizeClass, Vehicle, VehicleKind
from .plan import Leg, LegKind, Plan, VehicleRoute
from .solver import Result, solve
from .travel import build_problem


@dataclass(frozen=True)
class PlanState:
    """The plan in force and the time now (epoch s)."""

    result: Result
    now_s: float


@dataclass(frozen=True)
class NewOrder:
    """An order that arrived after the plan was made (local metres, epoch seconds)."""

    order_id: str
    x_m: float
    y_m: float
    weight_kg: float
    size_class: SizeClass = SizeClass.S
    earliest_s: float = 0.0
    latest_s: float = math.inf
    priority: int = 1
    customs_cleared: bool = True
    recipient_from_s: float | None = None
    recipient_until_s: float | None = None
    locker: Locker | None = None


@dataclass(frozen=True)
class CancelOrder:
    """An order withdrawn (not yet picked up by a committed leg)."""

    order_id: str


@dataclass(frozen=True)
class VehicleDown:
    """A vehicle that can take no new work (its committed legs still finish)."""

    vehicle_id: str


Event = NewOrder | CancelOrder | VehicleDown


def committed_legs(route: VehicleRoute, now_s: float) -> tuple[Leg, ...]:
    """Legs of `route` that must be kept at `now_s` (started ones; whole trips for drones and robots)."""
    started = [leg for leg in route.legs if leg.start_s < now_s]
    if not started:
        return ()
    if route.kind is VehicleKind.VAN:
        return tuple(started)
    trip = next(trip for trip in route.trips() if started[-1] in trip)
    return tuple(leg for leg in route.legs if leg.start_s < now_s or leg in trip)


def replan(state: PlanState, events: Sequence[Event], time_budget_s: float, *, seed: int = 0) -> Result:
    """A new plan after `events`, keeping committed legs, returned within `time_budget_s` (plus decode time)."""
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
    for event in events:
        if isinstance(event, NewOrder):
            model.add_order(
                event.order_id,
                event.x_m,
                event.y_m,
                weight_kg=event.weight_kg,
                size_class=event.size_class,
                earliest_s=event.earliest_s,
                latest_s=event.latest_s,
                priority=event.priority,
                customs_cleared=event.customs_cleared,
                recipient_from_s=event.recipient_from_s,
                recipient_until_s=event.recipient_until_s,
                locker=event.locker,
            )
    new_problem = build_problem(model, problem.travel, now_s=now_s, safe_landing_xy=problem.safe_landing_xy)
    warm = [
        (route.vehicle_id, [o for o in route.order_ids if o not in delivered and o not in cancelled])
        for route in old.plan.routes
        if route.vehicle_id not in down
    ]
    new_ids = [e.order_id for e in events if isinstance(e, NewOrder)]
    result = solve(
        new_problem, seed=seed, initial_routes=warm, insert_first=new_ids, deadline_s=started + time_budget_s
    )
    # orders the old problem could not plan at all (customs, closed windows) are still reported
    carried = {k: v for k, v in problem.skipped.items() if k not in cancelled and k not in result.plan.unplanned}
    result = replace(result, plan=replace(result.plan, unplanned={**carried, **result.plan.unplanned}))
    # a vehicle taken down by an earlier replan is no longer in the problem but its committed legs still fly
    kinds = {route.vehicle_id: route.kind for route in old.plan.routes}
    kinds.update({v.vehicle_id: v.kind for v in problem.vehicles})
    merged = _merge(result.plan, kept, kinds, time.perf_counter() - started)
    return replace(result, plan=merged, runtime_s=merged.runtime_s)


def _restart(vehicle: Vehicle, legs: tuple[Leg, ...], now_s: float) -> Vehicle:
    if not legs:
        return replace(vehicle, available_from_s=max(now_s, vehicle.available_from_s or now_s))
    end = legs[-1]
    at_depot = math.dist(end.to_xy_m, (vehicle.depot.x_m, vehicle.depot.y_m)) < 1.0
    return replace(
        vehicle,
        available_from_s=max(now_s, end.end_s),
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


def order_from(order: Order) -> NewOrder:
    """The NewOrder event that re-creates `order` (handy in tests and simulations)."""
    return NewOrder(
        order.order_id,
        order.x_m,
        order.y_m,
        order.weight_kg,
        order.size_class,
        order.earliest_s,
        order.latest_s,
        order.priority,
        order.customs_cleared,
        order.recipient_from_s,
        order.recipient_until_s,
        order.locker,
    )

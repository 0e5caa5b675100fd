"""Assignment and routing on PyVRP: `solve(problem, stop=MaxRuntime(s), seed=0) -> Result`.

Why PyVRP: on the Solomon C1/R1/RC1 instances, with the same integer matrices and the same
10 s limit on this 2-core machine, PyVRP's iterated local search lands closer to the best-known
distances than OR-Tools' routing library (guided local search) and VROOM — see
`benchmarks/bench_vrptw.py` and `benchmarks/results/vrptw.csv` for the measurement.

Encoding (one PyVRP client per delivery target):
- load dimensions ``[grams, parcels, not_drone, not_robot, not_van, *energy, *avoid]``: a vehicle
  kind has capacity 0 in its own "not" dimension, so it can only take orders it is eligible for;
- drones and robots make single-parcel trips and reload (battery swap) at their depot;
- when a battery vehicle starts with less than a full battery (`Vehicle.battery_wh`), one
  ``energy`` dimension per energy class (`EnergyClass`) holds each target's trip energy
  (`Problem.trip_wh`, Wh): capacity = the battery above its reserve fraction, and the
  energy already used is PyVRP's ``initial_load``, dropped at the first reload (the swap). So the
  first trip must fit the present charge, later ones a full battery. A vehicle whose charge
  covers no trip at all starts with a swap instead (a full battery one depot reload later: a
  CHARGE leg opens its route), as PyVRP's search does not open a route with an empty trip;
- a van charges at the hub for hours, not in a swap: its present charge above its reserve is a
  distance (`Vehicle.range_m`), PyVRP's ``max_distance`` for its vehicle type (one trip per route);
- per-order vehicle exclusions (`Order.avoid_vehicle_ids`, and vehicles its handling class rules
  out: no insulated box for a cold-chain parcel, too rough a ride for a fragile one): one ``avoid``
  dimension per excluded vehicle, 1 on the orders that exclude it, capacity 0 for that vehicle (its
  own vehicle type);
- a cold-chain order's window closes at now + loading + its maximum time out of conditioning
  (`handling.latest_handover_s`), so no vehicle leaving now or later breaks it, on any route;
- a locker fallback is a second client in a mutually exclusive group with the door delivery;
- orders are optional with a prize ``unplanned_penalty × priority`` (unless `require_all`), so
  an impossible order is reported as unplanned instead of breaking the plan;
- a vehicle kind's service time is folded into its duration matrix (outgoing arcs of a client).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyvrp
from pyvrp.stop import MaxIterations, MaxRuntime, StoppingCriterion

from . import handling
from .errors import PlanningError
from .model import EnergyClass, ObjectiveKind, Order, Problem, Vehicle, VehicleKind
from .plan import Leg, LegKind, Plan, VehicleRoute
from .travel import DroneTravel

logger = logging.getLogger(__name__)

__all__ = ["MaxIterations", "MaxRuntime", "Result", "encode", "solve"]

HORIZON_S = 14 * 86400
_UNREACHABLE = 10_000_000  # metres / seconds standing in for "no path" in PyVRP's integer matrices
_BIG_CAPACITY = 1_000_000_000
_UNLIMITED = int(np.iinfo(np.int64).max)  # PyVRP's "no limit" for a vehicle type's distance
_ENERGY_UNITS_PER_WH = 1  # energy dimensions count Wh (small numbers: excess load is priced per unit)
_KINDS = (VehicleKind.DRONE, VehicleKind.ROBOT, VehicleKind.VAN)


@dataclass(frozen=True)
class _Target:
    order: Order
    at_locker: bool
    point: int


@dataclass(frozen=True)
class _TypeKey:
    kind: VehicleKind
    home: int
    start: int
    capacity_kg: float
    capacity_parcels: int
    start_s: float
    end_s: float
    costs: tuple[int, int, int]
    energy: tuple[tuple[int, int], ...] = ()  # per energy dimension: (capacity, initial load)
    max_distance: int = _UNLIMITED  # metres it may travel (a van's present charge)
    alone: str | None = None  # a vehicle some order avoids gets a type of its own


@dataclass(frozen=True, eq=False)
class Encoded:
    """A Problem in PyVRP form, with the maps needed to read a solution back."""

    data: pyvrp.ProblemData
    targets: tuple[_Target, ...]  # per PyVRP client
    type_vehicles: tuple[tuple[Vehicle, ...], ...]  # per PyVRP vehicle type
    location_points: tuple[int, ...]  # per PyVRP location: index into problem.points
    depot_points: tuple[int, ...]  # per PyVRP depot
    service_s: dict[VehicleKind, float]
    unplannable: dict[str, str]
    barred: tuple[frozenset[int], ...] = ()  # per PyVRP vehicle type: clients it may not visit
    swap_first: frozenset[str] = frozenset()  # vehicles whose charge covers no trip: a swap opens their route


def _rel(problem: Problem, t: float) -> int:
    if t == math.inf:
        return HORIZON_S
    if t == -math.inf:
        return 0
    return int(min(HORIZON_S, max(0.0, round(t - problem.origin_s))))


def _scale(problem: Problem, vehicle: Vehicle) -> tuple[int, int, int, int]:
    """(unit_distance_cost per m, unit_duration_cost per s, fixed_cost, prize per priority level)."""
    objective = problem.objective
    if objective.kind is ObjectiveKind.COST:  # units of 1e-5 euro
        return (
            round(vehicle.cost_per_km * 100),
            round(vehicle.cost_per_hour / 3600 * 1e5),
            round(vehicle.fixed_cost * 1e5),
            round(objective.penalty * 1e5),
        )
    if objective.kind is ObjectiveKind.ENERGY:  # mWh
        per_km = vehicle.wh_per_km
        travel = problem.travel.get(vehicle.kind)
        if vehicle.kind is VehicleKind.DRONE and isinstance(travel, DroneTravel):
            speed = travel.model.cruise_airspeed_m_s
            per_km = travel.model.power_w(0.5 * vehicle.capacity_kg, speed) / speed / 3.6
        return max(1, round(per_km)), 0, 0, round(objective.penalty * 1000)
    if objective.kind is ObjectiveKind.DISTANCE:
        return 1, 0, 0, round(objective.penalty)
    return 0, 1, 0, round(objective.penalty)


def encode(problem: Problem) -> Encoded:
    """Translate a Problem into PyVRP's ProblemData (see the module docstring for the encoding)."""
    vehicles = [v for v in problem.vehicles if v.carried_by is None]
    if not vehicles:
        raise PlanningError("no vehicle to plan with (carried drones/robots need their van in the problem)")
    kinds = sorted({v.kind for v in vehicles}, key=_KINDS.index)
    service_s = {k: max(v.service_s for v in problem.vehicles if v.kind is k) for k in kinds}

    depot_points = list(problem.depot_point)
    depot_windows = [(d.opens_s, d.closes_s, d.reload_s, d.name) for d in problem.depots]
    start_depot: dict[str, int] = {}
    for vehicle in vehicles:
        if vehicle.start_x_m is not None and vehicle.start_y_m is not None:
            key = (round(vehicle.start_x_m, 1), round(vehicle.start_y_m, 1))
            point = next(i for i, (x, y) in enumerate(problem.points) if (round(x, 1), round(y, 1)) == key)
            start_depot[vehicle.vehicle_id] = len(depot_points)
            depot_points.append(point)
            depot_windows.append((-math.inf, math.inf, 0.0, f"{vehicle.vehicle_id}-now"))

    targets: list[_Target] = []
    windows: list[tuple[int, int]] = []
    unplannable: dict[str, str] = {}
    groups: list[list[int]] = []
    loading_s = problem.depots[0].reload_s if problem.depots else 0.0
    for order in problem.orders:
        options = [(False, problem.home_point[order.index], order.home_window_s())]
        locker_window = order.locker_window_s()
        locker_point = problem.locker_point[order.index]
        if locker_window is not None and locker_point is not None:
            options.append((True, locker_point, locker_window))
        made = []
        cold_late = handling.latest_handover_s(order, problem.origin_s, loading_s)
        for at_locker, point, (early, late) in options:
            eligible = any(problem.eligible[k][order.index][int(at_locker)] for k in kinds)
            late = min(late, cold_late)
            if late < problem.origin_s or late < early or not eligible:
                continue
            made.append(len(targets))
            targets.append(_Target(order, at_locker, point))
            windows.append((_rel(problem, early), _rel(problem, late)))
        if not made and cold_late < min(early for _locker, _point, (early, _late) in options):
            unplannable[order.order_id] = (
                "cold chain: its window opens after the time it may spend out of "
                "conditioning would run out if it left now (planned nearer the window)"
            )
        elif not made:
            unplannable[order.order_id] = "no vehicle in this fleet can reach it within its time window"
        elif len(made) > 1:
            groups.append(made)

    location_points = depot_points + [t.point for t in targets]
    index = np.asarray(location_points)
    n_depots = len(depot_points)
    distance_matrices, duration_matrices = [], []
    for kind in kinds:
        matrices = problem.matrices[kind]
        distance = matrices.distance_m[np.ix_(index, index)]
        duration = matrices.duration_s[np.ix_(index, index)].copy()
        duration[n_depots:, :] += service_s[kind]
        # a kind may not visit a client it is not eligible for: cut every arc into and out of it
        barred = n_depots + np.array(
            [i for i, t in enumerate(targets) if not problem.eligible[kind][t.order.index][int(t.at_locker)]],
            dtype=np.int64,
        )
        for m in (distance, duration):
            m[barred, :] = math.inf
            m[:, barred] = math.inf
        np.fill_diagonal(duration, 0.0)
        np.fill_diagonal(distance, 0.0)
        for m in (distance, duration):
            m[~np.isfinite(m)] = _UNREACHABLE
        distance_matrices.append(np.minimum(np.rint(distance), _UNREACHABLE).astype(np.int64))
        duration_matrices.append(np.minimum(np.rint(duration), _UNREACHABLE).astype(np.int64))

    locations = [pyvrp.Location(float(problem.points[p][0]), float(problem.points[p][1])) for p in location_points]
    depots = [
        pyvrp.Depot(
            i, tw_early=_rel(problem, opens), tw_late=_rel(problem, closes), service_duration=round(reload_s), name=name
        )
        for i, (opens, closes, reload_s, name) in enumerate(depot_windows)
    ]
    group_of = {client: g for g, members in enumerate(groups) for client in members}
    required_all = problem.require_all
    drained = [v for v in vehicles if v.starts_drained]
    swap_first = frozenset(v.vehicle_id for v in drained if not _covers_a_trip(problem, v))
    energy_classes = sorted({v.energy_class for v in drained if v.vehicle_id not in swap_first})
    present = {v.vehicle_id for v in vehicles}
    excluded = {order.order_id: _excluded(problem, order, vehicles) for order in problem.orders}
    avoided = sorted({v for ids in excluded.values() for v in ids} & present)
    clients = []
    for number, (target, (early, late)) in enumerate(zip(targets, windows, strict=True)):
        order = target.order
        flags = [int(not problem.eligible[k][order.index][int(target.at_locker)]) if k in kinds else 0 for k in _KINDS]
        energy = [_trip_units(problem, c, order.index, target.at_locker) for c in energy_classes]
        avoids = [int(v in excluded[order.order_id]) for v in avoided]
        prize = _scale(problem, vehicles[0])[3] * order.priority
        clients.append(
            pyvrp.Client(
                location=n_depots + number,
                delivery=[round(order.weight_kg * 1000), 1, *flags, *energy, *avoids],
                tw_early=early,
                tw_late=late,
                prize=prize if not target.at_locker else max(0, prize - 1),
                required=required_all and number not in group_of,
                group=group_of.get(number),
                name=order.order_id + ("@locker" if target.at_locker else ""),
            )
        )
    client_groups = [pyvrp.ClientGroup(members, required=required_all) for members in groups]

    grouped: dict[_TypeKey, list[Vehicle]] = {}
    for vehicle in vehicles:
        type_key = _TypeKey(
            kind=vehicle.kind,
            home=vehicle.depot.index,
            start=start_depot.get(vehicle.vehicle_id, vehicle.depot.index),
            capacity_kg=vehicle.capacity_kg,
            capacity_parcels=vehicle.capacity_parcels,
            start_s=max(vehicle.shift_start_s, vehicle.available_from_s or -math.inf)
            + (vehicle.depot.reload_s if vehicle.vehicle_id in swap_first else 0.0),
            end_s=vehicle.shift_end_s,
            costs=_scale(problem, vehicle)[:3],
            energy=tuple(
                _energy_capacity(problem, vehicle, c, vehicle.vehicle_id in swap_first) for c in energy_classes
            ),
            max_distance=_UNLIMITED if math.isinf(vehicle.range_m) else math.floor(vehicle.range_m),
            alone=vehicle.vehicle_id if vehicle.vehicle_id in avoided else None,
        )
        if type_key.start_s > type_key.end_s:
            # free only after its shift ends (a carried vehicle whose van is due back before its swap is done, or
            # a van running late): it can take no trip, and PyVRP refuses such a vehicle type
            logger.info("%s left out of the plan: free at %.0f s, shift ends at %.0f s", vehicle.vehicle_id,
                        type_key.start_s, type_key.end_s)
            continue
        grouped.setdefault(type_key, []).append(vehicle)
    if not grouped:
        raise PlanningError("no vehicle to plan with: every one is free only after its shift ends")
    vehicle_types = []
    for type_key, members in grouped.items():
        own = _KINDS.index(type_key.kind)
        capacity = [round(type_key.capacity_kg * 1000), type_key.capacity_parcels]
        capacity += [0 if i == own else _BIG_CAPACITY for i in range(len(_KINDS))]
        capacity += [energy_capacity for energy_capacity, _initial in type_key.energy]
        capacity += [0 if v == type_key.alone else _BIG_CAPACITY for v in avoided]
        initial_load = [0] * (2 + len(_KINDS)) + [initial for _capacity, initial in type_key.energy]
        initial_load += [0] * len(avoided)
        distance_cost, duration_cost, fixed_cost = type_key.costs
        multi_trip = type_key.kind in (VehicleKind.DRONE, VehicleKind.ROBOT)
        vehicle_types.append(
            pyvrp.VehicleType(
                num_available=len(members),
                capacity=capacity,
                start_depot=type_key.start,
                end_depot=type_key.home,
                fixed_cost=fixed_cost,
                tw_early=_rel(problem, type_key.start_s),
                tw_late=_rel(problem, type_key.end_s),
                max_distance=type_key.max_distance,
                unit_distance_cost=distance_cost,
                unit_duration_cost=duration_cost,
                profile=kinds.index(type_key.kind),
                initial_load=initial_load,
                reload_depots=[type_key.home] if multi_trip else [],
                name=",".join(v.vehicle_id for v in members),
            )
        )
    data = pyvrp.ProblemData(
        locations, clients, depots, vehicle_types, distance_matrices, duration_matrices, groups=client_groups
    )
    return Encoded(
        swap_first=swap_first,
        data=data,
        targets=tuple(targets),
        type_vehicles=tuple(tuple(m) for m in grouped.values()),
        location_points=tuple(location_points),
        depot_points=tuple(depot_points),
        service_s=service_s,
        unplannable=unplannable,
        barred=tuple(
            frozenset(
                i
                for i, t in enumerate(targets)
                if not problem.eligible[type_key.kind][t.order.index][int(t.at_locker)]
                or type_key.alone in excluded[t.order.order_id]
            )
            for type_key in grouped
        ),
    )


def _excluded(problem: Problem, order: Order, vehicles: Sequence[Vehicle]) -> frozenset[str]:
    """Vehicles that may not take `order`: those it avoids, those its handling class rules out, and battery vehicles
    flying from the depot whose full battery cannot make its trip — each where others of their kind may take it
    (a kind none of whose vehicles may is barred by its eligibility already).

    The last matters when a kind is eligible only thanks to van-carried vehicles (judged per sortie by the
    handoff planner): a hub drone starting on a full battery has no energy dimension, so without the bar it
    could be given a village far up a valley that only a drone launched from a van can reach."""
    barred = {v.vehicle_id for v in vehicles
              if any(problem.eligible[v.kind][order.index])
              and (not handling.capable(order, v) or not _full_battery_reaches(problem, v, order.index))}
    return frozenset(order.avoid_vehicle_ids | barred)


def _full_battery_reaches(problem: Problem, vehicle: Vehicle, order_index: int) -> bool:
    """Whether `vehicle`, from its depot on a full battery, can make the trip to the order's door or locker
    (vehicles without a battery limit, or carried ones, always: they are judged elsewhere)."""
    if vehicle.carried_by is not None or vehicle.battery_capacity_wh <= 0:
        return True
    needs = problem.trip_wh.get(vehicle.energy_class)
    if not needs:
        return True
    usable_wh = vehicle.battery_capacity_wh * (1.0 - problem.reserve_fraction)
    return any(math.isfinite(need) and need <= usable_wh for need in needs[order_index])


def _trip_units(problem: Problem, energy_class: EnergyClass, order_index: int, at_locker: bool) -> int:
    """A target's trip energy in an energy dimension (rounded up; a trip the class cannot make exceeds any load)."""
    need_wh = problem.trip_wh[energy_class][order_index][int(at_locker)]
    return max(1, math.ceil(need_wh * _ENERGY_UNITS_PER_WH)) if math.isfinite(need_wh) else _BIG_CAPACITY


def _energy_capacity(
    problem: Problem, vehicle: Vehicle, energy_class: EnergyClass, swapped: bool = False
) -> tuple[int, int]:
    """(capacity, initial load) of `vehicle` in one energy dimension: its battery above the reserve fraction and
    what it has used already (nothing once `swapped`), for its own class; no limit in the others."""
    if vehicle.energy_class != energy_class:
        return _BIG_CAPACITY, 0
    capacity_wh = vehicle.battery_capacity_wh
    usable = math.floor(capacity_wh * (1.0 - problem.reserve_fraction) * _ENERGY_UNITS_PER_WH)
    used = 0 if swapped else math.ceil(max(0.0, capacity_wh - vehicle.battery_wh) * _ENERGY_UNITS_PER_WH)
    return usable, min(used, usable)


def _covers_a_trip(problem: Problem, vehicle: Vehicle) -> bool:
    """Whether the vehicle's present charge covers at least one trip of the problem, keeping the reserve."""
    usable_wh = vehicle.battery_wh - problem.reserve_fraction * vehicle.battery_capacity_wh
    needs = problem.trip_wh.get(vehicle.energy_class, ())
    return any(need_wh <= usable_wh for door_and_locker in needs for need_wh in door_and_locker)


@dataclass(frozen=True, eq=False)
class Result:
    """What `solve` returns: the plan, the PyVRP solution behind it, and how long it took."""

    problem: Problem
    plan: Plan
    encoded: Encoded | None
    solution: pyvrp.Solution | None
    runtime_s: float
    iterations: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    def cost(self) -> float:
        """Objective value in the objective's unit (euros, Wh, m or s), unplanned-order penalties included."""
        return self.plan.objective_value

    def is_feasible(self) -> bool:
        """Whether every hard constraint (load, time windows, eligibility) holds."""
        return self.plan.feasible

    def summary(self) -> str:
        """A few lines a person reads first."""
        plan = self.plan
        used = [r for r in plan.routes if r.legs]
        lines = [
            f"objective ({self.problem.objective.kind.value}): {self.cost():.2f}   feasible: {self.is_feasible()}",
            f"orders planned: {len(plan.planned_order_ids)} / {len(self.problem.orders) + len(self.problem.skipped)}"
            f"   unplanned: {len(plan.unplanned)}   vehicles used: {len(used)} / {len(self.problem.vehicles)}",
            f"distance: {sum(r.distance_m for r in used) / 1000:.2f} km"
            f"   energy: {sum(r.energy_wh for r in used):.0f} Wh   makespan: {plan.makespan_s / 60:.1f} min"
            f"   runtime: {self.runtime_s:.2f} s",
        ]
        return "\n".join(lines)


_UNIT_DIVISOR = {
    ObjectiveKind.COST: 1e5,
    ObjectiveKind.ENERGY: 1e3,
    ObjectiveKind.DISTANCE: 1.0,
    ObjectiveKind.DURATION: 1.0,
}


def solve(
    problem: Problem,
    stop: StoppingCriterion | None = None,
    seed: int = 0,
    *,
    initial_routes: Sequence[tuple[str, Sequence[str]]] | None = None,
    insert_first: Sequence[str] = (),
    deadline_s: float | None = None,
) -> Result:
    """Solve `problem` with PyVRP until `stop` (default 5 s); deterministic for a seed (given iterations).

    `initial_routes` (vehicle_id, [order_id...]) warm-starts the search (used by re-planning);
    the orders in `insert_first` are put into it by cheapest feasible insertion before the search,
    so they are planned even when the search gets almost no time. With `deadline_s` (a
    `time.perf_counter()` instant) the search gets what is left before it, less an allowance for
    PyVRP's set-up and for reading the solution back; if nothing is left the warm start is returned.
    """
    started = time.perf_counter()
    encoded = encode(problem)
    if not encoded.targets:
        plan = Plan(
            (), {**problem.skipped, **encoded.unplannable}, 0.0, True, problem.origin_s, time.perf_counter() - started
        )
        return Result(problem, plan, encoded, None, plan.runtime_s)
    if initial_routes is None and (first_trips := _drained_first_trips(problem, encoded)):
        initial_routes = first_trips  # PyVRP's search alone often leaves a drained vehicle idle (see there)
    initial = _initial_solution(encoded, initial_routes, insert_first) if initial_routes is not None else None
    stop = stop if stop is not None else MaxRuntime(5.0)
    search_s = math.inf
    if deadline_s is not None:
        allowance_s = 0.1 + 0.0006 * len(encoded.targets)  # neighbourhoods + decode grow with the clients
        search_s = deadline_s - time.perf_counter() - allowance_s
        stop = MaxRuntime(max(search_s, 0.0))
    if initial is not None and search_s < 0.05:
        found, iterations = initial, 0
    else:
        result = pyvrp.solve(
            encoded.data,
            stop=stop,
            seed=seed,
            collect_stats=False,
            display=False,
            initial_solution=initial,
            params=_params(encoded),
        )
        found, iterations = result.best, result.num_iterations
    best = found if found.is_feasible() else repair(encoded, found)
    runtime = time.perf_counter() - started
    plan = decode(problem, encoded, best, runtime=runtime)
    return Result(problem, plan, encoded, best, runtime, iterations=iterations)


def _params(encoded: Encoded) -> pyvrp.SolveParams:
    """Solver parameters; the penalty ceiling must outgrow the largest prize, or breaking a time window
    to collect a prize looks worthwhile to the search (PyVRP's default ceiling is 1e5)."""
    largest_prize = max((client.prize for client in encoded.data.clients()), default=0)
    defaults = pyvrp.PenaltyParams()
    penalty = pyvrp.PenaltyParams(
        solutions_between_updates=defaults.solutions_between_updates,
        penalty_increase=defaults.penalty_increase,
        penalty_decrease=defaults.penalty_decrease,
        target_feasible=defaults.target_feasible,
        feas_tolerance=defaults.feas_tolerance,
        min_penalty=defaults.min_penalty,
        max_penalty=max(defaults.max_penalty, float(largest_prize)),
    )
    return pyvrp.SolveParams(penalty=penalty)


def _drained_first_trips(problem: Problem, encoded: Encoded) -> list[tuple[str, list[str]]]:
    """A start for the search: each partly drained vehicle with the most demanding door delivery its charge covers.

    From an empty start the search tends to give the parcels a drained vehicle could carry to a
    charged one, and then cannot move them over without losing what only the charged one can carry
    (each step alone gains nothing); started this way, it keeps the drained vehicles busy.
    """
    taken: set[str] = set()
    routes = []
    for vehicle_type, members in enumerate(encoded.type_vehicles):
        for vehicle in members:
            if not vehicle.starts_drained or vehicle.vehicle_id in encoded.swap_first:
                continue
            usable_wh = vehicle.battery_wh - problem.reserve_fraction * vehicle.battery_capacity_wh
            needs = problem.trip_wh.get(vehicle.energy_class, ())
            choices = [
                (needs[t.order.index][0], t.order.order_id)
                for client, t in enumerate(encoded.targets)
                if not t.at_locker
                and client not in encoded.barred[vehicle_type]
                and t.order.order_id not in taken
                and needs[t.order.index][0] <= usable_wh
            ]
            if choices:
                _need, order_id = max(choices)
                taken.add(order_id)
                routes.append((vehicle.vehicle_id, [order_id]))
    return routes


def _initial_solution(
    encoded: Encoded, routes: Sequence[tuple[str, Sequence[str]]], insert_first: Sequence[str] = ()
) -> pyvrp.Solution:
    client_of = {t.order.order_id + ("@locker" if t.at_locker else ""): i for i, t in enumerate(encoded.targets)}
    type_of = {v.vehicle_id: i for i, members in enumerate(encoded.type_vehicles) for v in members}
    vehicle_of = {v.vehicle_id: v for members in encoded.type_vehicles for v in members}
    built: dict[str, tuple[int, list[pyvrp.Activity]]] = {}
    for vehicle_id, order_ids in routes:
        clients = [client_of[o] for o in order_ids if o in client_of]
        if not clients or vehicle_id not in type_of:
            continue
        vehicle = vehicle_of[vehicle_id]
        activities: list[pyvrp.Activity] = []
        for number, client in enumerate(clients):
            if number and vehicle.kind is not VehicleKind.VAN:  # single-parcel trips: reload between
                activities.append(pyvrp.Activity(pyvrp.ActivityType.DEPOT, vehicle.depot.index))
            activities.append(pyvrp.Activity(pyvrp.ActivityType.CLIENT, client))
        built[vehicle_id] = (type_of[vehicle_id], activities)
    # routes that no longer hold (the vehicle starts later or elsewhere now) shed visits; those are re-inserted
    shed: list[str] = []
    for vehicle_id, (vehicle_type, activities) in list(built.items()):
        route = _route_or_none(encoded.data, activities, vehicle_type)
        kept_route = repair(encoded, pyvrp.Solution(encoded.data, [route])).routes() if route is not None else []
        kept = [pyvrp.Activity(a.type, a.idx) for r in kept_route for a in list(r.schedule())[1:-1]]
        kept_clients = {a.idx for a in kept if a.is_client()}
        shed.extend(
            encoded.targets[a.idx].order.order_id for a in activities if a.is_client() and a.idx not in kept_clients
        )
        if kept:
            built[vehicle_id] = (vehicle_type, kept)
        else:
            del built[vehicle_id]
    for order_id in [*insert_first, *shed]:
        options = [client_of[k] for k in (order_id, order_id + "@locker") if k in client_of]
        _insert_cheapest(encoded, built, vehicle_of, options)
    return pyvrp.Solution(
        encoded.data, [pyvrp.Route(encoded.data, acts, vehicle_type) for vehicle_type, acts in built.values()]
    )


def _insert_cheapest(
    encoded: Encoded,
    built: dict[str, tuple[int, list[pyvrp.Activity]]],
    vehicle_of: dict[str, Vehicle],
    clients: list[int],
) -> None:
    """Put one of `clients` (alternatives of one order) where it raises the cost least, keeping routes feasible."""
    data = encoded.data
    best: tuple[float, str, int, list[pyvrp.Activity]] | None = None
    idle = [
        (v.vehicle_id, i)
        for i, members in enumerate(encoded.type_vehicles)
        for v in members
        if v.vehicle_id not in built
    ]
    candidates = [(vid, vt, acts) for vid, (vt, acts) in built.items()]
    seen_types: set[int] = set()
    for vehicle_id, vehicle_type in idle:  # one idle vehicle per type is enough
        if vehicle_type not in seen_types:
            seen_types.add(vehicle_type)
            candidates.append((vehicle_id, vehicle_type, []))
    for client in clients:
        visit = pyvrp.Activity(pyvrp.ActivityType.CLIENT, client)
        for vehicle_id, vehicle_type, acts in candidates:
            vehicle = vehicle_of[vehicle_id]
            if client in encoded.barred[vehicle_type]:
                continue
            base = pyvrp.Route(data, acts, vehicle_type) if acts else None
            base_cost = (base.distance_cost() + base.duration_cost()) if base is not None else 0.0
            reload = pyvrp.Activity(pyvrp.ActivityType.DEPOT, vehicle.depot.index)
            multi_trip = vehicle.kind is not VehicleKind.VAN
            for position in range(len(acts) + 1):
                if multi_trip:
                    if position not in (0, len(acts)) and not acts[position].is_depot():
                        continue
                    if not acts:
                        trial = [visit]
                    elif position == len(acts):
                        trial = [*acts, reload, visit]
                    else:
                        trial = [*acts[:position], visit, reload, *acts[position:]]
                else:
                    trial = [*acts[:position], visit, *acts[position:]]
                route = pyvrp.Route(data, trial, vehicle_type)
                if not route.is_feasible():
                    continue
                delta = (
                    route.distance_cost()
                    + route.duration_cost()
                    - base_cost
                    + (vehicle.fixed_cost if base is None else 0.0)
                )
                if best is None or delta < best[0]:
                    best = (delta, vehicle_id, vehicle_type, trial)
    if best is not None:
        built[best[1]] = (best[2], best[3])


def repair(encoded: Encoded, solution: pyvrp.Solution) -> pyvrp.Solution:
    """Make an infeasible solution feasible by dropping visits (their orders become unplanned).

    Visits a vehicle kind may not make go first; then, per route, the visit with the most time
    warp (or the heaviest, on excess load) until the route is feasible. The search returns an
    infeasible best only when its time ran out before penalties had done their work.
    """
    data = encoded.data
    delivery = [client.delivery for client in data.clients()]
    routes = []
    for route in solution.routes():
        vehicle_type = route.vehicle_type()
        barred = encoded.barred[vehicle_type]
        activities = [
            pyvrp.Activity(a.type, a.idx) for a in list(route.schedule())[1:-1] if a.is_depot() or a.idx not in barred
        ]
        candidate = _route_or_none(data, activities, vehicle_type)
        while candidate is not None and not candidate.is_feasible():
            schedule = list(candidate.schedule())[1:-1]
            clients = [a for a in schedule if a.is_client()]
            if not clients:
                candidate = None
                break
            if candidate.has_time_warp():
                victim = max(clients, key=lambda a: a.time_warp)
                if victim.time_warp == 0:
                    victim = clients[-1]
            elif candidate.has_excess_distance():  # farther than its charge allows: shed visits from the end
                victim = clients[-1]
            else:  # the visit with most load in the dimensions exceeded (weight, parcels, energy)
                over = [d for d, excess in enumerate(candidate.excess_load()) if excess > 0]
                victim = max(clients, key=lambda a: [delivery[a.idx][d] for d in over])
            activities = [pyvrp.Activity(a.type, a.idx) for a in schedule if a is not victim]
            candidate = _route_or_none(data, activities, vehicle_type)
        if candidate is not None:
            routes.append(candidate)
    return pyvrp.Solution(data, routes)


def _route_or_none(data: pyvrp.ProblemData, activities: list[pyvrp.Activity], vehicle_type: int) -> pyvrp.Route | None:
    # no empty trips: collapse consecutive reloads and drop reloads at either end (a leading one only stays
    # when the vehicle starts with load to drop: a drained battery swapped before the first trip)
    keep_leading = any(data.vehicle_type(vehicle_type).initial_load)
    cleaned: list[pyvrp.Activity] = []
    for activity in activities:
        if activity.is_depot() and ((not cleaned and not keep_leading) or (cleaned and cleaned[-1].is_depot())):
            continue
        cleaned.append(activity)
    while cleaned and cleaned[-1].is_depot():
        cleaned.pop()
    if not cleaned:
        return None
    return pyvrp.Route(data, cleaned, vehicle_type)


def _round_trip_m(problem: Problem, vehicle: Vehicle, order_index: int) -> float:
    """From the vehicle's depot to the order's door and back, on its kind's network (metres)."""
    distance_m = problem.matrices[vehicle.kind].distance_m
    depot, door = problem.depot_point[vehicle.depot.index], problem.home_point[order_index]
    return float(distance_m[depot, door] + distance_m[door, depot])


def decode(problem: Problem, encoded: Encoded, solution: pyvrp.Solution, *, runtime: float) -> Plan:
    """Turn a PyVRP solution into per-vehicle legs with absolute times, distances and energy."""
    free = [list(members) for members in encoded.type_vehicles]
    routes = []
    visited: set[str] = set()
    for route in solution.routes():
        vehicle = free[route.vehicle_type()].pop(0)
        legs = _legs(problem, encoded, vehicle, route)
        routes.append(VehicleRoute(vehicle.vehicle_id, vehicle.kind, tuple(legs)))
        visited.update(o for leg in legs if leg.kind is LegKind.DROPOFF for o in leg.order_ids)
    unplanned = {**problem.skipped, **encoded.unplannable}
    for order in problem.orders:
        if order.order_id in visited or order.order_id in unplanned:
            continue
        able = [v for v in problem.vehicles if v.carried_by is None and any(problem.eligible[v.kind][order.index])]
        short = [v for v in able if _round_trip_m(problem, v, order.index) > v.range_m]
        if able and all(v.vehicle_id in order.avoid_vehicle_ids for v in able):
            unplanned[order.order_id] = "every vehicle that could take it is one it avoids (avoid_vehicle_ids)"
        elif able and len(short) == len(able):  # transient ("left out"): they charge at the hub meanwhile
            unplanned[order.order_id] = (
                f"left out: farther than the charge of {', '.join(v.vehicle_id for v in short)} takes it now "
                f"({_round_trip_m(problem, short[0], order.index) / 1000:.1f} km there and back, "
                f"{short[0].range_m / 1000:.1f} km of charge above the reserve)")
        else:
            unplanned[order.order_id] = "left out: no feasible or worthwhile slot in the fleet's routes"
    divisor = _UNIT_DIVISOR[problem.objective.kind]
    # PyVRP counts the prize of the unused alternative of a locker group as lost: recompute
    travel_cost = solution.distance_cost() + solution.duration_cost() + solution.fixed_vehicle_cost()
    left_out = sum(o.priority for o in problem.orders if o.order_id not in visited)
    return Plan(
        routes=tuple(routes),
        unplanned=unplanned,
        objective_value=travel_cost / divisor + problem.objective.penalty * left_out,
        feasible=bool(solution.is_feasible()),
        made_at_s=problem.origin_s,
        runtime_s=runtime,
    )


def _legs(problem: Problem, encoded: Encoded, vehicle: Vehicle, route: pyvrp.Route) -> list[Leg]:
    kind = vehicle.kind
    matrices = problem.matrices[kind]
    travel = problem.travel.get(kind)
    service = encoded.service_s[kind]
    schedule = list(route.schedule())
    legs: list[Leg] = []
    previous_point: int | None = None
    depart_rel = 0.0
    for number, activity in enumerate(schedule):
        if activity.is_depot():
            point = encoded.depot_points[activity.idx]
            target = None
        else:
            target = encoded.targets[activity.idx]
            point = target.point
        if previous_point is not None and not (number == 1 and activity.is_depot() and point == previous_point):
            # (a reload right at the start, where the vehicle stands, is a battery swap before its first trip)
            arrival_rel = activity.start_time - activity.wait_duration
            legs.append(
                _travel_leg(
                    problem,
                    vehicle,
                    travel,
                    matrices,
                    previous_point,
                    point,
                    target,
                    depart_rel,
                    arrival_rel,
                    activity.start_time + (service if target else 0),
                    schedule[number - 1].trip,  # the way back to a depot closes the trip it came from
                )
            )
        if activity.is_depot():
            trip_orders = tuple(
                encoded.targets[a.idx].order.order_id
                for a in schedule[number + 1 :]
                if not a.is_depot() and a.trip == activity.trip
            )
            if trip_orders:
                xy = problem.points[point]
                start = problem.origin_s + activity.start_time
                end = problem.origin_s + activity.end_time
                if kind is not VehicleKind.VAN and number > 0:
                    legs.append(Leg(LegKind.CHARGE, vehicle.vehicle_id, start, start, end, xy, xy, trip=activity.trip))
                legs.append(
                    Leg(
                        LegKind.PICKUP,
                        vehicle.vehicle_id,
                        start,
                        start,
                        end,
                        xy,
                        xy,
                        order_ids=trip_orders,
                        trip=activity.trip,
                    )
                )
            depart_rel = activity.end_time
        else:
            depart_rel = activity.start_time + service
        previous_point = point
    if vehicle.vehicle_id in encoded.swap_first and legs:
        first = legs[0]
        swap_s = vehicle.depot.reload_s
        legs.insert(
            0,
            Leg(
                LegKind.CHARGE,
                vehicle.vehicle_id,
                first.start_s - swap_s,
                first.start_s - swap_s,
                first.start_s,
                first.from_xy_m,
                first.from_xy_m,
                trip=first.trip,
            ),
        )
    return legs


def _travel_leg(
    problem: Problem,
    vehicle: Vehicle,
    travel: object,
    matrices: object,
    from_point: int,
    to_point: int,
    target: _Target | None,
    depart_rel: float,
    arrival_rel: float,
    end_rel: float,
    trip: int,
) -> Leg:
    from_xy = problem.points[from_point]
    to_xy = problem.points[to_point]
    distance_m = float(problem.matrices[vehicle.kind].distance_m[from_point, to_point])
    payload_kg = target.order.weight_kg if target is not None else 0.0
    waypoints: tuple = ()
    if isinstance(travel, DroneTravel):
        path = travel.path(from_xy, to_xy)
        waypoints = path.waypoints
        energy_wh = path.energy_wh(travel.model, payload_kg)
        if target is not None:
            energy_wh += travel.model.hover_energy_wh(payload_kg, vehicle.service_s)
    else:
        energy_wh = vehicle.wh_per_km * distance_m / 1000.0
    return Leg(
        kind=LegKind.DROPOFF if target is not None else LegKind.RETURN,
        vehicle_id=vehicle.vehicle_id,
        start_s=problem.origin_s + depart_rel,
        arrival_s=problem.origin_s + arrival_rel,
        end_s=problem.origin_s + end_rel,
        from_xy_m=from_xy,
        to_xy_m=to_xy,
        distance_m=distance_m if math.isfinite(distance_m) else 0.0,
        energy_wh=energy_wh,
        order_ids=(target.order.order_id,) if target is not None else (),
        at_locker=target.at_locker if target is not None else False,
        trip=trip,
        waypoints=waypoints,
    )

"""Travel models per vehicle kind (straight line, ground graph, safe drone paths) and the freeze of a `Model`.

A travel model turns the problem's distinct points into distance (m) and duration (s) matrices
(+inf where a vehicle cannot go). `build_problem` uses them to freeze a `Model` into a `Problem`
and to decide, per order and vehicle kind, whether a single-parcel trip fits the vehicle's
battery under the reserve policy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from . import handling
from .drone_paths import DronePath, DronePathPlanner
from .energy import MultirotorModel, ReservePolicy
from .errors import PathError, PlanningError
from .geodesy import LocalFrame
from .ground_paths import GroundNetwork
from .model import EnergyClass, KindMatrices, Locker, Model, Order, Problem, Vehicle, VehicleKind


class Travel(Protocol):
    """Distance and duration matrices between local points for one vehicle kind."""

    def matrices(self, points_xy: Sequence[tuple[float, float]]) -> KindMatrices:
        """Matrices between `points_xy` (local m); +inf where unreachable."""
        ...


@dataclass(frozen=True)
class EuclideanTravel:
    """Straight lines at `speed_m_s`; `truncate_decimals` floors each arc (the CVRPLIB convention)."""

    speed_m_s: float = 1.0
    truncate_decimals: int | None = None

    def matrices(self, points_xy: Sequence[tuple[float, float]]) -> KindMatrices:
        """Euclidean matrices between the points."""
        xy = np.asarray(points_xy, dtype=float).reshape(-1, 2)
        distance = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
        if self.truncate_decimals is not None:
            scale = 10.0**self.truncate_decimals
            distance = np.floor(distance * scale + 1e-9) / scale
        return KindMatrices(distance, distance / self.speed_m_s)


@dataclass(frozen=True)
class GroundTravel:
    """Shortest paths on a ground network (walk graph for robots, street graph for vans)."""

    network: GroundNetwork

    def matrices(self, points_xy: Sequence[tuple[float, float]]) -> KindMatrices:
        """Graph matrices (each point snapped to its nearest node); cached in the network."""
        distance, duration = self.network.point_matrices(list(points_xy))
        return KindMatrices(distance, duration)


@dataclass
class DroneTravel:
    """Safe drone paths (climb, cruise around buffered zones, descend) flown by `model`."""

    planner: DronePathPlanner
    model: MultirotorModel = field(default_factory=MultirotorModel)
    drop_hover_s: float = 30.0
    start_s: float | None = None
    end_s: float | None = None
    # The wind (east, north; m/s) trips are reckoned in, flown at the model's cruise speed over the ground as the
    # autopilot flies them (`wind_flight`); still air: the model's own sortie. Set per plan, not part of the caches.
    wind_m_s: tuple[float, float] = (0.0, 0.0)
    _rows: dict[tuple[float, float], dict[tuple[float, float], float]] = field(default_factory=dict, repr=False)
    _paths: dict[tuple[tuple[float, float], tuple[float, float]], DronePath] = field(default_factory=dict, repr=False)

    def path(self, start_xy: tuple[float, float], goal_xy: tuple[float, float]) -> DronePath:
        """The safe path between two points (cached; PathError when there is none)."""
        key = (start_xy, goal_xy)
        path = self._paths.get(key)
        if path is None:
            path = self.planner.path(start_xy, goal_xy, start_s=self.start_s, end_s=self.end_s)
            self._paths[key] = path
        return path

    def matrices(self, points_xy: Sequence[tuple[float, float]]) -> KindMatrices:
        """Cruise lengths and flight times (climb + cruise + descent); +inf where no safe path.

        Rows are cached per point: a later call with a few new points computes only their rows.
        """
        points = [(float(x), float(y)) for x, y in points_xy]
        missing = [p for p in dict.fromkeys(points) if p not in self._rows or not self._covers(p, points)]
        if missing:
            rows = self.planner.distance_rows_m(missing, points, start_s=self.start_s, end_s=self.end_s)
            for point, row in zip(missing, rows, strict=True):
                known = self._rows.setdefault(point, {})
                known.update(zip(points, row.tolist(), strict=True))
        distance = np.array([[self._rows[p][q] for q in points] for p in points], dtype=float)
        altitude = self.planner.cruise_altitude_m
        vertical_s = self.model.vertical_time_s(altitude) + self.model.vertical_time_s(-altitude)
        duration = distance / self.model.cruise_airspeed_m_s + vertical_s
        np.fill_diagonal(duration, 0.0)
        return KindMatrices(distance, duration)

    def _covers(self, point: tuple[float, float], points: list[tuple[float, float]]) -> bool:
        row = self._rows[point]
        return all(q in row for q in points)

    def sortie_energy_wh(self, payload_kg: float, outbound_m: float, return_m: float) -> float:
        """Energy of a depot -> drop -> depot sortie with the model's climb, cruise, hover and descent."""
        return self.model.sortie_energy_wh(
            payload_kg, outbound_m, return_m, self.planner.cruise_altitude_m, drop_hover_s=self.drop_hover_s
        )

    def trip_energy_wh(
        self, payload_kg: float, depot_xy: tuple[float, float], target_xy: tuple[float, float], outbound_m: float,
        return_m: float,
    ) -> float:
        """Energy (Wh) of the sortie depot -> `target_xy` -> depot; inf when a leg has no safe path.

        Flat worlds in still air: `sortie_energy_wh` over the cruise lengths. Over terrain the sortie is flown along the
        terrain-following paths themselves (`DronePath.energy_wh`): the climbs and descents along the valley
        and the thinner air up high are in it, which a flat sortie of the same length misses (a village
        500 m above the hub costs the potential energy of the climb there). In wind (`wind_m_s`), over terrain or
        not, the paths are flown as the autopilot flies them: ground speed held, faster through the air upwind.
        """
        if self.planner.terrain is None and self.wind_m_s == (0.0, 0.0):
            return self.sortie_energy_wh(payload_kg, outbound_m, return_m)
        try:
            out = self.path(depot_xy, target_xy)
            back = self.path(target_xy, depot_xy)
        except PathError:
            return math.inf
        return (self.path_energy_wh(out, payload_kg) + self.model.hover_energy_wh(payload_kg, self.drop_hover_s)
                + self.path_energy_wh(back, 0.0))

    def path_energy_wh(self, path: DronePath, payload_kg: float) -> float:
        """Energy (Wh) to fly `path` carrying `payload_kg`: in still air the model's legs, in wind (`wind_m_s`) the
        autopilot's (ground speed held at the model's cruise speed)."""
        if self.wind_m_s == (0.0, 0.0):
            return path.energy_wh(self.model, payload_kg)
        return path.energy_in_wind_wh(self.model, payload_kg, self.model.cruise_airspeed_m_s, self.wind_m_s)


def _dedupe(points: list[tuple[float, float]]) -> tuple[list[tuple[float, float]], list[int]]:
    index: dict[tuple[float, float], int] = {}
    unique: list[tuple[float, float]] = []
    mapping = []
    for x, y in points:
        key = (round(x, 1), round(y, 1))
        if key not in index:
            index[key] = len(unique)
            unique.append((x, y))
        mapping.append(index[key])
    return unique, mapping


def build_problem(
    model: Model,
    travel: Mapping[VehicleKind, Travel],
    *,
    now_s: float = 0.0,
    reserve: ReservePolicy | None = None,
    safe_landing_xy: Sequence[tuple[float, float]] = (),
    frame: LocalFrame | None = None,
    lockers: Mapping[str, Locker] | None = None,
) -> Problem:
    """Freeze `model`: matrices per kind, orders that can be planned, and per-kind eligibility.

    An order is skipped (with the reason in `Problem.skipped`) when customs has not cleared it,
    when its window has closed by `now_s`, or when no vehicle can carry it there at all.
    Drone/robot eligibility keeps the reserve policy: the single-parcel trip from the depot must
    leave ``reserve_fraction`` of the battery plus the energy to the nearest safe landing point.
    `frame` and `lockers` (the world's) let `replan` place orders given in WGS84.
    """
    reserve = reserve if reserve is not None else ReservePolicy()
    if not model.depots:
        raise PlanningError("a problem needs at least one depot")
    kinds = {v.kind for v in model.vehicles}
    missing = sorted(k.value for k in kinds if k not in travel)
    if missing:
        raise PlanningError(f"no travel model for vehicle kind(s) {', '.join(missing)}")
    skipped: dict[str, str] = {}
    candidates: list[Order] = []
    for order in model.orders:
        if not order.customs_cleared:
            skipped[order.order_id] = "customs not cleared"
        elif max(order.home_window_s()[1], (order.locker_window_s() or (0.0, -math.inf))[1]) < now_s:
            skipped[order.order_id] = "delivery window already closed"
        else:
            candidates.append(order)
    raw_points = [(d.x_m, d.y_m) for d in model.depots]
    raw_points += [
        (v.start_x_m, v.start_y_m) for v in model.vehicles if v.start_x_m is not None and v.start_y_m is not None
    ]
    raw_points += [(o.x_m, o.y_m) for o in candidates]
    raw_points += [(o.locker.x_m, o.locker.y_m) for o in candidates if o.locker is not None]
    raw_points += list(safe_landing_xy)
    points, _ = _dedupe(raw_points)
    lookup = {(round(x, 1), round(y, 1)): i for i, (x, y) in enumerate(points)}

    def point_of(x: float, y: float) -> int:
        return lookup[(round(x, 1), round(y, 1))]

    matrices = {kind: travel[kind].matrices(points) for kind in sorted(kinds)}
    landing_points = [point_of(x, y) for x, y in safe_landing_xy] + [point_of(d.x_m, d.y_m) for d in model.depots]
    eligible_lists: dict[VehicleKind, list[tuple[bool, bool]]] = {kind: [] for kind in kinds}
    # one representative per distinct (depot, capacity, battery, carried) vehicle: eligibility is the same
    fleets: dict[VehicleKind, list[Vehicle]] = {}
    for kind in kinds:
        distinct: dict[tuple[object, ...], Vehicle] = {}
        for v in model.vehicles:
            if v.kind is kind:
                distinct.setdefault(
                    (
                        v.depot.index,
                        v.capacity_kg,
                        v.battery_capacity_wh,
                        v.wh_per_km,
                        v.carried_by is None,
                        v.cold_chain,
                        v.ride_shock_g,
                    ),
                    v,
                )
        fleets[kind] = list(distinct.values())
    # battery vehicles planned from their depot: the energy of each order's trip, per energy class
    classes: dict[EnergyClass, Vehicle] = {}
    for v in model.vehicles:
        if v.carried_by is None and v.battery_capacity_wh > 0:
            classes.setdefault(v.energy_class, v)
    trip_wh: dict[EnergyClass, list[tuple[float, float]]] = {c: [] for c in classes}
    planned: list[Order] = []
    for order in candidates:
        targets = (
            point_of(order.x_m, order.y_m),
            point_of(order.locker.x_m, order.locker.y_m) if order.locker is not None else None,
        )
        needs = {
            energy_class: tuple(
                _trip_need_wh(v, order, target, point_of(v.depot.x_m, v.depot.y_m), matrices[v.kind],
                              travel[v.kind], landing_points, points)
                if target is not None and order.fits(v) else math.inf
                for target in targets
            )
            for energy_class, v in classes.items()
        }
        flags: dict[VehicleKind, tuple[bool, bool]] = {}
        for kind in kinds:
            home_ok, locker_ok = (
                any(_reachable(v, order, target, which, needs, matrices[kind], point_of, reserve) for v in fleets[kind])
                for which, target in enumerate(targets)
            )
            flags[kind] = (home_ok, locker_ok)
        if not any(home_ok or locker_ok for home_ok, locker_ok in flags.values()):
            door_s = {v.vehicle_id: _door_time_s(v, targets[0], matrices[v.kind], point_of) for v in model.vehicles}
            skipped[order.order_id] = (
                handling.refusal_reason(order, model.vehicles, door_s)
                or "no vehicle can carry it there (size, weight, range, airspace)"
            )
            continue
        planned.append(order)
        for kind in kinds:
            eligible_lists[kind].append(flags[kind])
        for energy_class, need in needs.items():
            trip_wh[energy_class].append((need[0], need[1]))
    renumbered = tuple(_renumber(order, i) for i, order in enumerate(planned))
    return Problem(
        depots=tuple(model.depots),
        vehicles=tuple(model.vehicles),
        orders=renumbered,
        skipped=skipped,
        points=tuple(points),
        depot_point=tuple(point_of(d.x_m, d.y_m) for d in model.depots),
        home_point=tuple(point_of(o.x_m, o.y_m) for o in renumbered),
        locker_point=tuple(point_of(o.locker.x_m, o.locker.y_m) if o.locker else None for o in renumbered),
        matrices=matrices,
        eligible={kind: tuple(flags) for kind, flags in eligible_lists.items()},
        objective=model.objective,
        origin_s=float(now_s),
        require_all=model.require_all,
        travel=dict(travel),
        safe_landing_xy=tuple((float(x), float(y)) for x, y in safe_landing_xy),
        trip_wh={c: tuple(needs) for c, needs in trip_wh.items()},
        reserve_fraction=reserve.reserve_fraction,
        frame=frame,
        lockers=dict(lockers or {}),
    )


def _renumber(order: Order, index: int) -> Order:
    return replace(order, index=index)


def _reachable(
    vehicle: Vehicle,
    order: Order,
    target: int | None,
    which: int,
    needs: Mapping[EnergyClass, tuple[float, ...]],
    matrices: KindMatrices,
    point_of: Callable[[float, float], int],
    reserve: ReservePolicy,
) -> bool:
    """Whether `vehicle` may deliver `order` at `target` (its door or locker, `which` 0/1) at all."""
    if target is None or not order.fits(vehicle):
        return False
    if vehicle.carried_by is not None:
        return True  # judged per sortie by the handoff planner
    if not handling.reaches_in_time(order, _door_time_s(vehicle, target, matrices, point_of)):
        return False
    if vehicle.battery_capacity_wh <= 0:  # no battery limit modelled (vans, benchmark vehicles)
        depot = point_of(vehicle.depot.x_m, vehicle.depot.y_m)
        return math.isfinite(float(matrices.distance_m[depot, target])) and math.isfinite(
            float(matrices.distance_m[target, depot])
        )
    # every trip can start on a swapped (full) battery at the depot
    need_wh = needs[vehicle.energy_class][which]
    capacity_wh = vehicle.battery_capacity_wh
    return math.isfinite(need_wh) and reserve.is_feasible(capacity_wh, capacity_wh, need_wh)


def _door_time_s(
    vehicle: Vehicle, target: int | None, matrices: KindMatrices, point_of: Callable[[float, float], int]
) -> float:
    """Loading at the depot plus the fastest way from it to `target` (the time a parcel spends out of the hub)."""
    if target is None:
        return math.inf
    depot = point_of(vehicle.depot.x_m, vehicle.depot.y_m)
    return vehicle.depot.reload_s + float(matrices.duration_s[depot, target])


def _trip_need_wh(
    vehicle: Vehicle,
    order: Order,
    target: int,
    depot: int,
    matrices: KindMatrices,
    travel: Travel,
    landing_points: list[int],
    points: Sequence[tuple[float, float]],
) -> float:
    """Energy (Wh) of the single-parcel trip depot -> target -> depot, plus (drones) the flight from the target to
    the nearest safe landing point: what the battery must hold above its reserve fraction. inf where it cannot go."""
    outbound_m = float(matrices.distance_m[depot, target])
    return_m = float(matrices.distance_m[target, depot])
    if not (math.isfinite(outbound_m) and math.isfinite(return_m)):
        return math.inf
    if isinstance(travel, DroneTravel):
        sortie_wh = travel.trip_energy_wh(order.weight_kg, points[depot], points[target], outbound_m, return_m)
        landing_m = min(float(matrices.distance_m[target, p]) for p in landing_points)
        landing_wh = travel.model.leg_energy_wh(0.0, landing_m) if math.isfinite(landing_m) else math.inf
        return sortie_wh + landing_wh
    return vehicle.wh_per_km * (outbound_m + return_m) / 1000.0

"""Planning problem: vehicles, orders, depots and objective, built with `Model` into a frozen `Problem`.

PyVRP-style: ``Model.add_*`` validates and returns the object it created; later calls take that
object. ``Model.problem(travel)`` freezes everything with the travel matrices of each vehicle
kind. Times are epoch seconds (``*_s``), positions metres in the world's local frame (``x_m``,
``y_m``), masses kg.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from . import handling
from .errors import PlanningError
from .geodesy import LocalFrame

DAY_S = 86400.0


class VehicleKind(StrEnum):
    """What a vehicle is; decides which travel matrix and which orders it can take."""

    DRONE = "drone"
    ROBOT = "robot"
    VAN = "van"


class SizeClass(StrEnum):
    """Parcel size: S fits a drone's bay, M a robot's compartment, L only a van."""

    S = "S"
    M = "M"
    L = "L"


_SIZE_RANK = {SizeClass.S: 0, SizeClass.M: 1, SizeClass.L: 2}
_KIND_MAX_SIZE = {VehicleKind.DRONE: SizeClass.S, VehicleKind.ROBOT: SizeClass.M, VehicleKind.VAN: SizeClass.L}


class ObjectiveKind(StrEnum):
    """What the planner minimises (besides leaving orders unplanned, which always costs most)."""

    COST = "cost"  # euros: per-km, per-hour and fixed vehicle costs
    ENERGY = "energy"  # watt-hours
    DISTANCE = "distance"  # metres
    DURATION = "duration"  # vehicle-seconds: finish deliveries early (time windows are hard)


_DEFAULT_PENALTY = {
    ObjectiveKind.COST: 1000.0,  # euros
    ObjectiveKind.ENERGY: 100_000.0,  # Wh
    ObjectiveKind.DISTANCE: 1_000_000.0,  # m
    ObjectiveKind.DURATION: 1_000_000.0,  # s
}


@dataclass(frozen=True)
class Objective:
    """The objective and the penalty for leaving an order unplanned, per priority level, in the objective's unit.

    The default penalty outweighs any single delivery's cost, so orders are left out only when
    no vehicle can take them.
    """

    kind: ObjectiveKind = ObjectiveKind.COST
    unplanned_penalty: float | None = None

    def __post_init__(self) -> None:
        penalty = self.unplanned_penalty
        if penalty is not None and (not math.isfinite(penalty) or penalty < 0):
            raise PlanningError(f"unplanned_penalty must be >= 0, got {penalty!r}")

    @property
    def penalty(self) -> float:
        """The unplanned-order penalty in force (the kind's default when none was given)."""
        return _DEFAULT_PENALTY[self.kind] if self.unplanned_penalty is None else self.unplanned_penalty


@dataclass(frozen=True)
class Depot:
    """A place vehicles start from, reload at and return to (the hub, or a vehicle's current spot)."""

    index: int
    name: str
    x_m: float
    y_m: float
    opens_s: float
    closes_s: float
    reload_s: float  # loading a van / swapping a drone battery, at the start of each trip


@dataclass(frozen=True)
class Vehicle:
    """One vehicle. Drones and robots fly/drive single-parcel trips from their depot (battery swap between).

    `carried_by` names the van a drone or robot rides on (van handoff); such a vehicle is planned
    from that van's stops, not from the depot. `available_from_s` delays the start (re-planning).
    """

    index: int
    vehicle_id: str
    kind: VehicleKind
    depot: Depot
    capacity_kg: float
    capacity_parcels: int
    speed_m_s: float
    service_s: float
    shift_start_s: float
    shift_end_s: float
    battery_capacity_wh: float = 0.0
    battery_wh: float = 0.0
    cost_per_km: float = 0.0
    cost_per_hour: float = 0.0
    fixed_cost: float = 0.0
    wh_per_km: float = 0.0  # ground vehicles; drones use the multirotor model
    carried_by: str | None = None
    available_from_s: float | None = None
    start_x_m: float | None = None  # where the vehicle is now, when not at its depot (re-planning)
    start_y_m: float | None = None
    cold_chain: bool = True  # has an insulated box (cold-chain parcels need one)
    ride_shock_g: float = 0.0  # peak shock its ride and hand-over put on a parcel (fragile parcels set a limit)
    # How far it may travel in this plan, all trips counted, before it must recharge (a van's present charge above
    # its reserve: it charges at the hub for hours, not in a swap); inf = not limited.
    range_m: float = math.inf

    @property
    def max_size(self) -> SizeClass:
        """Largest parcel size class this vehicle can carry."""
        return _KIND_MAX_SIZE[self.kind]

    @property
    def energy_class(self) -> EnergyClass:
        """Vehicles that spend the same energy on the same trip (kind, depot, Wh per km)."""
        return EnergyClass(self.kind, self.depot.index, self.wh_per_km)

    @property
    def starts_drained(self) -> bool:
        """Starts with less than a full battery: its first trip must fit what is left (later trips start on a
        swapped one)."""
        return self.battery_capacity_wh > 0.0 and self.battery_wh < self.battery_capacity_wh


@dataclass(frozen=True, order=True)
class EnergyClass:
    """What decides a vehicle's energy for a trip besides the trip itself: its kind's travel model, the depot
    the trip starts from, and (ground vehicles) its Wh per km."""

    kind: VehicleKind
    depot_index: int
    wh_per_km: float


@dataclass(frozen=True)
class Locker:
    """A parcel locker an order may fall back to when the recipient is not available."""

    site_id: str
    x_m: float
    y_m: float
    opens_s: float = 0.0
    closes_s: float = math.inf


@dataclass(frozen=True)
class Order:
    """A parcel to deliver. Only customs-cleared orders are planned."""

    index: int
    order_id: str
    x_m: float
    y_m: float
    weight_kg: float
    size_class: SizeClass
    earliest_s: float
    latest_s: float
    priority: int = 1
    customs_cleared: bool = True
    recipient_from_s: float | None = None
    recipient_until_s: float | None = None
    locker: Locker | None = None
    avoid_vehicle_ids: frozenset[str] = frozenset()  # vehicles that may not deliver it (they failed it recently)
    max_out_s: float | None = None  # cold chain: longest time from the hub's cold store to hand-over
    max_shock_g: float | None = None  # fragile: the shock limit

    def home_window_s(self) -> tuple[float, float]:
        """The delivery window at the recipient's door: the order window cut to the recipient's availability."""
        start = max(self.earliest_s, self.recipient_from_s if self.recipient_from_s is not None else -math.inf)
        end = min(self.latest_s, self.recipient_until_s if self.recipient_until_s is not None else math.inf)
        return start, end

    def locker_window_s(self) -> tuple[float, float] | None:
        """The delivery window at the fallback locker, or None without one."""
        if self.locker is None:
            return None
        return max(self.earliest_s, self.locker.opens_s), min(self.latest_s, self.locker.closes_s)

    def fits(self, vehicle: Vehicle) -> bool:
        """Weight, size and handling class (insulated box, shock) allow `vehicle` to carry this parcel."""
        return (
            self.weight_kg <= vehicle.capacity_kg
            and _SIZE_RANK[self.size_class] <= _SIZE_RANK[vehicle.max_size]
            and handling.capable(self, vehicle)
        )

    def allows(self, vehicle: Vehicle) -> bool:
        """`vehicle` fits the parcel and is not one the order avoids."""
        return self.fits(vehicle) and vehicle.vehicle_id not in self.avoid_vehicle_ids


@dataclass(frozen=True)
class KindMatrices:
    """Travel between the problem's points for one vehicle kind: metres, seconds, and Wh per parcel kg."""

    distance_m: np.ndarray
    duration_s: np.ndarray


@dataclass(frozen=True, eq=False)
class Problem:
    """A frozen planning problem: what `solve` takes.

    `points` are the distinct (x_m, y_m) places; `depot_point`, `home_point`, `locker_point`
    index into them; `matrices[kind]` gives travel between points for each vehicle kind.
    `eligible[kind][order.index]` is (home_ok, locker_ok): whether that kind may serve the order at
    its door / at its locker at all (size, weight, airspace, range, battery reserve).
    `trip_wh[energy_class][order.index]` is (home, locker): the energy (Wh) a battery vehicle of that
    class needs for the single-parcel trip from its depot, plus the flight to the nearest safe landing
    point — what must fit above the `reserve_fraction` of its battery (inf where it cannot go).
    """

    depots: tuple[Depot, ...]
    vehicles: tuple[Vehicle, ...]
    orders: tuple[Order, ...]
    skipped: Mapping[str, str]  # order_id -> why it is not planned (customs, window already past...)
    points: tuple[tuple[float, float], ...]
    depot_point: tuple[int, ...]
    home_point: tuple[int, ...]
    locker_point: tuple[int | None, ...]
    matrices: Mapping[VehicleKind, KindMatrices]
    eligible: Mapping[VehicleKind, tuple[tuple[bool, bool], ...]]
    objective: Objective
    origin_s: float
    require_all: bool = False
    travel: Mapping[VehicleKind, Any] = field(default_factory=dict)  # the travel models, for leg paths
    safe_landing_xy: tuple[tuple[float, float], ...] = ()
    trip_wh: Mapping[EnergyClass, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    reserve_fraction: float = 0.2
    frame: LocalFrame | None = None  # the world's frame, when the problem was made from WGS84 inputs
    lockers: Mapping[str, Locker] = field(default_factory=dict)  # the world's lockers, for orders added later

    def vehicle(self, vehicle_id: str) -> Vehicle:
        """The vehicle with this id."""
        for vehicle in self.vehicles:
            if vehicle.vehicle_id == vehicle_id:
                return vehicle
        raise PlanningError(f"no vehicle {vehicle_id!r} in the problem")

    def order(self, order_id: str) -> Order:
        """The order with this id."""
        for order in self.orders:
            if order.order_id == order_id:
                return order
        raise PlanningError(f"no planned order {order_id!r} in the problem")


def _check_number(name: str, value: float, *, minimum: float = 0.0, allow_inf: bool = False) -> float:
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf) or value < minimum:
        raise PlanningError(f"{name} must be a number >= {minimum}, got {value!r}")
    return value


def _positive(name: str, value: float) -> float:
    if _check_number(name, value) <= 0:
        raise PlanningError(f"{name} must be > 0, got {value!r}")
    return float(value)


class Model:
    """Builder for a `Problem` (PyVRP style): add depots, vehicles and orders, then call `problem`."""

    def __init__(self, objective: Objective | None = None) -> None:
        self.objective = objective if objective is not None else Objective()
        self.depots: list[Depot] = []
        self.vehicles: list[Vehicle] = []
        self.orders: list[Order] = []
        self.require_all = False

    def add_depot(
        self,
        x_m: float,
        y_m: float,
        *,
        name: str = "hub",
        opens_s: float = 0.0,
        closes_s: float = math.inf,
        reload_s: float = 0.0,
    ) -> Depot:
        """Add a depot (hub) and return it."""
        if _check_number("closes_s", closes_s, minimum=-math.inf, allow_inf=True) < opens_s:
            raise PlanningError(f"depot {name!r}: closes_s={closes_s} is before opens_s={opens_s}")
        depot = Depot(
            len(self.depots),
            name,
            float(x_m),
            float(y_m),
            float(opens_s),
            float(closes_s),
            _check_number("reload_s", reload_s),
        )
        self.depots.append(depot)
        return depot

    def add_vehicle(
        self,
        vehicle_id: str,
        kind: VehicleKind | str,
        depot: Depot,
        *,
        capacity_kg: float,
        capacity_parcels: int = 1,
        speed_m_s: float,
        service_s: float = 60.0,
        shift_start_s: float = 0.0,
        shift_end_s: float = math.inf,
        battery_capacity_wh: float = 0.0,
        battery_wh: float | None = None,
        cost_per_km: float = 0.0,
        cost_per_hour: float = 0.0,
        fixed_cost: float = 0.0,
        wh_per_km: float = 0.0,
        carried_by: str | None = None,
        available_from_s: float | None = None,
        start_xy_m: tuple[float, float] | None = None,
        cold_chain: bool = True,
        ride_shock_g: float = 0.0,
        range_m: float = math.inf,
    ) -> Vehicle:
        """Add a vehicle and return it. Drones and robots carry `capacity_parcels` per trip (default 1)."""
        if not vehicle_id:
            raise PlanningError("vehicle_id must not be empty")
        if any(v.vehicle_id == vehicle_id for v in self.vehicles):
            raise PlanningError(f"vehicle {vehicle_id!r} is added twice")
        if depot not in self.depots:
            raise PlanningError(f"vehicle {vehicle_id!r}: depot {depot.name!r} was not added to this model")
        try:
            kind = VehicleKind(kind)
        except ValueError as exc:
            raise PlanningError(f"vehicle {vehicle_id!r}: unknown kind {kind!r}") from exc
        if capacity_parcels < 1:
            raise PlanningError(f"vehicle {vehicle_id!r}: capacity_parcels must be >= 1, got {capacity_parcels}")
        if _check_number("speed_m_s", speed_m_s) <= 0:
            raise PlanningError(f"vehicle {vehicle_id!r}: speed_m_s must be > 0, got {speed_m_s}")
        if shift_end_s <= shift_start_s:
            raise PlanningError(f"vehicle {vehicle_id!r}: shift_end_s={shift_end_s} is not after {shift_start_s}")
        if carried_by is not None and kind is VehicleKind.VAN:
            raise PlanningError(f"vehicle {vehicle_id!r}: a van cannot be carried by another vehicle")
        capacity_wh = _check_number("battery_capacity_wh", battery_capacity_wh)
        vehicle = Vehicle(
            index=len(self.vehicles),
            vehicle_id=vehicle_id,
            kind=kind,
            depot=depot,
            capacity_kg=_check_number("capacity_kg", capacity_kg),
            capacity_parcels=int(capacity_parcels),
            speed_m_s=float(speed_m_s),
            service_s=_check_number("service_s", service_s),
            shift_start_s=float(shift_start_s),
            shift_end_s=float(shift_end_s),
            battery_capacity_wh=capacity_wh,
            battery_wh=capacity_wh if battery_wh is None else _check_number("battery_wh", battery_wh),
            cost_per_km=_check_number("cost_per_km", cost_per_km),
            cost_per_hour=_check_number("cost_per_hour", cost_per_hour),
            fixed_cost=_check_number("fixed_cost", fixed_cost),
            wh_per_km=_check_number("wh_per_km", wh_per_km),
            carried_by=carried_by,
            available_from_s=available_from_s,
            start_x_m=None if start_xy_m is None else float(start_xy_m[0]),
            start_y_m=None if start_xy_m is None else float(start_xy_m[1]),
            cold_chain=bool(cold_chain),
            ride_shock_g=_check_number("ride_shock_g", ride_shock_g),
            range_m=_check_number("range_m", range_m, allow_inf=True),
        )
        self.vehicles.append(vehicle)
        return vehicle

    def problem(self, travel: Mapping[VehicleKind, Any], *, now_s: float = 0.0, **options: Any) -> Problem:
        """Freeze into a `Problem` with the given travel model per vehicle kind (see `travel.build_problem`)."""
        from .travel import build_problem  # travel builds on this module

        return build_problem(self, travel, now_s=now_s, **options)

    def add_order(
        self,
        order_id: str,
        x_m: float,
        y_m: float,
        *,
        weight_kg: float,
        size_class: SizeClass | str = SizeClass.S,
        earliest_s: float = 0.0,
        latest_s: float = math.inf,
        priority: int = 1,
        customs_cleared: bool = True,
        recipient_from_s: float | None = None,
        recipient_until_s: float | None = None,
        locker: Locker | None = None,
        avoid_vehicle_ids: Iterable[str] = (),
        max_out_s: float | None = None,
        max_shock_g: float | None = None,
    ) -> Order:
        """Add an order and return it. `avoid_vehicle_ids`: vehicles that must not deliver it; `max_out_s`
        (cold chain): longest time from the hub's cold store to hand-over; `max_shock_g` (fragile): shock limit."""
        if not order_id:
            raise PlanningError("order_id must not be empty")
        avoid = frozenset(avoid_vehicle_ids) if not isinstance(avoid_vehicle_ids, str) else None
        if avoid is None or not all(isinstance(v, str) and v for v in avoid):
            raise PlanningError(
                f"order {order_id!r}: avoid_vehicle_ids must be a collection of vehicle ids, got {avoid_vehicle_ids!r}"
            )
        if any(o.order_id == order_id for o in self.orders):
            raise PlanningError(f"order {order_id!r} is added twice")
        try:
            size = SizeClass(size_class)
        except ValueError as exc:
            raise PlanningError(f"order {order_id!r}: unknown size_class {size_class!r} (S, M or L)") from exc
        if latest_s < earliest_s:
            raise PlanningError(f"order {order_id!r}: latest_s={latest_s} is before earliest_s={earliest_s}")
        if priority < 1:
            raise PlanningError(f"order {order_id!r}: priority must be >= 1, got {priority}")
        order = Order(
            index=len(self.orders),
            order_id=order_id,
            x_m=float(x_m),
            y_m=float(y_m),
            weight_kg=_check_number(f"order {order_id!r} weight_kg", weight_kg),
            size_class=size,
            earliest_s=float(earliest_s),
            latest_s=float(latest_s),
            priority=int(priority),
            customs_cleared=bool(customs_cleared),
            recipient_from_s=recipient_from_s,
            recipient_until_s=recipient_until_s,
            locker=locker,
            avoid_vehicle_ids=avoid,
            max_out_s=None if max_out_s is None else _positive(f"order {order_id!r} max_out_s", max_out_s),
            max_shock_g=None if max_shock_g is None else _positive(f"order {order_id!r} max_shock_g", max_shock_g),
        )
        self.orders.append(order)
        return order

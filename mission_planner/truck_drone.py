"""Truck–drone routing (FSTSP / mFSTSP): one truck carrying several drones, solved by a sortie search.

Shape: `TruckDroneProblem.build(...)` (validated, frozen) -> `solve(problem, seed=..., time_limit_s=...)`
-> `TruckDroneResult` (truck tour, sorties, every activity's times, makespan).

Rules (those of Murray & Chu 2015 and Murray & Raj 2020, with the differences between them as
problem fields):
- node 0 is the depot; the truck leaves it at time 0 and the tour ends back at it;
- each customer is served exactly once, by the truck or by one drone sortie
  (drone, launch node, customer, recovery node); only drone-eligible customers go by drone;
- a sortie is launched at a truck node (or the depot at the start) and recovered at a later truck
  node (or the depot at the end); launch node != recovery node, except depot start -> depot end;
- a drone flies one sortie at a time: it is launched again only after its recovery;
- the truck's driver does one thing at a time at a node: its own service, each launch
  (`launch_s`, `depot_launch_s` at the depot) and each recovery (`recovery_s`); a recovery starts
  no earlier than the drone has landed, so the truck waits for its drones;
- a sortie's timed span must fit its endurance: from launch start (or launch end, when
  `endurance_counts_launch` is off) to recovery end (or recovery start, when
  `endurance_counts_recovery` is off), hovering while waiting for the truck included;
  `endurance_s` is one number or a per-(launch, customer, recovery) array (energy-based models);
  with `endurance_counts_waiting` off, the time a drone hovers waiting for the truck is left out
  (only launch, flights, service and recovery count; physically a drone cannot wait for free).
  `MURRAY_CHU_2015_ENDURANCE` is Murray & Chu's FSTSP rule: their MILP bounds
  t'_k - (t'_j - tau'_ij) <= e (recovery end at k minus the drone's arrival at j less its flight
  i -> j), and nothing else bounds t'_j from above, so a drone back early counts as arriving later
  at j: launch and waiting are not counted, flights and recovery are (their heuristic's test,
  tau'_ij + tau'_jk <= e, is looser still by the recovery); the strict rule (default) counts waiting;
- makespan: the time the truck is back at the depot with every drone recovered.

Live rules (off unless set; the benchmarks leave them off):
- `same_stop_recovery`: a drone may be launched and recovered at the same truck stop (the truck
  waits there for it);
- `window_s`: per node (earliest, latest) delivery time: the truck starts its service no later
  than `latest`, a drone arrives within [earliest, latest] (a drone cannot wait at a door);
- `drone_allowed`: per drone and node, whether that drone may take that parcel;
- `battery`: each drone's charge across its successive sorties: a sortie uses its flight energy
  plus hovering while it waits for the truck, must leave the drone's reserve, and at each recovery
  (in time order) the truck swaps in one of its `spare_packs` charged packs while it has one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .errors import PlanningError

# Murray & Chu (2015)'s FSTSP endurance rule (see the module docstring): pass as `**MURRAY_CHU_2015_ENDURANCE`
# to `TruckDroneProblem.build`; `schedule_check` tests the same three flags.
MURRAY_CHU_2015_ENDURANCE = {
    "endurance_counts_launch": False,
    "endurance_counts_recovery": True,
    "endurance_counts_waiting": False,
}


@dataclass(frozen=True, eq=False)
class DroneBattery:
    """Battery of each drone across its sorties (see the module docstring). Energies in Wh."""

    sortie_wh: np.ndarray  # (n+1, n+1, n+1) flight energy [launch, customer, recovery]; inf where it cannot fly
    hover_w: float  # power while hovering for the truck
    charge_wh: tuple[float, ...]  # per drone, at the start
    capacity_wh: tuple[float, ...]  # per drone: a swapped-in pack is full
    reserve_wh: tuple[float, ...]  # per drone: left after every sortie
    spare_packs: int = 0  # charged packs aboard the truck


@dataclass(frozen=True, eq=False)
class TruckDroneProblem:
    """A validated truck–drone instance (build it with `TruckDroneProblem.build`). Times in seconds."""

    truck_s: np.ndarray  # (n+1, n+1) truck travel times, node 0 = depot
    drone_s: np.ndarray  # (n+1, n+1) drone travel times (takeoff and landing included)
    eligible: frozenset[int]  # customers a drone may serve
    drones: int
    launch_s: float
    recovery_s: float
    depot_launch_s: float
    truck_service_s: np.ndarray  # (n+1,) truck service at each customer (0 at the depot)
    drone_service_s: np.ndarray  # (n+1,) drone service at each customer
    endurance_s: float | np.ndarray  # scalar, or (n+1, n+1, n+1) indexed [launch, customer, recovery]
    endurance_counts_launch: bool
    endurance_counts_recovery: bool
    endurance_counts_waiting: bool = True
    same_stop_recovery: bool = False
    window_s: np.ndarray | None = None  # (n+1, 2) earliest, latest delivery (s from the truck's start)
    drone_allowed: np.ndarray | None = None  # (drones, n+1) bool
    battery: DroneBattery | None = None

    @property
    def identical_drones(self) -> bool:
        """Whether the drones are interchangeable (no per-drone rule)."""
        return self.drone_allowed is None and self.battery is None

    @property
    def customers(self) -> int:
        """Number of customers (nodes 1..n)."""
        return int(self.truck_s.shape[0]) - 1

    def endurance(self, launch: int, customer: int, recovery: int) -> float:
        """The endurance limit of this sortie (seconds; -inf when it cannot fly at all)."""
        if isinstance(self.endurance_s, np.ndarray):
            return float(self.endurance_s[launch, customer, recovery])
        return float(self.endurance_s)

    @classmethod
    def build(
        cls,
        truck_s: Iterable[Iterable[float]] | np.ndarray,
        drone_s: Iterable[Iterable[float]] | np.ndarray,
        eligible: Iterable[int],
        *,
        drones: int = 1,
        launch_s: float = 60.0,
        recovery_s: float = 60.0,
        depot_launch_s: float | None = None,
        truck_service_s: float | Iterable[float] = 0.0,
        drone_service_s: float | Iterable[float] = 0.0,
        endurance_s: float | np.ndarray = math.inf,
        endurance_counts_launch: bool = True,
        endurance_counts_recovery: bool = True,
        endurance_counts_waiting: bool = True,
        same_stop_recovery: bool = False,
        window_s: np.ndarray | None = None,
        drone_allowed: np.ndarray | None = None,
        battery: DroneBattery | None = None,
    ) -> TruckDroneProblem:
        """Check and freeze an instance; any inconsistency raises `PlanningError`."""
        truck = np.array(truck_s, dtype=float)
        drone = np.array(drone_s, dtype=float)
        if truck.ndim != 2 or truck.shape[0] != truck.shape[1] or truck.shape[0] < 2:
            raise PlanningError(f"truck_s must be a square matrix with the depot and >= 1 customer, got {truck.shape}")
        if drone.shape != truck.shape:
            raise PlanningError(f"drone_s has shape {drone.shape}, truck_s {truck.shape}: they must match")
        if np.isnan(truck).any() or (truck < 0).any() or not np.isfinite(truck).all():
            raise PlanningError("truck_s must hold finite times >= 0")
        if np.isnan(drone).any() or (drone < 0).any():
            raise PlanningError("drone_s must hold times >= 0 (inf where a drone cannot fly)")
        size = truck.shape[0]
        chosen = frozenset(int(c) for c in eligible)
        bad = sorted(c for c in chosen if not 1 <= c < size)
        if bad:
            raise PlanningError(f"eligible customers must be in 1..{size - 1}, got {bad}")
        if not isinstance(drones, int) or drones < 0:
            raise PlanningError(f"drones must be an int >= 0, got {drones!r}")
        depot_launch = launch_s if depot_launch_s is None else depot_launch_s
        for name, value in (("launch_s", launch_s), ("recovery_s", recovery_s), ("depot_launch_s", depot_launch)):
            if not math.isfinite(value) or value < 0:
                raise PlanningError(f"{name} must be finite and >= 0, got {value!r}")
        services = [
            _per_node(name, value, size)
            for name, value in (("truck_service_s", truck_service_s), ("drone_service_s", drone_service_s))
        ]
        endurance: float | np.ndarray
        if isinstance(endurance_s, np.ndarray):
            endurance = np.array(endurance_s, dtype=float)
            if endurance.shape != (size, size, size) or np.isnan(endurance).any():
                raise PlanningError(f"an endurance array must have shape {(size, size, size)} and no NaN")
        else:
            endurance = float(endurance_s)
            if math.isnan(endurance) or endurance < 0:
                raise PlanningError(f"endurance_s must be >= 0, got {endurance_s!r}")
        windows, allowed = _live_rules(size, drones, window_s, drone_allowed, battery)
        return cls(
            truck,
            drone,
            chosen,
            drones,
            float(launch_s),
            float(recovery_s),
            float(depot_launch),
            services[0],
            services[1],
            endurance,
            bool(endurance_counts_launch),
            bool(endurance_counts_recovery),
            bool(endurance_counts_waiting),
            bool(same_stop_recovery),
            windows,
            allowed,
            battery,
        )


def _live_rules(
    size: int, drones: int, window_s: np.ndarray | None, drone_allowed: np.ndarray | None, battery: DroneBattery | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Check the live rules' arrays (see the module docstring); (windows, allowed) as float / bool arrays."""
    windows = allowed = None
    if window_s is not None:
        windows = np.array(window_s, dtype=float)
        if windows.shape != (size, 2) or np.isnan(windows).any() or bool((windows[:, 0] > windows[:, 1]).any()):
            raise PlanningError(f"window_s must have shape {(size, 2)} with earliest <= latest")
    if drone_allowed is not None:
        allowed = np.array(drone_allowed, dtype=bool)
        if allowed.shape != (drones, size):
            raise PlanningError(f"drone_allowed must have shape {(drones, size)}")
    if battery is not None:
        per_drone = (battery.charge_wh, battery.capacity_wh, battery.reserve_wh)
        if battery.sortie_wh.shape != (size, size, size) or any(len(v) != drones for v in per_drone):
            raise PlanningError(f"battery: sortie_wh must have shape {(size, size, size)} and one value per drone")
        if battery.spare_packs < 0 or not battery.hover_w >= 0:
            raise PlanningError("battery: spare_packs and hover_w must be >= 0")
    return windows, allowed


def _per_node(name: str, value: float | Iterable[float], size: int) -> np.ndarray:
    """A per-node array from one number or `size` numbers; the depot's entry is 0 (nothing is served there)."""
    array = np.full(size, float(value)) if isinstance(value, int | float) else np.array(list(value), dtype=float)
    if array.shape != (size,) or not np.isfinite(array).all() or bool((array < 0).any()):
        raise PlanningError(f"{name} must be a number or {size} finite values >= 0")
    array[0] = 0.0
    return array


@dataclass(frozen=True)
class SortieTimes:
    """One drone sortie with its times (seconds from the start). Positions index the truck tour."""

    drone: int
    launch_pos: int
    customer: int
    recovery_pos: int
    launch_start_s: float
    launch_end_s: float
    arrive_customer_s: float
    leave_customer_s: float
    land_s: float  # the drone is back over the recovery node (it hovers until the recovery starts)
    recovery_start_s: float
    recovery_end_s: float


@dataclass(frozen=True)
class TruckDroneResult:
    """A timed truck–drone schedule.

    `tour` starts and ends with the depot (0); `arrival_s`, `service_start_s` and `departure_s` are
    per tour position (service_start_s is None where the truck serves nobody; the last departure
    is the time the truck is done at the depot, i.e. the makespan).
    """

    tour: tuple[int, ...]
    sorties: tuple[SortieTimes, ...]
    arrival_s: tuple[float, ...]
    service_start_s: tuple[float | None, ...]
    departure_s: tuple[float, ...]
    makespan_s: float
    truck_only_s: float  # the seed tour driven with no sortie
    iterations: int = 0
    seed: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def truck_customers(self) -> tuple[int, ...]:
        """Customers the truck serves, in tour order."""
        return self.tour[1:-1]


# Above 12 customers the budget is this many (customer x drone) move units: a move's timings grow with the tour
# (n) and with the drones aboard (with several, each timing plays three launch orders), so moves =
# MOVE_UNITS / (n * (drones + 1/4)) keep a search at 2-8 s of CPU on the benchmark machine at 25-100 customers
# (the 10 s limit per instance with room for a loaded machine).
MOVE_UNITS = 280_000
MOVES_CAP = 4_000


def search_iterations(problem: TruckDroneProblem) -> int:
    """A deterministic search budget (moves) from the instance's size: 1,200 up to 12 customers, then
    MOVE_UNITS / (n x (drones + 1/4)), at most MOVES_CAP and at least the former 25,000 / n (e.g. at 100
    customers 658 moves with 4 drones, 2,240 with 1; at 25, 2,635 and 4,000). With it `solve` gives the same
    schedule for a seed on any machine load, as long as its time limit (then only a safety cap) is not reached."""
    n = problem.customers
    if n <= 12:
        return 1200
    scaled = 4 * MOVE_UNITS // (n * (4 * problem.drones + 1))
    return max(25_000 // n, min(MOVES_CAP, scaled))


def solve(
    problem: TruckDroneProblem,
    *,
    seed: int = 0,
    time_limit_s: float = 5.0,
    max_iterations: int | None = None,
    initial: tuple[list[int], dict[int, tuple[int, int, int]]] | None = None,
) -> TruckDroneResult:
    """Best schedule found by the sortie search (see `sortie_search`) within the limits.

    With `max_iterations` set, the answer depends on the seed only (as long as the time limit is
    not reached first); with only a time limit it can vary with machine load.
    """
    from .sortie_search import search

    if not math.isfinite(time_limit_s) or time_limit_s <= 0:
        raise PlanningError(f"time_limit_s must be finite and > 0, got {time_limit_s!r}")
    if max_iterations is not None and max_iterations < 0:
        raise PlanningError(f"max_iterations must be None or >= 0, got {max_iterations!r}")
    return search(problem, seed=seed, time_limit_s=time_limit_s, max_iterations=max_iterations, initial=initial)

"""Van handoff (truck–drone routing): a van drives a tour; drones or robots it carries launch at one
stop, deliver one parcel, and are recovered at the same or a later stop within their endurance.

Method (after Murray & Chu 2015's FSTSP savings heuristic): start from the van's tour (solved by
PyVRP as a TSP, or given), then repeatedly move the one customer from the van to a sortie
(launch stop, recovery stop, carrier) that shortens the makespan most, until no move helps.
Every candidate is checked by simulating the whole schedule: the van waits for a late carrier,
launches and recoveries take the van's time one after another, a carrier flies one sortie at a
time, and a sortie's airborne time (launch to recovery, waiting included) must fit the endurance
(or the energy check the caller passes).

Works on plain matrices (node ids are row indices; node 0 is the depot), so the benchmark and
`plan_fleet` share it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyvrp
from pyvrp.stop import MaxIterations

from .errors import PlanningError

SortieCheck = Callable[[int, int, int, float], bool]  # (launch node, customer, recovery node, airborne_s) -> ok


@dataclass(frozen=True)
class HandoffParams:
    """Times of the handoff operation (seconds) and the carriers' limits."""

    carriers: int = 1
    launch_s: float = 60.0
    recovery_s: float = 60.0
    van_service_s: float = 0.0
    carrier_service_s: float = 0.0
    endurance_s: float = math.inf
    max_stops_apart: int = 6  # recovery at most this many van stops after the launch (search limit)

    def __post_init__(self) -> None:
        if self.carriers < 0:
            raise PlanningError(f"carriers must be >= 0, got {self.carriers}")
        for name in ("launch_s", "recovery_s", "van_service_s", "carrier_service_s", "endurance_s"):
            value = getattr(self, name)
            if math.isnan(value) or value < 0:
                raise PlanningError(f"{name} must be >= 0, got {value!r}")


@dataclass(frozen=True)
class Sortie:
    """One carrier trip: launched at van stop `launch_pos`, delivers `customer`, recovered at `recovery_pos`.

    Positions index the van tour (0 = depot at the start, len-1 = depot at the end).
    """

    launch_pos: int
    customer: int
    recovery_pos: int
    carrier: int = 0
    launch_s: float = 0.0
    delivered_s: float = 0.0
    recovered_s: float = 0.0


@dataclass(frozen=True)
class HandoffSchedule:
    """The van tour (node ids, depot at both ends), its sorties, and the timing."""

    tour: tuple[int, ...]
    sorties: tuple[Sortie, ...]
    makespan_s: float
    arrival_s: tuple[float, ...] = field(default=())  # van arrival at each tour position
    departure_s: tuple[float, ...] = field(default=())


def simulate(
    tour: Sequence[int],
    sorties: Sequence[Sortie],
    van_time: np.ndarray,
    carrier_time: np.ndarray,
    params: HandoffParams,
    check: SortieCheck | None = None,
) -> HandoffSchedule | None:
    """Time the schedule; None when it breaks a rule (carrier count, endurance, order of positions)."""
    last = len(tour) - 1
    by_launch: dict[int, list[int]] = {}
    by_recovery: dict[int, list[int]] = {}
    for number, sortie in enumerate(sorties):
        if not (0 <= sortie.launch_pos <= sortie.recovery_pos <= last) or sortie.launch_pos == last:
            return None
        by_launch.setdefault(sortie.launch_pos, []).append(number)
        by_recovery.setdefault(sortie.recovery_pos, []).append(number)
    # carriers: at most `carriers` sorties out at any stop (recoveries at a stop happen before its launches)
    for pos in range(last + 1):
        airborne = sum(
            1 for s in sorties if s.launch_pos <= pos < s.recovery_pos or s.launch_pos == s.recovery_pos == pos
        )
        if airborne > params.carriers:
            return None
    launch_at = [0.0] * len(sorties)
    back_at = [0.0] * len(sorties)
    delivered_at = [0.0] * len(sorties)
    recovered_at = [0.0] * len(sorties)
    arrivals, departures = [], []
    t = 0.0
    for pos, node in enumerate(tour):
        if pos > 0:
            t += float(van_time[tour[pos - 1], node])
        arrivals.append(t)
        same_stop = [n for n in by_recovery.get(pos, []) if sorties[n].launch_pos == pos]
        for number in sorted((n for n in by_recovery.get(pos, []) if n not in same_stop), key=lambda n: back_at[n]):
            t = max(t, back_at[number]) + params.recovery_s
            recovered_at[number] = t
        if 0 < pos < last:
            t += params.van_service_s
        for number in by_launch.get(pos, []):
            sortie = sorties[number]
            launch_at[number] = t
            t += params.launch_s
            delivered_at[number] = t + float(carrier_time[node, sortie.customer])
            back_at[number] = (
                delivered_at[number]
                + params.carrier_service_s
                + float(carrier_time[sortie.customer, tour[sortie.recovery_pos]])
            )
            if not math.isfinite(back_at[number]):
                return None  # the carrier cannot fly/drive this sortie at all
        for number in sorted(same_stop, key=lambda n: back_at[n]):
            t = max(t, back_at[number]) + params.recovery_s
            recovered_at[number] = t
        departures.append(t)
    for number, sortie in enumerate(sorties):
        airborne_s = recovered_at[number] - params.recovery_s - (launch_at[number] + params.launch_s)
        if airborne_s > params.endurance_s + 1e-9:
            return None
        if check is not None and not check(
            tour[sortie.launch_pos], sortie.customer, tour[sortie.recovery_pos], airborne_s
        ):
            return None
    timed = tuple(
        Sortie(s.launch_pos, s.customer, s.recovery_pos, s.carrier, launch_at[n], delivered_at[n], recovered_at[n])
        for n, s in enumerate(sorties)
    )
    return HandoffSchedule(tuple(tour), timed, t, tuple(arrivals), tuple(departures))


def _assign_carriers(sorties: list[Sortie], carriers: int) -> list[Sortie]:
    free_from = [-1] * carriers  # position after which a carrier is back aboard
    assigned = []
    for sortie in sorted(sorties, key=lambda s: (s.launch_pos, s.recovery_pos)):
        carrier = next((c for c in range(carriers) if free_from[c] <= sortie.launch_pos), 0)
        free_from[carrier] = sortie.recovery_pos + (1 if sortie.recovery_pos == sortie.launch_pos else 0)
        assigned.append(Sortie(sortie.launch_pos, sortie.customer, sortie.recovery_pos, carrier))
    return assigned


def improve(
    tour: Sequence[int],
    van_time: np.ndarray,
    carrier_time: np.ndarray,
    eligible: set[int],
    params: HandoffParams,
    check: SortieCheck | None = None,
) -> HandoffSchedule:
    """Move customers from the van tour to carrier sorties while the makespan drops (greedy, best move first)."""
    if len(tour) < 2 or tour[0] != tour[-1]:
        raise PlanningError("a van tour must start and end at the same depot node")
    best = simulate(tour, [], van_time, carrier_time, params, check)
    if best is None:
        raise PlanningError("the van tour alone is not feasible")
    if params.carriers == 0:
        return best
    current_tour = list(tour)
    current_sorties: list[Sortie] = []
    while True:
        move: tuple[float, list[int], list[Sortie]] | None = None
        pinned = {current_tour[p] for s in current_sorties for p in (s.launch_pos, s.recovery_pos)}
        for pos in range(1, len(current_tour) - 1):
            customer = current_tour[pos]
            if customer not in eligible or customer in pinned:
                continue
            new_tour = current_tour[:pos] + current_tour[pos + 1 :]
            shifted = [
                Sortie(s.launch_pos - (s.launch_pos > pos), s.customer, s.recovery_pos - (s.recovery_pos > pos))
                for s in current_sorties
            ]
            last = len(new_tour) - 1
            for launch in range(last):
                for recovery in range(launch, min(last, launch + params.max_stops_apart) + 1):
                    flight = (
                        carrier_time[new_tour[launch], customer]
                        + params.carrier_service_s
                        + carrier_time[customer, new_tour[recovery]]
                    )
                    if flight > params.endurance_s:
                        continue
                    candidate = _assign_carriers([*shifted, Sortie(launch, customer, recovery)], params.carriers)
                    timed = simulate(new_tour, candidate, van_time, carrier_time, params, check)
                    if timed is not None and timed.makespan_s < (move[0] if move else best.makespan_s) - 1e-6:
                        move = (timed.makespan_s, new_tour, candidate)
        if move is None:
            return best
        current_tour, current_sorties = move[1], move[2]
        timed = simulate(current_tour, current_sorties, van_time, carrier_time, params, check)
        if timed is None:  # cannot happen: the move was simulated
            raise PlanningError("handoff move became infeasible")
        best = timed


def van_tour(van_time: np.ndarray, *, seed: int = 0, iterations: int = 2000) -> list[int]:
    """A short closed tour from node 0 through every node (TSP with PyVRP; iteration-bounded, deterministic)."""
    size = len(van_time)
    if size <= 2:
        return [0, *range(1, size), 0]
    matrix = np.rint(np.asarray(van_time, dtype=float) * 1000).astype(np.int64)  # ms: keeps precision as integers
    locations = [pyvrp.Location(0.0, 0.0) for _ in range(size)]
    data = pyvrp.ProblemData(
        locations,
        [pyvrp.Client(location=i) for i in range(1, size)],
        [pyvrp.Depot(0)],
        [pyvrp.VehicleType(1)],
        [matrix],
        [matrix],
    )
    result = pyvrp.solve(data, stop=MaxIterations(iterations), seed=seed, collect_stats=False, display=False)
    visits = [1 + a.idx for route in result.best.routes() for a in route.schedule() if a.is_client()]
    return [0, *visits, 0]

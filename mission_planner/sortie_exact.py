"""Branch and bound over truck tours and sortie assignments, for small truck–drone instances.

`exact(problem, incumbent_s=..., node_budget=...)` enumerates every schedule of the form the sortie
search explores: a truck tour (an order of a subset of the customers) and, for each other customer,
one sortie (launch tour position, recovery tour position, drone). Each complete schedule is timed by
`sortie_timing.simulate`, the heuristic's own timing (so the two methods judge schedules alike: the
driver's order of launches, recoveries and service at a node is simulate's rule, and a drone that
would hover beyond its endurance is launched later the way simulate repairs it).

Pruning (every bound below is a lower bound on the makespan of *any* timing of the schedules it
cuts, whatever the driver's order at a node, so nothing simulate could time better is lost):
- a truck customer set S: the shortest truck tour through S (Held–Karp), plus the truck's service
  at S, plus one launch and one recovery of driver time per customer left to the drones;
- a truck tour: the same with the tour's own driving time (tours are generated in a depth-first
  search whose completion bound is the exact shortest remaining path, so only tours under the
  incumbent are ever built);
- a partial sortie assignment: the tour's bound, and a relaxed timing of the sorties assigned so
  far (the truck drives, serves, launches and recovers them; a recovery waits for its drone, which
  left at the earliest its launch could end): adding a sortie only adds time to it;
- drones: a tour gap (between two consecutive tour positions) is spanned by at most `drones`
  sorties (then drones can be given to the sorties; interval colouring), and a sortie's flight
  with its service must fit its endurance.
The search counts the bound evaluations and timings (`TIMING_NODES` each) it makes (`nodes`); with `node_budget` reached
it stops and says it did not finish (`proven` False), so the answer does not depend on machine load.

Supported: the FSTSP/mFSTSP rules with identical drones (any endurance-counting flags). The live
rules (windows, per-drone parcels, batteries, same-stop recovery) are not: `exact` raises.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

from .errors import PlanningError
from .sortie_timing import INF, Assignment, simulate, tables
from .truck_drone import TruckDroneProblem, TruckDroneResult

_EPS = 1e-6
# A timing (`simulate`, with its repairs and launch orders: up to 15 plays of the schedule) counts as this
# many nodes of the budget: it costs about that many bound evaluations.
TIMING_NODES = 10


@dataclass(frozen=True)
class ExactOutcome:
    """What `exact` found: the best schedule below the incumbent (None when nothing beat it), whether the
    search finished (then no tour + sortie schedule, timed by `simulate`, is better), and its node count."""

    result: TruckDroneResult | None
    proven: bool
    nodes: int


class _BudgetSpent(Exception):
    """The node budget ran out (internal: ends the search)."""


class _Exact:
    def __init__(self, problem: TruckDroneProblem, incumbent_s: float, node_budget: int) -> None:
        self.p = problem
        self.t = tables(problem)
        self.best_s = incumbent_s
        self.best: tuple[list[int], Assignment, dict[int, int] | None] | None = None
        self.nodes = 0
        self.budget = node_budget
        n = problem.customers
        self.n = n
        truck = self.t.truck
        self.ops_min_s = min(problem.launch_s, problem.depot_launch_s) + problem.recovery_s
        self.extra_s = (problem.launch_s if problem.endurance_counts_launch else 0.0) + (
            problem.recovery_s if problem.endurance_counts_recovery else 0.0
        )
        # customers a drone can take at all (some launch/recovery pair fits its endurance)
        self.flyable = [c for c in range(1, n + 1) if problem.drones > 0 and self._any_sortie(c)]
        # rest[mask][v]: shortest truck path from v through every customer of mask back to the depot
        size = 1 << n
        rest = [[INF] * (n + 1) for _ in range(size)]
        for v in range(n + 1):
            rest[0][v] = truck[v][0]
        for mask in range(1, size):
            row = rest[mask]
            members = [u for u in range(1, n + 1) if mask >> (u - 1) & 1]
            for v in range(n + 1):
                if v and mask >> (v - 1) & 1:
                    continue
                row[v] = min(truck[v][u] + rest[mask & ~(1 << (u - 1))][u] for u in members)
        self.rest = rest

    def _any_sortie(self, c: int) -> bool:
        t = self.t
        return any(
            t.drone[i][c] + t.drone_service[c] + t.drone[c][k] + self.extra_s <= t.endurance(i, c, k) + _EPS
            for i in range(self.n + 1)
            for k in range(self.n + 1)
            if i != c and k != c
        )

    def tick(self, cost: int = 1) -> None:
        self.nodes += cost
        if self.nodes > self.budget:
            raise _BudgetSpent

    # --- truck sets and tours ------------------------------------------------------------
    def run(self) -> None:
        n, p = self.n, self.p
        full = (1 << n) - 1
        must_truck = 0
        for c in range(1, n + 1):
            if c not in p.eligible or c not in self.flyable:
                must_truck |= 1 << (c - 1)
        service = self.t.truck_service
        sets: list[tuple[float, int]] = []
        for mask in range(full + 1):
            if mask & must_truck != must_truck:
                continue
            k = bin(mask).count("1")
            drone_count = n - k
            if drone_count > p.drones * (k + 1):
                continue
            bound = self.rest[mask][0] + sum(service[c] for c in range(1, n + 1) if mask >> (c - 1) & 1)
            sets.append((bound + drone_count * self.ops_min_s, mask))
        sets.sort()
        for bound, mask in sets:
            if bound >= self.best_s - _EPS:
                break
            self.tick()
            drone_customers = [c for c in range(1, n + 1) if not mask >> (c - 1) & 1]
            fixed = bound - self.rest[mask][0]  # service and the drones' driver time
            self._tours([0], 0.0, mask, fixed, drone_customers)

    def _tours(self, tour: list[int], driven_s: float, left: int, fixed_s: float, drone_customers: list[int]) -> None:
        """Depth-first over truck tours through `left`, cut where the exact shortest completion breaks the bound."""
        last = tour[-1]
        if driven_s + self.rest[left][last] + fixed_s >= self.best_s - _EPS:
            return
        self.tick()
        if not left:
            full_tour = [*tour, 0]
            self._sorties(full_tour, driven_s + self.t.truck[last][0] + fixed_s, drone_customers)
            return
        truck = self.t.truck
        order = sorted(
            (truck[last][u] + self.rest[left & ~(1 << (u - 1))][u], u)
            for u in range(1, self.n + 1)
            if left >> (u - 1) & 1
        )
        for _, u in order:
            tour.append(u)
            self._tours(tour, driven_s + truck[last][u], left & ~(1 << (u - 1)), fixed_s, drone_customers)
            tour.pop()

    # --- sorties on one tour -------------------------------------------------------------
    def _sorties(self, tour: list[int], tour_bound_s: float, drone_customers: list[int]) -> None:
        """Every sortie assignment of `drone_customers` on `tour` (branch and bound, see the module docstring)."""
        t, p = self.t, self.p
        last = len(tour) - 1
        options: list[list[tuple[int, int]]] = []
        for c in drone_customers:
            mine = []
            for a in range(last):
                to_c = t.drone[tour[a]][c]
                for b in range(a + 1, last + 1):
                    flight = to_c + t.drone_service[c] + t.drone[c][tour[b]]
                    if flight + self.extra_s <= t.endurance(tour[a], c, tour[b]) + _EPS:
                        mine.append((a, b))
            if not mine:
                return
            options.append(mine)
        order = sorted(range(len(drone_customers)), key=lambda i: len(options[i]))
        customers = [drone_customers[i] for i in order]
        choices = [options[i] for i in order]
        load = [0] * last  # sorties spanning each tour gap
        chosen: list[tuple[int, int, int]] = []  # (customer, launch position, recovery position)
        self._assign(tour, tour_bound_s, customers, choices, 0, load, chosen, p.drones)

    def _assign(
        self,
        tour: list[int],
        tour_bound_s: float,
        customers: list[int],
        choices: list[list[tuple[int, int]]],
        depth: int,
        load: list[int],
        chosen: list[tuple[int, int, int]],
        drones: int,
    ) -> None:
        if depth == len(customers):
            for sorties, rank in _timings(tour, chosen, drones):
                self.tick(TIMING_NODES)
                value = simulate(self.p, tour, sorties, launch_rank=rank)[0]
                if value < self.best_s - _EPS:
                    self.best_s = value
                    self.best = (list(tour), sorties, rank)
            return
        customer = customers[depth]
        for a, b in choices[depth]:
            if any(load[g] >= drones for g in range(a, b)):
                continue
            chosen.append((customer, a, b))
            self.tick()
            if max(tour_bound_s, self._relaxed(tour, chosen)) < self.best_s - _EPS:
                for g in range(a, b):
                    load[g] += 1
                self._assign(tour, tour_bound_s, customers, choices, depth + 1, load, chosen, drones)
                for g in range(a, b):
                    load[g] -= 1
            chosen.pop()

    def _relaxed(self, tour: list[int], chosen: list[tuple[int, int, int]]) -> float:
        """A lower bound on the makespan with these sorties: every driver operation takes its time, a recovery
        waits for its drone, a drone leaves as soon as its launch could end (first at its node)."""
        t, p = self.t, self.p
        last = len(tour) - 1
        ops = [0.0] * (last + 1)
        launched: list[list[int]] = [[] for _ in range(last + 1)]
        landing: list[list[tuple[int, int]]] = [[] for _ in range(last + 1)]
        for c, a, b in chosen:
            ops[a] += p.depot_launch_s if a == 0 else p.launch_s
            ops[b] += p.recovery_s
            launched[a].append(c)
            landing[b].append((c, a))
        earliest_out: dict[int, float] = {}
        clock = 0.0
        for i, node in enumerate(tour):
            if i:
                clock += t.truck[tour[i - 1]][node]
            launch_s = p.depot_launch_s if i == 0 else p.launch_s
            for c in launched[i]:
                earliest_out[c] = clock + launch_s
            done = clock + ops[i] + (t.truck_service[node] if 0 < i < last else 0.0)
            for c, a in landing[i]:
                back = earliest_out[c] + t.drone[tour[a]][c] + t.drone_service[c] + t.drone[c][node] + p.recovery_s
                if back > done:
                    done = back
            clock = done
        return clock


def _labelings(tour: list[int], chosen: list[tuple[int, int, int]], drones: int) -> Iterator[Assignment]:
    """Every distinct way to give drones to the sorties (by launch position): a sortie takes a drone aboard
    since before its node (these are interchangeable: one stands for all) or one recovered at its node
    (these differ: each came back at its own time)."""
    ordered = sorted(chosen, key=lambda s: (s[1], s[2]))
    last = len(tour) - 1
    free_from = [-1] * drones  # tour position where each drone came back aboard (-1: aboard from the start)
    sorties: Assignment = {}

    def place(index: int) -> Iterator[Assignment]:
        if index == len(ordered):
            yield dict(sorties)
            return
        c, a, b = ordered[index]
        aboard = [d for d in range(drones) if free_from[d] < a]
        options = ([aboard[0]] if aboard else []) + [d for d in range(drones) if free_from[d] == a]
        for drone in options:
            before = free_from[drone]
            free_from[drone] = b
            sorties[c] = (drone, tour[a], 0 if b == last else tour[b])
            yield from place(index + 1)
            free_from[drone] = before
        sorties.pop(c, None)

    yield from place(0)


LAUNCH_ORDERS_TRIED = 24  # per drone labelling: launch orders at the nodes where several drones set out


def _timings(
    tour: list[int], chosen: list[tuple[int, int, int]], drones: int
) -> Iterator[tuple[Assignment, dict[int, int] | None]]:
    """(sorties, launch order) to time for one tour and sortie set: every drone labelling, each with simulate's
    own launch orders (None), then, where several drones aboard set out from one node, every order of them (up
    to `LAUNCH_ORDERS_TRIED` combinations over the nodes)."""
    for sorties in _labelings(tour, chosen, drones):
        yield sorties, None
        groups: dict[int, list[int]] = {}
        returning: dict[int, set[int]] = {}
        for c, (d, _launch, _recovery) in sorties.items():
            returning.setdefault(next(b for cc, _a, b in chosen if cc == c), set()).add(d)
        for c, a, _b in chosen:
            if sorties[c][0] not in returning.get(a, set()):
                groups.setdefault(a, []).append(c)
        several = [g for g in groups.values() if len(g) > 1]
        if not several:
            continue
        combos = 1
        for g in several:
            combos *= math.factorial(len(g))
        if combos > LAUNCH_ORDERS_TRIED:
            continue
        for orders in itertools.product(*(itertools.permutations(g) for g in several)):
            yield sorties, {c: i for order in orders for i, c in enumerate(order)}


def exact(problem: TruckDroneProblem, *, incumbent_s: float = math.inf, node_budget: int = 2_000_000) -> ExactOutcome:
    """The best tour + sortie schedule with a makespan below `incumbent_s` (see the module docstring)."""
    if not problem.identical_drones or problem.window_s is not None or problem.same_stop_recovery:
        raise PlanningError("the exact method supports the FSTSP/mFSTSP rules only (no live rules)")
    if problem.customers > 16:
        raise PlanningError(f"the exact method is for small instances, got {problem.customers} customers")
    if node_budget < 0:
        raise PlanningError(f"node_budget must be >= 0, got {node_budget}")
    search = _Exact(problem, incumbent_s, node_budget)
    proven = True
    try:
        search.run()
    except _BudgetSpent:
        proven = False
    if search.best is None:
        return ExactOutcome(None, proven, search.nodes)
    tour, sorties, rank = search.best
    _, timed = simulate(problem, tour, sorties, timed=True, launch_rank=rank)
    if timed is None:
        raise AssertionError("a schedule simulated feasible became infeasible")  # pragma: no cover
    # the truck alone: the shortest tour through every customer (Held–Karp) and its service
    truck_only_s = search.rest[(1 << problem.customers) - 1][0] + sum(search.t.truck_service)
    result = replace(timed, truck_only_s=truck_only_s, iterations=search.nodes, notes=("exact",))
    return ExactOutcome(result, proven, search.nodes)

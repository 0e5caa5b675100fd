"""The truck–drone search behind `truck_drone.solve`: ALNS with simulated annealing over sortie assignments.

State: the truck tour (node list, depot at both ends) and a map customer -> (drone, launch node,
recovery node); launch node 0 is the depot at the start, recovery node 0 the depot at the end.
Every candidate is timed by `sortie_timing.simulate`, which plays the whole schedule (the truck waits for its
drones; launches, recoveries and service take the driver's time one after another; each sortie's
endurance is checked), so the search never keeps a schedule the rules forbid.

Method:
1. Seed: the truck tour of every customer (PyVRP TSP), then a savings pass in the manner of Murray
   & Chu's heuristic: each drone-eligible customer in turn leaves the truck for its best sortie
   when that shortens the makespan. From 13 customers on the FSTSP/mFSTSP rules (`LARGE_FROM`) also the
   clustered starts (`clustered_start`, runs of 2 to drones + 2 customers along the tour, one of each kept on a
   re-planned truck tour, the rest flown: the shape of Murray & Raj's schedules, which one-at-a-time savings
   do not reach with several drones aboard); the best start is kept.
   A given initial schedule (the live planner's greedy plan) replaces it when it is better.
2. Loop until the time or iteration limit: pick one move (customer to a sortie, sortie back to
   the truck, re-plan a sortie, relocate a truck customer, swap a truck and a drone customer,
   exchange the customers of two sorties, 2-opt or or-opt of the truck tour with the sorties kept
   on their nodes, or ruin-and-recreate of 2–6 random or related customers with best reinsertion), accept it by
   simulated annealing (temperature falling linearly to 0), keep the best schedule.
Candidate sorties for a customer are the launch/recovery pairs (within a window of tour
positions, plus depot to depot) whose flight fits the endurance, ranked by the truck delay they
would cause; the best few are timed exactly for each free drone. From 13 customers (FSTSP/mFSTSP rules) the
candidates of a move are first played with one launch order (`sortie_timing.screen`) and only the best two
get the other orders (`best_of`): about half the plays (a candidate that only another order makes the best
can be missed). From 13 to 50 customers (`RESHAPED_UP_TO`) with several drones also: a sortie that no drone is free
for under the current labelling is offered with the identical drones relabelled when that frees one (`_relabelled`),
and a launch is timed after the truck's service where that keeps its drone within its endurance (`simulate`'s
serve_first, as Murray & Raj's schedules do): both reach schedules with several drones the search missed.
All randomness comes from `random.Random(seed)`.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Iterator

import numpy as np

from .errors import PlanningError
from .handoff import van_tour
from .sortie_timing import INF, Assignment, finish_screen, screen, simulate, tables
from .truck_drone import TruckDroneProblem, TruckDroneResult

__all__ = ["Assignment", "search", "simulate"]
CANDIDATES_PER_CUSTOMER = 6
TRUCK_POSITIONS_TRIED = 3
# customers: from here, on the FSTSP/mFSTSP rules (no live rule), candidates are ranked by one launch order's play
# (`best_of`), the clustered starts join the savings start and the annealing starts cooler; the live planner's
# searches (batteries, windows, per-carrier parcels) keep every candidate fully timed, as they were measured
LARGE_FROM = 13
FULLY_TIMED = 2  # screened candidates timed with every launch order
RESHAPED_UP_TO = 50  # customers: see `_Search.reshaped`
POLISH_UP_TO = 30  # customers: the polish descent's neighbourhoods grow as n^2 timings; larger instances skip it
POLISH_EVERY_RESTART_UP_TO = 12  # customers: up to here the best is polished at every restart, else once at the end
OR_OPT_REACH = 8  # tour positions a stretch moves at most in the polish
# the annealing's first temperature, as a share of the truck-alone makespan: up to 12 customers (where the exact
# method takes the search's answer as its incumbent) as it was; above, cooler (0.4 % beat 1 % and 2.5 % on a
# 24-run 50/100-customer sample: 16 vs 14 and 11 runs at or below their heuristic, and 24 vs 22 of 27 at 25)
START_TEMPERATURE_SHARE = 0.01
START_TEMPERATURE_SHARE_LARGE = 0.004
STUCK_ITERATIONS = 100  # (+ 5 per customer) iterations without a new best before a restart
# restarts in turn: a fresh savings pass from the seed tour; a random part of the customers on the truck and the
# rest inserted at their best places, or by drone where one can take them (these reach schedules with few truck
# stops that savings, one customer at a time, does not); the best schedule ruined and recreated; a savings pass
# from the seed tour with a segment reversed
RESTARTS = ("savings", "subset", "ruin", "subset-drones", "reversed")


def _disjoint(a: int, b: int, start: int, end: int) -> bool:
    """Two sorties (tour positions launch..recovery) of one drone can both be flown: one is recovered where or
    before the other is launched; a same-stop sortie (launch = recovery) shares its stop with no other."""
    if b < start or end < a:
        return True
    return (b == start or end == a) and a != b and start != end


def _relabelled(
    sorties: Assignment, position: dict[int, int], last: int, drones: int, new: tuple[int, int, int]
) -> tuple[int, Assignment] | None:
    """`sorties` and `new` (a customer flown from tour position a to b) with their identical drones relabelled so
    that each drone flies one sortie at a time: (the drone for `new`, the relabelled sorties), or None when more
    than `drones` sorties would be in the air at once.

    The sorties are taken by launch position and each given a drone already back: its own one when free (a
    feasible labelling is kept as it is), else the one back longest (a launch need not wait for a recovery at its
    node). Taken in launch order, any free drone keeps the count feasible (interval colouring)."""
    spans = [
        (position[launch], last if recovery == 0 else position[recovery], c, d)
        for c, (d, launch, recovery) in sorties.items()
    ]
    spans.append((new[1], new[2], new[0], -1))
    spans.sort()
    back = [0] * drones  # the tour position from which each drone is free
    result: Assignment = {}
    chosen = -1
    for start, end, c, own in spans:
        if own >= 0 and back[own] <= start:
            drone = own
        else:
            free = [d for d in range(drones) if back[d] <= start]
            if not free:
                return None
            drone = min(free, key=lambda d: (back[d], d))
        back[drone] = end
        if own < 0:
            chosen = drone
        else:
            result[c] = (drone, sorties[c][1], sorties[c][2])
    return chosen, result


class _Search:
    """One run of the search: problem, RNG, the incumbent and the best schedule."""

    def __init__(self, problem: TruckDroneProblem, seed: int, deadline: float) -> None:
        self.problem = problem
        self.rng = random.Random(seed)
        self.deadline = deadline
        self.evaluations = 0
        n = problem.customers
        self.window = n + 2 if n <= 12 else 8
        self.candidates = 4 * CANDIDATES_PER_CUSTOMER if n <= 12 else CANDIDATES_PER_CUSTOMER
        # drone flight launch -> customer -> recovery, for the candidate ranking
        self.tables = tables(problem)
        self.endurance_extra_s = (problem.launch_s if problem.endurance_counts_launch else 0.0) + (
            problem.recovery_s if problem.endurance_counts_recovery else 0.0
        )
        self.eligible = sorted(
            c
            for c in problem.eligible
            if problem.drones > 0 and math.isfinite(float(np.min(problem.drone_s[:, c]))) and c <= n
        )
        self.eligible_set = set(self.eligible)
        self.truck_positions_tried = TRUCK_POSITIONS_TRIED
        live = not problem.identical_drones or problem.window_s is not None or problem.same_stop_recovery
        self.large = n >= LARGE_FROM and not live
        # up to RESHAPED_UP_TO customers and with several drones the larger instances' search also relabels drones
        # and times launches after the truck's service (`simulate`'s serve_first); above, with fewer moves per
        # customer, it is as it was (on the 100-customer subset it cost up to 60 % more CPU and did no better); one
        # drone has no other labelling, and serve_first alone moved 2 of the 20 25-customer 1-UAV runs above their
        # heuristic and none below
        self.reshaped = self.large and n <= RESHAPED_UP_TO and problem.drones > 1
        near = np.argsort(problem.truck_s + problem.truck_s.T, axis=1)
        self.neighbours = [[int(v) for v in row if v != 0 and v != i][:10] for i, row in enumerate(near)]

    def cost(self, tour: list[int], sorties: Assignment) -> float:
        self.evaluations += 1
        return simulate(self.problem, tour, sorties, serve_first=self.reshaped)[0]

    # --- candidate moves -------------------------------------------------------------------
    def drone_options(
        self, tour: list[int], sorties: Assignment, customer: int
    ) -> list[tuple[tuple[int, int, int], Assignment]]:
        """The most promising (drone, launch, recovery) for `customer`, given a tour without it, each with the
        other sorties it goes with: `sorties`, or (larger instances) those sorties with their drones relabelled
        when only that frees a drone for it."""
        p = self.problem
        t = self.tables
        truck, drone_s, truck_service = t.truck, t.drone, t.truck_service
        last = len(tour) - 1
        cumulative = [0.0]
        for a, b in itertools.pairwise(tour):
            cumulative.append(cumulative[-1] + truck[a][b] + truck_service[b])
        position = {node: i for i, node in enumerate(tour[:-1])}
        busy: list[list[tuple[int, int]]] = [[] for _ in range(p.drones)]
        for d, launch, recovery in sorties.values():
            busy[d].append((position[launch], last if recovery == 0 else position[recovery]))
        extra = self.endurance_extra_s
        service = t.drone_service[customer]
        to_customer = [drone_s[node][customer] for node in tour]
        from_customer = drone_s[customer]
        launch_s = p.launch_s
        ranked: list[tuple[float, int, int]] = []
        first_gap = 0 if p.same_stop_recovery else 1
        flat, size, scalar = t.endurance_flat, t.size, t.endurance_scalar
        for a in range(last):
            out = to_customer[a]
            if out == INF:
                continue
            base = (tour[a] * size + customer) * size
            for b in range(a + first_gap, min(last, a + self.window) + 1):
                recovery = 0 if b == last else tour[b]
                flight = out + service + from_customer[recovery]
                if not flight + extra <= (scalar if flat is None else flat[base + recovery]):
                    continue
                # the time the drone is tied up (its flight, or the truck between launch and recovery) -
                # short ties keep drones free for other sorties; the truck delay is in it
                tied = cumulative[b] - cumulative[a]
                ranked.append((flight + launch_s if flight + launch_s > tied else tied, a, b))
        if self.window < last and to_customer[0] != INF:
            flight = to_customer[0] + service + from_customer[0]
            if flight + extra <= t.endurance(0, customer, 0):
                ranked.append((max(flight + launch_s, cumulative[last]), 0, last))
        ranked.sort()
        options: list[tuple[tuple[int, int, int], Assignment]] = []
        identical = p.identical_drones
        for _, a, b in ranked[: self.candidates * 2]:
            launch, recovery = tour[a], (0 if b == last else tour[b])
            found = len(options)
            for d in range(p.drones):
                if all(_disjoint(a, b, start, end) for start, end in busy[d]):
                    options.append(((d, launch, recovery), sorties))
                    if identical:
                        break  # drones are identical: the first free one stands for all
            if len(options) == found and self.reshaped:
                relabelled = _relabelled(sorties, position, last, p.drones, (customer, a, b))
                if relabelled is not None:
                    options.append(((relabelled[0], launch, recovery), relabelled[1]))
            if len(options) >= self.candidates:
                break
        return options

    def truck_positions(self, tour: list[int], customer: int) -> list[int]:
        """Insertion positions (insert before tour[i]) with the least added truck travel (all of them in a polish)."""
        t = self.problem.truck_s
        added = sorted(
            (t[tour[i - 1], customer] + t[customer, tour[i]] - t[tour[i - 1], tour[i]], i) for i in range(1, len(tour))
        )
        return [i for _, i in added[: self.truck_positions_tried]]

    def best_insertion(
        self, tour: list[int], sorties: Assignment, customer: int, allow_truck: bool = True, allow_drone: bool = True
    ) -> tuple[float, list[int], Assignment]:
        """The best place for `customer` (absent from `tour` and `sorties`): one of its candidate sorties, or
        (when `allow_truck`, or when no sortie is feasible) one of its cheapest truck positions."""
        best: tuple[float, list[int], Assignment] = (INF, tour, sorties)
        if allow_drone and customer in self.eligible_set:
            options = self.drone_options(tour, sorties, customer)
            flown = self.best_of([(tour, {**others, customer: option}) for option, others in options])
            if flown[0] < best[0]:
                best = flown
        if allow_truck or best[0] == INF:
            positions = self.truck_positions(tour, customer)
            trucked = self.best_of([([*tour[:i], customer, *tour[i:]], sorties) for i in positions])
            if trucked[0] < best[0]:
                best = trucked
        return best

    def best_of(self, trials: list[tuple[list[int], Assignment]]) -> tuple[float, list[int], Assignment]:
        """The best timed of some candidate schedules (the first of equals); (inf, ...) when none is feasible.

        With screening on (larger instances), each is played with one launch order (`screen`) and only the
        `FULLY_TIMED` best screened are timed with simulate's other orders too: the answer is a feasible schedule
        with its true `simulate` makespan, found for about half the plays.
        """
        best: tuple[float, list[int], Assignment] = (INF, *trials[0]) if trials else (INF, [], {})
        if not self.large:
            for trial_tour, trial_sorties in trials:
                value = self.cost(trial_tour, trial_sorties)
                if value < best[0]:
                    best = (value, trial_tour, trial_sorties)
            return best
        screened = []
        for index, (trial_tour, trial_sorties) in enumerate(trials):
            self.evaluations += 1
            value, exact = screen(self.problem, trial_tour, trial_sorties, self.reshaped)
            screened.append((value, index, exact))
        screened.sort()
        # a schedule no order-one play can time may still be timed by another order: then all are timed fully
        fully = FULLY_TIMED if screened and screened[0][0] < INF else len(screened)
        for value, index, exact in screened:
            if not exact:
                if fully <= 0:
                    continue
                fully -= 1
                value = finish_screen(self.problem, *trials[index], value, self.reshaped)
            if value < best[0]:
                best = (value, *trials[index])
        return best

    def anchors(self, sorties: Assignment) -> set[int]:
        return {n for _, a, b in sorties.values() for n in (a, b)}

    # --- moves (each returns a new state, or None when it does not apply) -----------------
    def to_drone(self, tour: list[int], sorties: Assignment) -> tuple[float, list[int], Assignment] | None:
        anchors = self.anchors(sorties)
        movable = [c for c in tour[1:-1] if c in self.eligible_set and c not in anchors]
        if not movable:
            return None
        customer = self.rng.choice(movable)
        reduced = [n for n in tour if n != customer]
        return self.best_insertion(reduced, sorties, customer, allow_truck=False)

    def to_truck(self, tour: list[int], sorties: Assignment) -> tuple[float, list[int], Assignment] | None:
        return self._move_sortie(tour, sorties, to_truck=True)

    def re_sortie(self, tour: list[int], sorties: Assignment) -> tuple[float, list[int], Assignment] | None:
        return self._move_sortie(tour, sorties, to_truck=False)

    def _move_sortie(
        self, tour: list[int], sorties: Assignment, *, to_truck: bool
    ) -> tuple[float, list[int], Assignment] | None:
        """A random sortie's customer, back into the truck or onto its best other sortie."""
        if not sorties:
            return None
        customer = self.rng.choice(sorted(sorties))
        rest = {c: s for c, s in sorties.items() if c != customer}
        return self.best_insertion(tour, rest, customer, allow_truck=to_truck, allow_drone=not to_truck)

    def relocate(self, tour: list[int], sorties: Assignment) -> tuple[float, list[int], Assignment] | None:
        anchors = self.anchors(sorties)
        movable = [c for c in tour[1:-1] if c not in anchors]
        if not movable:
            return None
        customer = self.rng.choice(movable)
        reduced = [n for n in tour if n != customer]
        return self.best_insertion(reduced, sorties, customer, allow_drone=False)

    def swap(self, tour: list[int], sorties: Assignment) -> tuple[float, list[int], Assignment] | None:
        anchors = self.anchors(sorties)
        movable = [c for c in tour[1:-1] if c in self.eligible_set and c not in anchors]
        if not movable or not sorties:
            return None
        truck_customer = self.rng.choice(movable)
        drone_customer = self.rng.choice(sorted(sorties))
        rest = {c: s for c, s in sorties.items() if c != drone_customer}
        swapped = [drone_customer if n == truck_customer else n for n in tour]
        return self.best_insertion(swapped, rest, truck_customer, allow_truck=False)

    def ruin_recreate(
        self, tour: list[int], sorties: Assignment, largest: int = 6
    ) -> tuple[float, list[int], Assignment] | None:
        customers = [*tour[1:-1], *sorties]
        if len(customers) < 2:
            return None
        size = self.rng.randint(2, max(2, min(largest, len(customers))))
        if self.rng.random() < 0.5:
            removed = set(self.rng.sample(customers, size))
        else:  # related: a customer and its nearest neighbours
            centre = self.rng.choice(customers)
            removed = {centre, *self.neighbours[centre][: size - 1]}
        # a truck customer that anchors a sortie takes that sortie with it
        changed = True
        while changed:
            changed = False
            for c, (_, a, b) in sorties.items():
                if c not in removed and (a in removed or b in removed):
                    removed.add(c)
                    changed = True
        new_tour = [n for n in tour if n not in removed]
        new_sorties = {c: s for c, s in sorties.items() if c not in removed}
        order = sorted(removed)
        self.rng.shuffle(order)
        value = INF
        for customer in order:
            value, new_tour, new_sorties = self.best_insertion(new_tour, new_sorties, customer)
            if value == INF:
                return None
        return value, new_tour, new_sorties

    def sortie_swap(self, tour: list[int], sorties: Assignment) -> tuple[float, list[int], Assignment] | None:
        """Two sorties exchange their customers (drones, launch and recovery nodes stay): the best of a few pairs."""
        if len(sorties) < 2:
            return None
        customers = sorted(sorties)
        trials = []
        for _ in range(4):
            a, b = self.rng.sample(customers, 2)
            trials.append((tour, {**sorties, a: sorties[b], b: sorties[a]}))
        best = self.best_of(trials)
        return best if best[0] < INF else None

    def truck_reorder(self, tour: list[int], sorties: Assignment) -> tuple[float, list[int], Assignment] | None:
        """2-opt or or-opt on the truck tour with the sorties kept on their nodes (the best of a few tries)."""
        inner = len(tour) - 2
        if inner < 2:
            return None
        trials: list[tuple[list[int], Assignment]] = []
        for _ in range(4):
            i = self.rng.randint(1, inner)
            j = self.rng.randint(1, inner)
            if i == j:
                continue
            if self.rng.random() < 0.5:  # 2-opt: drive tour[i..j] backwards
                i, j = min(i, j), max(i, j)
                trial = [*tour[:i], *reversed(tour[i : j + 1]), *tour[j + 1 :]]
            else:  # or-opt: move a stretch of 1-3 stops from i to before j
                length = self.rng.randint(1, 3)
                segment = tour[i : min(i + length, inner + 1)]
                rest = [n for n in tour if n not in segment]
                at = min(max(1, j), len(rest) - 1)
                trial = [*rest[:at], *segment, *rest[at:]]
            trials.append((trial, sorties))
        best = self.best_of(trials)
        return best if best[0] < INF else None

    def subset_start(self, seed_tour: list[int], drones_only: bool) -> tuple[float, list[int], Assignment]:
        """A start with a random 30–70 % of the drone-eligible customers off the seed tour (the others keep its
        order), each then inserted in random order at its best place: a sortie where one can take it
        (`drones_only`), else truck or sortie."""
        keep = self.rng.uniform(0.3, 0.7)
        tour = [n for n in seed_tour if n not in self.eligible_set or self.rng.random() < keep]
        others = [n for n in seed_tour if n not in tour]
        self.rng.shuffle(others)
        return self._insert_all(tour, others, allow_truck=not drones_only)

    def clustered_start(self, seed_tour: list[int], group: int) -> tuple[float, list[int], Assignment]:
        """A start shaped like Murray & Raj's heuristic's (a short truck tour whose legs the drones fly): the
        seed tour's customers in runs of `group`; of each run the truck keeps the customer nearest the others
        by drone (with every customer no drone may take), the tour through those is re-planned, and the rest
        are inserted, farthest from the truck first, at their best sortie (the truck only when none fits)."""
        drone_s = self.tables.drone
        inner = seed_tour[1:-1]
        kept = {c for c in inner if c not in self.eligible_set}
        for start in range(0, len(inner), group):
            run = inner[start : start + group]
            kept.add(min(run, key=lambda c: (sum(drone_s[c][o] + drone_s[o][c] for o in run), c)))
        nodes = [0, *sorted(kept)]
        order = van_tour(self.problem.truck_s[np.ix_(nodes, nodes)], seed=0, iterations=400)
        tour = [nodes[i] for i in order]
        others = sorted(set(inner) - kept, key=lambda c: (-min(drone_s[k][c] for k in tour), c))
        return self._insert_all(tour, others, allow_truck=False)

    def _insert_all(self, tour: list[int], others: list[int], allow_truck: bool) -> tuple[float, list[int], Assignment]:
        """`tour` with `others` inserted in that order, each at its best place (`best_insertion`); on a customer
        with nowhere to go it stops there (value inf)."""
        sorties: Assignment = {}
        value = self.cost(tour, sorties)
        for customer in others:
            value, tour, sorties = self.best_insertion(tour, sorties, customer, allow_truck=allow_truck)
            if value == INF:  # (a live rule can leave a customer nowhere to go): the caller keeps its state
                break
        return value, tour, sorties

    def reversed_segment(self, tour: list[int]) -> list[int]:
        """The tour with one random stretch of customers driven backwards (a restart's perturbation)."""
        if len(tour) < 4:
            return list(tour)
        i, j = sorted(self.rng.sample(range(1, len(tour) - 1), 2))
        return [*tour[:i], *reversed(tour[i : j + 1]), *tour[j + 1 :]]

    # --- the phases -----------------------------------------------------------------------
    def polish(self, value: float, tour: list[int], sorties: Assignment) -> tuple[float, list[int], Assignment]:
        """A descent over whole neighbourhoods (the random moves only sample them), first improvement taken.

        Each pass re-inserts every customer that anchors no sortie at its best place (any truck position,
        or any of its candidate sorties), then tries every 2-opt and every or-opt (1–3 stops) of the truck
        tour with the sorties kept on their nodes; passes repeat while one improves. Deterministic given
        the schedule; on small instances it is a few hundred timings.
        """
        self.truck_positions_tried = len(tour)
        try:
            improved = True
            while improved and time.perf_counter() < self.deadline:
                improved = False
                for customer in sorted([*tour[1:-1], *sorties]):
                    if time.perf_counter() >= self.deadline:  # the live planner's time budget holds in a pass too
                        return value, tour, sorties
                    if customer in self.anchors(sorties):
                        continue
                    if customer in sorties:
                        base_tour, rest = tour, {c: s for c, s in sorties.items() if c != customer}
                    else:
                        base_tour, rest = [n for n in tour if n != customer], sorties
                    trial = self.best_insertion(base_tour, rest, customer)
                    if trial[0] < value - 1e-9:
                        value, tour, sorties = trial
                        improved = True
                for count, trial_tour in enumerate(self._tour_neighbours(tour)):
                    if count % 64 == 63 and time.perf_counter() >= self.deadline:
                        return value, tour, sorties
                    trial_value = self.cost(trial_tour, sorties)
                    if trial_value < value - 1e-9:
                        value, tour = trial_value, trial_tour
                        improved = True
                        break
        finally:
            self.truck_positions_tried = TRUCK_POSITIONS_TRIED
        return value, tour, sorties

    @staticmethod
    def _tour_neighbours(tour: list[int]) -> Iterator[list[int]]:
        """Every 2-opt and or-opt (stretches of 1–3 stops moved) of the truck tour, depot ends kept."""
        inner = len(tour) - 2
        for i in range(1, inner):
            for j in range(i + 1, inner + 1):
                yield [*tour[:i], *reversed(tour[i : j + 1]), *tour[j + 1 :]]
        for length in (1, 2, 3):
            for i in range(1, inner - length + 2):
                segment = tour[i : i + length]
                rest = [*tour[:i], *tour[i + length :]]
                for at in range(max(1, i - OR_OPT_REACH), min(len(rest), i + OR_OPT_REACH + 1)):
                    if at != i:
                        yield [*rest[:at], *segment, *rest[at:]]

    def savings_pass(self, tour: list[int], sorties: Assignment, value: float) -> tuple[float, list[int], Assignment]:
        improved = True
        while improved and time.perf_counter() < self.deadline:
            improved = False
            order = [c for c in tour[1:-1] if c in self.eligible_set]
            self.rng.shuffle(order)
            for customer in order:
                if customer not in tour or customer in self.anchors(sorties):
                    continue
                reduced = [n for n in tour if n != customer]
                trial = self.best_insertion(reduced, sorties, customer, allow_truck=False)
                if trial[0] < value - 1e-9:
                    value, tour, sorties = trial
                    improved = True
                if time.perf_counter() >= self.deadline:
                    break
        return value, tour, sorties


def search(
    problem: TruckDroneProblem,
    *,
    seed: int,
    time_limit_s: float,
    max_iterations: int | None,
    initial: tuple[list[int], Assignment] | None = None,
) -> TruckDroneResult:
    """Run the search (see the module docstring) and return the best schedule, timed.

    `initial` (a tour and its sorties, e.g. a greedy plan) is a starting schedule: the result is never
    worse than it when it is feasible.
    """
    started = time.perf_counter()
    deadline = started + time_limit_s
    run = _Search(problem, seed, deadline)
    n = problem.customers
    tour = van_tour(problem.truck_s, seed=seed, iterations=min(2000, 200 + 20 * n))
    sorties: Assignment = {}
    truck_only = run.cost(tour, sorties)
    seed_tour = tour
    restarts = 0
    value, tour, sorties = run.savings_pass(tour, sorties, truck_only)
    if run.large and run.eligible and problem.drones > 0:  # larger instances: the clustered starts too
        for group in range(2, problem.drones + 3):
            if time.perf_counter() >= deadline:  # (the live planner's time budget)
                break
            clustered = run.clustered_start(seed_tour, group)
            if clustered[0] < value:
                value, tour, sorties = clustered
    if initial is not None:
        given = run.cost(list(initial[0]), dict(initial[1]))
        if given < value:
            value, tour, sorties = given, list(initial[0]), dict(initial[1])
    best = (value, tour, sorties)
    moves: list[tuple[float, Callable[..., tuple[float, list[int], Assignment] | None]]] = [
        (3.0, run.to_drone),
        (2.0, run.to_truck),
        (3.0, run.re_sortie),
        (2.0, run.relocate),
        (2.0, run.swap),
        (3.0, run.ruin_recreate),
        (2.0, run.truck_reorder),
        (2.0, run.sortie_swap),
    ]
    weights = [w for w, _ in moves]
    # (the truck alone can break a live rule, e.g. a window only a drone keeps: then scale by its driving)
    share = START_TEMPERATURE_SHARE_LARGE if run.large else START_TEMPERATURE_SHARE
    temperature0 = share * (truck_only if truck_only < INF else float(np.max(problem.truck_s)) * (n + 1))
    iteration = 0
    since_best = 0
    while True:
        now = time.perf_counter()
        if now >= deadline or (max_iterations is not None and iteration >= max_iterations):
            break
        if not run.eligible or problem.drones == 0:
            break
        progress = iteration / max_iterations if max_iterations else (now - started) / time_limit_s
        temperature = temperature0 * max(0.0, 1.0 - progress)
        move = run.rng.choices(moves, weights)[0][1]
        outcome = move(tour, sorties)
        iteration += 1
        since_best += 1
        if outcome is None or outcome[0] == INF:
            continue
        delta = outcome[0] - value
        if delta < 1e-9 or (temperature > 0 and run.rng.random() < math.exp(-delta / temperature)):
            value, tour, sorties = outcome
            if value < best[0] - 1e-9:
                best = (value, tour, sorties)
                since_best = 0
        if since_best > STUCK_ITERATIONS + 5 * n:  # stuck: polish the best, restart (see RESTARTS)
            if n <= POLISH_EVERY_RESTART_UP_TO:
                best = run.polish(*best)
            kind = RESTARTS[restarts % len(RESTARTS)]
            restarts += 1
            if kind == "savings":
                value, tour, sorties = run.savings_pass(seed_tour, {}, truck_only)
            elif kind == "reversed":  # a perturbed truck tour: a random segment reversed
                shaken_tour = run.reversed_segment(seed_tour)
                value, tour, sorties = run.savings_pass(shaken_tour, {}, run.cost(shaken_tour, {}))
            elif kind.startswith("subset"):
                started_state = run.subset_start(seed_tour, drones_only=kind == "subset-drones")
                if started_state[0] < INF:  # else a customer found no place: go on from the current state
                    value, tour, sorties = started_state
            else:
                shaken = run.ruin_recreate(best[1], best[2], largest=max(3, n // 3))
                value, tour, sorties = shaken if shaken is not None and shaken[0] < INF else best
            if value < best[0] - 1e-9:
                best = (value, tour, sorties)
            since_best = 0
    if best[0] < INF and n <= POLISH_UP_TO:
        best = run.polish(*best)
    if best[0] == INF:  # the live rules (windows, batteries) can leave no feasible schedule
        raise PlanningError("the sortie search found no schedule that keeps every rule")
    makespan, timed = simulate(problem, best[1], best[2], timed=True, serve_first=run.reshaped)
    if timed is None:
        raise AssertionError("the best schedule was simulated feasible before")  # pragma: no cover
    return TruckDroneResult(
        timed.tour,
        timed.sorties,
        timed.arrival_s,
        timed.service_start_s,
        timed.departure_s,
        makespan,
        truck_only_s=truck_only,
        iterations=iteration,
        seed=seed,
    )

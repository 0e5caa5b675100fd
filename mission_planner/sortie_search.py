"""The truck–drone search behind `truck_drone.solve`: ALNS with simulated annealing over sortie assignments.

State: the truck tour (node list, depot at both ends) and a map customer -> (drone, launch node,
recovery node); launch node 0 is the depot at the start, recovery node 0 the depot at the end.
Every candidate is timed by `simulate`, which plays the whole schedule (the truck waits for its
drones; launches, recoveries and service take the driver's time one after another; each sortie's
endurance is checked), so the search never keeps a schedule the rules forbid.

Method:
1. Seed: the truck tour of every customer (PyVRP TSP), then a savings pass in the manner of Murray
   & Chu's heuristic: each drone-eligible customer in turn leaves the truck for its best sortie
   when that shortens the makespan.
2. Loop until the time or iteration limit: pick one move (customer to a sortie, sortie back to
   the truck, re-plan a sortie, relocate a truck customer, swap a truck and a drone customer, or
   ruin-and-recreate of 2–6 random or related customers with best reinsertion), accept it by
   simulated annealing (temperature falling linearly to 0), keep the best schedule.
Candidate sorties for a customer are the launch/recovery pairs (within a window of tour
positions, plus depot to depot) whose flight fits the endurance, ranked by the truck delay they
would cause; the best few are timed exactly for each free drone.
All randomness comes from `random.Random(seed)`.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable

import numpy as np

from .handoff import van_tour
from .truck_drone import SortieTimes, TruckDroneProblem, TruckDroneResult

Assignment = dict[int, tuple[int, int, int]]  # customer -> (drone, launch node, recovery node)
INF = math.inf
CANDIDATES_PER_CUSTOMER = 6
TRUCK_POSITIONS_TRIED = 3


def simulate(
    problem: TruckDroneProblem, tour: list[int], sorties: Assignment, timed: bool = False
) -> tuple[float, TruckDroneResult | None]:
    """(makespan_s, timed result if `timed`); makespan inf when the schedule breaks a rule."""
    last = len(tour) - 1
    position = {node: i for i, node in enumerate(tour[:-1])}
    launches: list[list[int]] = [[] for _ in tour]
    recoveries: list[list[int]] = [[] for _ in tour]
    per_drone: list[list[tuple[int, int]]] = [[] for _ in range(problem.drones)]
    spans: dict[int, tuple[int, int]] = {}
    for customer, (drone, launch, recovery) in sorties.items():
        a = position.get(launch)
        b = last if recovery == 0 else position.get(recovery)
        if a is None or b is None or a >= b or (b != last and recovery == 0) or not 0 <= drone < problem.drones:
            return INF, None
        launches[a].append(customer)
        recoveries[b].append(customer)
        per_drone[drone].append((a, b))
        spans[customer] = (a, b)
    for intervals in per_drone:
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            if start < end:
                return INF, None
    truck, drone_s = problem.truck_s, problem.drone_s
    launch_s, recovery_s = problem.launch_s, problem.recovery_s
    counts_launch, counts_recovery = problem.endurance_counts_launch, problem.endurance_counts_recovery
    land: dict[int, float] = {}
    started: dict[int, tuple[float, float, float, float]] = {}  # launch start, end, at customer, leave
    arrivals: list[float] = []
    services: list[float | None] = []
    departures: list[float] = []
    records: list[SortieTimes] = []
    clock = 0.0

    def fly(customer: int, node: int, at_s: float, duration_s: float) -> None:
        _drone, _, recovery = sorties[customer]
        out = at_s + duration_s
        at_customer = out + drone_s[node, customer]
        leave = at_customer + problem.drone_service_s[customer]
        land[customer] = leave + drone_s[customer, recovery]
        started[customer] = (at_s, out, at_customer, leave)

    def recover(customer: int, clock: float) -> float:
        """Recover one drone at the truck's `clock`; the clock after it (inf when the endurance is broken)."""
        landed = land[customer]
        begin = max(clock, landed)
        end = begin + recovery_s
        launch_start, launch_end, at_customer, leave = started[customer]
        span = (end if counts_recovery else begin) - (launch_start if counts_launch else launch_end)
        if not problem.endurance_counts_waiting:
            span -= begin - landed  # hovering until the recovery starts is not counted
        drone, launch, recovery = sorties[customer]
        if not span <= problem.endurance(launch, customer, recovery) + 1e-9:
            return INF
        if timed:
            a, b = spans[customer]
            records.append(
                SortieTimes(drone, a, customer, b, launch_start, launch_end, at_customer, leave, landed, begin, end)
            )
        return end

    for i, node in enumerate(tour):
        if i > 0:
            clock += truck[tour[i - 1], node]
        arrivals.append(clock)
        recovered = {sorties[c][0] for c in recoveries[i]}
        first = [c for c in launches[i] if sorties[c][0] not in recovered]
        again = [c for c in launches[i] if sorties[c][0] in recovered]
        this_launch_s = problem.depot_launch_s if i == 0 else launch_s
        first.sort(key=lambda c: -(drone_s[node, c] + drone_s[c, sorties[c][2]]))
        for customer in first:
            fly(customer, node, clock, this_launch_s)
            clock += this_launch_s
        waiting = sorted(recoveries[i], key=land.__getitem__)
        # drones already hovering here are recovered before the truck's own service (saves their endurance)
        early = 0
        while early < len(waiting) and land[waiting[early]] <= clock:
            early += 1
        ordered = waiting[:early]
        for customer in ordered:
            clock = recover(customer, clock)
            if clock == INF:
                return INF, None
        if 0 < i < last:
            services.append(clock)
            clock += problem.truck_service_s[node]
        else:
            services.append(None)
        for customer in waiting[early:]:
            clock = recover(customer, clock)
            if clock == INF:
                return INF, None
        for customer in again:
            fly(customer, node, clock, this_launch_s)
            clock += this_launch_s
        departures.append(clock)
    if not timed:
        return clock, None
    records.sort(key=lambda s: (s.launch_start_s, s.drone))
    result = TruckDroneResult(
        tuple(tour), tuple(records), tuple(arrivals), tuple(services), tuple(departures), clock, truck_only_s=0.0
    )
    return clock, result


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
        self.eligible = sorted(
            c
            for c in problem.eligible
            if problem.drones > 0 and math.isfinite(float(np.min(problem.drone_s[:, c]))) and c <= n
        )
        near = np.argsort(problem.truck_s + problem.truck_s.T, axis=1)
        self.neighbours = [[int(v) for v in row if v != 0 and v != i][:10] for i, row in enumerate(near)]

    def cost(self, tour: list[int], sorties: Assignment) -> float:
        self.evaluations += 1
        return simulate(self.problem, tour, sorties)[0]

    # --- candidate moves -------------------------------------------------------------------
    def drone_options(self, tour: list[int], sorties: Assignment, customer: int) -> list[tuple[int, int, int]]:
        """The most promising (drone, launch, recovery) for `customer`, given a tour without it."""
        p = self.problem
        last = len(tour) - 1
        cumulative = [0.0]
        for a, b in itertools.pairwise(tour):
            cumulative.append(cumulative[-1] + p.truck_s[a, b] + p.truck_service_s[b])
        position = {node: i for i, node in enumerate(tour[:-1])}
        busy: list[list[tuple[int, int]]] = [[] for _ in range(p.drones)]
        for d, launch, recovery in sorties.values():
            busy[d].append((position[launch], last if recovery == 0 else position[recovery]))
        extra = (p.launch_s if p.endurance_counts_launch else 0.0) + (
            p.recovery_s if p.endurance_counts_recovery else 0.0
        )
        service = p.drone_service_s[customer]
        ranked: list[tuple[float, int, int]] = []
        pairs = [(a, b) for a in range(last) for b in range(a + 1, min(last, a + self.window) + 1)]
        if self.window < last:
            pairs.append((0, last))
        for a, b in pairs:
            launch, recovery = tour[a], (0 if b == last else tour[b])
            flight = p.drone_s[launch, customer] + service + p.drone_s[customer, recovery]
            if not flight + extra <= p.endurance(launch, customer, recovery):
                continue
            # the time the drone is tied up (its flight, or the truck between launch and recovery) -
            # short ties keep drones free for other sorties; the truck delay is in it
            delay = max(flight + p.launch_s, cumulative[b] - cumulative[a])
            ranked.append((delay, a, b))
        ranked.sort()
        options = []
        for _, a, b in ranked[: self.candidates * 2]:
            launch, recovery = tour[a], (0 if b == last else tour[b])
            for d in range(p.drones):
                if all(b <= start or end <= a for start, end in busy[d]):
                    options.append((d, launch, recovery))
                    if d >= 0:
                        break  # drones are identical: the first free one stands for all
            if len(options) >= self.candidates:
                break
        return options

    def truck_positions(self, tour: list[int], customer: int) -> list[int]:
        """Insertion positions (insert before tour[i]) with the least added truck travel."""
        t = self.problem.truck_s
        added = sorted(
            (t[tour[i - 1], customer] + t[customer, tour[i]] - t[tour[i - 1], tour[i]], i) for i in range(1, len(tour))
        )
        return [i for _, i in added[:TRUCK_POSITIONS_TRIED]]

    def best_insertion(
        self, tour: list[int], sorties: Assignment, customer: int, allow_truck: bool = True, allow_drone: bool = True
    ) -> tuple[float, list[int], Assignment]:
        best: tuple[float, list[int], Assignment] = (INF, tour, sorties)
        if allow_drone and customer in self.eligible_set:
            for option in self.drone_options(tour, sorties, customer):
                trial = dict(sorties)
                trial[customer] = option
                value = self.cost(tour, trial)
                if value < best[0]:
                    best = (value, tour, trial)
        if allow_truck or best[0] == INF:
            for i in self.truck_positions(tour, customer):
                trial_tour = [*tour[:i], customer, *tour[i:]]
                value = self.cost(trial_tour, sorties)
                if value < best[0]:
                    best = (value, trial_tour, sorties)
        return best

    @property
    def eligible_set(self) -> set[int]:
        return set(self.eligible)

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

    def reversed_segment(self, tour: list[int]) -> list[int]:
        """The tour with one random stretch of customers driven backwards (a restart's perturbation)."""
        if len(tour) < 4:
            return list(tour)
        i, j = sorted(self.rng.sample(range(1, len(tour) - 1), 2))
        return [*tour[:i], *reversed(tour[i : j + 1]), *tour[j + 1 :]]

    # --- the two phases -------------------------------------------------------------------
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
    problem: TruckDroneProblem, *, seed: int, time_limit_s: float, max_iterations: int | None
) -> TruckDroneResult:
    """Run the search (see the module docstring) and return the best schedule, timed."""
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
    best = (value, tour, sorties)
    moves: list[tuple[float, Callable[..., tuple[float, list[int], Assignment] | None]]] = [
        (3.0, run.to_drone),
        (2.0, run.to_truck),
        (3.0, run.re_sortie),
        (2.0, run.relocate),
        (2.0, run.swap),
        (3.0, run.ruin_recreate),
    ]
    weights = [w for w, _ in moves]
    temperature0 = 0.01 * truck_only
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
        if since_best > 200 + 5 * n:  # stuck: restart from a fresh savings pass or from the best, shaken
            restarts += 1
            if restarts % 3 == 1:
                value, tour, sorties = run.savings_pass(seed_tour, {}, truck_only)
            elif restarts % 3 == 2:  # a perturbed truck tour: a random segment reversed
                shaken_tour = run.reversed_segment(seed_tour)
                value, tour, sorties = run.savings_pass(shaken_tour, {}, run.cost(shaken_tour, {}))
            else:
                shaken = run.ruin_recreate(best[1], best[2], largest=max(3, n // 3))
                value, tour, sorties = shaken if shaken is not None and shaken[0] < INF else best
            if value < best[0] - 1e-9:
                best = (value, tour, sorties)
            since_best = 0
    makespan, timed = simulate(problem, best[1], best[2], timed=True)
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

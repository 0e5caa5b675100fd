"""The sortie search on larger instances: candidates screened by one launch order, the budget from size and drones."""

from __future__ import annotations

import math
import random
import time
from dataclasses import replace

import numpy as np
from test_truck_drone import random_problem  # (pytest puts this folder on the path)

from mission_planner.handoff import van_tour
from mission_planner.schedule_check import violations
from mission_planner.sortie_search import LARGE_FROM, RESHAPED_UP_TO, _relabelled, _Search
from mission_planner.sortie_timing import screen, simulate
from mission_planner.truck_drone import MOVES_CAP, TruckDroneProblem, search_iterations, solve

LIMIT_S = 120.0  # far above what the move counts take: the move count stops the search


def grid_problem(customers: int, drones: int, seed: int = 4) -> TruckDroneProblem:
    """`random_problem` of the truck–drone tests: a 3 km square, 70 % of the customers drone-eligible."""
    return random_problem(customers, drones, seed=seed, endurance=1200.0)


def test_screen_never_times_a_schedule_better_than_simulate_and_matches_it_when_exact() -> None:
    """`screen` plays one of simulate's launch orders: never below simulate's best of them, equal when no two
    drones leave one node (then simulate plays that order alone)."""
    p = grid_problem(LARGE_FROM + 5, 3)
    best = solve(p, seed=1, time_limit_s=LIMIT_S, max_iterations=100)
    tour = list(best.tour)
    sorties = {s.customer: (s.drone, tour[s.launch_pos], tour[s.recovery_pos]) for s in best.sorties}
    rng = random.Random(0)
    for _ in range(40):  # the schedule with its sorties' drones shuffled: feasible or not, the relation holds
        trial = {c: (rng.randrange(p.drones), a, b) for c, (_d, a, b) in sorties.items()}
        value, exact = screen(p, tour, trial)
        full = simulate(p, tour, trial)[0]
        assert value >= full - 1e-9
        if exact:
            assert value == full
    value, exact = screen(p, tour, {})
    assert exact and value == simulate(p, tour, {})[0]


def test_screened_search_is_deterministic_for_a_seed_and_valid() -> None:
    p = grid_problem(LARGE_FROM + 7, 2)
    first = solve(p, seed=3, time_limit_s=LIMIT_S, max_iterations=150)
    second = solve(p, seed=3, time_limit_s=LIMIT_S, max_iterations=150)
    assert first.iterations == 150
    assert (first.tour, first.sorties, first.makespan_s) == (second.tour, second.sorties, second.makespan_s)
    assert violations(p, first) == []
    assert first.makespan_s < first.truck_only_s


def test_budget_falls_with_size_and_drones_never_below_the_former_one() -> None:
    """Above 12 customers: fewer moves for larger tours and more drones (each move costs more), within
    [25,000 / n, MOVES_CAP]; up to 12 customers 1,200 as before."""
    assert search_iterations(grid_problem(10, 4)) == 1200
    budgets = {(n, d): search_iterations(grid_problem(n, d)) for n in (25, 50, 100) for d in (1, 2, 3, 4)}
    for (n, d), moves in budgets.items():
        assert 25_000 // n <= moves <= MOVES_CAP
        if d > 1:
            assert moves <= budgets[(n, d - 1)]
        if n > 25:
            assert moves <= budgets[(n // 2, d)]


def test_clustered_start_keeps_a_short_truck_tour_and_passes_the_validator() -> None:
    """Of every run of `group` customers along the seed tour the truck keeps one (plus those no drone may take);
    the rest fly, and the schedule is one the independent validator accepts."""
    p = grid_problem(LARGE_FROM + 11, 3)
    run = _Search(p, seed=0, deadline=time.perf_counter() + LIMIT_S)
    seed_tour = van_tour(p.truck_s, seed=0, iterations=200)
    value, tour, sorties = run.clustered_start(seed_tour, group=4)
    assert value < math.inf
    customers = p.customers
    must_truck = customers - len(p.eligible)
    assert len(tour) - 2 <= must_truck + -(-customers // 4)  # (here every other customer finds a sortie)
    assert sorted([*tour[1:-1], *sorties]) == list(range(1, customers + 1))
    makespan, timed = simulate(p, tour, sorties, timed=True)
    assert timed is not None and makespan == value
    assert violations(p, replace(timed, truck_only_s=value)) == []


def test_live_rules_keep_the_former_search() -> None:
    """The screening, clustered starts and cooler annealing are for the FSTSP/mFSTSP rules; a problem with a live
    rule (here one drone that may not take customer 1) is searched as before, every candidate fully timed."""
    p = grid_problem(LARGE_FROM + 2, 2)
    assert _Search(p, seed=0, deadline=time.perf_counter() + LIMIT_S).large
    allowed = [[True] * (p.customers + 1) for _ in range(p.drones)]
    allowed[0][1] = False
    live = replace(p, drone_allowed=np.array(allowed))
    assert not _Search(live, seed=0, deadline=time.perf_counter() + LIMIT_S).large


def test_a_drone_that_would_hover_too_long_is_launched_after_the_trucks_service() -> None:
    """Recovered at stop 1 and sent out again at once, the drone would hover at stop 2 until the truck comes and
    break its endurance by 20 s; delaying its launch delays the truck as much. With `serve_first` (the search on
    larger FSTSP/mFSTSP instances) it is launched after the truck's own service there: it fits, the truck losing no
    time (Murray & Raj's schedules serve first too)."""
    truck = np.full((5, 5), 100.0)
    truck[1, 2] = truck[2, 1] = 500.0
    drone = np.full((5, 5), 20.0)
    np.fill_diagonal(truck, 0.0)
    np.fill_diagonal(drone, 0.0)
    p = TruckDroneProblem.build(
        truck, drone, [3, 4], drones=1, launch_s=60.0, recovery_s=30.0, truck_service_s=30.0, endurance_s=600.0
    )
    tour, sorties = [0, 1, 2, 0], {3: (0, 0, 1), 4: (0, 1, 2)}
    assert simulate(p, tour, sorties)[0] == math.inf  # (the live rules' and the exact method's timing)
    makespan, timed = simulate(p, tour, sorties, timed=True, serve_first=True)
    # truck: launches 0-60, at 1 at 160, recovers 160-190, serves 190-220, launches 220-280 (sent out at 190 it
    # would be away 620 s), at 2 at 780, recovers 780-810, serves 810-840, home at 940
    assert makespan == 940.0
    assert timed is not None and violations(p, replace(timed, truck_only_s=makespan)) == []
    second = next(s for s in timed.sorties if s.customer == 4)
    assert (second.launch_start_s, second.recovery_end_s) == (220.0, 810.0)


def test_relabelling_frees_a_drone_only_another_labelling_has() -> None:
    """Two drones, sorties over tour positions 0-2 and 3-5 on drone 0 and 2-4 on drone 1: neither is free for a
    new sortie over 1-3, yet at most two sorties are ever in the air; over 2-3 with 0-3 and 1-4 flying, three."""
    position = {node: node for node in range(6)}
    sorties = {7: (0, 0, 2), 8: (1, 2, 4), 9: (0, 3, 5)}
    found = _relabelled(sorties, position, 6, 2, (6, 1, 3))
    assert found is not None
    drone, relabelled = found
    assert drone == 1 and relabelled == {7: (0, 0, 2), 8: (0, 2, 4), 9: (1, 3, 5)}
    assert _relabelled({7: (0, 0, 2), 9: (0, 3, 5)}, position, 6, 2, (6, 1, 3)) == (1, {7: (0, 0, 2), 9: (0, 3, 5)})
    assert _relabelled({7: (0, 0, 3), 8: (1, 1, 4)}, position, 6, 2, (6, 2, 3)) is None


def test_the_reshaped_search_needs_several_drones_and_at_most_fifty_customers() -> None:
    """Relabelling and serve_first are for 13 to `RESHAPED_UP_TO` customers with several drones (no live rule)."""

    def reshaped(customers: int, drones: int) -> bool:
        return _Search(grid_problem(customers, drones), seed=0, deadline=time.perf_counter() + LIMIT_S).reshaped

    assert reshaped(LARGE_FROM, 2) and reshaped(RESHAPED_UP_TO, 4)
    assert not reshaped(LARGE_FROM - 1, 2) and not reshaped(LARGE_FROM, 1) and not reshaped(RESHAPED_UP_TO + 1, 2)

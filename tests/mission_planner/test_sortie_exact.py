"""The exact branch and bound for small truck–drone instances: a hand-checked optimum, no schedule lost to its
pruning (against brute force), the published IP optimum on a Murray & Raj instance; every schedule validated."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from mission_planner.errors import PlanningError
from mission_planner.schedule_check import violations
from mission_planner.sortie_exact import exact
from mission_planner.sortie_timing import INF, simulate
from mission_planner.truck_drone import TruckDroneProblem


def hand_problem() -> TruckDroneProblem:
    """Depot 0 and customers 1, 2; only 2 may go by drone. Truck 0-1 100 s, 0-2 100 s, 1-2 150 s; drone 0-2 and
    1-2 80 s; launch and recovery 10 s (at the depot too); endurance 200 s from launch start to recovery end.

    By hand: the truck alone drives 0-1-2-0 in 350 s. Drone 0 -> 2 -> 0 with the truck 0-1-0: the truck is
    back at 10 + 200 = 210 s, the drone's span is at least 220 s > 200, and launching later delays the truck
    as much: infeasible. Drone 0 -> 2 -> 1: launched 0-10, lands at 1 at 170, the truck is there at 110, waits,
    recovers 170-180, drives back: 280 s (span 180). Drone 1 -> 2 -> 0: launched 100-110, back at 270, the truck
    back at 210 recovers 270-280: 280 s. The optimum is 280 s."""
    truck = [[0, 100, 100], [100, 0, 150], [100, 150, 0]]
    drone = [[0, 50, 80], [50, 0, 80], [80, 80, 0]]
    return TruckDroneProblem.build(
        truck, drone, [2], drones=1, launch_s=10, recovery_s=10, depot_launch_s=10, endurance_s=200
    )


def test_exact_reaches_the_hand_checked_optimum_and_proves_it() -> None:
    p = hand_problem()
    outcome = exact(p)
    assert outcome.proven
    assert outcome.result is not None
    assert outcome.result.makespan_s == pytest.approx(280.0)
    assert violations(p, outcome.result) == []
    assert [s.customer for s in outcome.result.sorties] == [2]
    assert outcome.result.truck_only_s == pytest.approx(350.0)


def test_nothing_below_an_optimal_incumbent_and_a_budget_that_stops_it() -> None:
    p = hand_problem()
    proven_none = exact(p, incumbent_s=280.0)
    assert proven_none.proven and proven_none.result is None
    stopped = exact(p, node_budget=2)
    assert not stopped.proven
    assert stopped.nodes <= 3


def random_problem(customers: int, seed: int) -> TruckDroneProblem:
    """Points in a 3 km square; truck on Manhattan roads at 10 m/s, one drone straight at 15 m/s."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 3000, size=(customers + 1, 2))
    manhattan = np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=2)
    straight = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    eligible = [c for c in range(1, customers + 1) if rng.random() < 0.8]
    return TruckDroneProblem.build(
        manhattan / 10.0,
        straight / 15.0,
        eligible,
        drones=1,
        launch_s=60,
        recovery_s=30,
        truck_service_s=30,
        drone_service_s=60,
        endurance_s=700.0,
    )


def brute_force_s(p: TruckDroneProblem) -> float:
    """The best makespan over every truck tour and every one-drone sortie assignment, each timed by simulate."""
    n = p.customers
    best = INF
    for k in range(n + 1):
        for truck_set in itertools.combinations(range(1, n + 1), k):
            flown = [c for c in range(1, n + 1) if c not in truck_set]
            if any(c not in p.eligible for c in flown):
                continue
            for order in itertools.permutations(truck_set):
                tour = [0, *order, 0]
                pairs = [(a, b) for a in range(len(tour) - 1) for b in range(a + 1, len(tour))]
                for chosen in itertools.product(pairs, repeat=len(flown)):
                    sorties = {
                        c: (0, tour[a], 0 if b == len(tour) - 1 else tour[b])
                        for c, (a, b) in zip(flown, chosen, strict=True)
                    }
                    best = min(best, simulate(p, tour, sorties)[0])
    return best


@pytest.mark.parametrize("seed", [2, 3])
def test_the_pruning_loses_no_schedule_brute_force_finds(seed: int) -> None:
    """One drone, 5 customers: every tour and sortie assignment timed one by one gives the same optimum."""
    p = random_problem(5, seed)
    outcome = exact(p)
    assert outcome.proven and outcome.result is not None
    assert outcome.result.makespan_s == pytest.approx(brute_force_s(p))
    assert violations(p, outcome.result) == []


def test_live_rules_are_refused() -> None:
    p = hand_problem()
    windowed = TruckDroneProblem.build(
        p.truck_s, p.drone_s, [2], drones=1, window_s=np.array([[0, 1e9]] * 3), endurance_s=200
    )
    with pytest.raises(PlanningError, match="live rules"):
        exact(windowed)


def _mfstsp_dir() -> Path | None:
    root = os.environ.get("FINALMILE_BENCH_DATA")
    folder = Path(root) / "mfstsp" / "mFSTSP" if root else None
    return folder if folder is not None and (folder / "Problems").is_dir() else None


@pytest.mark.skipif(_mfstsp_dir() is None, reason="FINALMILE_BENCH_DATA with mfstsp/mFSTSP not set")
def test_exact_reaches_their_ip_optimum_where_the_search_stops_short() -> None:
    """Murray & Raj 20170608T121411132375, vehicle file 104, 3 UAVs: their IP proves 2575.759352 s optimal; the
    search stops at 2621.6 s (+1.8 %, benchmarks/results/truck_drone.csv). The exact method alone (no incumbent)
    reaches the IP optimum and proves nothing is better: the three drones leave the depot in an order, and
    come back to be sent out again in a pairing, that simulate's own launch rules do not try."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.bench_truck_drone import mfstsp_problem

    folder = _mfstsp_dir()
    assert folder is not None
    p = mfstsp_problem(folder / "Problems", "20170608T121411132375", 104, 3)
    outcome = exact(p)
    assert outcome.proven and outcome.result is not None
    assert violations(p, outcome.result) == []
    assert outcome.result.makespan_s == pytest.approx(2575.759352, rel=1e-6)

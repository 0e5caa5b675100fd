"""The truck–drone planner: bad input, determinism, validated results, several drones, the mFSTSP energy model."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from mission_planner.errors import EnergyError, PlanningError
from mission_planner.schedule_check import violations
from mission_planner.sortie_energy import UavParams, endurance_s, flight_times_s, leg_times_s
from mission_planner.sortie_search import simulate
from mission_planner.truck_drone import TruckDroneProblem, search_iterations, solve

ITERATIONS = 400
LIMIT_S = 120.0  # far above what ITERATIONS take: the iteration count stops the search


def random_problem(customers: int, drones: int, seed: int = 3, endurance: float = 900.0) -> TruckDroneProblem:
    """Points in a 3 km square; truck on Manhattan roads at 10 m/s, drone straight at 15 m/s; 70 % drone-eligible."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 3000, size=(customers + 1, 2))
    manhattan = np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=2)
    straight = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    eligible = [c for c in range(1, customers + 1) if rng.random() < 0.7]
    return TruckDroneProblem.build(
        manhattan / 10.0,
        straight / 15.0,
        eligible,
        drones=drones,
        launch_s=60,
        recovery_s=30,
        truck_service_s=30,
        drone_service_s=60,
        endurance_s=endurance,
    )


def test_bad_input_raises_planning_error() -> None:
    square = np.ones((3, 3)) - np.eye(3)
    with pytest.raises(PlanningError, match="square"):
        TruckDroneProblem.build(np.ones((2, 3)), np.ones((2, 3)), [1])
    with pytest.raises(PlanningError, match="must match"):
        TruckDroneProblem.build(square, np.ones((4, 4)), [1])
    with pytest.raises(PlanningError, match="eligible"):
        TruckDroneProblem.build(square, square, [0])
    with pytest.raises(PlanningError, match="drones"):
        TruckDroneProblem.build(square, square, [1], drones=-1)
    with pytest.raises(PlanningError, match="launch_s"):
        TruckDroneProblem.build(square, square, [1], launch_s=math.nan)
    with pytest.raises(PlanningError, match="endurance"):
        TruckDroneProblem.build(square, square, [1], endurance_s=np.ones((2, 2, 2)))
    with pytest.raises(PlanningError, match="time_limit_s"):
        solve(TruckDroneProblem.build(square, square, [1]), time_limit_s=0)


def test_same_seed_same_schedule() -> None:
    """With an iteration limit the search depends on its seed only."""
    p = random_problem(12, 2)
    first = solve(p, seed=5, time_limit_s=LIMIT_S, max_iterations=ITERATIONS)
    second = solve(p, seed=5, time_limit_s=LIMIT_S, max_iterations=ITERATIONS)
    assert first.iterations == ITERATIONS
    assert (first.tour, first.sorties, first.makespan_s) == (second.tour, second.sorties, second.makespan_s)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_result_passes_the_independent_validator_and_beats_the_truck_alone(seed: int) -> None:
    p = random_problem(15, 2, seed=seed)
    result = solve(p, seed=seed, time_limit_s=LIMIT_S, max_iterations=ITERATIONS)
    assert violations(p, result) == []
    assert result.sorties, "drones should take some of 10 eligible customers in a 3 km square"
    assert result.makespan_s < result.truck_only_s
    served = sorted([*result.truck_customers, *(s.customer for s in result.sorties)])
    assert served == list(range(1, 16))


def test_recovery_at_a_later_node_and_truck_waiting() -> None:
    """Sorties are recovered at other nodes than their launch; the simulated times are the validated ones."""
    p = random_problem(15, 1, seed=4)
    result = solve(p, seed=0, time_limit_s=LIMIT_S, max_iterations=ITERATIONS)
    assert any(s.recovery_pos > s.launch_pos for s in result.sorties)
    sorties = {s.customer: (s.drone, result.tour[s.launch_pos], result.tour[s.recovery_pos]) for s in result.sorties}
    assert simulate(p, list(result.tour), sorties)[0] == pytest.approx(result.makespan_s)
    assert violations(p, result) == []


def test_several_drones_per_truck_pay_off() -> None:
    """A far truck customer and four near drone customers the truck reaches only by bad roads.

    With two drones all four go by air (two launched at the depot, two at the far stop); with one
    drone only two can, so the second drone shortens the day.
    """
    size = 6
    truck = np.full((size, size), 400.0)
    truck[0, 1] = truck[1, 0] = 300.0
    np.fill_diagonal(truck, 0.0)
    drone = np.full((size, size), 100.0)
    np.fill_diagonal(drone, 0.0)
    common = {"launch_s": 10.0, "recovery_s": 10.0, "endurance_s": 400.0}
    one = TruckDroneProblem.build(truck, drone, {2, 3, 4, 5}, drones=1, **common)  # type: ignore[arg-type]
    two = TruckDroneProblem.build(truck, drone, {2, 3, 4, 5}, drones=2, **common)  # type: ignore[arg-type]
    with_one = solve(one, seed=0, time_limit_s=LIMIT_S, max_iterations=ITERATIONS)
    with_two = solve(two, seed=0, time_limit_s=LIMIT_S, max_iterations=ITERATIONS)
    assert violations(one, with_one) == [] and violations(two, with_two) == []
    assert {s.drone for s in with_two.sorties} == {0, 1}
    assert len(with_two.sorties) == 4
    assert with_two.makespan_s < with_one.makespan_s


def test_no_drone_means_the_truck_serves_everyone() -> None:
    p = random_problem(8, 0)
    result = solve(p, seed=0, time_limit_s=LIMIT_S, max_iterations=50)
    assert result.sorties == () and sorted(result.truck_customers) == list(range(1, 9))
    assert violations(p, result) == []


# --- the mFSTSP UAV model (vehicle file 101 of Murray & Raj) --------------------------------
UAV_101 = UavParams(15.6464, 31.2928, 7.8232, 360.0, 50.0, 5.0, 60.0, 30.0, 60.0, 457503.0)


def test_leg_times_match_their_takeoff_and_landing() -> None:
    """Takeoff 50 m at 15.6464 m/s + a half turn at 360 deg/s = 3.6956 s; landing 50 m at 7.8232 m/s = 6.3913 s
    (the durations their IP schedule files print); a leg to the same point takes no time."""
    takeoff, cruise, landing = leg_times_s(UAV_101, np.array([[0.0, 3129.28]]))
    assert takeoff[0, 1] == pytest.approx(3.695623, abs=1e-6)
    assert landing[0, 1] == pytest.approx(6.391247, abs=1e-6)
    assert cruise[0, 1] == pytest.approx(100.0)
    assert takeoff[0, 0] == cruise[0, 0] == landing[0, 0] == 0.0
    assert flight_times_s(UAV_101, np.array([[0.0]]))[0, 0] == 0.0


def test_endurance_falls_with_payload_and_distance_and_refuses_heavy_parcels() -> None:
    distance = np.array([[0.0, 2000.0, 9000.0], [2000.0, 0.0, 7000.0], [9000.0, 7000.0, 0.0]])
    light = endurance_s(UAV_101, distance, np.array([-1.0, 1.0, 1.0]))
    heavy = endurance_s(UAV_101, distance, np.array([-1.0, 5.0, 6.0]))
    assert light[0, 1, 0] > heavy[0, 1, 0] > 0  # heavier parcel, less endurance
    assert (heavy[:, 2, :] == -1).all()  # 6 lb is over the 5 lb capacity
    assert light[0, 1, 0] > light[0, 1, 2]  # a longer flight back leaves less endurance
    assert (light[:, 0, :] == -1).all()  # the depot is no customer
    with pytest.raises(EnergyError):
        endurance_s(UAV_101, distance, np.array([1.0, 2.0]))


def _mfstsp_dir() -> Path | None:
    root = os.environ.get("FINALMILE_BENCH_DATA")
    folder = Path(root) / "mfstsp" / "mFSTSP" if root else None
    return folder if folder is not None and (folder / "Problems").is_dir() else None


@pytest.mark.skipif(_mfstsp_dir() is None, reason="FINALMILE_BENCH_DATA with mfstsp/mFSTSP not set")
def test_mfstsp_8_customer_problem_reaches_their_ip_optimum() -> None:
    """Murray & Raj 20170608T121355407419, vehicle file 101, 1 UAV: their IP proves 3408.714786 s optimal;
    the search reaches it (within 0.01 %) with a schedule the validator accepts."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.bench_truck_drone import mfstsp_problem

    folder = _mfstsp_dir()
    assert folder is not None
    p = mfstsp_problem(folder / "Problems", "20170608T121355407419", 101, 1)
    result = solve(p, seed=0, time_limit_s=LIMIT_S, max_iterations=2000)
    assert violations(p, result) == []
    assert result.makespan_s == pytest.approx(3408.714786, rel=1e-4)


@pytest.mark.skipif(_mfstsp_dir() is None, reason="FINALMILE_BENCH_DATA with mfstsp/mFSTSP not set")
def test_mfstsp_schedule_with_few_truck_stops_reaches_their_ip_optimum() -> None:
    """Murray & Raj 20170608T121411132375, vehicle file 104, 1 UAV: their IP proves 3497.819419 s optimal with
    the truck serving half the customers; the savings pass (one customer off the truck at a time) stops at
    +4.8 %; the restarts from part of the customers on the truck reach the optimum within the size's move budget."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.bench_truck_drone import mfstsp_problem

    folder = _mfstsp_dir()
    assert folder is not None
    p = mfstsp_problem(folder / "Problems", "20170608T121411132375", 104, 1)
    result = solve(p, seed=0, time_limit_s=LIMIT_S, max_iterations=search_iterations(p))
    assert violations(p, result) == []
    assert result.iterations == search_iterations(p)
    assert result.makespan_s == pytest.approx(3497.819419, rel=1e-4)


def test_of_two_drones_hovering_the_one_whose_endurance_ends_first_is_recovered_first() -> None:
    """Both drones leave the depot (10 s launches) for customers 2 and 3 and wait over customer 1, where the
    truck comes at 520 s. The drone from 3 left first (at 0 s, longest flight first) and may fly 555 s from its
    launch start to its recovery's end; the one from 2 landed first (at 120 s) but may fly for hours.
    Recovering in landing order ends the first drone's recovery at 580 s (too late, and launching it later
    delays the truck as much); recovering it first (520-550 s), then the other, keeps both: 1,080 s."""
    far = 1000.0
    truck = [[0, 500, far, far], [500, 0, far, far], [far, far, 0, far], [far, far, far, 0]]
    drone = [[0, far, 50, 150], [far, 0, 50, 150], [50, 50, 0, far], [150, 150, far, 0]]
    endurance = np.full((4, 4, 4), 10_000.0)
    endurance[0, 3, 1] = 555.0
    p = TruckDroneProblem.build(
        truck, drone, [2, 3], drones=2, launch_s=10, recovery_s=30, depot_launch_s=10, endurance_s=endurance
    )
    makespan, timed = simulate(p, [0, 1, 0], {2: (0, 0, 1), 3: (1, 0, 1)}, timed=True)
    assert timed is not None
    assert makespan == pytest.approx(1080.0)
    assert violations(p, timed) == []
    recovered = sorted(timed.sorties, key=lambda s: s.recovery_start_s)
    assert [s.customer for s in recovered] == [3, 2]

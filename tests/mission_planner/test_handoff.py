"""Van handoff: schedule simulation rules, the savings heuristic, and the published FSTSP instances."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from mission_planner.errors import PlanningError
from mission_planner.handoff import HandoffParams, Sortie, improve, simulate, van_tour


def _line(n: int, spacing: float) -> np.ndarray:
    xs = np.arange(n) * spacing
    return np.abs(xs[:, None] - xs[None, :])


def test_van_waits_for_a_late_drone_and_pays_launch_and_recovery() -> None:
    """Van 0->1->2->0 (10 s legs); drone launched at 1 to a customer 30 s away, recovered at 2."""
    van = np.array([[0, 10, 10, 0], [10, 0, 10, 0], [10, 10, 0, 0], [0, 0, 0, 0]], dtype=float)
    drone = np.full((4, 4), 30.0)
    params = HandoffParams(carriers=1, launch_s=5, recovery_s=5, endurance_s=1000)
    timed = simulate([0, 1, 2, 0], [Sortie(1, 3, 2)], van, drone, params)
    assert timed is not None
    # arrive 1 at 10, launch until 15, drone back at 15+30+30=75, recovered 80, home at 90
    assert timed.sorties[0].launch_s == 10 and timed.sorties[0].recovered_s == 80
    assert timed.makespan_s == pytest.approx(90)


def test_endurance_and_carrier_count_are_enforced() -> None:
    """A sortie longer than the endurance, or two at once with one drone, is refused."""
    van = _line(4, 10.0)
    drone = np.full((4, 4), 30.0)
    tight = HandoffParams(carriers=1, launch_s=0, recovery_s=0, endurance_s=50)
    assert simulate([0, 1, 0], [Sortie(0, 2, 1)], van, drone, tight) is None
    one = HandoffParams(carriers=1, endurance_s=1000)
    assert simulate([0, 1, 0], [Sortie(0, 2, 2), Sortie(0, 3, 2)], van, drone, one) is None
    two = HandoffParams(carriers=2, endurance_s=1000)
    assert simulate([0, 1, 0], [Sortie(0, 2, 2, 0), Sortie(0, 3, 2, 1)], van, drone, two) is not None


def test_improve_moves_far_customers_to_the_drone_when_it_helps() -> None:
    """Customers on a long spur are cheaper by drone: the makespan drops below the van-only tour."""
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 5000, size=(9, 2))
    van = np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=2) / 8.0  # Manhattan streets at 8 m/s
    drone = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) / 15.0
    tour = van_tour(van, seed=0)
    alone = simulate(tour, [], van, drone, HandoffParams())
    best = improve(
        tour, van, drone, set(range(1, 9)), HandoffParams(carriers=2, launch_s=30, recovery_s=30, endurance_s=1800)
    )
    assert alone is not None and best.makespan_s < alone.makespan_s
    served = set(best.tour[1:-1]) | {s.customer for s in best.sorties}
    assert served == set(range(1, 9))
    assert all(s.recovered_s - s.launch_s <= 1800 + 60 for s in best.sorties)


def test_tour_must_be_closed() -> None:
    """improve() refuses a tour that does not return to the depot."""
    with pytest.raises(PlanningError, match="start and end"):
        improve([0, 1], _line(2, 1.0), _line(2, 1.0), set(), HandoffParams())


def _fstsp_dir() -> Path | None:
    root = os.environ.get("FINALMILE_BENCH_DATA")
    folder = Path(root) / "mfstsp" / "FSTSP_MurrayChu2015" if root else None
    return folder if folder is not None and folder.is_dir() else None


@pytest.mark.skipif(_fstsp_dir() is None, reason="FINALMILE_BENCH_DATA with mfstsp/FSTSP_MurrayChu2015 not set")
def test_fstsp_instance_beats_truck_only() -> None:
    """Murray & Chu 20140810T123443v10 (20 min endurance): the drone cuts the truck-only makespan by > 25 %."""
    folder = _fstsp_dir()
    assert folder is not None
    instance = folder / "20140810T123443v10"
    tau = np.loadtxt(instance / "tau.csv", delimiter=",") * 60
    tau_drone = np.loadtxt(instance / "tauprime.csv", delimiter=",") * 60
    size = tau.shape[0] - 1
    eligible = {int(v) for v in (instance / "Cprime.csv").read_text().split(",")}
    tour = van_tour(tau[:size, :size], seed=0)
    truck_only = sum(tau[a, b] for a, b in itertools.pairwise(tour))
    best = improve(
        tour,
        tau[:size, :size],
        tau_drone[:size, :size],
        eligible,
        HandoffParams(carriers=1, launch_s=60, recovery_s=60, endurance_s=1200),
    )
    assert best.makespan_s < 0.75 * truck_only

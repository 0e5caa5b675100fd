"""The live van handoff's sortie search: from the greedy plan to a better one, under the live rules.

The same core plan (one Helsinki van carrying two drones, 20 parcels) gets its handoffs twice: greedy
only, and greedy then the search (iteration-bounded, so deterministic). The search's van comes back
sooner, every parcel is still dropped once, and no schedule is refused by the independent validator.
"""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest

from mission_planner.fleet import FleetTravel, OrderSpec, VehicleSpec, build_model
from mission_planner.handoff import HandoffParams, improve
from mission_planner.model import VehicleKind
from mission_planner.plan import LegKind
from mission_planner.schedule_check import violations
from mission_planner.solver import MaxRuntime, solve
from mission_planner.truck_drone import solve as solve_truck_drone
from mission_planner.van_handoff import HandoffPolicy, apply_handoff
from mission_planner.van_search import CarrierLimits, handoff_problem, search_schedule, windows_from

NOW_S = 1_750_000_000.0


@pytest.fixture(scope="module")
def core():  # type: ignore[no-untyped-def]
    """The problem and the core plan (before handoff) of one van carrying two drones, 20 Helsinki parcels."""
    from fleet_manager.world import load_world

    world = load_world("helsinki")
    travel = FleetTravel.for_world(world)
    hub = world.hub
    vehicles = [VehicleSpec("van-1", VehicleKind.VAN, hub.latitude_deg, hub.longitude_deg)] + [
        VehicleSpec(d, VehicleKind.DRONE, hub.latitude_deg, hub.longitude_deg, carried_by="van-1")
        for d in ("vd-1", "vd-2")
    ]
    orders = [
        OrderSpec(f"o{i}", b.latitude_deg, b.longitude_deg, 1.0, earliest_s=NOW_S, latest_s=NOW_S + 5 * 3600)
        for i, b in enumerate(random.Random(0).sample(list(world.addresses), 20))
    ]
    model = build_model(travel, vehicles, orders, now_s=NOW_S)
    problem = model.problem(travel.by_kind(), now_s=NOW_S, reserve=travel.reserve, frame=travel.frame)
    return travel, problem, solve(problem, MaxRuntime(1.0), seed=0).plan


def _dropped(plan) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(o for r in plan.routes for leg in r.legs if leg.kind is LegKind.DROPOFF for o in leg.order_ids)


def test_search_brings_the_van_back_sooner_than_the_greedy_handoff(core, caplog) -> None:
    """Same core plan: the search's van returns earlier than the greedy one's, with more parcels flown, every
    parcel dropped exactly once, and no searched schedule refused by the validator."""
    travel, problem, plan = core
    greedy = apply_handoff(problem, plan, travel.reserve, HandoffPolicy(launch_at_depot=False, search_s=0.0))
    with caplog.at_level(logging.ERROR, logger="mission_planner.van_search"):
        searched = apply_handoff(problem, plan, travel.reserve,
                                 HandoffPolicy(launch_at_depot=False, search_s=120.0, search_iterations=300))
    assert not [r for r in caplog.records if "refused" in r.getMessage()]
    greedy_end, searched_end = greedy.route("van-1").end_s, searched.route("van-1").end_s  # type: ignore[union-attr]
    assert searched_end < greedy_end - 60.0  # at least a minute sooner
    assert _dropped(searched) == _dropped(greedy) == sorted(f"o{i}" for i in range(20))
    flown = [
        leg for r in searched.routes if r.kind is VehicleKind.DRONE for leg in r.legs if leg.kind is LegKind.LAUNCH
    ]
    assert flown and all(leg.start_s >= plan.route("van-1").legs[0].start_s for leg in flown)  # type: ignore[union-attr]
    # none leaves from the hub: the dispatcher's policy
    hub_xy = (travel.hub.x_m, travel.hub.y_m)
    assert all(leg.from_xy_m != hub_xy for leg in flown)


def _line(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Customers 1..n along a road out of the depot (60 s apart by van); a drone flies any hop in 40 s."""
    x = np.arange(n + 1, dtype=float)
    van = 60.0 * np.abs(np.subtract.outer(x, x))
    drone = 40.0 * np.abs(np.subtract.outer(x, x))
    return van, drone


def _limits(carriers: int, size: int, charge_wh: float, spare_packs: int) -> CarrierLimits:
    return CarrierLimits(np.ones((carriers, size), dtype=bool), (charge_wh,) * carriers, (100.0,) * carriers,
                         (20.0,) * carriers, 0.0, spare_packs)


def test_a_carrier_flies_again_only_on_a_swapped_pack() -> None:
    """One drone, six stops on a line (the van spends 5 min at each door), every sortie 50 Wh of a 100 Wh pack with
    a 20 Wh reserve: without spare packs it flies one sortie; with the van's spare packs it flies several, each
    schedule passing the validator."""
    van, drone = _line(6)
    params = HandoffParams(carriers=1, launch_s=30.0, recovery_s=30.0, van_service_s=300.0)
    energy = np.full((7, 7, 7), 50.0)
    counts = []
    for spare_packs in (0, 3):
        p = handoff_problem(van, drone, {2, 3, 4, 5, 6}, params, launch_at_depot=False,
                            windows_s=windows_from([(0.0, 1e9)] * 6, 0.0),
                            limits=_limits(1, 7, 100.0, spare_packs), sortie_wh=energy)
        result = solve_truck_drone(p, seed=0, time_limit_s=60.0, max_iterations=300)
        assert violations(p, result) == []
        counts.append(len(result.sorties))
    assert counts[0] == 1 and counts[1] >= 2


def test_search_from_the_greedy_schedule_is_never_worse_and_keeps_windows() -> None:
    """The greedy later-stop plan of a line of stops, handed to the search: the search's makespan is no longer, its
    schedule passes the validator, and a window the greedy plan could not keep for a drone drop is kept."""
    van, drone = _line(6)
    params = HandoffParams(carriers=2, launch_s=30.0, recovery_s=30.0, van_service_s=300.0)
    greedy = improve([0, 1, 2, 3, 4, 5, 6, 0], van, drone, {2, 3, 4, 5, 6}, params)
    windows = windows_from([(0.0, 1e9)] * 6, 0.0)
    p = handoff_problem(van, drone, {2, 3, 4, 5, 6}, params, launch_at_depot=False, windows_s=windows,
                        limits=_limits(2, 7, 100.0, 0), sortie_wh=np.full((7, 7, 7), 10.0))
    found = search_schedule(p, greedy, seed=0, time_limit_s=60.0, max_iterations=300)
    assert found is not None and found.makespan_s <= greedy.makespan_s + 1e-6
    # the parcel of stop 6 must reach its door by 300 s: only a drone launched at the first stop can
    windows = windows.copy()
    windows[6] = (0.0, 300.0)
    p = handoff_problem(van, drone, {2, 3, 4, 5, 6}, params, launch_at_depot=False, windows_s=windows,
                        limits=_limits(2, 7, 100.0, 0), sortie_wh=np.full((7, 7, 7), 10.0))
    found = search_schedule(p, None, seed=0, time_limit_s=60.0, max_iterations=300)
    assert found is not None
    drop_6 = [s for s in found.sorties if s.customer == 6]
    assert drop_6 and drop_6[0].delivered_s <= 300.0

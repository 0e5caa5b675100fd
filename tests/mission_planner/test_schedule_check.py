"""The truck–drone schedule validator: a hand-made valid schedule passes, and a hand-made breach of each rule fails."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mission_planner.schedule_check import ScheduleError, check, violations
from mission_planner.truck_drone import (
    MURRAY_CHU_2015_ENDURANCE,
    DroneBattery,
    SortieTimes,
    TruckDroneProblem,
    TruckDroneResult,
)

X = [0, 1, 5, 3, 2]  # truck time between nodes = 10 s per unit of |x_i - x_j|


def problem(**changes: object) -> TruckDroneProblem:
    """Depot 0 and customers 1-4; drones fly 8 s between any two nodes; 2 drones; 2 and 4 may go by drone."""
    truck = 10.0 * np.abs(np.subtract.outer(X, X))
    drone = np.full((5, 5), 8.0) - 8.0 * np.eye(5)
    settings: dict[str, object] = {
        "drones": 2,
        "launch_s": 5.0,
        "recovery_s": 5.0,
        "depot_launch_s": 0.0,
        "endurance_s": 100.0,
    }
    settings.update(changes)
    return TruckDroneProblem.build(truck, drone, {2, 4}, **settings)  # type: ignore[arg-type]


def good() -> TruckDroneResult:
    """Truck 0-1-3-0; drone 1 flies depot -> 4 -> node 3, drone 0 flies node 1 -> 2 -> node 3 (worked by hand)."""
    to_4 = SortieTimes(1, 0, 4, 2, 0.0, 0.0, 8.0, 8.0, 16.0, 35.0, 40.0)
    to_2 = SortieTimes(0, 1, 2, 2, 10.0, 15.0, 23.0, 23.0, 31.0, 40.0, 45.0)
    return TruckDroneResult(
        tour=(0, 1, 3, 0),
        sorties=(to_4, to_2),
        arrival_s=(0.0, 10.0, 35.0, 75.0),
        service_start_s=(None, 15.0, 45.0, None),
        departure_s=(0.0, 15.0, 45.0, 75.0),
        makespan_s=75.0,
        truck_only_s=0.0,
    )


def rules(result: TruckDroneResult, p: TruckDroneProblem | None = None) -> set[str]:
    return {v.rule for v in violations(p or problem(), result)}


def sortie(result: TruckDroneResult, index: int, **changes: object) -> TruckDroneResult:
    """The result with one sortie changed."""
    sorties = list(result.sorties)
    sorties[index] = replace(sorties[index], **changes)  # type: ignore[arg-type]
    return replace(result, sorties=tuple(sorties))


def test_the_hand_made_schedule_is_valid() -> None:
    """Two drones, launch at the depot and at a customer, both recovered at a later node: no violation."""
    assert violations(problem(), good()) == []
    check(problem(), good())


def test_depot_to_depot_sortie_is_allowed() -> None:
    """Launched at the depot at the start, recovered at the depot at the end: the one case of same node."""
    result = sortie(good(), 0, recovery_pos=3, land_s=16.0, recovery_start_s=75.0, recovery_end_s=80.0)
    result = replace(result, departure_s=(0.0, 15.0, 45.0, 80.0), makespan_s=80.0)
    assert rules(result) == set()


def test_tour_must_start_and_end_at_the_depot_and_not_repeat() -> None:
    assert "tour" in rules(replace(good(), tour=(0, 1, 3, 1)))
    assert "tour" in rules(replace(good(), tour=(0, 1, 1, 0)))


def test_every_customer_once() -> None:
    """Missing customer (sortie dropped) and a customer served twice (by truck and drone)."""
    assert "cover" in rules(replace(good(), sorties=good().sorties[:1]))
    assert "cover" in rules(
        replace(
            good(),
            tour=(0, 1, 3, 2, 0),
            arrival_s=(0, 10, 35, 65, 95),
            service_start_s=(None, 15, 45, 65, None),
            departure_s=(0, 15, 45, 65, 95),
            makespan_s=95,
        )
    )


def test_drone_customers_must_be_eligible_and_drones_must_exist() -> None:
    only_4 = TruckDroneProblem.build(
        problem().truck_s, problem().drone_s, {4}, drones=2, launch_s=5, recovery_s=5, depot_launch_s=0, endurance_s=100
    )
    assert "eligible" in rules(good(), only_4)
    assert "eligible" in rules(good(), problem(drones=1))


def test_launch_before_recovery() -> None:
    assert "launch_before_recovery" in rules(sortie(good(), 1, launch_pos=2, recovery_pos=1))


def test_launch_and_recovery_node_differ() -> None:
    """A tour that returns to node 1 lets a sortie be launched and recovered at node 1: refused."""
    result = replace(
        good(),
        tour=(0, 1, 3, 1, 0),
        arrival_s=(0.0, 10.0, 35.0, 65.0, 75.0),
        service_start_s=(None, 15.0, 45.0, 65.0, None),
        departure_s=(0.0, 15.0, 45.0, 70.0, 75.0),
        makespan_s=75.0,
    )
    result = sortie(result, 1, recovery_pos=3, recovery_start_s=65.0, recovery_end_s=70.0)
    assert "same_node" in rules(result)


def test_a_drone_flies_one_sortie_at_a_time() -> None:
    """Both sorties given to drone 0: its second launch is before its first recovery."""
    assert "one_sortie_at_a_time" in rules(sortie(good(), 0, drone=0))


def test_truck_cannot_drive_faster_than_its_travel_time() -> None:
    assert "truck_times" in rules(replace(good(), arrival_s=(0.0, 5.0, 35.0, 75.0)))


def test_driver_does_one_thing_at_a_time_inside_the_stay() -> None:
    """Two recoveries at once, a launch shorter than its time, a recovery after the truck left."""
    assert "driver" in rules(sortie(good(), 1, recovery_start_s=36.0, recovery_end_s=41.0))
    assert "driver" in rules(
        sortie(good(), 1, launch_end_s=12.0, arrive_customer_s=20.0, leave_customer_s=20.0, land_s=28.0)
    )
    assert "driver" in rules(replace(good(), departure_s=(0.0, 15.0, 42.0, 75.0)))


def test_drone_cannot_fly_faster_or_be_recovered_before_it_is_back() -> None:
    assert "drone_times" in rules(sortie(good(), 1, arrive_customer_s=20.0))
    assert "drone_times" in rules(sortie(good(), 1, land_s=41.0))


def test_endurance_counts_waiting_and_the_problem_s_launch_recovery_rule() -> None:
    """Drone 1 is out 40 s from launch start to recovery end, 35 s from launch end to recovery start."""
    assert "endurance" in rules(good(), problem(endurance_s=39.0))
    lenient = problem(endurance_s=39.0, endurance_counts_launch=False, endurance_counts_recovery=False)
    assert "endurance" not in rules(good(), lenient)


def test_stated_makespan_must_be_the_depot_return() -> None:
    assert "makespan" in rules(replace(good(), makespan_s=70.0))


def test_check_raises_a_typed_error_listing_the_rules() -> None:
    with pytest.raises(ScheduleError, match="makespan"):
        check(problem(), replace(good(), makespan_s=70.0))


def test_endurance_without_hovering_only_when_the_problem_says_so() -> None:
    """Without hovering drone 1 is out 21 s (hovers 16-35 s) and drone 0 26 s (hovers 31-40 s); with it, 40 and 35."""
    assert "endurance" not in rules(good(), problem(endurance_s=26.0, endurance_counts_waiting=False))
    assert "endurance" in rules(good(), problem(endurance_s=25.0, endurance_counts_waiting=False))
    assert "endurance" in rules(good(), problem(endurance_s=26.0))


def test_murray_chu_rule_leaves_waiting_out_and_counts_the_recovery() -> None:
    """Murray & Chu's FSTSP rule: drone 1 counts 0 -> 40 s less its 19 s hovering, drone 0 15 -> 45 s less 9 s:
    21 s each; the strict rule with the same launch and recovery flags counts 40 and 30 s."""
    assert "endurance" not in rules(good(), problem(endurance_s=21.0, **MURRAY_CHU_2015_ENDURANCE))
    assert "endurance" in rules(good(), problem(endurance_s=20.5, **MURRAY_CHU_2015_ENDURANCE))
    strict = {**MURRAY_CHU_2015_ENDURANCE, "endurance_counts_waiting": True}
    assert "endurance" in rules(good(), problem(endurance_s=21.0, **strict))
    assert "endurance" not in rules(good(), problem(endurance_s=40.0, **strict))


def test_live_rules_windows_carriers_and_battery() -> None:
    """The live rules: a drone outside its customer's window, a truck serving late, a drone taking a parcel it
    may not, a drone flying beyond its charge; each is its own rule, and the same schedule passes without them."""
    windows = np.array([[-np.inf, np.inf]] * 5)
    windows[4] = (0.0, 7.0)  # the drone reaches 4 at 8 s
    assert rules(good(), problem(window_s=windows)) == {"window"}
    windows = np.array([[-np.inf, np.inf]] * 5)
    windows[3] = (0.0, 40.0)  # the truck starts serving 3 at 45 s
    assert rules(good(), problem(window_s=windows)) == {"window"}
    allowed = np.ones((2, 5), dtype=bool)
    allowed[1, 4] = False  # drone 1 flies to 4
    assert rules(good(), problem(drone_allowed=allowed)) == {"carrier"}

    def battery(charge_wh: tuple[float, float], spare_packs: int = 0) -> DroneBattery:
        return DroneBattery(np.full((5, 5, 5), 10.0), 36.0, charge_wh, (20.0, 20.0), (2.0, 2.0), spare_packs)

    assert rules(good(), problem(battery=battery((20.0, 20.0)))) == set()
    # drone 1 hovers 19 s over node 3 (0.19 Wh at 36 W): 12.1 Wh would leave less than its 2 Wh reserve
    assert rules(good(), problem(battery=battery((20.0, 12.1)))) == {"battery"}
    assert rules(good(), problem(battery=battery((20.0, 12.3)))) == set()


def test_battery_counts_successive_sorties_and_the_spare_packs() -> None:
    """One drone flying both sorties one after the other: two 10 Wh flights exceed an 18 Wh pack, unless the truck
    swaps in a charged pack at the first recovery."""
    first = SortieTimes(0, 0, 4, 1, 0.0, 0.0, 8.0, 8.0, 16.0, 16.0, 21.0)
    second = SortieTimes(0, 1, 2, 2, 21.0, 26.0, 34.0, 34.0, 42.0, 46.0, 51.0)
    result = TruckDroneResult((0, 1, 3, 0), (first, second), (0.0, 10.0, 46.0, 81.0), (None, 10.0, 51.0, None),
                              (0.0, 26.0, 51.0, 81.0), 81.0, 0.0)
    assert rules(result, problem(drones=1)) == set()

    def battery(spare_packs: int) -> DroneBattery:
        return DroneBattery(np.full((5, 5, 5), 10.0), 0.0, (18.0,), (18.0,), (0.0,), spare_packs)

    assert rules(result, problem(drones=1, battery=battery(0))) == {"battery"}
    assert rules(result, problem(drones=1, battery=battery(1))) == set()


def test_same_stop_recovery_only_when_the_problem_allows_it() -> None:
    """A sortie launched and recovered at one truck stop breaks `same_node` unless the problem allows it."""
    same = sortie(good(), 1, recovery_pos=1)
    assert "same_node" in rules(same) or "launch_before_recovery" in rules(same)
    assert not {"same_node", "launch_before_recovery"} & rules(same, problem(same_stop_recovery=True))

"""`hub_return.homebound`: which van-launched sorties end at the hub instead of back aboard the van."""

from __future__ import annotations

import numpy as np

from mission_planner.handoff import HandoffParams, HandoffSchedule, Sortie
from mission_planner.hub_return import HOMEBOUND_GAIN_S, homebound

PARAMS = HandoffParams(carriers=2, launch_s=60.0, recovery_s=60.0, van_service_s=120.0, carrier_service_s=30.0)


def _schedule(van_back_s: float) -> HandoffSchedule:
    """Tour hub(0) -> 1 -> 3 -> 5 -> hub; carrier 0 flies to 2 (launched at 1, back aboard at 3) then to 4 (launched
    at 3 and recovered there); carrier 1 flies nothing."""
    sorties = (
        Sortie(1, 2, 2, carrier=0, launch_s=600.0, delivered_s=900.0, recovered_s=1300.0),
        Sortie(2, 4, 2, carrier=0, launch_s=1400.0, delivered_s=1700.0, recovered_s=2000.0),
    )
    return HandoffSchedule((0, 1, 3, 5, 0), sorties, van_back_s, arrival_s=(0.0, 500.0, 1250.0, 2300.0, van_back_s),
                           departure_s=(0.0, 700.0, 2100.0, 2500.0, van_back_s))


def _times(home_s: float) -> np.ndarray:
    times = np.full((6, 6), 300.0)
    times[:, 0] = home_s
    return times


def test_the_last_sortie_of_a_drone_ends_at_the_hub_when_it_lands_there_well_before_the_van() -> None:
    schedule = _schedule(van_back_s=6000.0)
    asked: list[int] = []

    def fits(number: int, sortie: Sortie) -> bool:
        asked.append(number)
        return True

    result = homebound(schedule, _times(home_s=1200.0), PARAMS, fits)
    first, last = result.sorties
    assert first == schedule.sorties[0], "only the drone's last sortie may leave the van for good"
    assert asked == [1]
    assert last.recovery_pos == len(schedule.tour) - 1
    # it lands on arrival: drop, service, flight home, landing; nothing to wait for
    assert last.recovered_s == 1700.0 + 30.0 + 1200.0 + 60.0
    assert result.tour == schedule.tour and result.makespan_s == schedule.makespan_s


def test_a_drone_stays_with_the_van_when_its_battery_or_the_time_gained_does_not_allow_the_way_home() -> None:
    schedule = _schedule(van_back_s=6000.0)
    assert homebound(schedule, _times(home_s=1200.0), PARAMS, lambda number, sortie: False) == schedule
    # down at the hub at 2990 s (landed and disarmed); the van is back a second short of the gain asked for
    late = _schedule(van_back_s=2990.0 + HOMEBOUND_GAIN_S - 1.0)
    assert homebound(late, _times(home_s=1200.0), PARAMS, lambda number, sortie: True) == late
    unreachable = _schedule(van_back_s=6000.0)
    assert homebound(unreachable, _times(home_s=np.inf), PARAMS, lambda number, sortie: True) == unreachable

"""Hub battery swap: the pure timer, and a drone landed at the hub recharged through mavsim's sim-control."""

from __future__ import annotations

from typing import Any

import pytest

from fleet_manager.world import load_world
from sim_worlds.hub_swap import HubSwapError, HubSwapStation, SwapTracker
from sim_worlds.mavsim.process import MavsimProcess
from sim_worlds.mavsim.sim_control import MavsimControl


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return load_world("helsinki")


def _status(world: Any, **changes: Any) -> dict[str, Any]:
    hub = world.hub
    return {"vehicle": 0, "armed": False, "landed": True, "carrier": None, "battery_remaining_pct": 40.0,
            "latitude_deg": hub.latitude_deg, "longitude_deg": hub.longitude_deg, **changes}


def test_a_drone_waiting_at_the_hub_is_due_after_the_swap_time(world: Any) -> None:
    """Due only after swap_time_s of standing disarmed at the hub; once, then the timer is cleared."""
    tracker = SwapTracker((world.hub.x_m, world.hub.y_m), world.frame, swap_time_s=120.0)
    assert not tracker.due(_status(world), 1000.0)
    assert not tracker.due(_status(world), 1119.0)
    assert tracker.due(_status(world), 1120.0)
    assert not tracker.due(_status(world), 1121.0)  # a new wait starts


@pytest.mark.parametrize("change", [
    {"armed": True}, {"landed": False}, {"carrier": "van-1"}, {"battery_remaining_pct": 100.0},
    {"latitude_deg": 60.1690},  # ~280 m south of the hub
])
def test_no_swap_for_drones_armed_flying_carried_full_or_away(world: Any, change: dict[str, Any]) -> None:
    """Arming, flying, riding a van, a full pack or standing away from the hub: never due, timer reset."""
    tracker = SwapTracker((world.hub.x_m, world.hub.y_m), world.frame, swap_time_s=60.0)
    assert not tracker.due(_status(world), 0.0)
    assert not tracker.due(_status(world, **change), 30.0)
    assert not tracker.due(_status(world), 80.0)  # the wait restarted at 80 s
    assert tracker.due(_status(world), 140.0)


def test_bad_settings_are_refused(world: Any) -> None:
    """A negative swap time names the field."""
    with pytest.raises(HubSwapError, match="swap_time_s must be >= 0, got -1"):
        SwapTracker((0.0, 0.0), world.frame, swap_time_s=-1.0)


@pytest.mark.sim
@pytest.mark.timeout(60)
def test_station_recharges_a_drone_landed_at_the_hub(world: Any) -> None:
    """Over the real channel: a drone at 30 % at the hub gets 100 % after the swap time; one away does not."""
    hub = world.hub
    with MavsimProcess(2, speedup=1, home=(hub.latitude_deg, hub.longitude_deg, 10.0), control=True) as sim, \
            MavsimControl(sim.control_url) as control:
        control.recharge(0, 30.0)
        control.recharge(1, 30.0)
        control.place(1, 60.1690, hub.longitude_deg)
        now = [0.0]
        station = HubSwapStation(control, SwapTracker((hub.x_m, hub.y_m), world.frame, swap_time_s=90.0),
                                 lambda: now[0])
        station.poll_once()
        now[0] = 89.0
        station.poll_once()
        assert round(control.status(0)["battery_remaining_pct"]) == 30
        now[0] = 91.0
        station.poll_once()
        assert control.status(0)["battery_remaining_pct"] == pytest.approx(100.0)
        assert round(control.status(1)["battery_remaining_pct"]) == 30
        assert [(index, round(before)) for _, index, before in station.swaps] == [(0, 30)]

"""mavsim's fence path planner (OA_TYPE 2, ArduCopter's Dijkstra's): around exclusion zones in GUIDED and in the
RTL a lost link triggers; the planner's own rules as pure functions."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from _mavsim_gcs import Gcs, offset_e7
from pymavlink.dialects.v20 import ardupilotmega as mav

from sim_worlds.mavsim.avoidance import FenceAvoidance, NoPath
from sim_worlds.mavsim.fence import FenceShape
from sim_worlds.mavsim.process import MavsimProcess

HOME = (60.1715, 24.9381, 10.0)
ZONE_NORTH_M, ZONE_RADIUS_M = 70.0, 25.0
_FENCED = {"DISARM_DELAY": 0, "FENCE_ENABLE": 1, "FENCE_TYPE": 4, "FENCE_ACTION": 0, "FS_GCS_ENABLE": 1,
           "FS_GCS_TIMEOUT": 3}


# ----- the planner alone ----------------------------------------------------------------------------------------
def _circle() -> list[FenceShape]:
    return [FenceShape(inclusion=False, centre_m=(ZONE_NORTH_M, 0.0), radius_m=ZONE_RADIUS_M)]


def _fly(avoidance: FenceAvoidance, shapes: list[FenceShape], start: tuple[float, float],
         goal: tuple[float, float]) -> list[tuple[float, float]]:
    """Follow the planner's points 1 m at a time, as a controller would; the positions flown."""
    here, flown = start, [start]
    for _ in range(2000):
        target = avoidance.waypoint(shapes, 1, 5.0, here, goal) or goal
        distance = math.dist(here, target)
        if distance < 0.5 and target == goal:
            return flown
        step = min(1.0, distance)
        here = (here[0] + (target[0] - here[0]) * step / distance, here[1] + (target[1] - here[1]) * step / distance)
        flown.append(here)
    raise AssertionError("never arrived")


def test_a_leg_through_an_exclusion_circle_goes_round_it_a_clear_one_is_left_alone() -> None:
    avoidance = FenceAvoidance(2)
    assert avoidance.waypoint(_circle(), 1, 5.0, (0.0, 0.0), (0.0, 140.0)) is None  # east: clear
    flown = _fly(FenceAvoidance(2), _circle(), (0.0, 0.0), (140.0, 0.0))
    closest = min(math.dist(p, (ZONE_NORTH_M, 0.0)) for p in flown)
    assert closest > ZONE_RADIUS_M, closest
    assert math.dist(flown[-1], (140.0, 0.0)) < 1.0
    assert len(flown) < 1.3 * 140.0  # round the zone, not a wide detour


def test_no_way_in_is_an_error_and_oa_type_needs_a_reboot() -> None:
    with pytest.raises(NoPath):
        FenceAvoidance(2).waypoint(_circle(), 1, 5.0, (0.0, 0.0), (ZONE_NORTH_M, 0.0))
    assert FenceAvoidance(0).pre_arm_failure(2) == "Dijkstra OA requires reboot"
    assert FenceAvoidance(2).pre_arm_failure(2) is None
    assert FenceAvoidance(0).pre_arm_failure(0) is None


# ----- over MAVLink ---------------------------------------------------------------------------------------------
@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[MavsimProcess]:
    """One vehicle at 10x with an exclusion-circle-ready fence; OA_TYPE from indirect parametrisation."""
    params = {**_FENCED, **getattr(request, "param", {})}
    with MavsimProcess(1, speedup=10, home=HOME, params=params, extra_args=("--boot-s", "3")) as process:
        yield process


def _closest_to_zone_m(messages: list[Any]) -> float:
    centre = offset_e7(HOME, ZONE_NORTH_M, 0.0)
    scale = math.pi / 180 * 6378137 * 1e-7
    return min(math.hypot((m.lat - centre[0]) * scale, (m.lon - centre[1]) * scale * math.cos(math.radians(HOME[0])))
               for m in messages if m.get_type() == "GLOBAL_POSITION_INT" and m.relative_alt > 2000)


def _out_past_the_zone(gcs: Gcs) -> None:
    gcs.heartbeat()
    lat, lon = offset_e7(HOME, ZONE_NORTH_M, 0.0)
    assert gcs.upload(mav.MAV_MISSION_TYPE_FENCE, [(0, 5004, ZONE_RADIUS_M, 0, lat, lon, 0.0)]) == 0
    gcs.stream(0, 10)
    gcs.wait_armable_and_arm()
    assert gcs.command(mav.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 15) == mav.MAV_RESULT_ACCEPTED
    gcs.wait(lambda m: m.get_type() == "GLOBAL_POSITION_INT" and m.relative_alt > 14000, 20, "take-off altitude")
    lat, lon = offset_e7(HOME, 2 * ZONE_NORTH_M, 0.0)
    gcs.conn.mav.set_position_target_global_int_send(0, gcs.target, 1, mav.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                                                     0b110111111000, lat, lon, 15, 0, 0, 0, 0, 0, 0, 0, 0)
    gcs.wait(lambda m: m.get_type() == "GLOBAL_POSITION_INT" and abs(m.lat - lat) < 20 and abs(m.lon - lon) < 40,
             40, "past the zone")


@pytest.mark.sim
@pytest.mark.timeout(120)
@pytest.mark.parametrize("sim", [{"OA_TYPE": 2}], indirect=True)
def test_with_dijkstra_a_drone_flies_round_the_zone_and_its_link_loss_rtl_does_too(sim: MavsimProcess) -> None:
    """Out past an exclusion circle in GUIDED, then the GCS goes silent: the failsafe RTL comes home round the zone
    too, lands and disarms; no position reported inside the zone."""
    with Gcs(sim.urls[0]) as gcs:
        _out_past_the_zone(gcs)
        gcs.talking = False
        gcs.wait(lambda m: m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1 and m.custom_mode == 6, 30,
                 "RTL")
        gcs.wait(lambda m: m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1 and not m.base_mode & 128,
                 90, "landed and disarmed at home")
        assert _closest_to_zone_m(gcs.seen) > ZONE_RADIUS_M
        assert "Fence Breached" not in gcs.texts
        final = [m for m in gcs.seen if m.get_type() == "GLOBAL_POSITION_INT"][-1]
        assert math.hypot(final.lat - offset_e7(HOME, 0, 0)[0], final.lon - offset_e7(HOME, 0, 0)[1]) < 30


@pytest.mark.sim
@pytest.mark.timeout(120)
@pytest.mark.parametrize("sim", [{"OA_TYPE": 0}], indirect=True)
def test_without_it_the_same_flight_crosses_the_zone(sim: MavsimProcess) -> None:
    """The control: OA_TYPE 0 (ArduCopter's default) flies straight through and breaches; setting OA_TYPE without
    a reboot is refused at arming, as ArduCopter does."""
    with Gcs(sim.urls[0]) as gcs:
        _out_past_the_zone(gcs)
        assert _closest_to_zone_m(gcs.seen) < ZONE_RADIUS_M
        assert "Fence Breached" in gcs.texts
        assert gcs.set_param("OA_TYPE", 2) == 2
        assert gcs.command(mav.MAV_CMD_NAV_LAND) == mav.MAV_RESULT_ACCEPTED
        gcs.wait(lambda m: m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1 and not m.base_mode & 128,
                 60, "landed and disarmed")
        assert gcs.command(mav.MAV_CMD_DO_SET_MODE, 1, 4) == 0
        assert gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) == mav.MAV_RESULT_FAILED
        gcs.pump(0.3)
        assert "Arm: Dijkstra OA requires reboot" in gcs.texts

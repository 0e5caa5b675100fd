"""mavsim over terrain: the battery failsafe's RTL keeps 30..120 m above the ground with RTL_ALT_TYPE 1.

In the full Andorra day the autopilot's battery failsafe (and every fleet-manager fallback that ends
in an RTL) flew straight home at a height above home: far above the valley floor after a drone had
climbed up a slope, or into it. ArduCopter's answer is RTL_ALT_TYPE 1 (with TERRAIN_ENABLE 1 and
terrain data): the return altitude is the higher of RTL_ALT and the height above the ground where RTL
starts, held above the ground all the way home, the horizontal speed slowed while the height error
nears WPNAV_TER_MARGIN. Judged from the drone's own GLOBAL_POSITION_INT reports against the elevation
model, as the KPI `terrain_clearance_violations` judges them; RTL_ALT_TYPE 0 shows the episode.
"""

from __future__ import annotations

import math

import pytest
from _mavsim_gcs import Gcs, offset_e7

from sim_worlds.mavsim.cli import _world_ground
from sim_worlds.mavsim.process import MavsimProcess

pytestmark = [pytest.mark.sim, pytest.mark.timeout(150)]
HUB = (42.51090, 1.53420)  # the Duana hub, Escaldes-Engordany
FAR = (500.0, 500.0)  # north, east of the hub (m): the slope 180 m above the hub's ground
AGL_M = 60.0
RTL_MODE = 6


def _fly_out_then_battery_failsafe(gcs: Gcs, far_e7: tuple[int, int], cruise_m: float) -> list[object]:
    """Take off, fly to `far_e7` at `cruise_m` above home and loiter; there the battery goes low (BATT_LOW_MAH)
    with BATT_FS_LOW_ACT 2 (RTL). Returns the position reports from the failsafe to the landing."""
    mission = [(0, 16, 0, 0, 0, 0, 0.0), (3, 22, 0, 0, 0, 0, cruise_m), (3, 16, 0, 0, *far_e7, cruise_m),
               (3, 17, 0, 0, *far_e7, cruise_m)]
    gcs.fly_auto(mission)
    gcs.wait(lambda m: m.get_type() == "GLOBAL_POSITION_INT" and math.hypot(m.lat - far_e7[0], m.lon - far_e7[1]) < 50
             and abs(m.relative_alt / 1000.0 - cruise_m) < 2.0, 90, "arrival above the slope")
    assert gcs.set_param("BATT_FS_LOW_ACT", 2) == 2
    gcs.set_param("BATT_LOW_MAH", 1e6)  # far more than the pack holds: low now
    start = len(gcs.seen)
    gcs.wait(lambda m: m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1 and m.custom_mode == RTL_MODE,
             10, "RTL from the battery failsafe")
    gcs.wait(lambda m: m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1 and not m.base_mode & 128,
             120, "disarm after landing at home")
    return [m for m in gcs.seen[start:] if m.get_type() == "GLOBAL_POSITION_INT" and m.lat != 0]


def _heights_on_the_way_home(rtl_alt_type: int) -> list[float]:
    """Heights above the ground of an RTL's reports more than 60 m from home (the climb, return and loiter, not
    the final descent onto the hub)."""
    ground = _world_ground("andorra")
    hub_ground_m = ground(*HUB)
    far_e7 = offset_e7(HUB, *FAR)
    far_ground_m = ground(far_e7[0] * 1e-7, far_e7[1] * 1e-7)
    assert far_ground_m - hub_ground_m > 150.0  # up the slope: an RTL at the height it started is far too high
    params = {"DISARM_DELAY": 0, "RTL_ALT": AGL_M * 100, "RTL_ALT_TYPE": rtl_alt_type, "TERRAIN_ENABLE": 1}
    with MavsimProcess(1, speedup=20, home=(*HUB, hub_ground_m), params=params,
                       extra_args=("--boot-s", "3", "--terrain-world", "andorra"),
                       start_timeout_s=60.0) as sim, Gcs(sim.urls[0]) as gcs:
        reports = _fly_out_then_battery_failsafe(gcs, far_e7, far_ground_m - hub_ground_m + AGL_M)
    hub_e7 = offset_e7(HUB, 0.0, 0.0)
    away = [m for m in reports if math.hypot((m.lat - hub_e7[0]) * 0.0111, (m.lon - hub_e7[1]) * 0.0082) > 60.0]
    assert len(away) > 20  # it flew home from the slope
    assert math.hypot((reports[-1].lat - hub_e7[0]) * 0.0111, (reports[-1].lon - hub_e7[1]) * 0.0082) < 5.0
    return [m.alt / 1000.0 - ground(m.lat * 1e-7, m.lon * 1e-7) for m in away]


def test_a_battery_failsafe_rtl_above_terrain_keeps_the_clearance_band() -> None:
    heights = _heights_on_the_way_home(rtl_alt_type=1)
    assert min(heights) >= 30.0 and max(heights) <= 120.0, (min(heights), max(heights))


def test_a_battery_failsafe_rtl_relative_to_home_leaves_the_band() -> None:
    """ArduCopter's default (RTL_ALT_TYPE 0): it returns at the height it started, 240 m above the hub."""
    heights = _heights_on_the_way_home(rtl_alt_type=0)
    assert max(heights) > 120.0

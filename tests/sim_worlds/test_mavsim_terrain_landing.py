"""mavsim over terrain: a drone landing away from home touches down on the ground there, never below it.

A van-launched drone's home is its launch stop; it is recovered at a later stop that may stand
higher or lower up the valley. ArduCopter's land detector stops the descent on whatever ground is
under it; mavsim used to descend to home's altitude instead, so a drone landing at a stop above its
launch point sank below the ground (the Andorra day's "drone-3 at -7 m" terrain clearance episode)
and one landing lower touched down in mid-air. Judged here from the drones' own GLOBAL_POSITION_INT
reports against the elevation model, as the KPI `terrain_clearance_violations` judges them.
"""

from __future__ import annotations

import math

import pytest
from _mavsim_gcs import Gcs, offset_e7

from sim_worlds.mavsim.cli import _world_ground
from sim_worlds.mavsim.process import MavsimProcess

pytestmark = [pytest.mark.sim, pytest.mark.timeout(120)]
HUB = (42.51090, 1.53420)  # the Duana hub, Escaldes-Engordany
CRUISE_M = 80.0  # above home: 30..120 m above the ground all along both legs below


def _fly_and_land(gcs: Gcs, landing_e7: tuple[int, int]) -> list[object]:
    """Take off, fly to `landing_e7` at CRUISE_M above home, land there (AUTO, relative-to-home frame)."""
    mission = [(0, 16, 0, 0, 0, 0, 0.0), (3, 22, 0, 0, 0, 0, CRUISE_M), (3, 16, 0, 0, *landing_e7, CRUISE_M),
               (3, 21, 0, 0, *landing_e7, 0.0)]
    gcs.fly_auto(mission)
    gcs.wait(lambda m: m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1 and not m.base_mode & 128,
             90, "disarm after landing")
    gcs.pump(0.5)
    return [m for m in gcs.seen if m.get_type() == "GLOBAL_POSITION_INT" and m.lat != 0]


@pytest.mark.parametrize(("north_m", "east_m"), [(200.0, -100.0), (-200.0, -200.0)], ids=["higher", "lower"])
def test_a_drone_landing_away_from_home_touches_down_on_the_ground_there(north_m: float, east_m: float) -> None:
    ground = _world_ground("andorra")
    hub_ground_m = ground(*HUB)
    landing_e7 = offset_e7(HUB, north_m, east_m)
    landing_ground_m = ground(landing_e7[0] * 1e-7, landing_e7[1] * 1e-7)
    assert abs(landing_ground_m - hub_ground_m) > 10.0  # the stop is well above / below the launch point
    with MavsimProcess(1, speedup=20, home=(*HUB, hub_ground_m), params={"DISARM_DELAY": 0},
                       extra_args=("--boot-s", "3", "--terrain-world", "andorra"),
                       start_timeout_s=60.0) as sim, Gcs(sim.urls[0]) as gcs:
        reports = _fly_and_land(gcs, landing_e7)
    heights = [m.alt / 1000.0 - ground(m.lat * 1e-7, m.lon * 1e-7) for m in reports]
    assert max(heights) > 30.0  # it flew
    # never below the ground (to the reports' precision: 1e-7 degrees, 1 mm)
    assert min(heights) > -0.1, min(heights)
    final = reports[-1]
    assert math.hypot(final.lat - landing_e7[0], final.lon - landing_e7[1]) < 30  # within ~3 m of the stop
    # standing on the stop's ground: its altitude above sea level is the ground's, relative to home the difference
    assert final.alt / 1000.0 == pytest.approx(landing_ground_m, abs=0.5)
    assert final.relative_alt / 1000.0 == pytest.approx(landing_ground_m - hub_ground_m, abs=0.5)

"""mavsim over terrain (`--terrain-world`): a drone a van sets down up a valley stands on the model's ground.

Its reported altitude above sea level is the ground's there, and after arming (home reset to the
placed point) a take-off is measured from that ground, so terrain clearance judged from its own
GLOBAL_POSITION_INT reports is right.
"""

from __future__ import annotations

import pytest
from _mavsim_gcs import Gcs
from pymavlink.dialects.v20 import ardupilotmega as mav

from sim_worlds.mavsim.cli import _world_ground
from sim_worlds.mavsim.process import MavsimProcess
from sim_worlds.mavsim.sim_control import MavsimControl

pytestmark = [pytest.mark.sim, pytest.mark.timeout(90)]
HUB = (42.51090, 1.53420)
ARINSAL = (42.56970, 1.48752)  # the Arinsal locker, ~400 m above the hub


def test_a_placed_drone_stands_on_the_terrain_and_home_follows() -> None:
    ground = _world_ground("andorra")
    hub_ground_m, stop_ground_m = ground(*HUB), ground(*ARINSAL)
    assert stop_ground_m - hub_ground_m > 300.0
    with MavsimProcess(1, speedup=10, home=(*HUB, hub_ground_m), params={"DISARM_DELAY": 0},
                       extra_args=("--boot-s", "3", "--terrain-world", "andorra"), control=True,
                       start_timeout_s=60.0) as sim, MavsimControl(sim.control_url) as control, Gcs(sim.urls[0]) as gcs:
        gcs.heartbeat()
        gcs.stream(0, 10)
        gcs.wait_type("HOME_POSITION", 10.0)
        flat = gcs.wait(lambda m: m.get_type() == "GLOBAL_POSITION_INT" and m.lat != 0, 10, "a GPS position")
        assert flat.alt / 1000.0 == pytest.approx(hub_ground_m, abs=0.5)
        status = control.place(0, *ARINSAL)
        assert status["landed"] and not status["armed"]
        placed = gcs.wait(lambda m: m.get_type() == "GLOBAL_POSITION_INT"
                          and abs(m.lat * 1e-7 - ARINSAL[0]) < 1e-6, 5, "the placed position")
        assert placed.alt / 1000.0 == pytest.approx(stop_ground_m, abs=0.5)
        assert placed.relative_alt == 0
        # a placed drone outside any grid: a clear refusal, nothing moved
        with pytest.raises(Exception, match="no ground height"):
            control.place(0, 45.0, 5.0)
        assert gcs.command(mav.MAV_CMD_REQUEST_MESSAGE, 242) == mav.MAV_RESULT_ACCEPTED
        gcs.pump(0.3)
        home = [m for m in gcs.seen if m.get_type() == "HOME_POSITION"][-1]
        assert home.altitude / 1000.0 == pytest.approx(stop_ground_m, abs=0.5)

"""A van-launched drone's RTL goes to where the van will be, not to the stop the van has left (issue #14).

Arming makes the launch stop the drone's home; the choreography then moves home (DO_SET_HOME, home's
altitude kept so the mission's relative altitudes stay right) to the van's recovery stop. ArduCopter
locks a home a GCS set, so arming no longer moves it: the adapter sets home where the drone stands
before each take-off, or the next trip's RTL would fly to an old recovery stop. Flown on the
simulator over MAVLink UDP.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from test_reroute import sitl_drone_url  # noqa: F401  (the one-SITL-drone fixture, SPEEDUP 10 as here)

from fleet_manager.adapters.base import Mission, MissionStep, StepKind
from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame
from sim_worlds.mavsim.process import MavsimProcess

pytestmark = [pytest.mark.sim, pytest.mark.timeout(300)]
SPEEDUP = 10.0
HOME = (60.1715, 24.9381, 10.0)
ALT_M = 20.0


async def _landed_at(drone: MavlinkAdapter, frame: LocalFrame) -> tuple[float, float]:
    await drone.wait_mission(timeout_s=900)
    state = drone.latest_state()
    assert state is not None and not state.armed
    return frame.to_local(state.latitude_deg, state.longitude_deg)


async def _airborne(drone: MavlinkAdapter) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while (state := drone.latest_state()) is None or state.relative_altitude_m < ALT_M - 2.0:
        assert loop.time() < deadline, "the drone did not climb"
        await asyncio.sleep(0.05)


async def fly_home_moves(drone: MavlinkAdapter, frame: LocalFrame) -> None:
    """Home moved in flight, RTL lands there; a trip landed elsewhere, the next trip's RTL lands at its own start.

    Shared by the simulator and the SITL test: both autopilots must behave the same."""

    def at(x_m: float, y_m: float) -> tuple[float, float]:
        return frame.to_wgs84(x_m, y_m)

    await drone.wait_ready(timeout_s=300)
    recovery = (0.0, 120.0)  # where the van will be; the launch stop is (0, 0)
    await drone.start_mission(Mission("out", (
        MissionStep(StepKind.TAKEOFF, altitude_m=ALT_M),
        MissionStep(StepKind.GOTO, *at(80.0, 0.0), altitude_m=ALT_M),
        MissionStep(StepKind.WAIT, duration_s=600.0))))
    await _airborne(drone)
    home_before = drone._telemetry.data.home
    await drone.set_home(*at(*recovery))
    await asyncio.sleep(1.0)  # HOME_POSITION follows at 0.2 Hz of vehicle time
    assert drone._telemetry.data.home is not None and home_before is not None
    assert drone._telemetry.data.home[2] == pytest.approx(home_before[2], abs=0.5)  # altitude kept
    await drone.return_home()  # the autopilot's RTL, as a refused recall would fall back on
    landed = await _landed_at(drone, frame)
    assert math.dist(landed, recovery) < 5.0, landed

    # A trip recovered somewhere else (it lands at the van), then the next trip from there.
    elsewhere = (60.0, 120.0)
    await drone.start_mission(Mission("to-van", (
        MissionStep(StepKind.TAKEOFF, altitude_m=ALT_M),
        MissionStep(StepKind.GOTO, *at(*elsewhere), altitude_m=ALT_M),
        MissionStep(StepKind.LAND, *at(*elsewhere)))))
    assert math.dist(await _landed_at(drone, frame), elsewhere) < 5.0
    await drone.wait_ready(timeout_s=300)
    await drone.start_mission(Mission("next", (
        MissionStep(StepKind.TAKEOFF, altitude_m=ALT_M),
        MissionStep(StepKind.GOTO, *at(60.0, 170.0), altitude_m=ALT_M),
        MissionStep(StepKind.WAIT, duration_s=600.0))))
    await _airborne(drone)
    await drone.return_home()
    landed = await _landed_at(drone, frame)
    assert math.dist(landed, elsewhere) < 5.0, (landed, "the home pinned by the first trip leaked")


async def test_rtl_flies_to_the_home_set_in_flight_and_the_next_trip_returns_to_its_own_start() -> None:
    with MavsimProcess(1, speedup=SPEEDUP, home=HOME) as sim:
        drone = MavlinkAdapter("drone-1", f"udpout:127.0.0.1:{sim.udp_ports[0]}", clock=Clock(speedup=SPEEDUP))
        await drone.connect(timeout_s=30)
        try:
            await fly_home_moves(drone, LocalFrame.at(HOME[0], HOME[1]))
        finally:
            await drone.close()


@pytest.mark.sitl
@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_on_sitl_rtl_flies_to_the_home_set_in_flight_and_the_next_trip_returns_to_its_own_start(
    request: pytest.FixtureRequest,
) -> None:
    """Real ArduCopter: DO_SET_HOME in flight moves the RTL target and locks home; the next take-off's
    DO_SET_HOME (param1 = 1) puts it back where that trip starts."""
    url, (lat, lon) = request.getfixturevalue("sitl_drone_url")  # test_reroute's one SITL drone (skips without)
    drone = MavlinkAdapter("drone-sitl", url, clock=Clock(speedup=SPEEDUP))
    await drone.connect(timeout_s=60)
    try:
        await fly_home_moves(drone, LocalFrame.at(lat, lon))
    finally:
        await drone.close()

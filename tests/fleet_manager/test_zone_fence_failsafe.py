"""A zone published, then the link lost: the drone's own failsafe RTL keeps out of the zone.

Safety day 44 (seed 19044) of `python -m benchmarks safety`: a pop-up zone appeared, the monitors held the
drone to re-route it, and its radio dropped 28 s later, before the re-route had gone up. The GCS failsafe's RTL
then flew straight home through the zone. Now the zone goes into the drone's own fence as soon as the drone
holds, and FinalMile's drones fly with ArduCopter's fence path planner (OA_TYPE 2), which takes an RTL round
the fence's exclusions. Over MAVLink to mavsim: the adapter pushes the fence, then goes silent for good.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from typing import Any

import pytest
from pymavlink import mavutil

from fleet_manager.adapters.base import FenceCircle, FencePolygon, Geofence, Mission, MissionStep, StepKind
from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter
from fleet_manager.adapters.mavlink_failsafe import GcsFailsafe
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame
from sim_worlds.fleet_setup import drone_parameters
from sim_worlds.scenario import load_scenario

SPEEDUP = 10.0
SITL_SPEEDUP = 4.0  # SITL has no wall-time floor on FS_GCS_TIMEOUT (mavsim waits 3 wall seconds too)
HOME = (60.1715, 24.9381, 10.0)
ZONE = (0.0, 60.0, 25.0)  # x east, y north, radius (m): between the held drone and home


def _watch(url: str, frame: LocalFrame, seconds: float) -> tuple[list[tuple[float, float, float]], list[str]]:
    """Positions (x, y, height) and texts seen by a silent observer (no heartbeats: not the drone's GCS)."""
    conn = mavutil.mavlink_connection(url, source_system=201, dialect="ardupilotmega", autoreconnect=False)
    track: list[tuple[float, float, float]] = []
    texts: list[str] = []
    try:
        conn.mav.request_data_stream_send(1, 1, 0, 10, 1)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            message = conn.recv_match(blocking=True, timeout=0.2)
            if message is None:
                continue
            if message.get_type() == "GLOBAL_POSITION_INT":
                track.append((*frame.to_local(message.lat * 1e-7, message.lon * 1e-7), message.relative_alt / 1000))
            elif message.get_type() == "STATUSTEXT":
                texts.append(message.text)
            elif (message.get_type() == "HEARTBEAT" and message.get_srcComponent() == 1 and track
                  and not message.base_mode & 128 and track[-1][2] < 1.0):
                break  # landed and disarmed
    finally:
        conn.close()
    return track, texts


def test_finalmiles_drones_fly_with_the_fence_path_planner() -> None:
    """The drone configuration every simulation boots with (and SITL's defaults file) turns it on."""
    from sim_worlds.sitl import DELIVERY_PARAMETERS

    assert drone_parameters(load_scenario("helsinki_day"))["OA_TYPE"] == 2
    assert DELIVERY_PARAMETERS["OA_TYPE"] == 2


def _square(frame: LocalFrame, half_m: float) -> FencePolygon:
    """The operating area, an inclusion square round home (as FinalMile's fences have one)."""
    corners = ((-half_m, -half_m), (half_m, -half_m), (half_m, half_m), (-half_m, half_m))
    return FencePolygon(tuple(frame.to_wgs84(x, y) for x, y in corners), inclusion=True)


async def _hold_fence_and_go_silent(url: str, home: tuple[float, float], speedup: float) -> None:
    """Fly north, hold 120 m out, push a fence with the zone behind the drone, close the link."""
    frame = LocalFrame.at(*home)
    # FinalMile's failsafe (15 s): at the speed-up, still well over the adapter's 1 s heartbeat period in wall time
    drone = MavlinkAdapter("drone-1", url, clock=Clock(speedup=speedup), gcs_failsafe=GcsFailsafe())
    await drone.connect(timeout_s=60)
    try:
        assert drone.avoids_zones
        await drone.wait_ready(timeout_s=300)
        far = frame.to_wgs84(0.0, 400.0)
        await drone.start_mission(Mission("north", (
            MissionStep(StepKind.TAKEOFF, altitude_m=20.0),
            MissionStep(StepKind.DELIVER, *far, altitude_m=20.0, order_id="far"),
            MissionStep(StepKind.RETURN))), geofence=Geofence(polygons=(_square(frame, 600.0),)))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120.0
        while (state := drone.latest_state()) is None or frame.to_local(state.latitude_deg,
                                                                        state.longitude_deg)[1] < 120.0:
            assert loop.time() < deadline, "the drone never flew 120 m north"
            await asyncio.sleep(0.02)
        await drone.pause()  # the monitors hold a drone the new zone concerns
        centre = frame.to_wgs84(ZONE[0], ZONE[1])
        await drone.update_geofence(Geofence(polygons=(_square(frame, 600.0),),
                                             circles=(FenceCircle(*centre, ZONE[2], inclusion=False),)))
    finally:
        await drone.close()  # and the link is gone: no more heartbeats


def _came_home_round_the_zone(track: list[tuple[float, float, float]], texts: list[str]) -> None:
    assert any(t.startswith("GCS Failsafe") for t in texts), texts
    flying = [(x, y) for x, y, height in track if height > 1.0]
    closest = min(math.hypot(x - ZONE[0], y - ZONE[1]) for x, y in flying)
    assert closest > ZONE[2], f"{closest:.1f} m from the zone's centre, radius {ZONE[2]} m"
    assert "Fence Breached" not in texts
    x, y, height = track[-1]
    assert height < 1.0 and math.hypot(x, y) < 5.0, (track[-1], texts)  # landed at home


@pytest.mark.sim
@pytest.mark.timeout(180)
async def test_a_drone_held_for_a_new_zone_then_cut_off_comes_home_round_it() -> None:
    """mavsim, OA_TYPE 2 (with 0 the same flight crosses the zone's centre: the test's control, run by hand)."""
    from sim_worlds.mavsim.process import MavsimProcess

    params: dict[str, Any] = {"FENCE_ENABLE": 1, "FENCE_TYPE": 4, "FENCE_ACTION": 1, "OA_TYPE": 2, "RTL_ALT": 2000,
                              "DISARM_DELAY": 0}
    with MavsimProcess(1, speedup=SPEEDUP, home=HOME, params=params) as sim:
        await _hold_fence_and_go_silent(sim.urls[0], HOME[:2], SPEEDUP)
        track, texts = await asyncio.to_thread(_watch, sim.urls[0], LocalFrame.at(*HOME[:2]), 60.0)
    _came_home_round_the_zone(track, texts)


@pytest.mark.sitl
@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_a_real_arducopter_held_for_a_new_zone_then_cut_off_comes_home_round_it() -> None:
    """The same on ArduCopter SITL (FINALMILE_SITL_BINARY; skipped without it): its own Dijkstra's (OA_TYPE 2 from
    the defaults file) takes the GCS failsafe's RTL round the zone."""
    from sim_worlds.sitl import BINARY_ENV, start_on_free_instances

    binary = os.environ.get(BINARY_ENV, "")
    if not binary or not os.access(binary, os.X_OK):
        pytest.skip(f"{BINARY_ENV} is not set to an executable ArduCopter SITL binary")
    fleet = start_on_free_instances(binary, 1, speedup=SITL_SPEEDUP, params={"RTL_ALT": 2000})
    try:
        lat, lon, _, _ = fleet.vehicles[0].home
        await _hold_fence_and_go_silent(fleet.urls[0], (lat, lon), SITL_SPEEDUP)
        track, texts = await asyncio.to_thread(_watch, fleet.urls[0], LocalFrame.at(lat, lon), 240.0)
    finally:
        fleet.stop()
    _came_home_round_the_zone(track, texts)

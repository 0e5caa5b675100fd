"""A drone that its GCS failsafe brings down while its mission is being started does not start that mission.

Safety day 35 (seed 19035) of `python -m benchmarks safety`: drone-1's radio dropped (163 s at x100, 1.6 s of wall
time) just after its take-off, while `start_mission` waited for the switch to AUTO. With the heartbeats' phase the
silence reaches the GCS failsafe's 3 s of wall time (re-runs of the day log it tripping 0.8 s after the link is back,
once in AUTO), and in GUIDED FinalMile's drones return: RTL, landed, disarmed at home. The retried mode change then
reached a drone standing disarmed, and ArduCopter takes AUTO there too: the start reported success, the run's only
disarm had come before it started, and the mission stayed 'running' all day (its locker parcel at the hub, in no
queue). Over MAVLink to mavsim through a relay that drops every byte, cut when the start asks for AUTO.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from test_delivery_through_link_drop import _wait_landed

from benchmarks.link_relay import LinkRelay
from fleet_manager.adapters.base import Geofence, Mission, MissionStep, StepKind
from fleet_manager.adapters.factory import mavlink_timeouts_for
from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter
from fleet_manager.adapters.mavlink_failsafe import GcsFailsafe
from fleet_manager.errors import AdapterError
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame

HOME = (60.1715, 24.9381, 10.0)
SPEEDUP = 20.0


@pytest.mark.sim
@pytest.mark.timeout(180)
async def test_a_drone_the_gcs_failsafe_landed_during_its_start_does_not_start_its_mission() -> None:
    from sim_worlds.mavsim.process import MavsimProcess

    frame = LocalFrame.at(*HOME[:2])
    with MavsimProcess(1, speedup=SPEEDUP, home=HOME, params={"DISARM_DELAY": 0}) as sim, LinkRelay() as relay:
        # the service's timeouts at this speed-up, with retries enough to outlast the failsafe's 3 s of wall silence
        # and the landing: the mode change is still being retried when the link is back, as the day's was
        clock = Clock(speedup=SPEEDUP)
        drone = MavlinkAdapter("drone-1", relay.relay([sim.urls[0]])[0], clock=clock, gcs_failsafe=GcsFailsafe(),
                               timeouts=dataclasses.replace(mavlink_timeouts_for(clock), command_retries=12))
        asked_for_auto = asyncio.Event()
        set_mode = drone._commands.set_mode  # the one moment that matters: after the take-off, before AUTO

        async def cut_before_auto(mode: str) -> None:
            if mode.upper() == "AUTO" and not asked_for_auto.is_set():
                relay.cut(0)
                asked_for_auto.set()
            await set_mode(mode)

        drone._commands.set_mode = cut_before_auto  # type: ignore[method-assign]
        await drone.connect(timeout_s=30)
        try:
            await drone.wait_ready(timeout_s=120)
            locker = frame.to_wgs84(0.0, 300.0)
            starting = asyncio.ensure_future(drone.start_mission(Mission("to-the-locker", (
                MissionStep(StepKind.TAKEOFF, altitude_m=20.0),
                MissionStep(StepKind.DELIVER, *locker, altitude_m=20.0, order_id="parcel", confirm_release=True),
                MissionStep(StepKind.RETURN))), geofence=Geofence()))
            await asyncio.wait_for(asked_for_auto.wait(), 60)
            # nobody to hear from for 3 s of wall time: the GCS failsafe's RTL lands it at home
            assert await asyncio.to_thread(_wait_landed, sim.urls[0], 60.0), "the failsafe did not land the drone"
            relay.restore(0)
            with pytest.raises(AdapterError, match="disarmed"):
                await starting
            state = drone.latest_state()
            assert state is not None and not state.armed
            with pytest.raises(AdapterError, match="no mission was started"):
                await drone.wait_mission(timeout_s=1.0)
        finally:
            await drone.close()

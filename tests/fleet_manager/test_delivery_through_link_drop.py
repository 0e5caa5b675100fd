"""A delivery flown and landed wholly while the radio link was down ends as it went: SUCCEEDED, parcel released.

FinalMile's GCS failsafe lets an AUTO mission go on through a silent ground station (FS_OPTIONS bit 1), so a
drone may take off, release its parcel, come home and disarm while its link is cut. The step and release
messages of that time are lost; when the link is back, MISSION_CURRENT (the last item) and the disarmed heartbeat
are what the adapter hears. It took the disarm at "step 1" for a failure, and the parcel, already at the door,
was queued to go out again (found chasing safety day 35). Over MAVLink through a relay that drops every byte.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from pymavlink import mavutil

from benchmarks.link_relay import LinkRelay
from fleet_manager.adapters.base import Geofence, Mission, MissionEvent, MissionOutcome, MissionStep, StepKind
from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter
from fleet_manager.adapters.mavlink_failsafe import GcsFailsafe
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame

HOME = (60.1715, 24.9381, 10.0)
SPEEDUP = 10.0


def _wait_landed(url: str, seconds: float) -> bool:
    """A silent observer on the simulator's own port: True once the drone has armed and disarmed again."""
    conn = mavutil.mavlink_connection(url, source_system=202, dialect="ardupilotmega", autoreconnect=False)
    try:
        conn.mav.request_data_stream_send(1, 1, 0, 5, 1)
        end, armed_seen = time.monotonic() + seconds, False
        while time.monotonic() < end:
            beat = conn.recv_match(type="HEARTBEAT", blocking=True, timeout=0.3)
            if beat is None or beat.get_srcComponent() != 1:
                continue
            if beat.base_mode & 128:
                armed_seen = True
            elif armed_seen:
                return True
        return False
    finally:
        conn.close()


@pytest.mark.sim
@pytest.mark.timeout(180)
async def test_a_delivery_flown_during_a_link_drop_succeeds_when_the_link_is_back() -> None:
    from sim_worlds.mavsim.process import MavsimProcess

    frame = LocalFrame.at(*HOME[:2])
    events: list[MissionEvent] = []
    with MavsimProcess(1, speedup=SPEEDUP, home=HOME, params={"DISARM_DELAY": 0}) as sim, LinkRelay() as relay:
        drone = MavlinkAdapter("drone-1", relay.relay([sim.urls[0]])[0], clock=Clock(speedup=SPEEDUP),
                               gcs_failsafe=GcsFailsafe())

        async def collect() -> None:
            async for event in drone.mission_events():
                events.append(event)

        await drone.connect(timeout_s=30)
        collector = asyncio.create_task(collect())
        try:
            await drone.wait_ready(timeout_s=120)
            door = frame.to_wgs84(0.0, 150.0)
            await drone.start_mission(Mission("through-the-drop", (
                MissionStep(StepKind.TAKEOFF, altitude_m=20.0),
                MissionStep(StepKind.DELIVER, *door, altitude_m=20.0, order_id="parcel"),
                MissionStep(StepKind.RETURN))), geofence=Geofence())
            relay.cut(0)
            assert await asyncio.to_thread(_wait_landed, sim.urls[0], 120.0), "the drone never landed in the drop"
            relay.restore(0)
            result = await drone.wait_mission(timeout_s=300)
        finally:
            collector.cancel()
            await drone.close()
    assert result.outcome is MissionOutcome.SUCCEEDED and result.steps_completed == 3, result
    assert [e.detail for e in events if e.what == "payload_released"] == ["parcel"]

"""ArduCopter SITL takes FinalMile's GCS-failsafe parameters and keeps flying AUTO when the fleet manager goes silent.

Needs FINALMILE_SITL_BINARY (skipped otherwise). The adapter connects on SERIAL0 with `GcsFailsafe()` as system
id 254, not ArduPilot's default GCS id 255: at connect it makes 254 the vehicle's MAV_GCS_SYSID (the only sender
whose heartbeats the failsafe watches) and reads it back. A passive observer (system id 200, never the GCS)
listens on SERIAL1 to the heartbeats the vehicle sends on every link. The observer never sends a byte.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from pymavlink import mavutil

from fleet_manager.adapters.base import Mission, MissionStep, StepKind
from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter
from fleet_manager.adapters.mavlink_failsafe import GcsFailsafe
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame
from sim_worlds.sitl import SitlFleet, sitl_tcp_port

pytestmark = [pytest.mark.sitl, pytest.mark.slow]

SPEEDUP = 10.0
AUTO, RTL = 3, 6  # Copter custom_mode numbers
OUR_GCS_ID = 254  # not ArduCopter's default MAV_GCS_SYSID (255): the connect must set it


def _armed_modes_until_disarm(url: str, silent: threading.Event, timeout_s: float) -> list[int]:
    """custom_mode of every vehicle heartbeat while armed once `silent` is set, until disarmed (blocking)."""
    observer = mavutil.mavlink_connection(url, source_system=200)
    try:
        modes: list[int] = []
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            beat = observer.recv_match(type="HEARTBEAT", blocking=True, timeout=1.0)
            if beat is None or beat.get_srcComponent() != 1 or not silent.is_set():
                continue
            if not beat.base_mode & mavutil.mavlink.MAV_MODE_FLAG_SAFETY_ARMED:
                if modes:
                    return modes
                continue
            modes.append(beat.custom_mode)
        raise AssertionError(f"no disarm within {timeout_s} s; armed modes seen {sorted(set(modes))}")
    finally:
        observer.close()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("config", [GcsFailsafe(), GcsFailsafe(options_set=0)], ids=["finalmile", "without-bit-1"])
async def test_parameters_are_taken_and_auto_continues_without_the_gcs(
    make_sitl_fleet: Callable[..., SitlFleet], config: GcsFailsafe,
) -> None:
    """Parameters read back (MAV_GCS_SYSID = our 254); GCS silent in flight: FinalMile's FS_OPTIONS keeps AUTO to
    the end, without it RTL."""
    sitl = make_sitl_fleet(1, speedup=SPEEDUP)
    silent = threading.Event()
    try:
        drone = MavlinkAdapter("fs-sitl", sitl.urls[0], clock=Clock(speedup=SPEEDUP), gcs_failsafe=config,
                               gcs_system_id=OUR_GCS_ID)
        await drone.connect(timeout_s=30)
        try:
            # Copter's default FS_OPTIONS is 16 (continue in pilot-controlled modes); FinalMile adds 2 and 8 and clears
            # 16 (no pilot: its BRAKE hold is not pilot control)
            options = float((16 | config.options_set) & ~config.options_clear)
            assert drone.gcs_failsafe_params == {"MAV_GCS_SYSID": OUR_GCS_ID, "FS_GCS_ENABLE": 1.0,
                                                 "FS_GCS_TIMEOUT": 15.0, "FS_OPTIONS": options}
            assert await drone.get_parameter("MAV_GCS_SYSID") == OUR_GCS_ID  # 4.7: SYSID_MYGCS is gone
            assert await drone.get_parameter("FS_OPTIONS") == options
            vehicle = sitl.vehicles[0]
            observer_url = f"tcp:127.0.0.1:{sitl_tcp_port(vehicle.instance, 1)}"
            lat, lon = LocalFrame.at(vehicle.home[0], vehicle.home[1]).to_wgs84(400.0, 0.0)
            mission = Mission("fs", (MissionStep(StepKind.TAKEOFF, altitude_m=20.0),
                                     MissionStep(StepKind.DELIVER, lat, lon, altitude_m=20.0, order_id="fs-parcel"),
                                     MissionStep(StepKind.RETURN)))
            await drone.wait_ready(timeout_s=120)
            watcher = asyncio.create_task(asyncio.to_thread(_armed_modes_until_disarm, observer_url, silent, 240.0))
            await drone.start_mission(mission)
            async with asyncio.timeout(120):
                async for state in drone.telemetry():
                    if state.relative_altitude_m > 10.0:
                        break
        finally:
            await drone.close()  # the fleet manager is gone: no more GCS heartbeats
            silent.set()
        modes = await watcher
        if config.options_set:
            assert set(modes) == {AUTO}, sorted(set(modes))  # the delivery and its return flown in AUTO
            # Heartbeats are 1 Hz of vehicle time: it flew on well past FS_GCS_TIMEOUT (15 s) of silence.
            assert len(modes) > 30
        else:
            assert RTL in modes and modes[0] == AUTO  # the failsafe took it out of the mission
    finally:
        sitl.stop()

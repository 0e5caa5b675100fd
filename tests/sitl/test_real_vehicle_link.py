"""A drone set up as real fleets require, on real ArduCopter SITL (marker `sitl`): the link as a user would see it.

One SITL process is shared by the module, configured as a compliant delivery drone: Remote ID with
arming enforced (`DID_ENABLE=1`, `DID_OPTIONS=1`, the transmitter on SERIAL2, simulated by
`sim_worlds.remote_id_tx`), and commands accepted only from the ground station's system id
(`MAV_OPTIONS=1`, which replaced `SYSID_ENFORCE=1` in ArduPilot 4.7). The tests run in order:
GCS identity, Remote ID, then MAVLink 2 signing (set up over SERIAL0, flown over SERIAL1).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest
from pymavlink import mavutil

from fleet_manager.adapters.base import Mission, MissionOutcome, MissionStep, StepKind
from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter, MavlinkTimeouts
from fleet_manager.adapters.mavlink_link import mavlink
from fleet_manager.adapters.mavlink_remote_id import RemoteIdAircraft, RemoteIdConfig, RemoteIdOperator
from fleet_manager.adapters.mavlink_signing import SigningKey
from fleet_manager.errors import AdapterTimeout, CommandRefused
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame
from sim_worlds.remote_id_tx import RemoteIdTransmitter
from sim_worlds.sitl import SitlFleet, sitl_tcp_port

pytestmark = [pytest.mark.sitl, pytest.mark.slow]

SPEEDUP = 10.0
COMPLIANT = {"DID_ENABLE": 1, "DID_OPTIONS": 1, "DID_MAVPORT": 2, "MAV_OPTIONS": 1}
KEY = SigningKey.from_passphrase("finalmile sitl test key")
OPERATOR = RemoteIdOperator("FIN87astrdge12k8", 60.17152, 24.93815, 12.0)
REMOTE_ID = RemoteIdConfig(OPERATOR, RemoteIdAircraft("FM-SITL-0001"))


class Vehicle:
    """The shared SITL drone, its Remote ID transmitter and its URLs."""

    def __init__(self, fleet: SitlFleet, transmitter: RemoteIdTransmitter) -> None:
        self.fleet = fleet
        self.transmitter = transmitter
        instance = fleet.vehicles[0].instance
        self.serial0 = fleet.urls[0]
        self.serial1 = f"tcp:127.0.0.1:{sitl_tcp_port(instance, 1)}"
        lat, lon, _, _ = fleet.vehicles[0].home
        self.frame = LocalFrame.at(lat, lon)


@pytest.fixture(scope="module")
def vehicle(make_sitl_fleet: Callable[..., SitlFleet]) -> Iterator[Vehicle]:
    """One compliant SITL drone (not armable until Remote ID data flows), with its transmitter on SERIAL2."""
    fleet = make_sitl_fleet(1, speedup=SPEEDUP, params=COMPLIANT, wait_armable=False)
    try:
        port = sitl_tcp_port(fleet.vehicles[0].instance, 2)
        with RemoteIdTransmitter(f"tcp:127.0.0.1:{port}", speedup=SPEEDUP) as transmitter:
            yield Vehicle(fleet, transmitter)
    finally:
        fleet.stop()


def _adapter(url: str, name: str, **options: object) -> MavlinkAdapter:
    return MavlinkAdapter(name, url, clock=Clock(speedup=SPEEDUP), **options)  # type: ignore[arg-type]


async def _arm_when_ready(drone: MavlinkAdapter, within_s: float = 30.0) -> list[str]:
    """Arm in GUIDED, retrying while Remote ID is still settling; returns the refusal texts seen."""
    await drone.wait_ready(timeout_s=120)
    await drone.set_mode("GUIDED")
    refusals: list[str] = []
    deadline = time.monotonic() + within_s
    while True:
        try:
            await drone.arm()
            return refusals
        except CommandRefused as exc:
            refusals.append(exc.status_text or "")
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


@pytest.mark.timeout(120)
async def test_only_the_ground_station_id_is_obeyed_and_255_works(vehicle: Vehicle) -> None:
    """MAV_OPTIONS=1: a GCS with system id 250 is ignored (no COMMAND_ACK); with the default 255 all works."""
    short = MavlinkTimeouts(command_ack_wall_s=0.5, command_retries=1)
    stranger = _adapter(vehicle.serial0, "gcs-250", gcs_system_id=250, timeouts=short)
    with pytest.raises(AdapterTimeout, match="SET_MESSAGE_INTERVAL"):
        await stranger.connect(timeout_s=6)
    drone = _adapter(vehicle.serial0, "gcs-255")
    try:
        await drone.connect(timeout_s=30)
        assert drone.link.source_system == 255
        assert await drone.get_parameter("MAV_OPTIONS") == 1
        assert await drone.get_parameter("MAV_GCS_SYSID") == 255
    finally:
        await drone.close()


@pytest.mark.timeout(180)
async def test_remote_id_stream_makes_the_drone_armable_and_stopping_it_is_refused(vehicle: Vehicle) -> None:
    """DID_ENABLE=1: arming through FinalMile succeeds while it streams Remote ID; stopped, ArduPilot refuses."""
    drone = _adapter(vehicle.serial0, "remote-id", remote_id=REMOTE_ID)
    try:
        await drone.connect(timeout_s=30)
        await _arm_when_ready(drone)
        assert drone.latest_state().armed  # type: ignore[union-attr]
        await drone.disarm()
        assert vehicle.transmitter.last_status == (mavlink.MAV_ODID_ARM_STATUS_GOOD_TO_ARM, "")

        assert drone.remote_id is not None
        await drone.remote_id.stop()
        await asyncio.sleep(0.6)  # 6 s of vehicle time: past ArduPilot's 3 s limit
        with pytest.raises(CommandRefused) as refusal:
            await drone.arm()
        assert refusal.value.result_code == mavlink.MAV_RESULT_FAILED
        assert "Arm: OpenDroneID: SYSTEM not available" in (refusal.value.status_text or "")

        drone.remote_id.start()
        await _arm_when_ready(drone, within_s=10)
        await drone.disarm()
    finally:
        await drone.close()


def _delivery(frame: LocalFrame, x_m: float, y_m: float) -> Mission:
    lat, lon = frame.to_wgs84(x_m, y_m)
    return Mission("signed", (MissionStep(StepKind.TAKEOFF, altitude_m=15),
                              MissionStep(StepKind.DELIVER, lat, lon, altitude_m=15, order_id="signed-parcel"),
                              MissionStep(StepKind.RETURN)))


def _unsigned_command_is_ignored(url: str) -> None:
    """A plain pymavlink GCS without the key on SERIAL1: DO_SET_MODE(LOITER) gets no COMMAND_ACK, no mode change."""
    conn = mavutil.mavlink_connection(url, source_system=255, source_component=190, retries=0)
    try:
        assert conn.wait_heartbeat(timeout=10) is not None
        for _ in range(3):
            conn.mav.command_long_send(1, 1, mavlink.MAV_CMD_DO_SET_MODE, 0,
                                       mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 5, 0, 0, 0, 0, 0)
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            message = conn.recv_match(blocking=True, timeout=0.2)
            if message is None:
                continue
            assert message.get_type() != "COMMAND_ACK", f"an unsigned command was answered: {message}"
            if message.get_type() == "HEARTBEAT" and message.get_srcComponent() == 1:
                assert message.custom_mode != 5, "an unsigned command switched the mode"
    finally:
        conn.close()


@pytest.mark.timeout(300)
async def test_signed_link_flies_a_mission_and_unsigned_commands_are_ignored(vehicle: Vehicle) -> None:
    """SETUP_SIGNING over SERIAL0, then: unsigned commands are ignored, a wrong key is dropped and counted,
    and a signed FinalMile link on SERIAL1 flies a delivery."""
    installer = _adapter(vehicle.serial0, "installer", signing=KEY, signing_setup=True)
    try:
        await installer.connect(timeout_s=30)
        assert installer.link.signing is not None and installer.link.signing.verified
    finally:
        await installer.close()
    vehicle.transmitter.use_signing_key(KEY.secret)  # ArduPilot drops its unsigned ARM_STATUS from now on

    await asyncio.to_thread(_unsigned_command_is_ignored, vehicle.serial1)

    wrong = _adapter(vehicle.serial1, "wrong-key", signing=SigningKey.from_passphrase("not the key"))
    with pytest.raises(AdapterTimeout, match="HEARTBEAT"):
        await wrong.connect(timeout_s=4)
    assert wrong.link_stats.bad_signature_dropped > 0 and wrong.link_stats.messages_in == 0

    drone = _adapter(vehicle.serial1, "signed", signing=KEY, remote_id=REMOTE_ID)
    try:
        await drone.connect(timeout_s=30)
        await drone.wait_ready(timeout_s=120)
        mission = _delivery(vehicle.frame, 40, 30)
        released = asyncio.get_running_loop().create_future()

        async def watch() -> None:
            async for event in drone.mission_events():
                if event.what == "payload_released" and not released.done():
                    released.set_result(event)

        watcher = asyncio.create_task(watch())
        await drone.start_mission(mission)
        result = await drone.wait_mission(timeout_s=600)
        watcher.cancel()
        assert result.outcome is MissionOutcome.SUCCEEDED, result
        assert released.done()
        assert drone.link_stats.rejected_frames == 0 and drone.link_stats.messages_in > 100
    finally:
        await drone.close()

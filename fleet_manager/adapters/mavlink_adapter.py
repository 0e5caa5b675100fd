"""The fleet manager's MAVLink adapter: one ArduCopter-compatible drone behind one URL.

It cannot tell ArduPilot SITL, a real autopilot and the in-repo simulator apart: it discovers
the system id from the first autopilot heartbeat, requests the streams it needs
(SET_MESSAGE_INTERVAL; ArduCopter streams nothing until asked), uploads and reads back fence and
mission, flies them (GUIDED arm + take-off, then AUTO), replaces the mission of a drone in flight
(`replace_mission`: upload, DO_SET_MISSION_CURRENT 1, then the fence), and turns every refusal into a
`CommandRefused` carrying the MAV_RESULT / MAV_MISSION_RESULT and the STATUSTEXT that came with it.

This module is the facade; the protocol concerns live apart, as MAVSDK splits its plugins:
`mavlink_session` (what they share), `mavlink_connection` (link upkeep), `mavlink_telemetry`,
`mavlink_commands` (COMMAND_LONG, modes, arming), `mavlink_params`, `mavlink_transfer` (mission and
fence items), `mavlink_missions` (flying, replacing, pausing a mission) and `mavlink_progress` (the
running mission's events and outcome).

Time: protocol round trips (acks, mission items, connect) are wall-clock seconds; the vehicle's
own behaviour (heartbeat silence, take-off, mode changes, `wait_mission`) is measured in seconds
of the adapter's `Clock`, so an accelerated simulation (SITL --speedup K with Clock(speedup=K))
keeps the same timeouts in simulated time; waits for the vehicle never go below a wall-clock floor
(`vehicle_wait_floor_wall_s`), as a heartbeat round trip does not speed up with the simulation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from mission_planner.clock import Clock

from ..errors import AdapterTimeout, CommandRefused, NotConnected
from .base import (
    AdoptionReport,
    Geofence,
    LinkStatus,
    Mission,
    MissionEvent,
    MissionResult,
    VehicleAdapter,
    VehicleKind,
    VehicleState,
)
from .fanout import Fanout
from .mavlink_codec import MissionItem, MissionPlan
from .mavlink_commands import MavlinkCommands
from .mavlink_connection import LinkKeeper
from .mavlink_failsafe import GcsFailsafe, apply_fence_avoidance, apply_gcs_failsafe
from .mavlink_link import (
    GCS_COMPONENT_ID,
    GCS_SYSTEM_ID,
    LinkAddress,
    LinkStats,
    MavlinkLink,
    MavlinkTransport,
    mavlink,
)
from .mavlink_missions import MissionFlight
from .mavlink_params import MavlinkParameters
from .mavlink_progress import MissionProgress
from .mavlink_remote_id import RemoteIdBroadcaster, RemoteIdConfig
from .mavlink_session import MavlinkSession
from .mavlink_session import MavlinkTimeouts as MavlinkTimeouts
from .mavlink_signing import SigningKey
from .mavlink_telemetry import MavlinkTelemetry, telemetry_streams
from .mavlink_telemetry import StreamRequest as StreamRequest
from .mavlink_transfer import PROTOCOL_MESSAGES, MissionTransfer
from .mavlink_transfer import MissionVerifyError as MissionVerifyError

logger = logging.getLogger(__name__)

_QUEUE_SIZE = 256  # per telemetry / event subscriber; a slow one loses its oldest items


class MavlinkAdapter(VehicleAdapter):
    """A MAVLink drone (ArduCopter or compatible) at `url` (`tcp:`, `tcpin:`, `udp:`/`udpin:`, `udpout:`, serial).

    `gcs_system_id`/`gcs_component_id` are the ids we send with (ArduPilot's MAV_GCS_SYSID is 255);
    `system_id` the vehicle's, when several share one URL (else its first autopilot heartbeat);
    `signing` a MAVLink 2 key (`signing_setup`: install it with SETUP_SIGNING at connect, over a
    trusted link); `remote_id` the OpenDroneID data to stream (`transport`: a socket shared with
    other adapters, see `mavlink_link`); `gcs_failsafe` the GCS-failsafe parameters to set and read
    back at connect (`mavlink_failsafe`; None leaves the vehicle's own).
    """

    kind = VehicleKind.DRONE

    def __init__(
        self,
        vehicle_id: str,
        url: str,
        *,
        clock: Clock | None = None,
        timeouts: MavlinkTimeouts | None = None,
        telemetry_rate_hz: float = 4.0,
        battery_capacity_wh: float | None = None,
        gcs_system_id: int = GCS_SYSTEM_ID,
        gcs_component_id: int = GCS_COMPONENT_ID,
        system_id: int | None = None,
        signing: SigningKey | None = None,
        signing_setup: bool = False,
        remote_id: RemoteIdConfig | None = None,
        transport: MavlinkTransport | None = None,
        enable_fence: bool = True,
        gcs_failsafe: GcsFailsafe | None = None,
    ) -> None:
        if telemetry_rate_hz <= 0:
            raise ValueError(f"telemetry_rate_hz must be > 0, got {telemetry_rate_hz}")
        self.vehicle_id = vehicle_id
        self.gcs_system_id = gcs_system_id  # our MAVLink source system; set as the vehicle's GCS id at connect
        self.telemetry_rate_hz = telemetry_rate_hz
        self.battery_capacity_wh = battery_capacity_wh
        self.streams = telemetry_streams(telemetry_rate_hz)
        self.heartbeats_received = 0
        self._session = MavlinkSession(
            vehicle_id, url, self._on_message, clock=clock or Clock(), timeouts=timeouts or MavlinkTimeouts(),
            source_system=gcs_system_id, source_component=gcs_component_id, expected_system=system_id,
            signing=signing, transport=transport,
        )  # fmt: skip
        if signing_setup and signing is None:
            raise ValueError(f"vehicle {vehicle_id!r}: signing_setup needs a signing key")
        self.signing_setup = signing_setup
        if signing_setup and self._session.link.signing is not None:
            self._session.link.signing.expect_setup()
        self.remote_id = RemoteIdBroadcaster(self._session, remote_id) if remote_id is not None else None
        self.gcs_failsafe = gcs_failsafe
        self.gcs_failsafe_params: dict[str, float] = {}  # as read back at connect
        self.avoids_zones = False  # the autopilot flies round its fence's zones by itself (OA_TYPE, at connect)
        self._state: VehicleState | None = None
        self._state_fanout: Fanout[VehicleState] = Fanout(_QUEUE_SIZE, name=f"{vehicle_id} telemetry")
        self._event_fanout: Fanout[MissionEvent] = Fanout(_QUEUE_SIZE, name=f"{vehicle_id} mission events")
        self._telemetry = MavlinkTelemetry(self._publish)
        self._commands = MavlinkCommands(self._session, self._telemetry.data)
        self._params = MavlinkParameters(self._session)
        self._transfer = MissionTransfer(self._session)
        self._progress = MissionProgress(
            self._session, self._telemetry.data, self._commands, self._event_fanout, self._session.clock
        )
        self._flight = MissionFlight(
            self._session, self._telemetry.data, self._commands, self._transfer, self._progress,
            enable_fence=enable_fence,
        )  # fmt: skip
        self._keeper = LinkKeeper(
            self._session, self._commands, self._telemetry, self._progress, self.streams, telemetry_rate_hz,
            self._publish,
        )  # fmt: skip
        self._tasks: list[asyncio.Task[Any]] = []
        self._handlers: dict[str, Callable[[Any], None]] = {
            **self._telemetry.handlers(),
            **self._progress.handlers(),
            "STATUSTEXT": self._session.on_statustext,
            "COMMAND_ACK": self._commands.on_command_ack,
            "PARAM_VALUE": self._params.on_param_value,
            **dict.fromkeys(PROTOCOL_MESSAGES, self._transfer.on_mission_protocol),
        }

    # ------------------------------------------------------------------ what the session holds

    @property
    def url(self) -> str:
        """The vehicle's URL as given."""
        return self._session.url

    @property
    def address(self) -> LinkAddress:
        """The parsed URL."""
        return self._session.address

    @property
    def clock(self) -> Clock:
        """The clock the vehicle's own behaviour is measured in."""
        return self._session.clock

    @property
    def timeouts(self) -> MavlinkTimeouts:
        """Timeouts and retries in use."""
        return self._session.timeouts

    @property
    def link(self) -> MavlinkLink:
        """The MAVLink transport (its `stats` count messages and bad frames)."""
        return self._session.link

    @property
    def link_stats(self) -> LinkStats:
        """Frames in and out, bad frames, and frames dropped by signing (unsigned, bad signature)."""
        return self._session.link.stats

    @property
    def target_system(self) -> int | None:
        """The vehicle's system id, from its first heartbeat."""
        return self._session.target_system

    @property
    def target_component(self) -> int:
        """The vehicle's component id, from its first heartbeat."""
        return self._session.target_component

    @property
    def positions_received(self) -> int:
        """GLOBAL_POSITION_INT messages received."""
        return self._telemetry.positions_received

    @property
    def enable_fence(self) -> bool:
        """Whether a fence upload is followed by DO_FENCE_ENABLE."""
        return self._flight.enable_fence

    @property
    def link_status(self) -> LinkStatus:
        """Whether heartbeats are arriving."""
        return self._session.link_status

    # ------------------------------------------------------------------ contract: link

    async def connect(self, timeout_s: float = 30.0) -> None:
        """Open the link, wait for the autopilot's heartbeat, request streams, wait for a position message."""
        session = self._session
        if session.closed:
            raise NotConnected(self.vehicle_id, "connect()", "adapter was closed; create a new one")
        deadline = time.monotonic() + timeout_s
        try:
            await self._keeper.open_until(deadline)
            self._tasks.append(asyncio.create_task(self._keeper.housekeeping(), name=f"{self.vehicle_id}-mavlink"))
            await session.wait_until(
                lambda: session.target_system is not None,
                deadline - time.monotonic(),
                "connect()",
                "no autopilot HEARTBEAT",
            )
            if self.signing_setup:
                await self._install_signing_key(deadline)
            await self._keeper.request_streams(deadline)
            await session.wait_until(
                lambda: self._telemetry.last_position_wall > 0,
                deadline - time.monotonic(),
                "connect()",
                "no GLOBAL_POSITION_INT after SET_MESSAGE_INTERVAL",
            )
            if self.gcs_failsafe is not None:
                self.gcs_failsafe_params = await apply_gcs_failsafe(
                    self._params, self.vehicle_id, self.gcs_failsafe, gcs_system_id=self.gcs_system_id)
                self.avoids_zones = await apply_fence_avoidance(self._params, self.vehicle_id, self.gcs_failsafe)
            if self.remote_id is not None:
                self.remote_id.start()
        except BaseException:
            await self.close()
            raise
        signing = session.link.signing
        logger.info("%s: connected to system %s at %s%s", self.vehicle_id, session.target_system, self.url,
                    f" (signed, key {signing.key.fingerprint})" if signing is not None else "")

    async def _install_signing_key(self, deadline: float) -> None:
        """ArduPilot's procedure: SETUP_SIGNING over this (trusted) link, then wait for its first signed frame."""
        session = self._session
        signing = session.link.signing
        if signing is None or signing.verified:
            return
        sent_wall = time.monotonic()
        for _ in range(session.timeouts.command_retries + 1):
            session.link.send(signing.setup_message(session.target_sys(), session.target_component))
            with contextlib.suppress(AdapterTimeout):
                await session.wait_until(lambda: signing.verified, min(2.0, max(0.1, deadline - time.monotonic())),
                                         "setup_signing()", "no signed frame")
            if signing.verified or time.monotonic() > deadline:
                break
        if not signing.verified:
            text = await session.texts_since(sent_wall)
            raise CommandRefused(self.vehicle_id, "setup_signing()", "vehicle did not start signing with our key",
                                 status_text=text or None)
        logger.info("%s: signing key %s installed; link signed", self.vehicle_id, signing.key.fingerprint)

    async def close(self) -> None:
        """Close the link, end telemetry and event streams; idempotent."""
        if self._session.closed:
            return
        self._session.closed = True
        if self.remote_id is not None:
            await self.remote_id.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._session.link.close()
        self._commands.close()
        self._params.close()
        self._progress.close()
        self._state_fanout.close()
        self._event_fanout.close()

    def latest_state(self) -> VehicleState | None:
        """The newest telemetry snapshot, or None before the first heartbeat."""
        return self._state

    def telemetry(self) -> AsyncIterator[VehicleState]:
        """Every new snapshot (position messages, heartbeats, link changes); ends when the adapter closes."""
        return self._state_fanout.subscribe()

    def mission_events(self) -> AsyncIterator[MissionEvent]:
        """Mission progress: step_reached, payload_released, mode_changed, failsafe, link_lost, link_restored."""
        return self._event_fanout.subscribe()

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait until the vehicle has a GPS fix and an EKF position (armable in GUIDED); clock seconds."""
        self._session.require_link("wait_ready()")
        await self._session.wait_until(
            self._telemetry.data.position_valid, self._vehicle_wait_wall(timeout_s), "wait_ready()",
            "no GPS fix / EKF position (EKF_STATUS_REPORT without POS_HORIZ_ABS)",
        )  # fmt: skip

    def recent_status_texts(self) -> list[str]:
        """The last STATUSTEXT messages of the vehicle, oldest first."""
        return [text for _, _, text in self._session.texts]

    # ------------------------------------------------------------------ contract: mission

    async def start_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Upload and verify fence and mission, arm in GUIDED, take off, switch to AUTO.

        A drone that is airborne without a mission (its last one ended in the air) flies the new one
        from where it is. Raises MissionBusy while the drone is armed on a mission that has not ended
        (`replace_mission` switches a flying drone to a new one).
        """
        await self._flight.start_mission(mission, geofence=geofence)

    async def replace_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Replace the mission of a flying drone: it flies the new one from where it is, at once.

        The old mission then ends CANCELED ("replaced by ..."). Raises NoMissionRunning when the drone
        runs no mission, CommandRefused when it is not flying or refuses the upload or the switch (the
        old mission then runs on); see `MissionFlight.replace_mission` for the order of the uploads.
        """
        await self._flight.replace_mission(mission, geofence=geofence)

    async def update_geofence(self, geofence: Geofence) -> None:
        """The fence the autopilot holds, replaced now (a new zone: its own way round, link or no link)."""
        await self._flight.update_geofence(geofence)

    async def adopt_mission(self, mission: Mission) -> AdoptionReport:
        """After a restart of ours: whether the drone still flies `mission`; when it does, it is followed."""
        return await self._flight.adopt_mission(mission)

    async def set_home(self, latitude_deg: float, longitude_deg: float) -> None:
        """Where RTL goes from now on (DO_SET_HOME, home's altitude kept; see `MissionFlight.set_home`)."""
        await self._flight.set_home(latitude_deg, longitude_deg)

    async def confirm_drop(self, mission_id: str, step_index: int, *, release: bool) -> None:
        """Release the parcel held over its drop, or keep it aboard and fly on (see `MissionFlight`)."""
        await self._flight.confirm_drop(mission_id, step_index, release=release)

    async def wait_mission(self, timeout_s: float) -> MissionResult:
        """Wait until the mission ends (landed and disarmed, or its last item reached airborne).

        `timeout_s` is in seconds of the adapter's clock; raises AdapterTimeout when it passes.
        """
        return await self._flight.wait_mission(timeout_s)

    async def pause(self) -> None:
        """Stop and hold where the vehicle is (BRAKE)."""
        await self._flight.pause()

    async def fly_to(self, latitude_deg: float, longitude_deg: float, altitude_m: float) -> None:
        """Fly straight to a point and hold there (GUIDED, DO_REPOSITION); `altitude_m` above home."""
        await self._commands.fly_to(latitude_deg, longitude_deg, altitude_m)

    async def resume(self) -> None:
        """Continue the mission from where it stopped (AUTO)."""
        await self._flight.resume()

    async def return_home(self) -> None:
        """Abandon the mission and return to launch (RTL); the mission then ends CANCELED."""
        await self._flight.return_home()

    async def land(self) -> None:
        """Land where the vehicle is (LAND); the mission then ends CANCELED."""
        await self._flight.land()

    # ------------------------------------------------------------------ MAVLink-level API

    async def set_mode(self, mode: str) -> None:
        """Switch to an ArduCopter flight mode by name and wait until the heartbeat shows it."""
        await self._commands.set_mode(mode)

    async def arm(self) -> None:
        """Arm the motors (in the current mode) and wait until the heartbeat shows it."""
        await self._commands.arm()

    async def disarm(self) -> None:
        """Disarm (on the ground) and wait until the heartbeat shows it."""
        await self._commands.disarm()

    async def takeoff(self, altitude_m: float) -> None:
        """Command a take-off to `altitude_m` above home (GUIDED, armed)."""
        await self._commands.takeoff(altitude_m)

    async def release_payload(self) -> None:
        """Open gripper 1 now (DO_GRIPPER release)."""
        await self._commands.release_payload()

    async def command(self, command: int, *params: float, call: str | None = None) -> int:
        """Send COMMAND_LONG and wait for its COMMAND_ACK; raises CommandRefused or AdapterTimeout."""
        return await self._commands.command(command, *params, call=call)

    async def get_parameter(self, name: str) -> float:
        """Read one parameter (PARAM_REQUEST_READ → PARAM_VALUE)."""
        return await self._params.get(name)

    async def set_parameter(self, name: str, value: float) -> float:
        """Set one parameter (PARAM_SET) and return the value the vehicle echoes back."""
        return await self._params.set(name, value)

    async def upload_mission(self, mission: Mission) -> MissionPlan:
        """Convert, upload and read back `mission`; returns the items and their step mapping."""
        return await self._flight.upload_mission(mission)

    async def upload_geofence(self, geofence: Geofence) -> tuple[MissionItem, ...]:
        """Convert, upload and read back a geofence (MAV_MISSION_TYPE_FENCE)."""
        return await self._flight.upload_geofence(geofence)

    async def upload_items(
        self, items: Sequence[MissionItem], mission_type: int, *, call: str = "upload_items()", verify: bool = True
    ) -> None:
        """Upload items of one mission type, then read them back and compare (one retry on a mismatch)."""
        await self._transfer.upload_items(items, mission_type, call=call, verify=verify)

    async def download_items(self, mission_type: int, *, call: str = "download_items()") -> list[MissionItem]:
        """Read the vehicle's stored items of one mission type."""
        return await self._transfer.download_items(mission_type, call=call)

    # ------------------------------------------------------------------ internals

    def _on_message(self, msg: Any) -> None:
        session = self._session
        kind = msg.get_type()
        source = msg.get_srcSystem()
        if kind == "HEARTBEAT":
            if msg.autopilot == mavlink.MAV_AUTOPILOT_INVALID:
                return  # another ground station or a peripheral, not the vehicle
            if session.target_system is None:
                session.target_system, session.target_component = source, msg.get_srcComponent()
            if source == session.target_system:
                self._on_heartbeat(msg)
            return
        if source != session.target_system:
            return
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(msg)

    def _on_heartbeat(self, msg: Any) -> None:
        self.heartbeats_received += 1
        self._session.last_heartbeat_wall = time.monotonic()
        was_armed, old_mode = self._telemetry.on_heartbeat(msg)
        if self._session.link_status is not LinkStatus.CONNECTED:
            self._keeper.set_link(LinkStatus.CONNECTED, "heartbeat")
        self._progress.on_heartbeat(was_armed, old_mode)
        self._publish()

    def _publish(self) -> None:
        t = self._telemetry.data
        run = self._progress.run
        step = self._progress.current_step() if run is not None and run.started else None
        state = VehicleState(
            vehicle_id=self.vehicle_id,
            kind=VehicleKind.DRONE,
            stamp_s=self.clock.now(),
            latitude_deg=t.latitude_deg,
            longitude_deg=t.longitude_deg,
            altitude_amsl_m=t.altitude_amsl_m,
            relative_altitude_m=t.relative_altitude_m,
            heading_deg=t.heading_deg,
            ground_speed_m_s=t.ground_speed_m_s,
            battery_remaining_pct=t.battery_remaining_pct,
            battery_remaining_wh=(
                t.battery_remaining_pct / 100.0 * self.battery_capacity_wh
                if t.battery_remaining_pct is not None and self.battery_capacity_wh
                else None
            ),
            battery_voltage_v=t.battery_voltage_v,
            mode=t.mode_name(),
            armed=t.armed,
            link=self._session.link_status,
            mission_id=run.mission.mission_id if run is not None else None,
            mission_step=step if step is not None and step >= 0 else None,
            position_valid=t.position_valid(),
            wind_speed_m_s=t.wind_speed_m_s,
            wind_from_deg=t.wind_from_deg,
        )
        self._state = state
        self._state_fanout.publish(state)
        self._session.notify_changed()

    def _vehicle_wait_wall(self, clock_s: float) -> float:
        """Wall seconds to wait for `clock_s` seconds of the vehicle (see `MavlinkSession.vehicle_wait_wall`)."""
        return self._session.vehicle_wait_wall(clock_s)

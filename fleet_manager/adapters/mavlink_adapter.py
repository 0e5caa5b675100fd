"""The fleet manager's MAVLink adapter: one ArduCopter-compatible drone behind one URL.

It cannot tell ArduPilot SITL, a real autopilot and the in-repo simulator apart: it discovers
the system id from the first autopilot heartbeat, requests the streams it needs
(SET_MESSAGE_INTERVAL; ArduCopter streams nothing until asked), uploads and reads back fence and
mission, flies them (GUIDED arm + take-off, then AUTO), replaces the mission of a drone in flight
(upload, DO_SET_MISSION_CURRENT 1, then the fence), and turns every refusal into a
`CommandRefused` carrying the MAV_RESULT / MAV_MISSION_RESULT and the STATUSTEXT that came with it.

Time: protocol round trips (acks, mission items, connect) are wall-clock seconds; the vehicle's
own behaviour (heartbeat silence, take-off, mode changes, `wait_mission`) is measured in seconds
of the adapter's `Clock`, so an accelerated simulation (SITL --speedup K with Clock(speedup=K))
keeps the same timeouts in simulated time; waits for the vehicle never go below a wall-clock floor
(`vehicle_wait_floor_wall_s`), as a heartbeat round trip does not speed up with the simulation.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from shapely.geometry import Point
from shapely.geometry import Polygon as ShapelyPolygon

from mission_planner.clock import Clock

from ..errors import AdapterError, AdapterTimeout, CommandRefused, LinkLost, NotConnected
from .base import (
    Geofence,
    LinkStatus,
    Mission,
    MissionEvent,
    MissionOutcome,
    MissionResult,
    StepKind,
    VehicleAdapter,
    VehicleKind,
    VehicleState,
)
from .mavlink_codec import (
    COPTER_MODES,
    FENCE,
    MISSION,
    MissionItem,
    MissionPlan,
    enum_name,
    fence_items,
    item_difference,
    mission_plan,
    mode_name,
)
from .mavlink_link import GCS_SYSTEM_ID, MavlinkLink, mavlink, parse_url

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Modes the autopilot switches to on its own in a failsafe (fence, battery, GCS/RC loss, EKF).
_FAILSAFE_MODES = frozenset({"RTL", "LAND", "SMART_RTL", "BRAKE", "AUTO_RTL"})
_ARMED = mavlink.MAV_MODE_FLAG_SAFETY_ARMED
_EKF_POSITION = mavlink.EKF_POS_HORIZ_ABS  # ArduCopter arms in GUIDED once the EKF has this
_QUEUE_SIZE = 256
_TEXT_GRACE_S = 0.3  # STATUSTEXT explaining a refusal may trail its COMMAND_ACK / MISSION_ACK
_DISARM_GRACE_S = 1.0
_EARTH_RADIUS_M = 6_371_000.0  # MISSION_ITEM_REACHED of the last item may trail the disarm heartbeat


class MissionVerifyError(AdapterError):
    """The items read back from the vehicle differ from those uploaded."""


@dataclass(frozen=True)
class MavlinkTimeouts:
    """Timeouts and retries; `*_wall_s` are wall-clock seconds, `*_clock_s` seconds of the adapter's Clock."""

    command_ack_wall_s: float = 1.5
    command_retries: int = 3
    mission_item_wall_s: float = 1.5
    mission_retries: int = 4
    param_wall_s: float = 1.5
    link_lost_clock_s: float = 5.0  # no HEARTBEAT for this long -> LinkStatus.LOST
    link_lost_min_wall_s: float = 1.0  # never declare a loss faster than this (scheduler hiccups)
    mode_change_clock_s: float = 5.0
    takeoff_clock_s: float = 60.0
    vehicle_wait_floor_wall_s: float = 5.0  # clock-second waits for the vehicle never shrink below this wall time
    reconnect_backoff_wall_s: float = 0.5
    reconnect_backoff_max_wall_s: float = 5.0


@dataclass(frozen=True)
class StreamRequest:
    """A message the adapter asks the vehicle to stream, and how often (Hz)."""

    message_id: int
    rate_hz: float


@dataclass
class _Telemetry:
    latitude_deg: float = 0.0
    longitude_deg: float = 0.0
    altitude_amsl_m: float = 0.0
    relative_altitude_m: float = 0.0
    heading_deg: float = 0.0
    ground_speed_m_s: float = 0.0
    battery_remaining_pct: float | None = None
    battery_voltage_v: float | None = None
    custom_mode: int | None = None
    armed: bool = False
    gps_fix_type: int | None = None
    mission_seq: int | None = None
    home: tuple[float, float, float] | None = None
    ekf_flags: int | None = None


@dataclass
class _MissionRun:
    mission: Mission
    plan: MissionPlan
    result: asyncio.Future[MissionResult]
    steps_completed: int = 0
    released: set[int] | None = None
    cancel_reason: str = ""
    failsafe_reason: str = ""
    started: bool = False


class MavlinkAdapter(VehicleAdapter):
    """A MAVLink drone (ArduCopter or compatible) at `url` (`tcp:`, `udp:`/`udpin:`, `udpout:`)."""

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
        source_system: int = GCS_SYSTEM_ID,
        enable_fence: bool = True,
    ) -> None:
        if telemetry_rate_hz <= 0:
            raise ValueError(f"telemetry_rate_hz must be > 0, got {telemetry_rate_hz}")
        self.vehicle_id = vehicle_id
        self.url = url
        self.address = parse_url(url)
        self.clock = clock or Clock()
        self.timeouts = timeouts or MavlinkTimeouts()
        self.telemetry_rate_hz = telemetry_rate_hz
        self.battery_capacity_wh = battery_capacity_wh
        self.enable_fence = enable_fence
        self.streams = (
            StreamRequest(mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, telemetry_rate_hz),
            StreamRequest(mavlink.MAVLINK_MSG_ID_SYS_STATUS, 1.0),
            StreamRequest(mavlink.MAVLINK_MSG_ID_GPS_RAW_INT, 1.0),
            StreamRequest(mavlink.MAVLINK_MSG_ID_BATTERY_STATUS, 1.0),
            StreamRequest(mavlink.MAVLINK_MSG_ID_MISSION_CURRENT, 1.0),
            StreamRequest(mavlink.MAVLINK_MSG_ID_EKF_STATUS_REPORT, 1.0),
            StreamRequest(mavlink.MAVLINK_MSG_ID_HOME_POSITION, 0.2),
        )
        self.link = MavlinkLink(self.address, self._on_message, source_system=source_system)
        self.target_system: int | None = None
        self.target_component: int = 1
        self._telemetry = _Telemetry()
        self._state: VehicleState | None = None
        self._link_status = LinkStatus.CONNECTING
        self._closed = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._telemetry_queues: set[asyncio.Queue[VehicleState | None]] = set()
        self._event_queues: set[asyncio.Queue[MissionEvent | None]] = set()
        self._changed = asyncio.Event()
        self._text_arrived = asyncio.Event()
        self._texts: collections.deque[tuple[float, int, str]] = collections.deque(maxlen=32)
        self._ack_waiters: dict[int, asyncio.Future[Any]] = {}
        self._param_waiters: dict[str, list[asyncio.Future[Any]]] = {}
        self._mission_inbox: asyncio.Queue[Any] | None = None
        self._command_lock = asyncio.Lock()
        self._mission_lock = asyncio.Lock()
        self._last_heartbeat_wall = 0.0
        self._last_position_wall = 0.0
        self._last_stream_request_wall = 0.0
        self._commanded_mode: int | None = None
        self._run: _MissionRun | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self.heartbeats_received = 0
        self.positions_received = 0

    # ------------------------------------------------------------------ contract: link

    async def connect(self, timeout_s: float = 30.0) -> None:
        """Open the link, wait for the autopilot's heartbeat, request streams, wait for a position message."""
        if self._closed:
            raise NotConnected(self.vehicle_id, "connect()", "adapter was closed; create a new one")
        deadline = time.monotonic() + timeout_s
        try:
            await self._open_until(deadline)
            self._tasks.append(asyncio.create_task(self._housekeeping(), name=f"{self.vehicle_id}-mavlink"))
            await self._wait_until(
                lambda: self.target_system is not None,
                deadline - time.monotonic(),
                "connect()",
                "no autopilot HEARTBEAT",
            )
            await self._request_streams(deadline)
            await self._wait_until(
                lambda: self._last_position_wall > 0,
                deadline - time.monotonic(),
                "connect()",
                "no GLOBAL_POSITION_INT after SET_MESSAGE_INTERVAL",
            )
        except BaseException:
            await self.close()
            raise
        logger.info("%s: connected to system %s at %s", self.vehicle_id, self.target_system, self.url)

    async def close(self) -> None:
        """Close the link, end telemetry and event streams; idempotent."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self.link.close()
        for futures in (list(self._ack_waiters.values()), [f for fs in self._param_waiters.values() for f in fs]):
            for future in futures:
                if not future.done():
                    future.set_exception(NotConnected(self.vehicle_id, "close()", "adapter closed"))
        run = self._run
        if run is not None and not run.result.done():
            run.result.set_result(self._result(run, MissionOutcome.UNKNOWN, "adapter closed before the mission ended"))
        queues: list[asyncio.Queue[Any]] = [*self._telemetry_queues, *self._event_queues]
        for queue in queues:
            self._put(queue, None)

    def latest_state(self) -> VehicleState | None:
        """The newest telemetry snapshot, or None before the first heartbeat."""
        return self._state

    def telemetry(self) -> AsyncIterator[VehicleState]:
        """Every new snapshot (position messages, heartbeats, link changes); ends when the adapter closes."""
        return self._subscribe(self._telemetry_queues)

    def mission_events(self) -> AsyncIterator[MissionEvent]:
        """Mission progress: step_reached, payload_released, mode_changed, failsafe, link_lost, link_restored."""
        return self._subscribe(self._event_queues)

    @property
    def link_status(self) -> LinkStatus:
        """Whether heartbeats are arriving."""
        return self._link_status

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait until the vehicle has a GPS fix and an EKF position (armable in GUIDED); clock seconds."""
        self._require_link("wait_ready()")
        await self._wait_until(
            self._position_valid, self._vehicle_wait_wall(timeout_s), "wait_ready()",
            "no GPS fix / EKF position (EKF_STATUS_REPORT without POS_HORIZ_ABS)",
        )  # fmt: skip

    def recent_status_texts(self) -> list[str]:
        """The last STATUSTEXT messages of the vehicle, oldest first."""
        return [text for _, _, text in self._texts]

    # ------------------------------------------------------------------ contract: mission

    async def start_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Upload and verify fence and mission, arm in GUIDED, take off, switch to AUTO.

        On a drone already flying a mission this replaces it in flight (see `replace_mission`).
        """
        call = f"start_mission({mission.mission_id!r})"
        self._require_link(call)
        if self._run is not None and not self._run.result.done() and self._telemetry.armed:
            if self._airborne():
                await self.replace_mission(mission, geofence=geofence)
                return
            raise CommandRefused(self.vehicle_id, call, f"mission {self._run.mission.mission_id!r} is still running")
        if geofence is not None:
            await self._upload_fence(geofence, call)
        plan = await self.upload_mission(mission)
        loop = asyncio.get_running_loop()
        run = _MissionRun(mission, plan, loop.create_future(), released=set())
        self._run = run
        try:
            if not self._airborne():
                await self.set_mode("GUIDED")
                await self.arm()
                await self.takeoff(plan.takeoff_altitude_m)
                climbed_m = min(1.5, 0.5 * plan.takeoff_altitude_m)
                await self._wait_until(
                    lambda: self._telemetry.relative_altitude_m >= climbed_m,
                    self._vehicle_wait_wall(self.timeouts.takeoff_clock_s),
                    call,
                    f"vehicle did not climb to {climbed_m:.1f} m after take-off",
                )
            else:
                await self._set_current_item(1, call)
            await self.set_mode("AUTO")
        except BaseException:
            self._run = None
            raise
        run.started = True
        self._event(run, "mission_started", -1, f"{len(plan.items) - 1} items")

    async def replace_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Replace the mission of a flying drone: it flies the new one from where it is, at once.

        Order matters for the autopilot's own fence: the new mission goes up first and is made
        current (ArduCopter keeps flying its in-memory item after an upload until told to jump;
        MAV_CMD_DO_SET_MISSION_CURRENT restarts at item 1), so the drone already heads away when the
        new fence arrives. The old mission then ends CANCELED ("replaced by ...").
        """
        call = f"replace_mission({mission.mission_id!r})"
        self._require_link(call)
        if not self._airborne():
            raise CommandRefused(self.vehicle_id, call, "the vehicle is not flying; use start_mission()")
        old = self._run
        plan = await self.upload_mission(mission)
        run = _MissionRun(mission, plan, asyncio.get_running_loop().create_future(), released=set())
        self._run = run
        try:
            await self._set_current_item(1, call)
            if self._telemetry.custom_mode != COPTER_MODES["AUTO"]:
                await self.set_mode("AUTO")
        except BaseException:
            self._run = old
            raise
        run.started = True
        if old is not None and not old.result.done():
            why = f"replaced by mission {mission.mission_id}"
            self._event(old, "mission_ended", old.steps_completed, f"{MissionOutcome.CANCELED.value}: {why}")
            old.result.set_result(self._result(old, MissionOutcome.CANCELED, why))
        self._event(run, "mission_started", -1, f"{len(plan.items) - 1} items, in flight")
        if geofence is not None:
            await self._upload_fence(geofence, call)

    async def wait_mission(self, timeout_s: float) -> MissionResult:
        """Wait until the mission ends (landed and disarmed, or its last item reached airborne).

        `timeout_s` is in seconds of the adapter's clock; raises AdapterTimeout when it passes.
        """
        run = self._run
        if run is None:
            raise AdapterError(self.vehicle_id, "wait_mission()", "no mission was started")
        try:
            return await asyncio.wait_for(asyncio.shield(run.result), self._clock_to_wall(timeout_s))
        except TimeoutError:
            raise AdapterTimeout(
                self.vehicle_id,
                "wait_mission()",
                f"mission {run.mission.mission_id!r} still running after {timeout_s:.0f} s "
                f"(step {run.steps_completed}/{len(run.mission.steps)}, mode {self._mode_name()})",
            ) from None

    async def pause(self) -> None:
        """Stop and hold where the vehicle is (BRAKE)."""
        await self.set_mode("BRAKE")

    async def resume(self) -> None:
        """Continue the mission from where it stopped (AUTO)."""
        if self._run is None:
            raise AdapterError(self.vehicle_id, "resume()", "no mission to resume")
        await self.set_mode("AUTO")

    async def return_home(self) -> None:
        """Abandon the mission and return to launch (RTL); the mission then ends CANCELED."""
        if self._run is not None and not self._run.result.done():
            self._run.cancel_reason = "returned home on request"
        await self.set_mode("RTL")

    async def land(self) -> None:
        """Land where the vehicle is (LAND); the mission then ends CANCELED."""
        if self._run is not None and not self._run.result.done():
            self._run.cancel_reason = "landed on request"
        await self.set_mode("LAND")

    # ------------------------------------------------------------------ MAVLink-level API

    async def set_mode(self, mode: str) -> None:
        """Switch to an ArduCopter flight mode by name and wait until the heartbeat shows it."""
        number = COPTER_MODES.get(mode.upper())
        if number is None:
            raise ValueError(f"mode {mode!r} is not an ArduCopter mode; known: {', '.join(COPTER_MODES)}")
        call = f"set_mode({mode.upper()})"
        previous = self._commanded_mode
        self._commanded_mode = number
        try:
            await self.command(
                mavlink.MAV_CMD_DO_SET_MODE, mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, number, call=call
            )
            await self._wait_until(
                lambda: self._telemetry.custom_mode == number,
                self._vehicle_wait_wall(self.timeouts.mode_change_clock_s),
                call,
                f"heartbeat still shows {self._mode_name()}",
            )
        except BaseException:
            self._commanded_mode = previous
            raise

    async def arm(self) -> None:
        """Arm the motors (in the current mode) and wait until the heartbeat shows it."""
        await self.command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1, call="arm()")
        await self._wait_until(
            lambda: self._telemetry.armed,
            self._vehicle_wait_wall(self.timeouts.mode_change_clock_s),
            "arm()",
            "heartbeat does not show armed",
        )

    async def disarm(self) -> None:
        """Disarm (on the ground) and wait until the heartbeat shows it."""
        await self.command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0, call="disarm()")
        await self._wait_until(
            lambda: not self._telemetry.armed,
            self._vehicle_wait_wall(self.timeouts.mode_change_clock_s),
            "disarm()",
            "heartbeat still shows armed",
        )

    async def takeoff(self, altitude_m: float) -> None:
        """Command a take-off to `altitude_m` above home (GUIDED, armed)."""
        if not math.isfinite(altitude_m) or altitude_m <= 0:
            raise ValueError(f"altitude_m must be > 0, got {altitude_m}")
        await self.command(
            mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, math.nan, 0, 0, altitude_m, call=f"takeoff({altitude_m:.1f})"
        )

    async def release_payload(self) -> None:
        """Open gripper 1 now (DO_GRIPPER release)."""
        await self.command(mavlink.MAV_CMD_DO_GRIPPER, 1, mavlink.GRIPPER_ACTION_RELEASE, call="release_payload()")

    async def upload_mission(self, mission: Mission) -> MissionPlan:
        """Convert, upload and read back `mission`; returns the items and their step mapping."""
        home = self._telemetry.home or (self._telemetry.latitude_deg, self._telemetry.longitude_deg, 0.0)
        plan = mission_plan(mission, home=home)
        await self.upload_items(plan.items, MISSION, call=f"upload_mission({mission.mission_id!r})")
        return plan

    async def upload_geofence(self, geofence: Geofence) -> tuple[MissionItem, ...]:
        """Convert, upload and read back a geofence (MAV_MISSION_TYPE_FENCE)."""
        items = fence_items(geofence)
        await self.upload_items(items, FENCE, call="upload_geofence()")
        return items

    async def upload_items(
        self, items: Sequence[MissionItem], mission_type: int, *, call: str = "upload_items()", verify: bool = True
    ) -> None:
        """Upload items of one mission type, then read them back and compare (one retry on a mismatch)."""
        self._require_link(call)
        for attempt in range(2):
            async with self._mission_lock:
                await self._upload(items, mission_type, call)
                if not verify:
                    return
                got = await self._download(mission_type, call)
            problem = self._compare(items, got)
            if problem is None:
                return
            logger.warning("%s: %s read-back mismatch (attempt %d): %s", self.vehicle_id, call, attempt + 1, problem)
        raise MissionVerifyError(self.vehicle_id, call, f"read-back differs from upload: {problem}")

    async def download_items(self, mission_type: int, *, call: str = "download_items()") -> list[MissionItem]:
        """Read the vehicle's stored items of one mission type."""
        self._require_link(call)
        async with self._mission_lock:
            return await self._download(mission_type, call)

    async def command(self, command: int, *params: float, call: str | None = None) -> int:
        """Send COMMAND_LONG and wait for its COMMAND_ACK; raises CommandRefused or AdapterTimeout."""
        name = enum_name("MAV_CMD", command)
        call = call or f"{name}{tuple(params)}"
        self._require_link(call)
        padded = [float(p) for p in params] + [0.0] * (7 - len(params))
        loop = asyncio.get_running_loop()
        async with self._command_lock:
            for confirmation in range(self.timeouts.command_retries + 1):
                future: asyncio.Future[Any] = loop.create_future()
                self._ack_waiters[command] = future
                sent_wall = time.monotonic()
                self.link.send(
                    self.link.mav.command_long_encode(
                        self._target_sys(), self.target_component, command, min(confirmation, 255), *padded
                    )
                )
                try:
                    ack = await asyncio.wait_for(future, self.timeouts.command_ack_wall_s)
                except TimeoutError:
                    continue
                finally:
                    self._ack_waiters.pop(command, None)
                if ack.result in (mavlink.MAV_RESULT_ACCEPTED, mavlink.MAV_RESULT_IN_PROGRESS):
                    return int(ack.result)
                text = await self._texts_since(sent_wall)
                result_name = enum_name("MAV_RESULT", ack.result)
                logger.warning("%s: %s refused: %s %s", self.vehicle_id, call, result_name, text)
                raise CommandRefused(
                    self.vehicle_id,
                    call,
                    f"vehicle refused {name}",
                    result_code=int(ack.result),
                    result_name=result_name,
                    status_text=text or None,
                )
        raise self._timeout(call, f"no COMMAND_ACK for {name} after {self.timeouts.command_retries + 1} tries")

    async def get_parameter(self, name: str) -> float:
        """Read one parameter (PARAM_REQUEST_READ → PARAM_VALUE)."""
        call = f"get_parameter({name})"
        self._require_link(call)
        for _ in range(self.timeouts.command_retries + 1):
            future = self._param_future(name)
            self.link.send(
                self.link.mav.param_request_read_encode(self._target_sys(), self.target_component, name.encode(), -1)
            )
            try:
                return float((await asyncio.wait_for(future, self.timeouts.param_wall_s)).param_value)
            except TimeoutError:
                continue
        raise self._timeout(call, f"no PARAM_VALUE for {name} (unknown parameter?)")

    async def set_parameter(self, name: str, value: float) -> float:
        """Set one parameter (PARAM_SET) and return the value the vehicle echoes back."""
        call = f"set_parameter({name}={value})"
        self._require_link(call)
        for _ in range(self.timeouts.command_retries + 1):
            future = self._param_future(name)
            self.link.send(
                self.link.mav.param_set_encode(
                    self._target_sys(),
                    self.target_component,
                    name.encode(),
                    float(value),
                    mavlink.MAV_PARAM_TYPE_REAL32,
                )
            )
            try:
                echoed = float((await asyncio.wait_for(future, self.timeouts.param_wall_s)).param_value)
            except TimeoutError:
                continue
            if not math.isclose(echoed, float(value), rel_tol=1e-5, abs_tol=1e-5):
                raise CommandRefused(
                    self.vehicle_id,
                    call,
                    f"vehicle kept {name}={echoed}",
                    status_text=(await self._texts_since(time.monotonic() - 1.0)) or None,
                )
            return echoed
        raise self._timeout(call, f"no PARAM_VALUE echo for {name}")

    # ------------------------------------------------------------------ internals: link upkeep

    async def _open_until(self, deadline: float) -> None:
        delay = 0.1
        while True:
            try:
                await self.link.open(timeout_s=max(0.1, min(5.0, deadline - time.monotonic())))
                return
            except (OSError, TimeoutError) as exc:
                if time.monotonic() + delay >= deadline:
                    raise self._timeout("connect()", f"cannot open {self.url}: {exc}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _housekeeping(self) -> None:
        """One periodic task per link: GCS heartbeat at 1 Hz, heartbeat watchdog, reconnect, stream re-request."""
        while not self._closed:
            try:
                await self._keep_link()
            except asyncio.CancelledError:
                raise
            except Exception:  # the watchdog must outlive any single failure, or link loss goes unseen
                logger.exception("%s: link housekeeping failed; restarting it", self.vehicle_id)
                await asyncio.sleep(1.0)

    async def _keep_link(self) -> None:
        lost_wall = max(self.timeouts.link_lost_min_wall_s, self._clock_to_wall(self.timeouts.link_lost_clock_s))
        tick = min(0.25, lost_wall / 4)
        next_heartbeat = 0.0
        backoff = self.timeouts.reconnect_backoff_wall_s
        next_reconnect = 0.0
        while not self._closed:
            now = time.monotonic()
            if now >= next_heartbeat:
                next_heartbeat = now + 1.0
                self.link.send(
                    self.link.mav.heartbeat_encode(
                        mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, mavlink.MAV_STATE_ACTIVE
                    )
                )
            silent = now - self._last_heartbeat_wall
            if self._link_status is LinkStatus.CONNECTED and silent > lost_wall:
                self._set_link(LinkStatus.LOST, f"no HEARTBEAT for {silent:.1f} s")
            tcp_stale = self.address.scheme == "tcp" and self._link_status is LinkStatus.LOST and silent > 2 * lost_wall
            if (not self.link.is_open or tcp_stale) and now >= next_reconnect:
                self.link.close()
                try:
                    await self.link.open(timeout_s=min(2.0, lost_wall))
                    logger.info("%s: reopened %s", self.vehicle_id, self.url)
                    backoff = self.timeouts.reconnect_backoff_wall_s
                    self._last_heartbeat_wall = min(self._last_heartbeat_wall, now)
                    next_heartbeat = 0.0
                except (OSError, TimeoutError) as exc:
                    logger.debug("%s: reconnect failed: %s", self.vehicle_id, exc)
                    backoff = min(backoff * 2, self.timeouts.reconnect_backoff_max_wall_s)
                next_reconnect = time.monotonic() + backoff
            streams_stale = now - self._last_position_wall > max(3.0, 3.0 / self.telemetry_rate_hz)
            if (
                self._link_status is LinkStatus.CONNECTED
                and streams_stale
                and now - self._last_stream_request_wall > 5.0
                and self._stream_task is None
            ):
                self._stream_task = asyncio.create_task(self._rerequest_streams())
            await asyncio.sleep(tick)

    async def _rerequest_streams(self) -> None:
        try:
            await self._request_streams(time.monotonic() + 10.0)
        except AdapterError as exc:
            logger.warning("%s: stream request failed: %s", self.vehicle_id, exc)
        finally:
            self._stream_task = None

    async def _request_streams(self, deadline: float) -> None:
        self._last_stream_request_wall = time.monotonic()
        for stream in self.streams:
            # Intervals are in the vehicle's own time: under SITL --speedup K they arrive K times as often.
            interval_us = int(1e6 / stream.rate_hz)
            try:
                await self.command(
                    mavlink.MAV_CMD_SET_MESSAGE_INTERVAL,
                    stream.message_id,
                    interval_us,
                    call=f"request_stream({stream.message_id}@{stream.rate_hz:g}Hz)",
                )
            except CommandRefused as exc:
                logger.warning("%s: %s", self.vehicle_id, exc)
            if time.monotonic() > deadline:
                raise self._timeout("request_streams()", "vehicle does not answer SET_MESSAGE_INTERVAL")

    def _set_link(self, status: LinkStatus, why: str) -> None:
        if status is self._link_status:
            return
        previous, self._link_status = self._link_status, status
        if status is LinkStatus.LOST:
            logger.warning("%s: link lost: %s", self.vehicle_id, why)
        else:
            logger.info("%s: link %s (%s)", self.vehicle_id, status.value, why)
        if self._run is not None and not self._run.result.done():
            if status is LinkStatus.LOST:
                self._event(self._run, "link_lost", self._current_step(), why)
            elif previous is LinkStatus.LOST:
                self._event(self._run, "link_restored", self._current_step(), why)
        if status is LinkStatus.CONNECTED and previous is LinkStatus.LOST and self._stream_task is None:
            self._stream_task = asyncio.create_task(self._rerequest_streams())
        self._publish()

    # ------------------------------------------------------------------ internals: incoming messages

    def _on_message(self, msg: Any) -> None:
        kind = msg.get_type()
        source = msg.get_srcSystem()
        if kind == "HEARTBEAT":
            if msg.autopilot == mavlink.MAV_AUTOPILOT_INVALID:
                return  # another ground station or a peripheral, not the vehicle
            if self.target_system is None:
                self.target_system, self.target_component = source, msg.get_srcComponent()
            if source == self.target_system:
                self._on_heartbeat(msg)
            return
        if source != self.target_system:
            return
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(self, msg)

    def _on_heartbeat(self, msg: Any) -> None:
        self.heartbeats_received += 1
        self._last_heartbeat_wall = time.monotonic()
        t = self._telemetry
        was_armed, old_mode = t.armed, t.custom_mode
        t.armed = bool(msg.base_mode & _ARMED)
        t.custom_mode = int(msg.custom_mode)
        if self._link_status is not LinkStatus.CONNECTED:
            self._set_link(LinkStatus.CONNECTED, "heartbeat")
        run = self._run
        if run is not None and run.started and not run.result.done():
            if old_mode is not None and old_mode != t.custom_mode:
                self._on_mode_change(run, t.custom_mode)
            if was_armed and not t.armed:
                asyncio.get_running_loop().call_later(_DISARM_GRACE_S, self._finish_after_disarm, run)
        self._publish()

    def _on_mode_change(self, run: _MissionRun, custom_mode: int) -> None:
        name = mode_name(custom_mode)
        self._event(run, "mode_changed", self._current_step(), name)
        if custom_mode != self._commanded_mode and name in _FAILSAFE_MODES:
            recent = [text for stamp, _, text in self._texts if stamp > time.monotonic() - 3.0]
            run.failsafe_reason = f"vehicle switched to {name}" + (f": {'; '.join(recent)}" if recent else "")
            logger.warning("%s: %s", self.vehicle_id, run.failsafe_reason)
            self._event(run, "failsafe", self._current_step(), run.failsafe_reason)

    def _on_global_position(self, msg: Any) -> None:
        t = self._telemetry
        self._last_position_wall = time.monotonic()
        self.positions_received += 1
        t.latitude_deg, t.longitude_deg = msg.lat / 1e7, msg.lon / 1e7
        t.altitude_amsl_m, t.relative_altitude_m = msg.alt / 1000.0, msg.relative_alt / 1000.0
        if msg.hdg != 65535:
            t.heading_deg = msg.hdg / 100.0
        t.ground_speed_m_s = math.hypot(msg.vx, msg.vy) / 100.0
        self._publish()

    def _on_gps_raw(self, msg: Any) -> None:
        changed = self._telemetry.gps_fix_type != int(msg.fix_type)
        self._telemetry.gps_fix_type = int(msg.fix_type)
        if changed:
            self._publish()

    def _on_sys_status(self, msg: Any) -> None:
        t = self._telemetry
        if msg.battery_remaining >= 0:
            t.battery_remaining_pct = float(msg.battery_remaining)
        if msg.voltage_battery not in (0, 65535):
            t.battery_voltage_v = msg.voltage_battery / 1000.0

    def _on_battery_status(self, msg: Any) -> None:
        t = self._telemetry
        if msg.battery_remaining >= 0:
            t.battery_remaining_pct = float(msg.battery_remaining)
        if msg.voltages and msg.voltages[0] not in (0, 65535):
            t.battery_voltage_v = msg.voltages[0] / 1000.0

    def _on_home_position(self, msg: Any) -> None:
        self._telemetry.home = (msg.latitude / 1e7, msg.longitude / 1e7, msg.altitude / 1000.0)

    def _on_ekf_status(self, msg: Any) -> None:
        changed = self._telemetry.ekf_flags != int(msg.flags)
        self._telemetry.ekf_flags = int(msg.flags)
        if changed:
            self._publish()

    def _on_mission_current(self, msg: Any) -> None:
        self._telemetry.mission_seq = int(msg.seq)
        run = self._run
        if run is not None and run.started and not run.result.done():
            self._check_release(run, int(msg.seq) - 1)

    def _on_item_reached(self, msg: Any) -> None:
        run = self._run
        if run is None or not run.started or run.result.done():
            return
        seq = int(msg.seq)
        plan = run.plan
        if not 0 < seq < len(plan.items):
            return
        self._check_release(run, seq)
        step = plan.step_of_seq[seq]
        while run.steps_completed <= step and plan.last_seq_of_step[run.steps_completed] <= seq:
            done = run.steps_completed
            run.steps_completed += 1
            self._event(run, "step_reached", done, run.mission.steps[done].kind.value)
        if run.steps_completed == len(run.mission.steps) and run.mission.steps[-1].kind not in (
            StepKind.RETURN,
            StepKind.LAND,
        ):
            run.result.set_result(self._result(run, MissionOutcome.SUCCEEDED))

    def _check_release(self, run: _MissionRun, passed_seq: int) -> None:
        """A DO_GRIPPER item is done once the mission has moved past it."""
        released = run.released if run.released is not None else set()
        for seq in run.plan.gripper_seqs:
            if passed_seq >= seq and seq not in released:
                released.add(seq)
                step = run.plan.step_of_seq[seq]
                t = self._telemetry
                self._event(
                    run,
                    "payload_released",
                    step,
                    run.mission.steps[step].order_id or "",
                    t.latitude_deg,
                    t.longitude_deg,
                )
        run.released = released

    def _on_statustext(self, msg: Any) -> None:
        text = msg.text if isinstance(msg.text, str) else bytes(msg.text).decode(errors="replace")
        text = text.rstrip("\x00")
        self._texts.append((time.monotonic(), int(msg.severity), text))
        logger.log(
            logging.WARNING if msg.severity <= mavlink.MAV_SEVERITY_WARNING else logging.INFO,
            "%s: STATUSTEXT %s",
            self.vehicle_id,
            text,
        )
        self._text_arrived.set()
        self._text_arrived = asyncio.Event()

    def _on_command_ack(self, msg: Any) -> None:
        future = self._ack_waiters.get(int(msg.command))
        if future is not None and not future.done():
            future.set_result(msg)

    def _on_param_value(self, msg: Any) -> None:
        name = msg.param_id if isinstance(msg.param_id, str) else bytes(msg.param_id).decode(errors="replace")
        for future in self._param_waiters.pop(name.rstrip("\x00"), []):
            if not future.done():
                future.set_result(msg)

    def _on_mission_protocol(self, msg: Any) -> None:
        if self._mission_inbox is not None:
            self._mission_inbox.put_nowait(msg)

    _handlers: ClassVar[dict[str, Callable[[MavlinkAdapter, Any], None]]] = {
        "GLOBAL_POSITION_INT": _on_global_position,
        "GPS_RAW_INT": _on_gps_raw,
        "SYS_STATUS": _on_sys_status,
        "BATTERY_STATUS": _on_battery_status,
        "HOME_POSITION": _on_home_position,
        "EKF_STATUS_REPORT": _on_ekf_status,
        "MISSION_CURRENT": _on_mission_current,
        "MISSION_ITEM_REACHED": _on_item_reached,
        "STATUSTEXT": _on_statustext,
        "COMMAND_ACK": _on_command_ack,
        "PARAM_VALUE": _on_param_value,
        "MISSION_REQUEST": _on_mission_protocol,
        "MISSION_REQUEST_INT": _on_mission_protocol,
        "MISSION_ACK": _on_mission_protocol,
        "MISSION_COUNT": _on_mission_protocol,
        "MISSION_ITEM_INT": _on_mission_protocol,
        "MISSION_ITEM": _on_mission_protocol,
    }

    # ------------------------------------------------------------------ internals: mission protocol

    async def _upload(self, items: Sequence[MissionItem], mission_type: int, call: str) -> None:
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._mission_inbox = inbox
        target = self._target_sys()
        count = len(items)
        started_wall = time.monotonic()
        last_sent: int | None = None
        retries = self.timeouts.mission_retries

        def send_count() -> None:
            self.link.send(self.link.mav.mission_count_encode(target, self.target_component, count, mission_type))

        def send_item(seq: int) -> None:
            i = items[seq]
            self.link.send(
                self.link.mav.mission_item_int_encode(
                    target,
                    self.target_component,
                    seq,
                    i.frame,
                    i.command,
                    0,
                    i.autocontinue,
                    i.param1,
                    i.param2,
                    i.param3,
                    i.param4,
                    i.x,
                    i.y,
                    i.z,
                    mission_type,
                )
            )

        try:
            send_count()
            while True:
                try:
                    msg = await asyncio.wait_for(inbox.get(), self.timeouts.mission_item_wall_s)
                except TimeoutError:
                    retries -= 1
                    if retries < 0:
                        waiting = "first MISSION_REQUEST" if last_sent is None else f"request after item {last_sent}"
                        raise self._timeout(call, f"no {waiting} ({count} items)") from None
                    if last_sent is None:
                        send_count()
                    else:
                        send_item(last_sent)
                    continue
                if getattr(msg, "mission_type", MISSION) != mission_type:
                    continue
                kind = msg.get_type()
                if kind in ("MISSION_REQUEST", "MISSION_REQUEST_INT") and 0 <= msg.seq < count:
                    send_item(msg.seq)
                    last_sent = msg.seq
                    retries = self.timeouts.mission_retries
                elif kind == "MISSION_ACK":
                    if msg.type == mavlink.MAV_MISSION_ACCEPTED:
                        if count == 0 or last_sent == count - 1:
                            return
                        continue  # a late ACK of an earlier transaction
                    text = await self._texts_since(started_wall)
                    result_name = enum_name("MAV_MISSION_RESULT", msg.type)
                    what = "fence" if mission_type == FENCE else "mission"
                    logger.warning("%s: %s refused: %s %s", self.vehicle_id, call, result_name, text)
                    raise CommandRefused(
                        self.vehicle_id,
                        call,
                        f"vehicle refused the {what} ({count} items)",
                        result_code=int(msg.type),
                        result_name=result_name,
                        status_text=text or None,
                    )
        finally:
            self._mission_inbox = None

    async def _download(self, mission_type: int, call: str) -> list[MissionItem]:
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._mission_inbox = inbox
        target = self._target_sys()
        try:
            count_msg = await self._exchange(
                inbox,
                lambda: self.link.send(
                    self.link.mav.mission_request_list_encode(target, self.target_component, mission_type)
                ),
                lambda m: m.get_type() == "MISSION_COUNT" and getattr(m, "mission_type", 0) == mission_type,
                call,
                "MISSION_COUNT",
            )
            items: list[MissionItem] = []
            for seq in range(int(count_msg.count)):
                msg = await self._exchange(
                    inbox,
                    lambda seq=seq: self.link.send(
                        self.link.mav.mission_request_int_encode(  # type: ignore[misc]
                            target, self.target_component, seq, mission_type
                        )
                    ),
                    lambda m, seq=seq: m.get_type() in ("MISSION_ITEM_INT", "MISSION_ITEM") and m.seq == seq,  # type: ignore[misc]
                    call,
                    f"item {seq}",
                )
                items.append(_item_from_message(msg, mission_type))
            self.link.send(
                self.link.mav.mission_ack_encode(
                    target, self.target_component, mavlink.MAV_MISSION_ACCEPTED, mission_type
                )
            )
            return items
        finally:
            self._mission_inbox = None

    async def _exchange(
        self, inbox: asyncio.Queue[Any], send: Callable[[], Any], wanted: Callable[[Any], bool], call: str, what: str
    ) -> Any:
        for _ in range(self.timeouts.mission_retries + 1):
            send()
            deadline = time.monotonic() + self.timeouts.mission_item_wall_s
            while (remaining := deadline - time.monotonic()) > 0:
                try:
                    msg = await asyncio.wait_for(inbox.get(), remaining)
                except TimeoutError:
                    break
                if wanted(msg):
                    return msg
                if msg.get_type() == "MISSION_ACK" and msg.type != mavlink.MAV_MISSION_ACCEPTED:
                    result_name = enum_name("MAV_MISSION_RESULT", msg.type)
                    raise CommandRefused(
                        self.vehicle_id,
                        call,
                        f"vehicle refused the download of {what}",
                        result_code=int(msg.type),
                        result_name=result_name,
                    )
        raise self._timeout(call, f"no {what} during read-back")

    @staticmethod
    def _compare(sent: Sequence[MissionItem], got: Sequence[MissionItem]) -> str | None:
        if len(sent) != len(got):
            return f"{len(got)} items read back, {len(sent)} uploaded"
        for a, b in zip(sent, got, strict=True):
            problem = item_difference(a, b)
            if problem:
                return problem
        return None

    async def _upload_fence(self, geofence: Geofence, call: str) -> None:
        fence = self._fence_for_here(geofence)
        await self.upload_geofence(fence)
        if self.enable_fence and (fence.polygons or fence.circles):
            await self._enable_fence(call)

    def _fence_for_here(self, geofence: Geofence) -> Geofence:
        """The fence without exclusions the flying drone is inside: a breach there would only trigger RTL
        straight through the zone; the drone's mission leads it out and the monitors watch it."""
        if not self._airborne() or not self._position_valid():
            return geofence
        here = Point(self._telemetry.longitude_deg, self._telemetry.latitude_deg)
        kept = []
        for polygon in geofence.polygons:
            if not polygon.inclusion and len(polygon.vertices) >= 3 and ShapelyPolygon(
                [(lon, lat) for lat, lon in polygon.vertices]
            ).covers(here):
                logger.warning("%s: fence exclusion around the drone's position left out of the upload",
                               self.vehicle_id)
                continue
            kept.append(polygon)
        circles = []
        for circle in geofence.circles:
            inside = self._distance_m(circle.latitude_deg, circle.longitude_deg) <= circle.radius_m
            if not circle.inclusion and inside:
                logger.warning("%s: fence exclusion circle around the drone left out of the upload", self.vehicle_id)
                continue
            circles.append(circle)
        return Geofence(polygons=tuple(kept), circles=tuple(circles))

    def _distance_m(self, latitude_deg: float, longitude_deg: float) -> float:
        t = self._telemetry
        north_m = math.radians(latitude_deg - t.latitude_deg) * _EARTH_RADIUS_M
        east_m = math.radians(longitude_deg - t.longitude_deg) * _EARTH_RADIUS_M
        east_m *= math.cos(math.radians(t.latitude_deg))
        return math.hypot(north_m, east_m)

    async def _set_current_item(self, seq: int, call: str) -> None:
        """Make mission item `seq` current (ACCEPTED means the autopilot jumped; in AUTO it starts it now)."""
        await self.command(mavlink.MAV_CMD_DO_SET_MISSION_CURRENT, seq, 0, call=f"{call}: set_current({seq})")
        self._telemetry.mission_seq = seq

    def _airborne(self) -> bool:
        return self._telemetry.armed and self._telemetry.relative_altitude_m > 1.0

    async def _enable_fence(self, call: str) -> None:
        try:
            await self.command(mavlink.MAV_CMD_DO_FENCE_ENABLE, 1, call="enable_fence()")
        except CommandRefused as exc:
            if exc.result_code != mavlink.MAV_RESULT_UNSUPPORTED:
                raise
            logger.warning("%s: %s: DO_FENCE_ENABLE unsupported; relying on FENCE_ENABLE", self.vehicle_id, call)

    # ------------------------------------------------------------------ internals: helpers

    def _finish_after_disarm(self, run: _MissionRun) -> None:
        if run.result.done() or self._telemetry.armed:
            return
        n = len(run.mission.steps)
        last = run.mission.steps[-1].kind
        at_last_item = self._telemetry.mission_seq == len(run.plan.items) - 1
        if run.steps_completed >= n or (
            last in (StepKind.RETURN, StepKind.LAND)
            and at_last_item
            and not run.failsafe_reason
            and not run.cancel_reason
            and run.steps_completed >= n - 1
        ):
            while run.steps_completed < n:
                run.steps_completed += 1
                self._event(run, "step_reached", run.steps_completed - 1, run.mission.steps[-1].kind.value)
            outcome, why = MissionOutcome.SUCCEEDED, ""
        elif run.cancel_reason and not run.failsafe_reason:
            outcome, why = MissionOutcome.CANCELED, run.cancel_reason
        else:
            outcome = MissionOutcome.FAILED
            why = run.failsafe_reason or f"vehicle disarmed at step {run.steps_completed} in {self._mode_name()}"
        self._event(run, "mission_ended", run.steps_completed, f"{outcome.value}: {why}".rstrip(": "))
        run.result.set_result(self._result(run, outcome, why))

    def _result(self, run: _MissionRun, outcome: MissionOutcome, why: str = "") -> MissionResult:
        return MissionResult(run.mission.mission_id, outcome, error_msg=why, steps_completed=run.steps_completed)

    def _current_step(self) -> int:
        run, seq = self._run, self._telemetry.mission_seq
        if run is None or seq is None or not 0 <= seq < len(run.plan.step_of_seq):
            return -1
        return run.plan.step_of_seq[seq]

    def _event(
        self,
        run: _MissionRun,
        what: str,
        step_index: int,
        detail: str = "",
        latitude_deg: float | None = None,
        longitude_deg: float | None = None,
    ) -> None:
        event = MissionEvent(
            run.mission.mission_id, self.clock.now(), step_index, what, detail, latitude_deg, longitude_deg
        )
        logger.info("%s: %s step %d %s", self.vehicle_id, what, step_index, detail)
        for queue in self._event_queues:
            self._put(queue, event)

    def _publish(self) -> None:
        t = self._telemetry
        run = self._run
        step = self._current_step() if run is not None and run.started else None
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
            mode=self._mode_name(),
            armed=t.armed,
            link=self._link_status,
            mission_id=run.mission.mission_id if run is not None else None,
            mission_step=step if step is not None and step >= 0 else None,
            position_valid=self._position_valid(),
        )
        self._state = state
        for queue in self._telemetry_queues:
            self._put(queue, state)
        self._changed.set()
        self._changed = asyncio.Event()

    def _position_valid(self) -> bool:
        t = self._telemetry
        if t.latitude_deg == 0.0 and t.longitude_deg == 0.0:
            return False
        if t.gps_fix_type is not None and t.gps_fix_type < 3:
            return False
        return t.ekf_flags is None or bool(t.ekf_flags & _EKF_POSITION)

    @staticmethod
    def _put(queue: asyncio.Queue[Any], item: Any) -> None:
        if queue.full():  # a slow consumer gets the newest snapshots, not an ever-growing backlog
            queue.get_nowait()
        queue.put_nowait(item)

    async def _subscribe(self, queues: set[asyncio.Queue[Any]]) -> AsyncIterator[Any]:
        if self._closed:
            return
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_QUEUE_SIZE)
        queues.add(queue)
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            queues.discard(queue)

    async def _wait_until(self, predicate: Callable[[], bool], timeout_wall_s: float, call: str, why: str) -> None:
        deadline = time.monotonic() + timeout_wall_s
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout(call, f"{why} within {timeout_wall_s:.1f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
            if self._closed:
                raise NotConnected(self.vehicle_id, call, "adapter closed while waiting")

    async def _texts_since(self, since_wall: float) -> str:
        """STATUSTEXT sent around a refusal (warnings and worse first), waiting briefly if none came yet."""

        def collect() -> list[tuple[int, str]]:
            return [(sev, text) for stamp, sev, text in self._texts if stamp >= since_wall - 0.05]

        found = collect()
        if not found:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._text_arrived.wait(), _TEXT_GRACE_S)
            found = collect()
        serious = [text for sev, text in found if sev <= mavlink.MAV_SEVERITY_WARNING]
        return "; ".join(serious or [text for _, text in found])

    def _param_future(self, name: str) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._param_waiters.setdefault(name, []).append(future)
        return future

    def _require_link(self, call: str) -> None:
        if self._closed or self.target_system is None:
            raise NotConnected(self.vehicle_id, call, "not connected; call connect() first")
        if self._link_status is LinkStatus.LOST:
            raise LinkLost(self.vehicle_id, call, "no heartbeat from the vehicle; waiting for it to come back")

    def _target_sys(self) -> int:
        if self.target_system is None:
            raise NotConnected(self.vehicle_id, "send", "no heartbeat yet; call connect() first")
        return self.target_system

    def _mode_name(self) -> str:
        mode = self._telemetry.custom_mode
        return "" if mode is None else mode_name(mode)

    def _clock_to_wall(self, clock_s: float) -> float:
        return self.clock.wall_s(clock_s)

    def _vehicle_wait_wall(self, clock_s: float) -> float:
        """Wall seconds to wait for the vehicle: `clock_s` scaled by the speed-up, but never under the
        floor (a 5 s mode change at x60 would be 0.08 s, less than one heartbeat round trip)."""
        return max(self.clock.wall_s(clock_s), min(clock_s, self.timeouts.vehicle_wait_floor_wall_s))

    def _timeout(self, call: str, why: str) -> AdapterTimeout:
        logger.warning("%s: %s timed out: %s", self.vehicle_id, call, why)
        return AdapterTimeout(self.vehicle_id, call, why)


def _item_from_message(msg: Any, mission_type: int) -> MissionItem:
    is_int = msg.get_type() == "MISSION_ITEM_INT"
    return MissionItem(
        seq=int(msg.seq),
        frame=int(msg.frame),
        command=int(msg.command),
        param1=float(msg.param1),
        param2=float(msg.param2),
        param3=float(msg.param3),
        param4=float(msg.param4),
        x=int(msg.x) if is_int else round(msg.x * 1e7),
        y=int(msg.y) if is_int else round(msg.y * 1e7),
        z=float(msg.z),
        autocontinue=int(msg.autocontinue),
        mission_type=mission_type,
    )

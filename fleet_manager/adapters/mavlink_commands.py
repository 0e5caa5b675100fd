"""MAVLink commands (COMMAND_LONG -> COMMAND_ACK) and the actions built on them, as MAVSDK's `action`.

Every command is retried with an incremented `confirmation` until acknowledged; a refusal raises
`CommandRefused` with the MAV_RESULT and the STATUSTEXT the vehicle sent with it. Mode changes and
arming wait until the vehicle's heartbeat shows them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from ..errors import CommandRefused, NotConnected
from .mavlink_codec import COPTER_MODES, enum_name
from .mavlink_link import mavlink
from .mavlink_session import MavlinkSession
from .mavlink_telemetry import TelemetryData

logger = logging.getLogger(__name__)

# How ArduPilot starts the STATUSTEXT explaining a refused command of this kind (AP_Arming: "Arm: ", "PreArm: ").
_REFUSAL_PREFIXES: dict[int, tuple[str, ...]] = {
    mavlink.MAV_CMD_COMPONENT_ARM_DISARM: ("Arm:", "PreArm:", "Disarm:"),
}


class MavlinkCommands:
    """Commands to one vehicle; one at a time (the ack is matched by command id)."""

    def __init__(self, session: MavlinkSession, telemetry: TelemetryData) -> None:
        self._session = session
        self._telemetry = telemetry
        self._ack_waiters: dict[int, asyncio.Future[Any]] = {}
        self._lock = asyncio.Lock()
        self.commanded_mode: int | None = None  # the mode we asked for: any other failsafe mode is the vehicle's

    async def command(self, command: int, *params: float, call: str | None = None, int_frame: int | None = None) -> int:
        """Send COMMAND_LONG (COMMAND_INT in `int_frame`: params 5 and 6 latitude and longitude in degrees, sent as
        degE7 integers, which a float loses to ~0.5 m) and wait for its COMMAND_ACK; raises CommandRefused or
        AdapterTimeout."""
        session = self._session
        name = enum_name("MAV_CMD", command)
        call = call or f"{name}{tuple(params)}"
        session.require_link(call)
        padded = [float(p) for p in params] + [0.0] * (7 - len(params))
        loop = asyncio.get_running_loop()
        timeouts = session.timeouts
        async with self._lock:
            for confirmation in range(timeouts.command_retries + 1):
                future: asyncio.Future[Any] = loop.create_future()
                self._ack_waiters[command] = future
                sent_wall = time.monotonic()
                if int_frame is None:
                    message = session.link.mav.command_long_encode(
                        session.target_sys(), session.target_component, command, min(confirmation, 255), *padded
                    )
                else:  # COMMAND_INT has no confirmation field: a retry is the same message again
                    message = session.link.mav.command_int_encode(
                        session.target_sys(), session.target_component, int_frame, command, 0, 0, *padded[:4],
                        round(padded[4] * 1e7), round(padded[5] * 1e7), padded[6],
                    )
                session.link.send(message)
                try:
                    ack = await asyncio.wait_for(future, timeouts.command_ack_wall_s)
                except TimeoutError:
                    continue
                finally:
                    self._ack_waiters.pop(command, None)
                if ack.result in (mavlink.MAV_RESULT_ACCEPTED, mavlink.MAV_RESULT_IN_PROGRESS):
                    return int(ack.result)
                text = await session.texts_since(sent_wall, _REFUSAL_PREFIXES.get(command, ()))
                result_name = enum_name("MAV_RESULT", ack.result)
                logger.warning("%s: %s refused: %s %s", session.vehicle_id, call, result_name, text)
                raise CommandRefused(
                    session.vehicle_id,
                    call,
                    f"vehicle refused {name}",
                    result_code=int(ack.result),
                    result_name=result_name,
                    status_text=text or None,
                )
        raise session.timeout(call, f"no COMMAND_ACK for {name} after {timeouts.command_retries + 1} tries")

    def on_command_ack(self, msg: Any) -> None:
        """Hand a COMMAND_ACK to the command waiting for it."""
        future = self._ack_waiters.get(int(msg.command))
        if future is not None and not future.done():
            future.set_result(msg)

    def close(self) -> None:
        """Fail every command still waiting for its ack."""
        for future in list(self._ack_waiters.values()):
            if not future.done():
                future.set_exception(NotConnected(self._session.vehicle_id, "close()", "adapter closed"))

    async def set_mode(self, mode: str) -> None:
        """Switch to an ArduCopter flight mode by name and wait until the heartbeat shows it."""
        number = COPTER_MODES.get(mode.upper())
        if number is None:
            raise ValueError(f"mode {mode!r} is not an ArduCopter mode; known: {', '.join(COPTER_MODES)}")
        call = f"set_mode({mode.upper()})"
        previous = self.commanded_mode
        self.commanded_mode = number
        try:
            await self.command(
                mavlink.MAV_CMD_DO_SET_MODE, mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, number, call=call
            )
            await self._session.wait_until(
                lambda: self._telemetry.custom_mode == number,
                self._session.vehicle_wait_wall(self._session.timeouts.mode_change_clock_s),
                call,
                f"heartbeat still shows {self._telemetry.mode_name()}",
            )
        except BaseException:
            self.commanded_mode = previous
            raise

    async def fly_to(self, latitude_deg: float, longitude_deg: float, altitude_m: float) -> None:
        """GUIDED go-to and hold there: MAV_CMD_DO_REPOSITION with MAV_DO_REPOSITION_FLAGS_CHANGE_MODE, altitude
        relative to home. ArduCopter (`handle_command_int_do_reposition`) sets the GUIDED destination, then
        switches to GUIDED, at once: no heartbeat wait, the ack says it took the target. GUIDED becomes the mode
        asked for, so the progress tracker does not read the change as a failsafe."""
        previous = self.commanded_mode
        self.commanded_mode = COPTER_MODES["GUIDED"]
        try:
            await self.command(mavlink.MAV_CMD_DO_REPOSITION, -1.0, mavlink.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE, 0.0,
                               math.nan, latitude_deg, longitude_deg, altitude_m,
                               call=f"fly_to({latitude_deg:.6f}, {longitude_deg:.6f}, {altitude_m:.0f} m)",
                               int_frame=mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT)
        except BaseException:
            self.commanded_mode = previous
            raise

    async def arm(self) -> None:
        """Arm the motors (in the current mode) and wait until the heartbeat shows it."""
        await self.command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1, call="arm()")
        await self._session.wait_until(
            lambda: self._telemetry.armed,
            self._session.vehicle_wait_wall(self._session.timeouts.mode_change_clock_s),
            "arm()",
            "heartbeat does not show armed",
        )

    async def disarm(self) -> None:
        """Disarm (on the ground) and wait until the heartbeat shows it."""
        await self.command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0, call="disarm()")
        await self._session.wait_until(
            lambda: not self._telemetry.armed,
            self._session.vehicle_wait_wall(self._session.timeouts.mode_change_clock_s),
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

    async def set_home(self, latitude_deg: float, longitude_deg: float, altitude_amsl_m: float) -> None:
        """DO_SET_HOME at a point (COMMAND_LONG: ArduCopter reads param7 as AMSL); ArduCopter then locks home,
        so arming no longer moves it (`set_home_here` before the next take-off)."""
        await self.command(mavlink.MAV_CMD_DO_SET_HOME, 0, 0, 0, 0, latitude_deg, longitude_deg, altitude_amsl_m,
                           call=f"set_home({latitude_deg:.6f}, {longitude_deg:.6f})")

    async def set_home_here(self) -> None:
        """DO_SET_HOME param1=1: home where the vehicle is (what arming does unless a GCS locked home)."""
        await self.command(mavlink.MAV_CMD_DO_SET_HOME, 1, call="set_home_here()")

    async def set_current_item(self, seq: int, call: str) -> None:
        """Make mission item `seq` current (ACCEPTED means the autopilot jumped; in AUTO it starts it now)."""
        await self.command(mavlink.MAV_CMD_DO_SET_MISSION_CURRENT, seq, 0, call=f"{call}: set_current({seq})")
        self._telemetry.mission_seq = seq

    async def enable_fence(self, call: str) -> None:
        """DO_FENCE_ENABLE; a vehicle without the command relies on its FENCE_ENABLE parameter."""
        try:
            await self.command(mavlink.MAV_CMD_DO_FENCE_ENABLE, 1, call="enable_fence()")
        except CommandRefused as exc:
            if exc.result_code != mavlink.MAV_RESULT_UNSUPPORTED:
                raise
            logger.warning("%s: %s: DO_FENCE_ENABLE unsupported; relying on FENCE_ENABLE", self._session.vehicle_id,
                           call)

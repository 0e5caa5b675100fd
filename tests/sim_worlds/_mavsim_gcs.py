"""A small blocking ground station over pymavlink for the simulator tests (not a test module)."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mav

GCS_SYSID = 255  # ArduPilot's MAV_GCS_SYSID default: the GCS failsafe watches this one
COUNT_TIMEOUT_S = 2.0  # a MISSION_COUNT unanswered this long is sent again (MAVSDK: 1.5 s, 5 tries)
COUNT_TRIES = 4


class Gcs:
    """Records everything; sends a GCS heartbeat every second while `talking`."""

    def __init__(self, url: str, *, talking: bool = True, sysid: int = GCS_SYSID) -> None:
        self.conn = mavutil.mavlink_connection(url, source_system=sysid, source_component=190,
                                               dialect="ardupilotmega", autoreconnect=False)
        self.talking = talking
        self.texts: list[str] = []
        self.seen: list[Any] = []
        self._next_heartbeat = 0.0
        self.target = 1
        self.count_resends = 0
        self._unread: deque[Any] = deque()  # received by a `wait` after the message it returned

    def raise_throttle(self, pwm: int = 1500) -> None:
        """RC_CHANNELS_OVERRIDE of the throttle (channel 3), as MAVProxy's `rc 3 1500`: lets AUTO take off."""
        self.conn.mav.rc_channels_override_send(self.conn.target_system or 1, 1, 0, 0, pwm, 0, 0, 0, 0, 0)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Gcs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pump(self, seconds: float) -> list[Any]:
        """Receive for `seconds`; what a `wait` received after its match comes first."""
        got, self._unread = [*self._unread, *self._receive(seconds)], deque()
        return got

    def _receive(self, seconds: float) -> list[Any]:
        got = []
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if self.talking and now >= self._next_heartbeat:
                self.conn.mav.heartbeat_send(mav.MAV_TYPE_GCS, mav.MAV_AUTOPILOT_INVALID, 0, 0, 0)
                self._next_heartbeat = now + 1.0
            if now >= end:
                return got
            message = self.conn.recv_match(blocking=True, timeout=min(0.1, end - now))
            if message is None or message.get_type() == "BAD_DATA":
                continue
            got.append(message)
            self.seen.append(message)
            if message.get_type() == "STATUSTEXT":
                self.texts.append(message.text)

    def wait(self, predicate: Any, timeout_s: float, what: str) -> Any:
        """First message matching `predicate` (those before it are dropped, those after it kept for the next
        read); AssertionError naming `what` on timeout.

        Keeping them matters: a vehicle that re-asks for an item (every second of vehicle time, 50 ms of wall
        time at x20) can have its repeated request and its final MISSION_ACK arrive together; dropping the
        ACK with the rest of the batch had the upload answer the repeat with an item the vehicle ignores
        (its upload was over) and wait 5 s for nothing (CI, test_mavsim_terrain_landing)."""
        end = time.monotonic() + timeout_s
        while True:
            while self._unread:
                message = self._unread.popleft()
                if predicate(message):
                    return message
            if time.monotonic() >= end:
                raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
            self._unread.extend(self._receive(0.05))

    def wait_type(self, kind: str, timeout_s: float = 5.0, **fields: Any) -> Any:
        """First message of `kind` whose fields equal `fields`."""
        return self.wait(lambda m: m.get_type() == kind and all(getattr(m, k) == v for k, v in fields.items()),
                         timeout_s, f"{kind} {fields}")

    def heartbeat(self, timeout_s: float = 10.0) -> Any:
        """Next vehicle heartbeat (sets `target`)."""
        message = self.wait(lambda m: m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1, timeout_s,
                            "vehicle heartbeat")
        self.target = message.get_srcSystem()
        return message

    def command(self, command: int, *params: float) -> int:
        """COMMAND_LONG -> COMMAND_ACK result."""
        full = [*params] + [0.0] * (7 - len(params))
        self.conn.mav.command_long_send(self.target, 1, command, 0, *full)
        return self.wait_type("COMMAND_ACK", 5.0, command=command).result

    def set_param(self, name: str, value: float) -> float:
        """PARAM_SET -> the PARAM_VALUE echoed back."""
        self.conn.mav.param_set_send(self.target, 1, name.encode(), value, mav.MAV_PARAM_TYPE_REAL32)
        return self.wait_type("PARAM_VALUE", 5.0, param_id=name).param_value

    def upload(self, mission_type: int, items: list[tuple[int, int, float, float, int, int, float]]) -> int:
        """Upload (frame, command, p1, p2, x, y, z) items; returns the MISSION_ACK type.

        As a ground station does (MAVSDK, QGroundControl, the fleet manager's own `mavlink_transfer`), MISSION_COUNT
        goes again when the vehicle has not answered it within the protocol's timeout: in CI one upload right
        after the first heartbeat got no answer in 5 s (cause not found; 30 repeats here all answered at once; the
        dropped batch `wait` had, below, may have been it).
        `count_resends` says how often that happened."""
        reply = None
        for _ in range(COUNT_TRIES):
            self.conn.mav.mission_count_send(self.target, 1, len(items), mission_type)
            try:
                reply = self._mission_reply(mission_type, COUNT_TIMEOUT_S)
                break
            except AssertionError:
                self.count_resends += 1
        if reply is None:
            raise AssertionError(f"MISSION_COUNT unanswered {COUNT_TRIES} times ({COUNT_TIMEOUT_S} s each)")
        while True:
            if reply.get_type() == "MISSION_ACK":
                return reply.type
            frame, command, p1, p2, x, y, z = items[reply.seq]
            self.conn.mav.mission_item_int_send(self.target, 1, reply.seq, frame, command, 0, 1, p1, p2, 0, 0,
                                                x, y, z, mission_type)
            reply = self._mission_reply(mission_type, 5.0)  # the vehicle re-asks for a lost item itself (1 s)

    def _mission_reply(self, mission_type: int, timeout_s: float) -> Any:
        return self.wait(lambda m: m.get_type() in ("MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK")
                         and m.mission_type == mission_type, timeout_s, "mission request/ack")

    def download(self, mission_type: int) -> list[Any]:
        """Read a list back with MISSION_REQUEST_INT."""
        self.conn.mav.mission_request_list_send(self.target, 1, mission_type)
        count = self.wait_type("MISSION_COUNT", 5.0, mission_type=mission_type).count
        items = []
        for seq in range(count):
            self.conn.mav.mission_request_int_send(self.target, 1, seq, mission_type)
            items.append(self.wait_type("MISSION_ITEM_INT", 5.0, seq=seq, mission_type=mission_type))
        self.conn.mav.mission_ack_send(self.target, 1, 0, mission_type)
        return items

    def wait_armable_and_arm(self, timeout_s: float = 30.0) -> None:
        """Arm in GUIDED as soon as the vehicle allows it."""
        assert self.command(mav.MAV_CMD_DO_SET_MODE, 1, 4) == 0
        end = time.monotonic() + timeout_s
        while self.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) != 0:
            assert time.monotonic() < end, f"never armable: {self.texts[-5:]}"
            self.pump(0.2)

    def fly_auto(self, items: list[tuple[int, int, float, float, int, int, float]]) -> None:
        """Upload a mission, stream positions at 10 Hz, arm and start it in AUTO (throttle up, as a pilot)."""
        self.heartbeat()
        assert self.upload(mav.MAV_MISSION_TYPE_MISSION, items) == mav.MAV_MISSION_ACCEPTED
        self.stream(0, 10)
        self.wait_armable_and_arm()
        assert self.command(mav.MAV_CMD_MISSION_START) == mav.MAV_RESULT_ACCEPTED
        self.raise_throttle()

    def stream(self, stream_id: int = 0, rate_hz: int = 5) -> None:
        """REQUEST_DATA_STREAM."""
        self.conn.mav.request_data_stream_send(self.target, 1, stream_id, rate_hz, 1)


def offset_e7(origin: tuple[float, float], north_m: float, east_m: float) -> tuple[int, int]:
    """degE7 of a point `north_m`/`east_m` from `origin` (flat earth)."""
    import math

    lat = origin[0] + math.degrees(north_m / 6378137.0)
    lon = origin[1] + math.degrees(east_m / (6378137.0 * math.cos(math.radians(origin[0]))))
    return round(lat * 1e7), round(lon * 1e7)

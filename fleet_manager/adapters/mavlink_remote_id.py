"""Remote ID from the ground station: the OpenDroneID (ASTM F3411) messages ArduPilot's AP_OpenDroneID expects.

With `DID_ENABLE=1` and `DID_OPTIONS` bit 0 (EnforceArming), ArduCopter refuses to arm unless the
GCS has sent a BASIC_ID (UA type; unless the vehicle has its UAS id burnt in), an operator location
(`OPEN_DRONE_ID_SYSTEM`) and keeps the operator location fresh: SYSTEM or SYSTEM_UPDATE at most 3 s
old (`Arm: OpenDroneID: SYSTEM not available` otherwise). The Remote ID transmitter it forwards
them to also wants SELF_ID and OPERATOR_ID. So, like MAVProxy's OpenDroneID module, the
broadcaster sends SYSTEM_UPDATE every second and cycles BASIC_ID, SYSTEM, SELF_ID and OPERATOR_ID
(all four at once when it starts). Rates are in the vehicle's time (the adapter's clock), so an
accelerated SITL sees them at the rate it checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from mission_planner.errors import FinalMileError

from .mavlink_link import mavlink
from .mavlink_session import MavlinkSession

logger = logging.getLogger(__name__)

_EPOCH_2019_S = 1546300800  # OpenDroneID timestamps count seconds from 2019-01-01 00:00 UTC
SYSTEM_UPDATE_PERIOD_S = 1.0  # operator location: ArduPilot declares it stale after 3 s
STATIC_PERIOD_S = 2.5  # one of BASIC_ID / SYSTEM / SELF_ID / OPERATOR_ID every 2.5 s, each every 10 s


class RemoteIdError(FinalMileError, ValueError):
    """Remote ID data that cannot be sent (names the field and the value)."""


@dataclass(frozen=True)
class RemoteIdOperator:
    """The operator's registration and location, per hub (OPERATOR_ID, SYSTEM, SELF_ID)."""

    operator_id: str  # the operator registration number (EU: the national UAS operator registration)
    latitude_deg: float
    longitude_deg: float
    altitude_m: float = 0.0  # geodetic (WGS84) altitude of the operator
    operator_id_type: int = mavlink.MAV_ODID_OPERATOR_ID_TYPE_CAA
    location_type: int = mavlink.MAV_ODID_OPERATOR_LOCATION_TYPE_FIXED
    area_radius_m: int = 0
    area_ceiling_m: float = -1000.0  # -1000: unknown, as ASTM F3411 says
    area_floor_m: float = -1000.0
    classification_type: int = mavlink.MAV_ODID_CLASSIFICATION_TYPE_EU
    category_eu: int = mavlink.MAV_ODID_CATEGORY_EU_OPEN
    class_eu: int = mavlink.MAV_ODID_CLASS_EU_UNDECLARED
    description: str = "parcel delivery"  # SELF_ID text

    def __post_init__(self) -> None:
        _check_text("operator_id", self.operator_id, 20)
        _check_text("description", self.description, 23)
        if not self.operator_id:
            raise RemoteIdError("remote_id.operator_id must not be empty")
        if not (math.isfinite(self.latitude_deg) and -90 <= self.latitude_deg <= 90):
            raise RemoteIdError(f"remote_id operator latitude_deg={self.latitude_deg} is not a latitude")
        if not (math.isfinite(self.longitude_deg) and -180 <= self.longitude_deg <= 180):
            raise RemoteIdError(f"remote_id operator longitude_deg={self.longitude_deg} is not a longitude")
        if self.latitude_deg == 0 and self.longitude_deg == 0:
            raise RemoteIdError("remote_id operator location 0, 0 reads as 'not set' to ArduPilot")


@dataclass(frozen=True)
class RemoteIdAircraft:
    """The aircraft's Basic ID (BASIC_ID): its UAS id (serial number), the kind of id and of aircraft."""

    uas_id: str
    id_type: int = mavlink.MAV_ODID_ID_TYPE_SERIAL_NUMBER
    ua_type: int = mavlink.MAV_ODID_UA_TYPE_HELICOPTER_OR_MULTIROTOR

    def __post_init__(self) -> None:
        _check_text("uas_id", self.uas_id, 20)
        if not self.uas_id:
            raise RemoteIdError("remote_id.uas_id must not be empty")


@dataclass(frozen=True)
class RemoteIdConfig:
    """What one drone's ground station streams: the hub's operator and, when given, the aircraft's Basic ID."""

    operator: RemoteIdOperator
    aircraft: RemoteIdAircraft | None = None


def _check_text(field: str, value: str, max_bytes: int) -> None:
    if len(value.encode()) > max_bytes:
        raise RemoteIdError(f"remote_id.{field} {value!r} is longer than {max_bytes} bytes")


def _padded(text: str, size: int) -> bytes:
    return text.encode().ljust(size, b"\0")[:size]


def odid_timestamp(now_s: float | None = None) -> int:
    """Seconds since 2019-01-01 00:00 UTC (the SYSTEM message's timestamp)."""
    return int((time.time() if now_s is None else now_s) - _EPOCH_2019_S)


class RemoteIdBroadcaster:
    """Streams one drone's Remote ID data while it runs (`start` / `stop`)."""

    def __init__(self, session: MavlinkSession, config: RemoteIdConfig) -> None:
        self._session = session
        self.config = config
        self._task: asyncio.Task[None] | None = None
        self.messages_sent = 0

    @property
    def running(self) -> bool:
        """Whether the stream is on."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start streaming (idempotent)."""
        if not self.running:
            self._task = asyncio.create_task(self._run(), name=f"{self._session.vehicle_id}-remote-id")
            logger.info("%s: Remote ID stream on (operator %s)", self._session.vehicle_id,
                        self.config.operator.operator_id)

    async def stop(self) -> None:
        """Stop streaming; ArduPilot then refuses to arm within 3 s ('SYSTEM not available')."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            logger.info("%s: Remote ID stream off", self._session.vehicle_id)

    async def _run(self) -> None:
        static = [self._system, self._self_id, self._operator_id]
        aircraft = self.config.aircraft
        if aircraft is not None:  # else the vehicle has its UAS id burnt in (DID_UAS_ID): no BASIC_ID from us
            static.insert(0, lambda: self._basic_id(aircraft))
        for build in static:
            self._send(build())
        clock = self._session.clock
        next_update = next_static = clock.now()
        index = 0
        while True:
            now = clock.now()
            if now >= next_update:
                next_update = now + SYSTEM_UPDATE_PERIOD_S
                self._send(self._system_update())
            if now >= next_static:
                next_static = now + STATIC_PERIOD_S
                self._send(static[index % len(static)]())
                index += 1
            await asyncio.sleep(max(0.005, clock.wall_s(min(next_update, next_static) - clock.now())))

    def _send(self, message: Any) -> None:
        if self._session.target_system is None or self._session.closed:
            return
        if self._session.link.send(message):
            self.messages_sent += 1

    # Each message goes to the vehicle's system with component 0: the autopilot handles it and
    # forwards it to its Remote ID transmitter (a component id of the transmitter would bypass it).
    def _target(self) -> tuple[int, int]:
        return self._session.target_sys(), 0

    def _basic_id(self, aircraft: RemoteIdAircraft) -> Any:
        return self._session.link.mav.open_drone_id_basic_id_encode(
            *self._target(), bytes(20), aircraft.id_type, aircraft.ua_type, _padded(aircraft.uas_id, 20)
        )

    def _system(self) -> Any:
        op = self.config.operator
        return self._session.link.mav.open_drone_id_system_encode(
            *self._target(), bytes(20), op.location_type, op.classification_type,
            round(op.latitude_deg * 1e7), round(op.longitude_deg * 1e7), 1, op.area_radius_m,
            op.area_ceiling_m, op.area_floor_m, op.category_eu, op.class_eu, op.altitude_m, odid_timestamp(),
        )  # fmt: skip

    def _system_update(self) -> Any:
        op = self.config.operator
        return self._session.link.mav.open_drone_id_system_update_encode(
            *self._target(), round(op.latitude_deg * 1e7), round(op.longitude_deg * 1e7), op.altitude_m,
            odid_timestamp(),
        )  # fmt: skip

    def _self_id(self) -> Any:
        return self._session.link.mav.open_drone_id_self_id_encode(
            *self._target(), bytes(20), mavlink.MAV_ODID_DESC_TYPE_TEXT, self.config.operator.description.encode()
        )

    def _operator_id(self) -> Any:
        op = self.config.operator
        return self._session.link.mav.open_drone_id_operator_id_encode(
            *self._target(), bytes(20), op.operator_id_type, op.operator_id.encode()
        )

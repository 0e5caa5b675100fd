"""What a MAVLink vehicle reports about itself: position, GPS fix and EKF, battery, mode and arming, home.

`MavlinkTelemetry` folds the streamed messages into one `TelemetryData` and calls `publish` when a
change is worth a new `VehicleState` (every position message; GPS fix and EKF flags when they
change). `telemetry_streams` lists what the adapter asks the vehicle to stream (ArduCopter streams
nothing until asked).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .mavlink_codec import mode_name
from .mavlink_link import mavlink

_ARMED = mavlink.MAV_MODE_FLAG_SAFETY_ARMED
_EKF_POSITION = mavlink.EKF_POS_HORIZ_ABS  # ArduCopter arms in GUIDED once the EKF has this
_EARTH_RADIUS_M = 6_371_000.0
AIRBORNE_M = 1.0  # relative altitude above which an armed drone counts as flying


@dataclass(frozen=True)
class StreamRequest:
    """A message the adapter asks the vehicle to stream, and how often (Hz)."""

    message_id: int
    rate_hz: float


def telemetry_streams(telemetry_rate_hz: float) -> tuple[StreamRequest, ...]:
    """The streams the adapter needs: position at `telemetry_rate_hz`, health at 1 Hz, home at 0.2 Hz."""
    return (
        StreamRequest(mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, telemetry_rate_hz),
        StreamRequest(mavlink.MAVLINK_MSG_ID_SYS_STATUS, 1.0),
        StreamRequest(mavlink.MAVLINK_MSG_ID_GPS_RAW_INT, 1.0),
        StreamRequest(mavlink.MAVLINK_MSG_ID_BATTERY_STATUS, 1.0),
        StreamRequest(mavlink.MAVLINK_MSG_ID_MISSION_CURRENT, 1.0),
        StreamRequest(mavlink.MAVLINK_MSG_ID_EKF_STATUS_REPORT, 1.0),
        StreamRequest(mavlink.MAVLINK_MSG_ID_HOME_POSITION, 0.2),
        StreamRequest(mavlink.MAVLINK_MSG_ID_WIND, 0.5),  # the autopilot's wind estimate: energy to get home
    )


@dataclass
class TelemetryData:
    """The newest value of every reported quantity (SI units, WGS84)."""

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
    mission_state: int | None = None  # MISSION_CURRENT.mission_state (MAVLink 2 extension; 0 unknown)
    home: tuple[float, float, float] | None = None
    ekf_flags: int | None = None
    wind_speed_m_s: float | None = None  # WIND: the autopilot's estimate, horizontal
    wind_from_deg: float | None = None  # the direction it blows from

    def mode_name(self) -> str:
        """ArduCopter's name of the current mode ('' before the first heartbeat)."""
        return "" if self.custom_mode is None else mode_name(self.custom_mode)

    def position_valid(self) -> bool:
        """A position to trust: not 0/0, a 3D GPS fix when reported, an EKF horizontal position when reported."""
        if self.latitude_deg == 0.0 and self.longitude_deg == 0.0:
            return False
        if self.gps_fix_type is not None and self.gps_fix_type < 3:
            return False
        return self.ekf_flags is None or bool(self.ekf_flags & _EKF_POSITION)

    def airborne(self) -> bool:
        """Armed and more than a metre above home."""
        return self.armed and self.relative_altitude_m > AIRBORNE_M

    def distance_m(self, latitude_deg: float, longitude_deg: float) -> float:
        """Ground distance from the vehicle to a point (equirectangular; fine for a fence's few km)."""
        north_m = math.radians(latitude_deg - self.latitude_deg) * _EARTH_RADIUS_M
        east_m = math.radians(longitude_deg - self.longitude_deg) * _EARTH_RADIUS_M
        east_m *= math.cos(math.radians(self.latitude_deg))
        return math.hypot(north_m, east_m)


class MavlinkTelemetry:
    """Message handlers that keep `data` current; `publish()` is called when a new snapshot is due."""

    def __init__(self, publish: Callable[[], None]) -> None:
        self.data = TelemetryData()
        self.last_position_wall = 0.0
        self.positions_received = 0
        self._publish = publish

    def handlers(self) -> dict[str, Callable[[Any], None]]:
        """Message type -> handler, for the adapter's message router."""
        return {
            "GLOBAL_POSITION_INT": self.on_global_position,
            "GPS_RAW_INT": self.on_gps_raw,
            "SYS_STATUS": self.on_sys_status,
            "BATTERY_STATUS": self.on_battery_status,
            "HOME_POSITION": self.on_home_position,
            "EKF_STATUS_REPORT": self.on_ekf_status,
            "WIND": self.on_wind,
        }

    def on_heartbeat(self, msg: Any) -> tuple[bool, int | None]:
        """Take arming and mode from the vehicle's heartbeat; returns the previous (armed, custom_mode)."""
        t = self.data
        was_armed, old_mode = t.armed, t.custom_mode
        t.armed = bool(msg.base_mode & _ARMED)
        t.custom_mode = int(msg.custom_mode)
        return was_armed, old_mode

    def on_global_position(self, msg: Any) -> None:
        """Position, altitudes, heading and ground speed."""
        t = self.data
        self.last_position_wall = time.monotonic()
        self.positions_received += 1
        t.latitude_deg, t.longitude_deg = msg.lat / 1e7, msg.lon / 1e7
        t.altitude_amsl_m, t.relative_altitude_m = msg.alt / 1000.0, msg.relative_alt / 1000.0
        if msg.hdg != 65535:
            t.heading_deg = msg.hdg / 100.0
        t.ground_speed_m_s = math.hypot(msg.vx, msg.vy) / 100.0
        self._publish()

    def on_gps_raw(self, msg: Any) -> None:
        """GPS fix type (a new snapshot when it changes)."""
        changed = self.data.gps_fix_type != int(msg.fix_type)
        self.data.gps_fix_type = int(msg.fix_type)
        if changed:
            self._publish()

    def on_sys_status(self, msg: Any) -> None:
        """Battery remaining and voltage from SYS_STATUS."""
        t = self.data
        if msg.battery_remaining >= 0:
            t.battery_remaining_pct = float(msg.battery_remaining)
        if msg.voltage_battery not in (0, 65535):
            t.battery_voltage_v = msg.voltage_battery / 1000.0

    def on_battery_status(self, msg: Any) -> None:
        """Battery remaining and first cell-group voltage from BATTERY_STATUS."""
        t = self.data
        if msg.battery_remaining >= 0:
            t.battery_remaining_pct = float(msg.battery_remaining)
        if msg.voltages and msg.voltages[0] not in (0, 65535):
            t.battery_voltage_v = msg.voltages[0] / 1000.0

    def on_home_position(self, msg: Any) -> None:
        """Home (latitude, longitude, altitude AMSL)."""
        self.data.home = (msg.latitude / 1e7, msg.longitude / 1e7, msg.altitude / 1000.0)

    def on_wind(self, msg: Any) -> None:
        """ArduPilot's WIND (ardupilotmega 168): where the wind blows from (deg) and its speed (m/s)."""
        if math.isfinite(msg.speed) and math.isfinite(msg.direction) and msg.speed >= 0:
            self.data.wind_speed_m_s = float(msg.speed)
            self.data.wind_from_deg = float(msg.direction) % 360.0

    def on_ekf_status(self, msg: Any) -> None:
        """EKF flags (a new snapshot when they change)."""
        changed = self.data.ekf_flags != int(msg.flags)
        self.data.ekf_flags = int(msg.flags)
        if changed:
            self._publish()

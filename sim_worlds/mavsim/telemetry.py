"""Outgoing messages built from a vehicle's state, and ArduCopter's stream groups.

Field values follow what SITL sends (ARDUCOPTER_FACTS.md): lat/lon 0 in GLOBAL_POSITION_INT until
the GPS fix, GPS fix type 6, EKF flags 1024 -> 167 -> 831, 12.6 V full pack, temperature 32767.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sim_worlds.mavsim import modes

if TYPE_CHECKING:
    from sim_worlds.mavsim.autopilot import Vehicle

# MAV_DATA_STREAM group -> the message ids of ours that ArduCopter puts in that group.
STREAM_GROUPS: dict[int, tuple[int, ...]] = {
    mavlink.MAV_DATA_STREAM_EXTENDED_STATUS: (
        mavlink.MAVLINK_MSG_ID_SYS_STATUS, mavlink.MAVLINK_MSG_ID_GPS_RAW_INT,
        mavlink.MAVLINK_MSG_ID_MISSION_CURRENT, mavlink.MAVLINK_MSG_ID_NAV_CONTROLLER_OUTPUT,
        mavlink.MAVLINK_MSG_ID_POSITION_TARGET_GLOBAL_INT,
    ),
    mavlink.MAV_DATA_STREAM_POSITION: (
        mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, mavlink.MAVLINK_MSG_ID_LOCAL_POSITION_NED,
    ),
    mavlink.MAV_DATA_STREAM_RC_CHANNELS: (
        mavlink.MAVLINK_MSG_ID_SERVO_OUTPUT_RAW, mavlink.MAVLINK_MSG_ID_RC_CHANNELS,
    ),
    mavlink.MAV_DATA_STREAM_EXTRA1: (mavlink.MAVLINK_MSG_ID_ATTITUDE,),
    mavlink.MAV_DATA_STREAM_EXTRA2: (mavlink.MAVLINK_MSG_ID_VFR_HUD,),
    mavlink.MAV_DATA_STREAM_EXTRA3: (
        mavlink.MAVLINK_MSG_ID_BATTERY_STATUS, mavlink.MAVLINK_MSG_ID_EKF_STATUS_REPORT,
        mavlink.MAVLINK_MSG_ID_SYSTEM_TIME, mavlink.MAVLINK_MSG_ID_WIND,
    ),
}
ALL_STREAMS = (
    mavlink.MAV_DATA_STREAM_EXTENDED_STATUS, mavlink.MAV_DATA_STREAM_POSITION, mavlink.MAV_DATA_STREAM_RC_CHANNELS,
    mavlink.MAV_DATA_STREAM_EXTRA1, mavlink.MAV_DATA_STREAM_EXTRA2, mavlink.MAV_DATA_STREAM_EXTRA3,
)

_SENSORS_PRESENT = 1467063343
_SENSORS_HEALTHY_NO_GPS = 1467063343
_SENSORS_HEALTHY = 1467087919
_GEOFENCE = mavlink.MAV_SYS_STATUS_GEOFENCE
CAPABILITIES = 64495
FLIGHT_SW_VERSION = 0x04070000  # 4.7.0 DEV, as the reference SITL reports


def _landed_in_landing_mode(vehicle: Vehicle) -> bool:
    # Observed on SITL 4.7: disarmed in RTL/LAND, or in AUTO after the mission ended, base_mode is
    # 81 (no GUIDED_ENABLED) although GUIDED or AUTO disarmed before a flight report 89.
    if vehicle.armed:
        return False
    if vehicle.mode in (modes.RTL, modes.LAND, modes.SMART_RTL, modes.AUTO_RTL):
        return True
    return vehicle.mode == modes.AUTO and vehicle.executor.complete


def heartbeat(vehicle: Vehicle) -> Any:
    """HEARTBEAT with ArduCopter's base_mode / custom_mode / system_status rules."""
    base_mode = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED
    base_mode |= mavlink.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED
    booting = vehicle.boot_age_s < vehicle.timeline.ready_s
    if booting or (vehicle.mode in modes.GUIDED_FLAG_MODES and not _landed_in_landing_mode(vehicle)):
        base_mode |= mavlink.MAV_MODE_FLAG_GUIDED_ENABLED
    if vehicle.armed:
        base_mode |= mavlink.MAV_MODE_FLAG_SAFETY_ARMED
    if booting:
        status = mavlink.MAV_STATE_BOOT
    elif vehicle.any_failsafe():
        status = mavlink.MAV_STATE_CRITICAL
    elif vehicle.landed:
        status = mavlink.MAV_STATE_STANDBY
    else:
        status = mavlink.MAV_STATE_ACTIVE
    return mavlink.MAVLink_heartbeat_message(
        mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, base_mode, vehicle.mode, status, 3)


def _position_e7(vehicle: Vehicle) -> tuple[int, int]:
    if not vehicle.gps_fix:
        return 0, 0
    lat, lon = vehicle.location()
    return round(lat * 1e7), round(lon * 1e7)


def global_position_int(vehicle: Vehicle) -> Any:
    """Fused position; lat/lon are 0 until the GPS fix, as on SITL."""
    lat, lon = _position_e7(vehicle)
    kin = vehicle.kin
    alt_amsl = vehicle.home.altitude_amsl_m + kin.alt_m
    return mavlink.MAVLink_global_position_int_message(
        vehicle.time_boot_ms, lat, lon, round(alt_amsl * 1000), round(kin.alt_m * 1000),
        round(kin.vy_m_s * 100), round(kin.vx_m_s * 100), round(-kin.vz_m_s * 100),
        round(kin.heading_deg * 100) % 36000)


def gps_raw_int(vehicle: Vehicle) -> Any:
    """Raw GPS: no fix (0) until the fix, then 6 (RTK fixed, SITL's default)."""
    lat, lon = _position_e7(vehicle)
    kin = vehicle.kin
    fixed = vehicle.gps_fix
    cog = round(kin.heading_deg * 100) % 36000
    return mavlink.MAVLink_gps_raw_int_message(
        int(vehicle.boot_age_s * 1e6), 6 if fixed else 0, lat, lon,
        round((vehicle.home.altitude_amsl_m + kin.alt_m) * 1000) if fixed else 0,
        121 if fixed else 65535, 200 if fixed else 65535, round(kin.ground_speed_m_s * 100), cog,
        10 if fixed else 0, 0, 300, 300, 40, 0)


def sys_status(vehicle: Vehicle) -> Any:
    """SYS_STATUS with the battery fields."""
    battery = vehicle.battery
    healthy = _SENSORS_HEALTHY if vehicle.gps_fix else _SENSORS_HEALTHY_NO_GPS
    # The geofence bit, as AC_Fence reports it: present, enabled with FENCE_ENABLE, unhealthy while breached.
    present = _SENSORS_PRESENT | _GEOFENCE
    enabled = _SENSORS_PRESENT & ~_GEOFENCE | (_GEOFENCE if vehicle.params.get("FENCE_ENABLE") >= 1 else 0)
    healthy = healthy & ~_GEOFENCE | (0 if vehicle.failsafe.fence_breaches else _GEOFENCE)
    return mavlink.MAVLink_sys_status_message(
        present, enabled, healthy, 0, round(battery.voltage_v * 1000),
        round(battery.current_a * 100), battery.remaining_pct, 0, 0, 0, 0, 0, 0)


def battery_status(vehicle: Vehicle) -> Any:
    """BATTERY_STATUS id 0."""
    battery = vehicle.battery
    voltages = [round(battery.voltage_v * 1000)] + [65535] * 9
    return mavlink.MAVLink_battery_status_message(
        0, mavlink.MAV_BATTERY_FUNCTION_UNKNOWN, mavlink.MAV_BATTERY_TYPE_UNKNOWN, 32767, voltages,
        round(battery.current_a * 100), round(battery.consumed_mah), round(battery.used_wh * 36),
        battery.remaining_pct, 0, mavlink.MAV_BATTERY_CHARGE_STATE_OK if vehicle.failsafe.battery == 0
        else mavlink.MAV_BATTERY_CHARGE_STATE_LOW + vehicle.failsafe.battery - 1)


def wind(vehicle: Vehicle) -> Any:
    """WIND (ardupilotmega, id 168), as ArduCopter sends its AHRS wind estimate in the EXTRA3 stream: the direction
    the wind blows from (degrees) and its horizontal speed. The simulator's estimate is the wind it simulates."""
    speed_m_s = vehicle.params.get("SIM_WIND_SPD")
    direction_deg = vehicle.params.get("SIM_WIND_DIR") % 360.0 if speed_m_s > 0 else 0.0
    return mavlink.MAVLink_wind_message(direction_deg, speed_m_s, 0.0)


def ekf_status_report(vehicle: Vehicle) -> Any:
    """EKF flags as SITL's boot goes: uninitialised, attitude/velocity, then absolute position."""
    if vehicle.ekf_gps:
        flags = 831
    elif vehicle.boot_age_s >= vehicle.timeline.ready_s:
        flags = 167
    else:
        flags = 1024
    return mavlink.MAVLink_ekf_status_report_message(flags, 0.01, 0.01, 0.01, 0.01, 0.0, 0.0)


def vfr_hud(vehicle: Vehicle) -> Any:
    """VFR_HUD (airspeed = ground speed without an airspeed sensor)."""
    kin = vehicle.kin
    throttle = 0 if not vehicle.armed else (15 if vehicle.landed else 45)
    return mavlink.MAVLink_vfr_hud_message(
        kin.ground_speed_m_s, kin.ground_speed_m_s, round(kin.heading_deg) % 360, throttle,
        vehicle.home.altitude_amsl_m + kin.alt_m, kin.vz_m_s)


def attitude(vehicle: Vehicle) -> Any:
    """ATTITUDE: level, yaw along the track."""
    yaw = math.radians(vehicle.kin.heading_deg)
    if yaw > math.pi:
        yaw -= 2 * math.pi
    return mavlink.MAVLink_attitude_message(vehicle.time_boot_ms, 0.0, 0.0, yaw, 0.0, 0.0, 0.0)


def mission_current(vehicle: Vehicle) -> Any:
    """MISSION_CURRENT with MAVLink 2 extensions (total excludes the home slot)."""
    executor = vehicle.executor
    total = max(0, len(vehicle.mission) - 1)
    return mavlink.MAVLink_mission_current_message(
        executor.current_seq, total, executor.mission_state(), 1 if vehicle.mode == modes.AUTO else 0)


def home_position(vehicle: Vehicle) -> Any:
    """HOME_POSITION (q is NaN, as ArduPilot sends)."""
    home = vehicle.home
    nan = float("nan")
    return mavlink.MAVLink_home_position_message(
        round(home.latitude_deg * 1e7), round(home.longitude_deg * 1e7),
        round(home.altitude_amsl_m * 1000), 0.0, 0.0, 0.0, [nan, nan, nan, nan], 0.0, 0.0, 0.0,
        int(vehicle.boot_age_s * 1e6))


def gps_global_origin(vehicle: Vehicle) -> Any:
    """GPS_GLOBAL_ORIGIN (the EKF origin = home here)."""
    home = vehicle.home
    return mavlink.MAVLink_gps_global_origin_message(
        round(home.latitude_deg * 1e7), round(home.longitude_deg * 1e7), round(home.altitude_amsl_m * 1000),
        int(vehicle.boot_age_s * 1e6))


def autopilot_version(vehicle: Vehicle) -> Any:
    """AUTOPILOT_VERSION: 4.7.0-dev capabilities; custom version names the simulator."""
    return mavlink.MAVLink_autopilot_version_message(
        CAPABILITIES, FLIGHT_SW_VERSION, 0, 0, 0, list(b"mavsim\0\0"), [0] * 8, [0] * 8, 0, 0,
        vehicle.system_id)


def timesync(vehicle: Vehicle) -> Any:
    """Unrequested TIMESYNC request (tc1 = 0), as SITL sends every ~10 s."""
    return mavlink.MAVLink_timesync_message(0, int(vehicle.boot_age_s * 1e9))


def nav_controller_output(vehicle: Vehicle) -> Any:
    """NAV_CONTROLLER_OUTPUT: bearing and distance to the position controller's target, altitude error."""
    nav, kin = vehicle.nav, vehicle.kin
    dx, dy = nav.x_m - kin.x_m, nav.y_m - kin.y_m
    target_bearing = round(math.degrees(math.atan2(dx, dy))) % 360 if math.hypot(dx, dy) > 0.01 else 0
    return mavlink.MAVLink_nav_controller_output_message(
        0.0, 0.0, round(kin.heading_deg) % 360, target_bearing, min(65535, round(math.hypot(dx, dy))),
        nav.alt_m - kin.alt_m if vehicle.armed else 0.0, 0.0, 0.0)


def rc_channels(vehicle: Vehicle) -> Any:
    """RC_CHANNELS: SITL's sticks with the GCS's overrides."""
    channels = vehicle.rc.channels(vehicle.now_s, vehicle.params.get("RC_OVERRIDE_TIME"))
    return mavlink.MAVLink_rc_channels_message(vehicle.time_boot_ms, 8, *channels, 255)


def servo_output_raw(vehicle: Vehicle) -> Any:
    """SERVO_OUTPUT_RAW: four motors (1000 µs stopped; more with the throttle when armed)."""
    motor = 1000 if not vehicle.armed else (1100 if vehicle.landed else 1500)
    return mavlink.MAVLink_servo_output_raw_message(int(vehicle.boot_age_s * 1e6) & 0xFFFFFFFF, 0,
                                                    *([motor] * 4), *([0] * 12))


def system_time(vehicle: Vehicle) -> Any:
    """SYSTEM_TIME: UNIX time (GPS time in SITL) and time since boot."""
    return mavlink.MAVLink_system_time_message(int(time.time() * 1e6), vehicle.time_boot_ms)


def position_target_global_int(vehicle: Vehicle) -> Any:
    """POSITION_TARGET_GLOBAL_INT: the GUIDED target (None outside GUIDED, as ArduCopter sends nothing then)."""
    nav = vehicle.nav
    if vehicle.mode != modes.GUIDED or not vehicle.armed or nav.kind.value not in ("goto", "hold", "takeoff"):
        return None
    lat, lon = vehicle.home.to_wgs84(nav.x_m, nav.y_m)
    return mavlink.MAVLink_position_target_global_int_message(
        vehicle.time_boot_ms, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 0b110111111000, round(lat * 1e7),
        round(lon * 1e7), nav.alt_m, 0, 0, 0, 0, 0, 0, 0, 0)


def local_position_ned(vehicle: Vehicle) -> Any:
    """LOCAL_POSITION_NED from the EKF origin (None before the origin is set, as ArduPilot)."""
    origin = vehicle.origin
    if origin is None:
        return None
    east, north = origin.to_local(*vehicle.location())
    down = origin.altitude_amsl_m - (vehicle.home.altitude_amsl_m + vehicle.kin.alt_m)
    kin = vehicle.kin
    return mavlink.MAVLink_local_position_ned_message(vehicle.time_boot_ms, north, east, down, kin.vy_m_s,
                                                      kin.vx_m_s, -kin.vz_m_s)


BUILDERS: dict[int, Callable[[Vehicle], Any]] = {
    mavlink.MAVLINK_MSG_ID_HEARTBEAT: heartbeat,
    mavlink.MAVLINK_MSG_ID_SYS_STATUS: sys_status,
    mavlink.MAVLINK_MSG_ID_GPS_RAW_INT: gps_raw_int,
    mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: global_position_int,
    mavlink.MAVLINK_MSG_ID_BATTERY_STATUS: battery_status,
    mavlink.MAVLINK_MSG_ID_EKF_STATUS_REPORT: ekf_status_report,
    mavlink.MAVLINK_MSG_ID_VFR_HUD: vfr_hud,
    mavlink.MAVLINK_MSG_ID_ATTITUDE: attitude,
    mavlink.MAVLINK_MSG_ID_MISSION_CURRENT: mission_current,
    mavlink.MAVLINK_MSG_ID_HOME_POSITION: home_position,
    mavlink.MAVLINK_MSG_ID_GPS_GLOBAL_ORIGIN: gps_global_origin,
    mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION: autopilot_version,
    mavlink.MAVLINK_MSG_ID_NAV_CONTROLLER_OUTPUT: nav_controller_output,
    mavlink.MAVLINK_MSG_ID_RC_CHANNELS: rc_channels,
    mavlink.MAVLINK_MSG_ID_SERVO_OUTPUT_RAW: servo_output_raw,
    mavlink.MAVLINK_MSG_ID_SYSTEM_TIME: system_time,
    mavlink.MAVLINK_MSG_ID_POSITION_TARGET_GLOBAL_INT: position_target_global_int,
    mavlink.MAVLINK_MSG_ID_LOCAL_POSITION_NED: local_position_ned,
    mavlink.MAVLINK_MSG_ID_WIND: wind,
}


def send_due(vehicle: Vehicle) -> None:
    """Heartbeat, TIMESYNC and every link's due streams; each message is built once per tick."""
    if vehicle.heartbeat_due():
        vehicle.broadcast(heartbeat(vehicle))
    if vehicle.timesync_due():
        vehicle.broadcast(timesync(vehicle))
    built: dict[int, Any] = {}
    for link in vehicle.links:
        for message_id in link.due(vehicle.now_s):
            if message_id not in built:
                builder = BUILDERS.get(message_id)
                built[message_id] = builder(vehicle) if builder is not None else None
            message = built[message_id]
            if message is not None:  # some messages exist only in some states (a GUIDED target, an origin)
                link.send(message)

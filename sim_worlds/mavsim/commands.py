"""Incoming MAVLink: commands (COMMAND_LONG/INT), modes, guided targets, parameters, stream requests.

Every reply is addressed to the sender (target_system/component = its source ids), as ArduPilot
replies. Results follow ArduCopter: refused arming and mode changes are MAV_RESULT_FAILED with a
STATUSTEXT, unknown commands MAV_RESULT_UNSUPPORTED, unknown message ids for SET_MESSAGE_INTERVAL
MAV_RESULT_DENIED with `No ap_message for mavlink id (N)`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sim_worlds.mavsim import modes, telemetry
from sim_worlds.mavsim.link import Link

if TYPE_CHECKING:
    from sim_worlds.mavsim.autopilot import Vehicle

ACCEPTED = mavlink.MAV_RESULT_ACCEPTED
DENIED = mavlink.MAV_RESULT_DENIED
FAILED = mavlink.MAV_RESULT_FAILED
UNSUPPORTED = mavlink.MAV_RESULT_UNSUPPORTED
ARM_FORCE_MAGIC = 21196
SET_MODE_MESSAGE_ID = 11  # ArduPilot acks the SET_MODE message with this "command" id

# Messages a ground station may ask to stream (everything in telemetry.BUILDERS but HEARTBEAT).
STREAMABLE = frozenset(telemetry.BUILDERS) - {mavlink.MAVLINK_MSG_ID_HEARTBEAT}


def handle_message(vehicle: Vehicle, link: Link, message: Any) -> None:
    """Dispatch one decoded message addressed to (or broadcast past) this vehicle."""
    target = getattr(message, "target_system", 0)
    if target not in (0, vehicle.system_id):
        return
    kind = message.get_type()
    # MAV_OPTIONS bit 0 (SYSID_ENFORCE before 4.7): only the GCS and our own components are heard.
    heard = (vehicle.system_id, int(vehicle.params.get("MAV_GCS_SYSID")))
    if int(vehicle.params.get("MAV_OPTIONS")) & 1 and kind not in ("RADIO_STATUS", "RADIO") \
            and message.get_srcSystem() not in heard:
        return
    if kind == "HEARTBEAT":
        vehicle.note_gcs_heartbeat(message.get_srcSystem())
        return
    if kind in ("MISSION_ITEM", "MISSION_ITEM_INT") and guided_mission_item(vehicle, link, message):
        return
    if vehicle.protocol.handle(link, message, vehicle.now_s):
        return
    handler = _HANDLERS.get(kind)
    if handler is not None:
        handler(vehicle, link, message)


def _ack(link: Link, message: Any, command: int, result: int) -> None:
    link.send(mavlink.MAVLink_command_ack_message(
        command, result, 0, 0, message.get_srcSystem(), message.get_srcComponent()))


def _on_command(vehicle: Vehicle, link: Link, message: Any) -> None:
    is_int = message.get_type() == "COMMAND_INT"
    if is_int:
        params = (message.param1, message.param2, message.param3, message.param4,
                  message.x * 1e-7, message.y * 1e-7, message.z)
        frame = message.frame
    else:
        params = (message.param1, message.param2, message.param3, message.param4,
                  message.param5, message.param6, message.param7)
        # ArduPilot converts COMMAND_LONG to COMMAND_INT; DO_SET_HOME's altitude is then AMSL.
        frame = (mavlink.MAV_FRAME_GLOBAL if message.command == mavlink.MAV_CMD_DO_SET_HOME
                 else mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT)
    result = run_command(vehicle, link, message.command, params, frame)
    _ack(link, message, message.command, result)


def run_command(
    vehicle: Vehicle, link: Link, command: int, p: tuple[float, ...], frame: int
) -> int:
    """Execute one MAV_CMD; returns the MAV_RESULT."""
    if command == mavlink.MAV_CMD_COMPONENT_ARM_DISARM:
        return _arm_disarm(vehicle, p)
    if command == mavlink.MAV_CMD_DO_SET_MODE:
        if not int(p[0]) & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            return UNSUPPORTED
        return ACCEPTED if vehicle.set_mode(int(p[1])) else FAILED
    if command == mavlink.MAV_CMD_NAV_TAKEOFF:
        return ACCEPTED if vehicle.takeoff(float(p[6])) else FAILED
    if command == mavlink.MAV_CMD_NAV_LAND:
        return ACCEPTED if vehicle.set_mode(modes.LAND) else FAILED
    if command == mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH:
        return ACCEPTED if vehicle.set_mode(modes.RTL) else FAILED
    if command == mavlink.MAV_CMD_DO_GRIPPER:
        action = int(p[1])
        if action not in (mavlink.GRIPPER_ACTION_RELEASE, mavlink.GRIPPER_ACTION_GRAB):
            return FAILED
        return ACCEPTED if vehicle.gripper_action(grab=action == mavlink.GRIPPER_ACTION_GRAB) else FAILED
    if command == mavlink.MAV_CMD_MISSION_START:
        if not vehicle.set_mode(modes.AUTO):
            return FAILED
        if not vehicle.executor.running:
            vehicle.executor.start_or_resume()
        return ACCEPTED
    if command == mavlink.MAV_CMD_DO_CHANGE_SPEED:
        return _change_speed(vehicle, p)
    if command == mavlink.MAV_CMD_DO_REPOSITION:
        return _reposition(vehicle, p, frame)
    if command == mavlink.MAV_CMD_DO_SET_MISSION_CURRENT:
        return ACCEPTED if vehicle.executor.set_current(int(p[0])) else FAILED
    if command == mavlink.MAV_CMD_DO_SET_HOME:
        return _set_home(vehicle, p, frame)
    if command == mavlink.MAV_CMD_BATTERY_RESET:
        # param1 battery mask (bit 0 = the one battery), param2 remaining percent; SITL: ACCEPTED.
        if not int(p[0]) & 1 or not 0 <= p[1] <= 100:
            return FAILED
        vehicle.reset_battery(float(p[1]))
        return ACCEPTED
    if command == mavlink.MAV_CMD_DO_FENCE_ENABLE:
        if int(p[0]) not in (0, 1):
            return FAILED
        vehicle.params.set("FENCE_ENABLE", int(p[0]))
        return ACCEPTED
    if command == mavlink.MAV_CMD_SET_MESSAGE_INTERVAL:
        return _set_interval(vehicle, link, int(p[0]), float(p[1]))
    if command == mavlink.MAV_CMD_REQUEST_MESSAGE:
        return _request_message(vehicle, link, int(p[0]))
    if command == mavlink.MAV_CMD_GET_HOME_POSITION:
        if not vehicle.home_set:
            return FAILED
        link.send(telemetry.home_position(vehicle))
        return ACCEPTED
    if command == mavlink.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES:
        link.send(telemetry.autopilot_version(vehicle))
        return ACCEPTED
    return UNSUPPORTED


def _arm_disarm(vehicle: Vehicle, p: tuple[float, ...]) -> int:
    forced = int(p[1]) == ARM_FORCE_MAGIC
    if p[0] == 1:
        if forced and not vehicle.armed:
            vehicle.armed = True
            vehicle.armed_idle_since_s = vehicle.now_s
            vehicle.statustext(mavlink.MAV_SEVERITY_INFO, "Arming motors")
            return ACCEPTED
        return ACCEPTED if vehicle.arm() else FAILED
    if p[0] == 0:
        if vehicle.armed and not vehicle.landed and not forced:
            return FAILED
        vehicle.disarm()
        return ACCEPTED
    return FAILED


def _change_speed(vehicle: Vehicle, p: tuple[float, ...]) -> int:
    speed = float(p[1])
    if not speed > 0:
        return FAILED
    if p[0] >= 3:
        vehicle.descent_override_m_s = speed
    elif p[0] >= 2:
        vehicle.climb_override_m_s = speed
    else:
        vehicle.speed_override_m_s = speed
    return ACCEPTED


def _relative_alt(vehicle: Vehicle, alt: float, frame: int) -> float:
    if frame in (mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_FRAME_GLOBAL_INT):
        return alt - vehicle.home.altitude_amsl_m
    return alt


def _reposition(vehicle: Vehicle, p: tuple[float, ...], frame: int) -> int:
    latitude, longitude, alt = float(p[4]), float(p[5]), float(p[6])
    if not (math.isfinite(latitude) and math.isfinite(longitude)) or abs(latitude) > 90 or abs(longitude) > 180:
        return DENIED
    if vehicle.mode != modes.GUIDED and not int(p[1]) & mavlink.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE:
        return DENIED
    x_m, y_m = vehicle.home.to_local(latitude, longitude)
    alt_m = _relative_alt(vehicle, alt, frame) if math.isfinite(alt) else vehicle.kin.alt_m
    # GCS_MAVLINK_Copter::handle_command_int_do_reposition sets the destination before it changes the mode ("we
    # don't want to change flight mode unless we can also set the target"): ModeGuided::set_destination refuses
    # one outside the fence (AC_Fence::check_destination_within_fence) -> FAILED, the mode unchanged.
    if not vehicle.destination_within_fence(x_m, y_m, alt_m):
        return FAILED
    if vehicle.mode != modes.GUIDED and not vehicle.set_mode(modes.GUIDED):
        return FAILED
    if p[0] > 0:
        vehicle.speed_override_m_s = float(p[0])
    return ACCEPTED if vehicle.goto(x_m, y_m, alt_m) else FAILED


def _set_home(vehicle: Vehicle, p: tuple[float, ...], frame: int) -> int:
    # GCS_MAVLINK::handle_command_do_set_home: param1 == 1, or lat and lon both 0, means "here"; either way
    # home is then locked (set_home(loc, true)): arming keeps it.
    if not vehicle.home_set:
        return FAILED
    latitude, longitude, alt = float(p[4]), float(p[5]), float(p[6])
    if int(p[0]) == 1 or (latitude == 0 and longitude == 0):
        latitude, longitude = vehicle.location()
        vehicle.move_home(latitude, longitude, vehicle.home.altitude_amsl_m + vehicle.kin.alt_m)
        vehicle.home_locked = True
        return ACCEPTED
    if not (math.isfinite(latitude) and math.isfinite(longitude) and math.isfinite(alt)) \
            or abs(latitude) > 90 or abs(longitude) > 180:
        return DENIED
    if frame not in (mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_FRAME_GLOBAL_INT):
        alt += vehicle.home.altitude_amsl_m
    vehicle.move_home(latitude, longitude, alt)
    vehicle.home_locked = True
    return ACCEPTED


def _set_interval(vehicle: Vehicle, link: Link, message_id: int, interval_us: float) -> int:
    if message_id not in STREAMABLE:
        vehicle.statustext(mavlink.MAV_SEVERITY_INFO, f"No ap_message for mavlink id ({message_id})")
        return DENIED
    interval_s = None if interval_us <= 0 else interval_us / 1e6
    link.set_interval(message_id, interval_s, vehicle.now_s)
    return ACCEPTED


def _request_message(vehicle: Vehicle, link: Link, message_id: int) -> int:
    builder = telemetry.BUILDERS.get(message_id)
    if builder is None:
        vehicle.statustext(mavlink.MAV_SEVERITY_INFO, f"No ap_message for mavlink id ({message_id})")
        return FAILED
    message = builder(vehicle)
    if message is None:
        return FAILED
    link.send(message)
    return ACCEPTED


def _on_set_mode(vehicle: Vehicle, link: Link, message: Any) -> None:
    if not message.base_mode & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
        result = UNSUPPORTED
    else:
        result = ACCEPTED if vehicle.set_mode(int(message.custom_mode)) else FAILED
    _ack(link, message, SET_MODE_MESSAGE_ID, result)


def _on_position_target(vehicle: Vehicle, link: Link, message: Any) -> None:
    # Only position targets are flown; velocity/acceleration-only targets are ignored.
    if message.type_mask & 0b111 == 0b111:
        return
    latitude, longitude = message.lat_int * 1e-7, message.lon_int * 1e-7
    if abs(latitude) > 90 or abs(longitude) > 180:
        return
    x_m, y_m = vehicle.home.to_local(latitude, longitude)
    frame = message.coordinate_frame
    alt = message.alt
    if frame in (mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_FRAME_GLOBAL_INT):
        alt -= vehicle.home.altitude_amsl_m
    vehicle.goto(x_m, y_m, alt)


def guided_mission_item(vehicle: Vehicle, link: Link, message: Any) -> bool:
    """MISSION_ITEM(_INT) with current=2 (fly there in GUIDED) or 3 (change altitude): not part of a mission.

    Answered with MISSION_ACK: ACCEPTED, or ERROR when the vehicle is not in GUIDED (as ArduCopter).
    """
    if message.current not in (2, 3):
        return False
    scale = 1e-7 if message.get_type() == "MISSION_ITEM_INT" else 1.0
    relative = message.frame not in (mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_FRAME_GLOBAL_INT)
    alt_m = message.z if relative else message.z - vehicle.home.altitude_amsl_m
    if message.current == 3:
        accepted = vehicle.mode == modes.GUIDED and vehicle.goto(vehicle.nav.x_m, vehicle.nav.y_m, alt_m)
    else:
        x_m, y_m = vehicle.home.to_local(message.x * scale, message.y * scale)
        accepted = vehicle.goto(x_m, y_m, alt_m)
    result = mavlink.MAV_MISSION_ACCEPTED if accepted else mavlink.MAV_MISSION_ERROR
    link.send(mavlink.MAVLink_mission_ack_message(message.get_srcSystem(), message.get_srcComponent(), result,
                                                  message.mission_type))
    return True


def _on_position_target_local(vehicle: Vehicle, link: Link, message: Any) -> None:
    # ArduCopter: LOCAL_NED is from the EKF origin; LOCAL_OFFSET_NED, BODY_NED and BODY_OFFSET_NED are
    # offsets from the vehicle (the body frames turned by its yaw). z is down.
    if message.type_mask & 0b111 == 0b111 or vehicle.origin is None:
        return
    frame = message.coordinate_frame
    north, east, up = message.x, message.y, -message.z
    if frame in (mavlink.MAV_FRAME_BODY_NED, mavlink.MAV_FRAME_BODY_OFFSET_NED):
        yaw = math.radians(vehicle.kin.heading_deg)
        north, east = north * math.cos(yaw) - east * math.sin(yaw), north * math.sin(yaw) + east * math.cos(yaw)
    if frame == mavlink.MAV_FRAME_LOCAL_NED:
        x_m, y_m = vehicle.home.to_local(*vehicle.origin.to_wgs84(east, north))
        alt_m = up + vehicle.origin.altitude_amsl_m - vehicle.home.altitude_amsl_m
    elif frame in (mavlink.MAV_FRAME_LOCAL_OFFSET_NED, mavlink.MAV_FRAME_BODY_NED, mavlink.MAV_FRAME_BODY_OFFSET_NED):
        x_m, y_m, alt_m = vehicle.kin.x_m + east, vehicle.kin.y_m + north, vehicle.kin.alt_m + up
    else:
        return
    vehicle.goto(x_m, y_m, alt_m)


def _on_rc_override(vehicle: Vehicle, link: Link, message: Any) -> None:
    if message.get_srcSystem() == int(vehicle.params.get("MAV_GCS_SYSID")):  # only our GCS, as ArduPilot
        vehicle.rc.override(message, vehicle.now_s)


FTP_ACK, FTP_NAK = 128, 129
FTP_FILE_NOT_FOUND = 10
_FTP_SESSION_OPS = (1, 2)  # TerminateSession, ResetSessions


def _on_ftp(vehicle: Vehicle, link: Link, message: Any) -> None:
    # No file system: sessions close fine, every file or directory is "not found", so a ground station
    # falls back at once (MAVProxy: to PARAM_REQUEST_LIST and the mission protocol) instead of timing out.
    request = bytes(message.payload)
    seq, opcode = int.from_bytes(request[0:2], "little"), request[3]
    if opcode in (FTP_ACK, FTP_NAK):
        return
    reply = bytearray(251)
    reply[0:2] = ((seq + 1) % 65536).to_bytes(2, "little")
    reply[2] = request[2]
    reply[5] = opcode
    if opcode in _FTP_SESSION_OPS:
        reply[3] = FTP_ACK
    else:
        reply[3], reply[4], reply[12] = FTP_NAK, 1, FTP_FILE_NOT_FOUND
    link.send(mavlink.MAVLink_file_transfer_protocol_message(0, message.get_srcSystem(),
                                                             message.get_srcComponent(), list(reply)))


def _on_mission_set_current(vehicle: Vehicle, link: Link, message: Any) -> None:
    if vehicle.executor.set_current(int(message.seq)):
        vehicle.broadcast(telemetry.mission_current(vehicle))


def _on_request_data_stream(vehicle: Vehicle, link: Link, message: Any) -> None:
    stream_ids = telemetry.ALL_STREAMS if message.req_stream_id == 0 else (message.req_stream_id,)
    rate_hz = message.req_message_rate
    for stream_id in stream_ids:
        for message_id in telemetry.STREAM_GROUPS.get(stream_id, ()):
            interval = 1.0 / rate_hz if message.start_stop and rate_hz > 0 else None
            link.set_interval(message_id, interval, vehicle.now_s)


def _param_value(vehicle: Vehicle, name: str) -> Any:
    params = vehicle.params
    return mavlink.MAVLink_param_value_message(
        name.encode(), params.get(name), params.type_of(name), params.count, params.index_of(name))


def _on_param_request_list(vehicle: Vehicle, link: Link, message: Any) -> None:
    for name in vehicle.params.names():
        link.send(_param_value(vehicle, name))


def _on_param_request_read(vehicle: Vehicle, link: Link, message: Any) -> None:
    name = vehicle.params.name_at(message.param_index) if message.param_index >= 0 else _param_name(message.param_id)
    if name is not None and name in vehicle.params:
        link.send(_param_value(vehicle, name))


def _on_param_set(vehicle: Vehicle, link: Link, message: Any) -> None:
    name = _param_name(message.param_id)
    if name not in vehicle.params or not math.isfinite(message.param_value):
        return  # ArduPilot ignores sets of unknown parameters
    vehicle.params.set(name, float(message.param_value))
    vehicle.broadcast_active(_param_value(vehicle, name))


def _param_name(raw: Any) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes | bytearray) else str(raw)
    return text.split("\0", 1)[0]


def _on_open_drone_id(vehicle: Vehicle, link: Link, message: Any) -> None:
    if vehicle.params.get("DID_ENABLE") >= 1:
        vehicle.remote_id.handle(message, vehicle.now_s)


def _on_setup_signing(vehicle: Vehicle, link: Link, message: Any) -> None:
    vehicle.setup_signing(bytes(message.secret_key), int(message.initial_timestamp))


def _on_timesync(vehicle: Vehicle, link: Link, message: Any) -> None:
    if message.tc1 == 0:
        link.send(mavlink.MAVLink_timesync_message(int(vehicle.boot_age_s * 1e9), message.ts1))


_HANDLERS = {
    "COMMAND_LONG": _on_command,
    "COMMAND_INT": _on_command,
    "SET_MODE": _on_set_mode,
    "SET_POSITION_TARGET_GLOBAL_INT": _on_position_target,
    "SET_POSITION_TARGET_LOCAL_NED": _on_position_target_local,
    "RC_CHANNELS_OVERRIDE": _on_rc_override,
    "FILE_TRANSFER_PROTOCOL": _on_ftp,
    "MISSION_SET_CURRENT": _on_mission_set_current,
    "REQUEST_DATA_STREAM": _on_request_data_stream,
    "PARAM_REQUEST_LIST": _on_param_request_list,
    "PARAM_REQUEST_READ": _on_param_request_read,
    "PARAM_SET": _on_param_set,
    "TIMESYNC": _on_timesync,
    "SETUP_SIGNING": _on_setup_signing,
    **dict.fromkeys(("OPEN_DRONE_ID_BASIC_ID", "OPEN_DRONE_ID_SYSTEM", "OPEN_DRONE_ID_SYSTEM_UPDATE",
                     "OPEN_DRONE_ID_SELF_ID", "OPEN_DRONE_ID_OPERATOR_ID"), _on_open_drone_id),
}

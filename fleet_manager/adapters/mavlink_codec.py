"""Pure conversions between FinalMile missions/geofences and MAVLink mission items (ArduCopter).

No I/O: `mission_plan()` and `fence_items()` turn a `Mission` or `Geofence` into the items to
upload, `item_difference()` compares an uploaded item with its read-back copy knowing
ArduCopter's quirks (item 0 is home, NAV_TAKEOFF reads back with x=y=0, NAV_RETURN_TO_LAUNCH with
frame 0 and x=y=z=0, fence items with autocontinue 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mission_planner.errors import FinalMileError

from .base import Geofence, Mission, StepKind
from .mavlink_link import mavlink

# ArduCopter flight modes (custom_mode of HEARTBEAT), as in ArduCopter's mode.h.
COPTER_MODES: dict[str, int] = {
    "STABILIZE": 0,
    "ACRO": 1,
    "ALT_HOLD": 2,
    "AUTO": 3,
    "GUIDED": 4,
    "LOITER": 5,
    "RTL": 6,
    "CIRCLE": 7,
    "LAND": 9,
    "DRIFT": 11,
    "SPORT": 13,
    "FLIP": 14,
    "AUTOTUNE": 15,
    "POSHOLD": 16,
    "BRAKE": 17,
    "THROW": 18,
    "AVOID_ADSB": 19,
    "GUIDED_NOGPS": 20,
    "SMART_RTL": 21,
    "FLOWHOLD": 22,
    "FOLLOW": 23,
    "ZIGZAG": 24,
    "SYSTEMID": 25,
    "AUTOROTATE": 26,
    "AUTO_RTL": 27,
    "TURTLE": 28,
}
_MODE_NAMES = {number: name for name, number in COPTER_MODES.items()}

MISSION = mavlink.MAV_MISSION_TYPE_MISSION
FENCE = mavlink.MAV_MISSION_TYPE_FENCE

RELEASE_HOLD_S = 2.0  # hover at release height before opening the gripper, so the parcel drops straight
DEFAULT_CRUISE_ALTITUDE_M = 30.0


def mode_name(custom_mode: int) -> str:
    """ArduCopter's name of a custom mode number (`MODE_<n>` when unknown)."""
    return _MODE_NAMES.get(custom_mode, f"MODE_{custom_mode}")


def enum_name(enum: str, value: int) -> str:
    """The MAVLink name of an enum value, e.g. enum_name('MAV_RESULT', 4) == 'MAV_RESULT_FAILED'."""
    entry = mavlink.enums.get(enum, {}).get(value)
    return entry.name if entry is not None else f"{enum}_{value}"


class MissionEncodingError(FinalMileError, ValueError):
    """A mission or geofence cannot be turned into MAVLink items (names the step and field)."""


@dataclass(frozen=True)
class MissionItem:
    """One MISSION_ITEM_INT, independent of the wire message."""

    seq: int
    frame: int
    command: int
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0  # latitude_deg * 1e7
    y: int = 0  # longitude_deg * 1e7
    z: float = 0.0
    autocontinue: int = 1
    mission_type: int = MISSION

    def describe(self) -> str:
        """Short human text: command name, seq, position."""
        name = enum_name("MAV_CMD", self.command).removeprefix("MAV_CMD_")
        return f"#{self.seq} {name} ({self.x / 1e7:.7f}, {self.y / 1e7:.7f}, {self.z:.2f})"


@dataclass(frozen=True)
class MissionPlan:
    """The items of one mission and how they map back to the mission's steps."""

    items: tuple[MissionItem, ...]
    step_of_seq: tuple[int, ...]  # mission step index of every item (item 0, home, maps to -1)
    last_seq_of_step: tuple[int, ...]  # the item whose completion completes each step
    gripper_seqs: tuple[int, ...]  # DO_GRIPPER release items, in order
    takeoff_altitude_m: float
    # NAV_LOITER_UNLIM items where the drone holds over a drop for the fleet manager's decision, in order; the
    # item after each is the descent to release height, the item after its gripper the climb that skips it
    drop_hold_seqs: tuple[int, ...] = ()

    def drop_items(self, step_index: int) -> tuple[int, int, int] | None:
        """(hold, descent, climb) items of DELIVER step `step_index` when it holds for a decision, else None."""
        for hold in self.drop_hold_seqs:
            if self.step_of_seq[hold] == step_index:
                gripper = next(seq for seq in self.gripper_seqs if seq > hold)
                return hold, hold + 1, gripper + 1
        return None


def _e7(value_deg: float) -> int:
    return round(value_deg * 1e7)


def _check_position(
    step_index: int, what: str, latitude_deg: float | None, longitude_deg: float | None
) -> tuple[float, float]:
    if latitude_deg is None or longitude_deg is None:
        raise MissionEncodingError(f"mission step {step_index} ({what}) needs latitude_deg and longitude_deg")
    if not (math.isfinite(latitude_deg) and -90.0 <= latitude_deg <= 90.0):
        raise MissionEncodingError(f"mission step {step_index} ({what}): latitude_deg={latitude_deg} is invalid")
    if not (math.isfinite(longitude_deg) and -180.0 <= longitude_deg <= 180.0):
        raise MissionEncodingError(f"mission step {step_index} ({what}): longitude_deg={longitude_deg} is invalid")
    return latitude_deg, longitude_deg


def mission_plan(
    mission: Mission,
    *,
    home: tuple[float, float, float] = (0.0, 0.0, 0.0),
    default_altitude_m: float = DEFAULT_CRUISE_ALTITUDE_M,
) -> MissionPlan:
    """The ArduCopter mission items for `mission`; `home` is (lat, lon, alt AMSL) for item 0."""
    if not mission.steps:
        raise MissionEncodingError(f"mission {mission.mission_id!r} has no steps")
    rel = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT
    items: list[MissionItem] = [
        MissionItem(
            0, mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_WAYPOINT, x=_e7(home[0]), y=_e7(home[1]), z=home[2]
        )
    ]
    step_of_seq = [-1]
    last_seq_of_step: list[int] = []
    gripper_seqs: list[int] = []
    drop_hold_seqs: list[int] = []
    first_altitude = next((s.altitude_m for s in mission.steps if s.altitude_m is not None), None)
    cruise_m = float(first_altitude if first_altitude is not None else default_altitude_m)
    takeoff_m = cruise_m
    position: tuple[float, float] | None = None

    def add(step_index: int, command: int, frame: int = rel, **fields: float) -> int:
        seq = len(items)
        x = int(fields.pop("x", 0))
        y = int(fields.pop("y", 0))
        items.append(MissionItem(seq, frame, command, x=x, y=y, **fields))  # type: ignore[arg-type]
        step_of_seq.append(step_index)
        return seq

    if mission.cruise_speed_m_s is not None and mission.steps[0].kind is not StepKind.TAKEOFF:
        # A mission started in flight (a re-route) sets its speed first: ArduCopter keeps the last
        # DO_CHANGE_SPEED only while it stays in AUTO, and runs DO_ items before item 1's waypoint.
        add(0, mavlink.MAV_CMD_DO_CHANGE_SPEED, param1=1.0,
            param2=float(mission.cruise_speed_m_s), param3=-1.0)

    for index, step in enumerate(mission.steps):
        ground_m = float(step.ground_above_home_m)
        if not math.isfinite(ground_m):
            raise MissionEncodingError(
                f"mission step {index} ({step.kind.value}): ground_above_home_m={ground_m} must be finite"
            )
        # Relative-to-home altitudes over terrain may be below home; what must be positive is the height
        # above the ground under the step (ground_above_home_m = 0 in flat worlds: above home).
        if step.altitude_m is not None and (not math.isfinite(step.altitude_m) or step.altitude_m - ground_m <= 0):
            raise MissionEncodingError(
                f"mission step {index} ({step.kind.value}): altitude_m={step.altitude_m} must be > "
                f"ground_above_home_m={ground_m:g} (above the ground there)"
            )
        if step.kind is StepKind.TAKEOFF:
            takeoff_m = float(step.altitude_m if step.altitude_m is not None else cruise_m)
            cruise_m = takeoff_m
            seq = add(index, mavlink.MAV_CMD_NAV_TAKEOFF, z=takeoff_m)
            if mission.cruise_speed_m_s is not None and not any(
                i.command == mavlink.MAV_CMD_DO_CHANGE_SPEED for i in items
            ):
                add(
                    index,
                    mavlink.MAV_CMD_DO_CHANGE_SPEED,
                    param1=1.0,
                    param2=float(mission.cruise_speed_m_s),
                    param3=-1.0,
                )
        elif step.kind is StepKind.GOTO:
            position = _check_position(index, "goto", step.latitude_deg, step.longitude_deg)
            if step.altitude_m is not None:
                cruise_m = float(step.altitude_m)
            seq = add(index, mavlink.MAV_CMD_NAV_WAYPOINT, x=_e7(position[0]), y=_e7(position[1]), z=cruise_m)
        elif step.kind is StepKind.DELIVER:
            position = _check_position(index, "deliver", step.latitude_deg, step.longitude_deg)
            release_m = float(step.release_altitude_m)
            if not math.isfinite(release_m) or release_m <= 0:
                raise MissionEncodingError(
                    f"mission step {index} (deliver): release_altitude_m={release_m} must be > 0"
                )
            if step.altitude_m is not None:
                cruise_m = float(step.altitude_m)
            x, y = _e7(position[0]), _e7(position[1])
            add(index, mavlink.MAV_CMD_NAV_WAYPOINT, x=x, y=y, z=cruise_m)
            if step.confirm_release:
                # Hold over the door (ArduCopter never completes LOITER_UNLIM) until the fleet manager jumps
                # (DO_SET_MISSION_CURRENT) to the descent when the recipient takes the parcel, or past the
                # gripper to the climb when not. A silent GCS meanwhile leaves it holding (FinalMile's FS_OPTIONS keep
                # AUTO going) until the link is back or the battery failsafe brings it home with the parcel aboard.
                drop_hold_seqs.append(add(index, mavlink.MAV_CMD_NAV_LOITER_UNLIM, x=x, y=y, z=cruise_m))
            add(index, mavlink.MAV_CMD_NAV_WAYPOINT, x=x, y=y, z=ground_m + release_m, param1=RELEASE_HOLD_S)
            gripper_seqs.append(
                add(
                    index,
                    mavlink.MAV_CMD_DO_GRIPPER,
                    frame=mavlink.MAV_FRAME_MISSION,
                    param1=1.0,
                    param2=float(mavlink.GRIPPER_ACTION_RELEASE),
                )
            )
            seq = add(index, mavlink.MAV_CMD_NAV_WAYPOINT, x=x, y=y, z=cruise_m)
        elif step.kind is StepKind.WAIT:
            if not math.isfinite(step.duration_s) or step.duration_s < 0:
                raise MissionEncodingError(f"mission step {index} (wait): duration_s={step.duration_s} must be >= 0")
            # x=y=0: ArduCopter loiters where the vehicle is when the item starts.
            x, y = (_e7(position[0]), _e7(position[1])) if position else (0, 0)
            seq = add(
                index,
                mavlink.MAV_CMD_NAV_LOITER_TIME,
                x=x,
                y=y,
                z=cruise_m if position else 0.0,
                param1=float(step.duration_s),
            )
        elif step.kind is StepKind.LAND:
            if step.latitude_deg is not None or step.longitude_deg is not None:
                land_at = _check_position(index, "land", step.latitude_deg, step.longitude_deg)
                seq = add(index, mavlink.MAV_CMD_NAV_LAND, x=_e7(land_at[0]), y=_e7(land_at[1]))
            else:
                seq = add(index, mavlink.MAV_CMD_NAV_LAND)
        elif step.kind is StepKind.RETURN:
            seq = add(index, mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH)
        else:  # pragma: no cover - StepKind is closed
            raise MissionEncodingError(f"mission step {index}: kind {step.kind!r} is not supported by drones")
        last_seq_of_step.append(seq)
    return MissionPlan(tuple(items), tuple(step_of_seq), tuple(last_seq_of_step), tuple(gripper_seqs), takeoff_m,
                       tuple(drop_hold_seqs))


def fence_items(geofence: Geofence) -> tuple[MissionItem, ...]:
    """MAV_MISSION_TYPE_FENCE items: polygon vertices (param1 = vertex count), then circles (param1 = radius).

    Vertex counts are not checked here: the autopilot is the authority on what fence it accepts
    (ArduCopter refuses polygons under 3 vertices with MAV_MISSION_ERROR and a STATUSTEXT).
    """
    items: list[MissionItem] = []
    for p_index, polygon in enumerate(geofence.polygons):
        command = (
            mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
            if polygon.inclusion
            else mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION
        )
        for latitude_deg, longitude_deg in polygon.vertices:
            _check_position(p_index, "fence polygon vertex", latitude_deg, longitude_deg)
            items.append(
                MissionItem(
                    len(items),
                    mavlink.MAV_FRAME_GLOBAL,
                    command,
                    param1=float(len(polygon.vertices)),
                    x=_e7(latitude_deg),
                    y=_e7(longitude_deg),
                    autocontinue=0,
                    mission_type=FENCE,
                )
            )
    for c_index, circle in enumerate(geofence.circles):
        _check_position(c_index, "fence circle", circle.latitude_deg, circle.longitude_deg)
        if not math.isfinite(circle.radius_m) or circle.radius_m <= 0:
            raise MissionEncodingError(f"fence circle {c_index}: radius_m={circle.radius_m} must be > 0")
        command = (
            mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION
            if circle.inclusion
            else mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION
        )
        items.append(
            MissionItem(
                len(items),
                mavlink.MAV_FRAME_GLOBAL,
                command,
                param1=float(circle.radius_m),
                x=_e7(circle.latitude_deg),
                y=_e7(circle.longitude_deg),
                autocontinue=0,
                mission_type=FENCE,
            )
        )
    return tuple(items)


# Which params an autopilot stores (and so reads back) per command; the rest may come back as 0.
_CHECKED_PARAMS: dict[int, tuple[int, ...]] = {
    mavlink.MAV_CMD_NAV_WAYPOINT: (1,),
    mavlink.MAV_CMD_NAV_LOITER_TIME: (1,),
    mavlink.MAV_CMD_DO_GRIPPER: (1, 2),
    mavlink.MAV_CMD_DO_CHANGE_SPEED: (1, 2),
    mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION: (1,),
    mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION: (1,),
    mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION: (1,),
    mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION: (1,),
}
_NO_POSITION = (mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH, mavlink.MAV_CMD_DO_GRIPPER, mavlink.MAV_CMD_DO_CHANGE_SPEED)
# *_INT frames are the same frame with integer lat/lon.
_FRAME_ALIASES = {
    mavlink.MAV_FRAME_GLOBAL_INT: mavlink.MAV_FRAME_GLOBAL,
    mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT: mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT,
    mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT: mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT,
}


def item_difference(sent: MissionItem, got: MissionItem) -> str | None:
    """Why the read-back `got` is not the uploaded `sent` (None when equal up to ArduCopter's quirks)."""
    if sent.mission_type == MISSION and sent.seq == 0:
        return None  # item 0 is the vehicle's home, whatever was uploaded
    if sent.command != got.command:
        return f"item {sent.seq}: command {got.command} read back, {sent.command} uploaded"
    if sent.command not in _NO_POSITION:
        if _FRAME_ALIASES.get(sent.frame, sent.frame) != _FRAME_ALIASES.get(got.frame, got.frame):
            return f"item {sent.seq}: frame {got.frame} read back, {sent.frame} uploaded"
        if sent.command != mavlink.MAV_CMD_NAV_TAKEOFF and (sent.x, sent.y) != (got.x, got.y):
            return f"item {sent.seq}: position ({got.x}, {got.y}) read back, ({sent.x}, {sent.y}) uploaded"
        if abs(sent.z - got.z) > 0.01:
            return f"item {sent.seq}: z {got.z} read back, {sent.z} uploaded"
    for number in _CHECKED_PARAMS.get(sent.command, ()):
        want, have = getattr(sent, f"param{number}"), getattr(got, f"param{number}")
        if abs(want - have) > 1e-3 * max(1.0, abs(want)):
            return f"item {sent.seq}: param{number} {have} read back, {want} uploaded"
    return None

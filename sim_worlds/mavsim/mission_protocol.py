"""The MAVLink mission protocol as ArduCopter speaks it, for mission, fence and rally lists.

Upload: MISSION_COUNT -> the vehicle asks with MISSION_REQUEST (msg 40, not _INT, as ArduPilot
does) for each seq -> MISSION_ITEM_INT/MISSION_ITEM -> MISSION_ACK. Download:
MISSION_REQUEST_LIST -> MISSION_COUNT -> MISSION_REQUEST_INT/MISSION_REQUEST -> MISSION_ITEM_INT/
MISSION_ITEM. Items are normalised the way ArduPilot stores them, so the read-back differs from
the upload the same way (item 0 is home, RTL has frame 0 and no position, fence items have
autocontinue 0). Replies are addressed to the sender.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sim_worlds.mavsim.fence import FENCE_COMMANDS
from sim_worlds.mavsim.link import Link

logger = logging.getLogger(__name__)

MISSION = mavlink.MAV_MISSION_TYPE_MISSION
FENCE = mavlink.MAV_MISSION_TYPE_FENCE
RALLY = mavlink.MAV_MISSION_TYPE_RALLY
RALLY_ALT_MAX_M = 32767

NAV_WAYPOINT = 16
NAV_LOITER_UNLIM = 17
NAV_LOITER_TURNS = 18
NAV_LOITER_TIME = 19
NAV_RETURN_TO_LAUNCH = 20
NAV_LAND = 21
NAV_TAKEOFF = 22
NAV_DELAY = 93
CONDITION_DELAY = 112
DO_CHANGE_SPEED = 178
DO_GRIPPER = 211
NAV_RALLY_POINT = 5100

LOCATION_COMMANDS = frozenset(
    {NAV_WAYPOINT, NAV_LOITER_UNLIM, NAV_LOITER_TURNS, NAV_LOITER_TIME, NAV_LAND, NAV_TAKEOFF}
)
MISSION_COMMANDS = LOCATION_COMMANDS | {
    NAV_RETURN_TO_LAUNCH,
    NAV_DELAY,
    CONDITION_DELAY,
    DO_CHANGE_SPEED,
    DO_GRIPPER,
}
# Frames ArduPilot accepts for positions, and how it reports them back (the _INT variants are not kept).
_FRAME_READBACK = {0: 0, 3: 3, 10: 10, 5: 0, 6: 3, 11: 10}

UPLOAD_RETRY_S = 1.0
UPLOAD_TIMEOUT_S = 8.0
# At a speed-up k, ArduPilot's 8 s of vehicle time would be 8/k s of wall time (0.1 s at 80x): less than a busy
# host's scheduling jitter, so a ground station's answer late by a hiccup would cancel the transfer. The
# simulator also waits this much wall time before giving up (at 1x nothing changes).
UPLOAD_TIMEOUT_MIN_WALL_S = 3.0  # as the GCS failsafe's floor (autopilot.GCS_TIMEOUT_MIN_WALL_S)
LOCATION_ALT_MAX_M = 83000.0


@dataclass(frozen=True)
class MissionItem:
    """One stored item, in MISSION_ITEM_INT units (x, y in degE7)."""

    seq: int
    frame: int
    command: int
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0
    y: int = 0
    z: float = 0.0
    autocontinue: int = 1
    mission_type: int = MISSION

    def to_int_message(self, target_system: int, target_component: int) -> Any:
        """As a MISSION_ITEM_INT addressed to the asker."""
        return mavlink.MAVLink_mission_item_int_message(
            target_system, target_component, self.seq, self.frame, self.command, 0, self.autocontinue,
            self.param1, self.param2, self.param3, self.param4, self.x, self.y, self.z, self.mission_type,
        )

    def to_float_message(self, target_system: int, target_component: int) -> Any:
        """As a (deprecated, float) MISSION_ITEM, for askers that used MISSION_REQUEST."""
        return mavlink.MAVLink_mission_item_message(
            target_system, target_component, self.seq, self.frame, self.command, 0, self.autocontinue,
            self.param1, self.param2, self.param3, self.param4, self.x * 1e-7, self.y * 1e-7, self.z,
            self.mission_type,
        )


def item_from_message(message: Any) -> MissionItem:
    """A MissionItem from a received MISSION_ITEM_INT or MISSION_ITEM, unnormalised."""
    if message.get_type() == "MISSION_ITEM":
        x, y = round(message.x * 1e7), round(message.y * 1e7)
    else:
        x, y = int(message.x), int(message.y)
    return MissionItem(
        seq=message.seq, frame=message.frame, command=message.command,
        param1=message.param1, param2=message.param2, param3=message.param3, param4=message.param4,
        x=x, y=y, z=message.z, autocontinue=message.autocontinue, mission_type=message.mission_type,
    )


def normalise(item: MissionItem) -> tuple[MissionItem | None, int]:
    """(stored item, MAV_MISSION_RESULT): what ArduPilot keeps of an uploaded item, or why it refuses it."""
    if item.mission_type == FENCE:
        if item.command not in FENCE_COMMANDS:
            return None, mavlink.MAV_MISSION_UNSUPPORTED
        if abs(item.x) > 900_000_000:
            return None, mavlink.MAV_MISSION_INVALID_PARAM5_X
        if abs(item.y) > 1_800_000_000:
            return None, mavlink.MAV_MISSION_INVALID_PARAM6_Y
        return MissionItem(item.seq, 0, item.command, param1=item.param1, x=item.x, y=item.y,
                           autocontinue=0, mission_type=FENCE), mavlink.MAV_MISSION_ACCEPTED
    if item.mission_type == RALLY:
        if item.command != NAV_RALLY_POINT:
            return None, mavlink.MAV_MISSION_UNSUPPORTED
        if abs(item.z) > RALLY_ALT_MAX_M:  # AP_Rally keeps the altitude as int16 metres (SITL: INVALID_PARAM7)
            return None, mavlink.MAV_MISSION_INVALID_PARAM7
        return replace(item, frame=_FRAME_READBACK.get(item.frame, 3)), mavlink.MAV_MISSION_ACCEPTED
    if item.command not in MISSION_COMMANDS:
        return None, mavlink.MAV_MISSION_UNSUPPORTED
    if item.command in LOCATION_COMMANDS:
        if item.frame not in _FRAME_READBACK:
            return None, mavlink.MAV_MISSION_UNSUPPORTED_FRAME
        if abs(item.x) > 900_000_000:
            return None, mavlink.MAV_MISSION_INVALID_PARAM5_X
        if abs(item.y) > 1_800_000_000:
            return None, mavlink.MAV_MISSION_INVALID_PARAM6_Y
        if abs(item.z) >= LOCATION_ALT_MAX_M:
            return None, mavlink.MAV_MISSION_INVALID_PARAM7
        keep_p1 = float(int(item.param1)) if item.command in (NAV_WAYPOINT, NAV_LOITER_TIME) else 0.0
        return MissionItem(item.seq, _FRAME_READBACK[item.frame], item.command, param1=keep_p1,
                           x=item.x, y=item.y, z=item.z), mavlink.MAV_MISSION_ACCEPTED
    if item.command == NAV_RETURN_TO_LAUNCH:
        return MissionItem(item.seq, 0, item.command), mavlink.MAV_MISSION_ACCEPTED
    if item.command in (NAV_DELAY, CONDITION_DELAY):
        return MissionItem(item.seq, 0, item.command, param1=item.param1), mavlink.MAV_MISSION_ACCEPTED
    if item.command == DO_CHANGE_SPEED:
        return MissionItem(item.seq, 0, item.command, param1=item.param1, param2=item.param2,
                           param3=item.param3), mavlink.MAV_MISSION_ACCEPTED
    # DO_GRIPPER: gripper number and action (0 release, 1 grab)
    return MissionItem(item.seq, 0, item.command, param1=item.param1, param2=item.param2), \
        mavlink.MAV_MISSION_ACCEPTED


class MissionHost(Protocol):
    """What the protocol needs from the vehicle."""

    def stored_items(self, mission_type: int) -> list[MissionItem]:
        """Items as read back (mission: item 0 is home)."""
        ...

    def commit_items(self, mission_type: int, items: list[MissionItem]) -> int:
        """Validate and store an uploaded list; returns MAV_MISSION_RESULT (and reports why itself)."""
        ...

    def clear_items(self, mission_type: int) -> int:
        """Clear a list; returns MAV_MISSION_RESULT."""
        ...


@dataclass
class _Upload:
    link: Link
    target_system: int
    target_component: int
    count: int
    items: list[MissionItem]
    last_request_s: float
    last_receive_s: float
    last_receive_wall_s: float = field(default_factory=time.monotonic)


class MissionProtocol:
    """Transfer state machines of one vehicle (one upload at a time per list type)."""

    def __init__(self, host: MissionHost) -> None:
        self._host = host
        self._uploads: dict[int, _Upload] = {}

    def handle(self, link: Link, message: Any, now_s: float) -> bool:
        """Process one mission-protocol message; False when it is not one."""
        kind = message.get_type()
        if kind == "MISSION_COUNT":
            self._on_count(link, message, now_s)
        elif kind in ("MISSION_ITEM_INT", "MISSION_ITEM"):
            self._on_item(link, message, now_s)
        elif kind == "MISSION_REQUEST_LIST":
            items = self._host.stored_items(message.mission_type)
            link.send(mavlink.MAVLink_mission_count_message(
                message.get_srcSystem(), message.get_srcComponent(), len(items), message.mission_type))
        elif kind in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            self._on_request(link, message)
        elif kind == "MISSION_CLEAR_ALL":
            self._uploads.pop(message.mission_type, None)
            result = self._host.clear_items(message.mission_type)
            self._ack(link, message, result, message.mission_type)
        elif kind == "MISSION_ACK":
            pass  # end of a download: nothing is held open for it
        else:
            return False
        return True

    def update(self, now_s: float) -> None:
        """Re-ask for a missing item after a second; give an upload up after 8 s of silence."""
        now_wall_s = time.monotonic()
        for mission_type, upload in list(self._uploads.items()):
            if (now_s - upload.last_receive_s > UPLOAD_TIMEOUT_S
                    and now_wall_s - upload.last_receive_wall_s > UPLOAD_TIMEOUT_MIN_WALL_S):
                del self._uploads[mission_type]
                upload.link.send(mavlink.MAVLink_mission_ack_message(
                    upload.target_system, upload.target_component,
                    mavlink.MAV_MISSION_OPERATION_CANCELLED, mission_type))
            elif now_s - upload.last_request_s > UPLOAD_RETRY_S:
                self._request(upload, mission_type, now_s)

    def _ack(self, link: Link, message: Any, result: int, mission_type: int) -> None:
        link.send(mavlink.MAVLink_mission_ack_message(
            message.get_srcSystem(), message.get_srcComponent(), result, mission_type))

    def _on_count(self, link: Link, message: Any, now_s: float) -> None:
        mission_type = message.mission_type
        if mission_type not in (MISSION, FENCE, RALLY):
            self._ack(link, message, mavlink.MAV_MISSION_UNSUPPORTED, mission_type)
            return
        busy = self._uploads.get(mission_type)
        if busy is not None and busy.link is not link:
            self._ack(link, message, mavlink.MAV_MISSION_DENIED, mission_type)
            return
        if message.count == 0:
            self._uploads.pop(mission_type, None)
            self._ack(link, message, self._host.clear_items(mission_type), mission_type)
            return
        upload = _Upload(link, message.get_srcSystem(), message.get_srcComponent(), message.count, [],
                         now_s, now_s)
        self._uploads[mission_type] = upload
        self._request(upload, mission_type, now_s)

    def _request(self, upload: _Upload, mission_type: int, now_s: float) -> None:
        upload.last_request_s = now_s
        upload.link.send(mavlink.MAVLink_mission_request_message(
            upload.target_system, upload.target_component, len(upload.items), mission_type))

    def _on_item(self, link: Link, message: Any, now_s: float) -> None:
        mission_type = message.mission_type
        upload = self._uploads.get(mission_type)
        if upload is None or upload.link is not link:
            return  # ArduPilot ignores items outside an upload
        expected = len(upload.items)
        if message.seq != expected:
            if message.seq != expected - 1:  # a repeat of the previous item is harmless
                self._ack(link, message, mavlink.MAV_MISSION_INVALID_SEQUENCE, mission_type)
            return
        stored, result = normalise(item_from_message(message))
        if stored is None:
            del self._uploads[mission_type]
            self._ack(link, message, result, mission_type)
            return
        upload.items.append(stored)
        upload.last_receive_s = now_s
        upload.last_receive_wall_s = time.monotonic()
        if len(upload.items) < upload.count:
            self._request(upload, mission_type, now_s)
            return
        del self._uploads[mission_type]
        self._ack(link, message, self._host.commit_items(mission_type, upload.items), mission_type)

    def _on_request(self, link: Link, message: Any) -> None:
        items = self._host.stored_items(message.mission_type)
        sender = (message.get_srcSystem(), message.get_srcComponent())
        if not 0 <= message.seq < len(items):
            self._ack(link, message, mavlink.MAV_MISSION_INVALID_SEQUENCE, message.mission_type)
            return
        item = items[message.seq]
        if message.get_type() == "MISSION_REQUEST_INT":
            link.send(item.to_int_message(*sender))
        else:
            link.send(item.to_float_message(*sender))

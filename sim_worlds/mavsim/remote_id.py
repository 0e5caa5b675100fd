"""AP_OpenDroneID in the simulator: what the ground station sent, a built-in transmitter, the arming check.

As ArduPilot 4.7 (observed on SITL): with `DID_ENABLE=1` the autopilot keeps the BASIC_ID and
SYSTEM data a ground station sends; with `DID_OPTIONS` bit 0 (EnforceArming) it refuses to arm with
`OpenDroneID: UA_TYPE required in BasicID`, `operator location must be set`,
`ARM_STATUS not available` (no transmitter on `DID_MAVPORT`, or none heard for 3 s),
`SYSTEM not available` (no SYSTEM / SYSTEM_UPDATE for 3 s) or the transmitter's own error. While
enabled it warns `ODID: lost transmitter` and `ODID: lost operator location` every 5 s.

The simulator has no serial ports: with `DID_MAVPORT >= 0` a transmitter is fitted on that port
and sees what ArduPilot forwards to it, judged by `sim_worlds.remote_id_tx.arm_status` (the same
rules the transmitter attached to real SITL applies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sim_worlds.remote_id_tx import ReceivedRemoteId, arm_status

MAX_AGE_S = 3.0
WARN_PERIOD_S = 5.0
ENFORCE_ARMING = 1  # DID_OPTIONS bit 0


@dataclass
class RemoteIdState:
    """One vehicle's Remote ID state, in simulated seconds."""

    basic_id_type: int = mavlink.MAV_ODID_ID_TYPE_NONE
    operator_latitude_e7: int = 0
    operator_longitude_e7: int = 0
    last_system_s: float | None = None
    last_system_update_s: float | None = None
    transmitter: ReceivedRemoteId = field(default_factory=ReceivedRemoteId)
    last_lost_tx_warning_s: float = -WARN_PERIOD_S
    last_lost_operator_warning_s: float = -WARN_PERIOD_S
    transmitter_was_lost: bool = False

    def handle(self, message: Any, now_s: float) -> None:
        """A message from the ground station (kept, and forwarded to the transmitter as ArduPilot does)."""
        kind = message.get_type()
        if kind == "OPEN_DRONE_ID_BASIC_ID":
            self.basic_id_type = int(message.id_type)
        elif kind == "OPEN_DRONE_ID_SYSTEM":
            self.operator_latitude_e7 = message.operator_latitude
            self.operator_longitude_e7 = message.operator_longitude
            self.last_system_s = now_s
        elif kind == "OPEN_DRONE_ID_SYSTEM_UPDATE":
            self.operator_latitude_e7 = message.operator_latitude
            self.operator_longitude_e7 = message.operator_longitude
            self.last_system_update_s = now_s
            if self.last_system_s is not None:  # only a full SYSTEM first makes the data usable
                self.last_system_s = now_s
        self.transmitter.note(message, now_s)

    def transmitter_update(self, now_s: float, vehicle_location_set: bool) -> None:
        """What the autopilot forwards each second: its own location (once it has one)."""
        if vehicle_location_set:
            self.transmitter.seen_s["LOC"] = now_s
            self.transmitter.vehicle_location_set = True
        if self.basic_id_type != mavlink.MAV_ODID_ID_TYPE_NONE:
            self.transmitter.has_basic_id = True
        if self.operator_latitude_e7 or self.operator_longitude_e7:
            self.transmitter.operator_location_set = True
            if self.last_system_s is not None:
                self.transmitter.seen_s["SYS"] = now_s  # the autopilot keeps forwarding what it has


def pre_arm_failure(state: RemoteIdState, params: Any, now_s: float) -> str | None:
    """AP_OpenDroneID::pre_arm_check: the first reason, without the `OpenDroneID: ` prefix, or None."""
    if not int(params.get("DID_OPTIONS")) & ENFORCE_ARMING:
        return None
    if int(params.get("DID_ENABLE")) == 0:
        return "DID_ENABLE must be 1"
    if state.basic_id_type == mavlink.MAV_ODID_ID_TYPE_NONE:
        return "UA_TYPE required in BasicID"
    if state.operator_latitude_e7 == 0 and state.operator_longitude_e7 == 0:
        return "operator location must be set"
    if int(params.get("DID_MAVPORT")) < 0:
        return "ARM_STATUS not available"  # no transmitter on any port
    if not _fresh(state.last_system_s, now_s) and not _fresh(state.last_system_update_s, now_s):
        return "SYSTEM not available"
    status, error = arm_status(state.transmitter, now_s)
    if status != mavlink.MAV_ODID_ARM_STATUS_GOOD_TO_ARM:
        return error
    return None


def warnings_due(state: RemoteIdState, params: Any, now_s: float) -> list[str]:
    """The periodic `ODID: ...` warnings ArduPilot sends while Remote ID is enabled."""
    if int(params.get("DID_ENABLE")) == 0:
        return []
    texts = []
    if int(params.get("DID_MAVPORT")) < 0:
        if now_s - state.last_lost_tx_warning_s > WARN_PERIOD_S:
            state.last_lost_tx_warning_s = now_s
            state.transmitter_was_lost = True
            texts.append("ODID: lost transmitter")
    elif state.transmitter_was_lost:
        state.transmitter_was_lost = False
        texts.append("ODID: transmitter OK")
    if not _fresh(state.last_system_s, now_s, WARN_PERIOD_S) and \
            now_s - state.last_lost_operator_warning_s > WARN_PERIOD_S:
        state.last_lost_operator_warning_s = now_s
        texts.append("ODID: lost operator location")
    return texts


def _fresh(stamp_s: float | None, now_s: float, max_age_s: float = MAX_AGE_S) -> bool:
    return stamp_s is not None and now_s - stamp_s <= max_age_s

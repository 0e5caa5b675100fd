"""A simulated Remote ID transmitter module on an autopilot's MAVLink serial port (like ArduRemoteID).

ArduPilot with `DID_ENABLE=1` and `DID_OPTIONS=1` arms only while the transmitter on `DID_MAVPORT`
reports OPEN_DRONE_ID_ARM_STATUS "good to arm" (at most 3 s old). A real transmitter says so once
the autopilot has forwarded it a fresh vehicle location, the Basic ID, SELF_ID, OPERATOR_ID and the
operator's SYSTEM data; this one applies the same rules (`arm_status`, also used by the in-repo
simulator's built-in transmitter) and answers at 1 Hz of the vehicle's time.

`RemoteIdTransmitter(url, speedup=K)` attaches to SITL's SERIAL2 (TCP 5763 + 10·I) in a thread; give
it the vehicle's signing key when the link is signed (ArduPilot then drops unsigned frames on every
port but SERIAL0).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

logger = logging.getLogger(__name__)

LOCATION_MAX_AGE_S = 3.0  # the vehicle location and operator location must come as fast as FAA requires
OTHER_MAX_AGE_S = 22.0  # Basic ID, SELF_ID, OPERATOR_ID are repeated slowly
ODID_COMPONENT = mavlink.MAV_COMP_ID_ODID_TXRX_1


@dataclass
class ReceivedRemoteId:
    """What the transmitter has received, with the time (vehicle seconds) of each kind of message."""

    seen_s: dict[str, float] = field(default_factory=dict)
    vehicle_location_set: bool = False
    operator_location_set: bool = False
    has_basic_id: bool = False

    def note(self, message: Any, now_s: float) -> None:
        """Fold in one OPEN_DRONE_ID_* message."""
        kind = message.get_type()
        if kind == "OPEN_DRONE_ID_LOCATION":
            self.seen_s["LOC"] = now_s
            self.vehicle_location_set = bool(message.latitude or message.longitude)
        elif kind == "OPEN_DRONE_ID_BASIC_ID":
            self.has_basic_id = self.has_basic_id or message.id_type != mavlink.MAV_ODID_ID_TYPE_NONE
        elif kind == "OPEN_DRONE_ID_SELF_ID":
            self.seen_s["SELF_ID"] = now_s
        elif kind == "OPEN_DRONE_ID_OPERATOR_ID":
            self.seen_s["OP_ID"] = now_s
        elif kind in ("OPEN_DRONE_ID_SYSTEM", "OPEN_DRONE_ID_SYSTEM_UPDATE"):
            self.seen_s["SYS"] = now_s
            self.operator_location_set = bool(message.operator_latitude or message.operator_longitude)


def arm_status(received: ReceivedRemoteId, now_s: float) -> tuple[int, str]:
    """(MAV_ODID_ARM_STATUS, error text): good to arm only with everything fresh and both locations set."""
    limits: Mapping[str, float] = {"LOC": LOCATION_MAX_AGE_S, "SELF_ID": OTHER_MAX_AGE_S,
                                   "OP_ID": OTHER_MAX_AGE_S, "SYS": LOCATION_MAX_AGE_S}
    missing = [name for name, limit in limits.items()
               if name not in received.seen_s or now_s - received.seen_s[name] > limit]
    if not received.has_basic_id:
        missing.insert(1 if "LOC" in missing else 0, "ID")
    problems = [f"missing {' '.join(missing)}"] if missing else []
    if not received.vehicle_location_set:
        problems.append("zero LOC")
    if not received.operator_location_set:
        problems.append("zero OP_LOC")
    if not problems:
        return mavlink.MAV_ODID_ARM_STATUS_GOOD_TO_ARM, ""
    return mavlink.MAV_ODID_ARM_STATUS_PRE_ARM_FAIL_GENERIC, " ".join(problems)[:49]


class RemoteIdTransmitter:
    """A transmitter attached to one autopilot port (a thread; `start` / `stop`, or a context manager)."""

    def __init__(self, url: str, *, system_id: int = 1, speedup: float = 1.0, signing_key: bytes | None = None,
                 connect_timeout_s: float = 20.0) -> None:
        self.url = url
        self.system_id = system_id
        self.speedup = speedup
        self.signing_key = signing_key
        self.connect_timeout_s = connect_timeout_s
        self.received = ReceivedRemoteId()
        self.last_status: tuple[int, str] | None = None
        self._stop = threading.Event()
        self._new_key: bytes | None = None
        self._thread: threading.Thread | None = None
        self._started_wall = 0.0

    def __enter__(self) -> RemoteIdTransmitter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def now_s(self) -> float:
        """Vehicle seconds since start (wall time × speed-up)."""
        return (time.monotonic() - self._started_wall) * self.speedup

    def start(self) -> None:
        """Connect and run in a daemon thread."""
        from pymavlink import mavutil

        deadline = time.monotonic() + self.connect_timeout_s
        while True:
            try:
                conn = mavutil.mavlink_connection(self.url, source_system=self.system_id,
                                                  source_component=ODID_COMPONENT, retries=0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        if self.signing_key is not None:
            conn.setup_signing(self.signing_key, sign_outgoing=True)
        self._started_wall = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(conn,), name="remote-id-tx", daemon=True)
        self._thread.start()

    def use_signing_key(self, key: bytes) -> None:
        """Sign from now on (the autopilot's link was just signed)."""
        self._new_key = key

    def stop(self) -> None:
        """Stop the thread (it closes the connection)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _run(self, conn: Any) -> None:
        next_status_s = 0.0
        try:
            while not self._stop.is_set():
                key, self._new_key = self._new_key, None
                if key is not None:
                    conn.setup_signing(key, sign_outgoing=True)
                message = conn.recv_match(blocking=True, timeout=0.02)
                now_s = self.now_s()
                if message is not None and message.get_type().startswith("OPEN_DRONE_ID"):
                    self.received.note(message, now_s)
                if now_s >= next_status_s:
                    next_status_s = now_s + 1.0
                    status, text = self.last_status = arm_status(self.received, now_s)
                    conn.mav.heartbeat_send(mavlink.MAV_TYPE_ODID, mavlink.MAV_AUTOPILOT_INVALID, 0, 0,
                                            mavlink.MAV_STATE_ACTIVE)
                    conn.mav.open_drone_id_arm_status_send(status, text.encode())
        except OSError as exc:  # the autopilot went away: a transmitter without it has nothing to do
            logger.info("remote id transmitter on %s: %s", self.url, exc)
        finally:
            conn.close()

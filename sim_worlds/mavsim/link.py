"""One MAVLink link of one vehicle (a TCP client or a UDP peer): framing, sequence numbers, streams.

Like an ArduPilot channel: it has its own sequence counter, its own message intervals (all 0
until a ground station asks, as Copter's default stream rates are), and becomes *active* (gets
STATUSTEXT) once it has delivered one valid MAVLink packet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

logger = logging.getLogger(__name__)

# Bytes a link may hold unsent before telemetry is dropped (a slow reader must not grow memory).
MAX_BACKLOG_BYTES = 256 * 1024


class _Sink:
    """File-like adapter that pymavlink's encoder writes packed frames into."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write

    def write(self, data: bytes) -> None:
        self._write(data)


class Link:
    """Encoder/decoder and per-link state for one peer."""

    def __init__(
        self,
        system_id: int,
        write: Callable[[bytes], None],
        name: str,
        backlog: Callable[[], int] | None = None,
        *,
        trusted: bool = False,
    ) -> None:
        self.name = name
        self.trusted = trusted  # like ArduPilot's channel 0 (USB): unsigned frames accepted even when signing
        self._mav = mavlink.MAVLink(_Sink(write), srcSystem=system_id, srcComponent=1)
        self._mav.robust_parsing = True
        self._backlog = backlog
        self.active = False
        self.closed = False
        self.intervals_s: dict[int, float] = {}
        self.next_due_s: dict[int, float] = {}
        self.bad_packets = 0

    def parse(self, data: bytes) -> list[Any]:
        """Decode every complete valid frame in `data`; garbage and bad CRCs are counted and skipped."""
        try:
            decoded = self._mav.parse_buffer(data) or []
        except Exception:
            logger.debug("%s: undecodable bytes dropped", self.name, exc_info=True)
            self.bad_packets += 1
            self._mav.buf = bytearray()
            self._mav.buf_index = 0
            return []
        messages = []
        for message in decoded:
            if message.get_type() == "BAD_DATA":
                self.bad_packets += 1
                continue
            messages.append(message)
        if messages:
            self.active = True
        return messages

    def enable_signing(self, key: bytes, timestamp: int) -> None:
        """MAVLink 2 signing from now on: sign every frame; drop unsigned/badly signed ones unless trusted."""
        signing = self._mav.signing
        signing.secret_key = key
        signing.timestamp = max(signing.timestamp, timestamp)
        signing.sign_outgoing = True
        signing.allow_unsigned_callback = self._accept_unsigned

    def _accept_unsigned(self, mav: Any, message_id: int) -> bool:
        return self.trusted or message_id in (mavlink.MAVLINK_MSG_ID_RADIO_STATUS, mavlink.MAVLINK_MSG_ID_RADIO)

    def send(self, message: Any) -> None:
        """Pack and write one message (dropped when the peer is gone or not reading)."""
        if self.closed:
            return
        if self._backlog is not None and self._backlog() > MAX_BACKLOG_BYTES:
            return
        self._mav.send(message)

    def set_interval(self, message_id: int, interval_s: float | None, now_s: float) -> None:
        """Stream `message_id` every `interval_s` seconds (None or <= 0 stops it)."""
        if interval_s is None or interval_s <= 0:
            self.intervals_s.pop(message_id, None)
            self.next_due_s.pop(message_id, None)
            return
        self.intervals_s[message_id] = interval_s
        self.next_due_s[message_id] = now_s

    def due(self, now_s: float) -> list[int]:
        """Message ids whose interval has elapsed (and schedules their next send)."""
        ready = []
        for message_id, due_s in self.next_due_s.items():
            if now_s >= due_s:
                ready.append(message_id)
                interval = self.intervals_s[message_id]
                # Keep the phase but never try to catch up on missed sends (a late tick sends once).
                self.next_due_s[message_id] = max(due_s + interval, now_s + interval * 0.5)
        return ready

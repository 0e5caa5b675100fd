"""One ground-station session with one MAVLink vehicle: what every protocol part of the adapter shares.

The link and the vehicle's system/component ids, the link status, the vehicle's recent STATUSTEXT
(the reason behind most refusals), the clock and timeouts, and `wait_until`: the one way the parts
wait for the vehicle to show something (woken by every telemetry update, bounded by a timeout).

Time: protocol round trips are wall-clock seconds; the vehicle's own behaviour is measured in
seconds of the session's `Clock`, and `vehicle_wait_wall` turns those into wall seconds with a floor
(a heartbeat round trip does not speed up with the simulation).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mission_planner.clock import Clock

from ..errors import AdapterTimeout, LinkLost, NotConnected
from .base import LinkStatus
from .mavlink_link import MavlinkLink, MavlinkTransport, mavlink, parse_url
from .mavlink_signing import SigningKey

logger = logging.getLogger(__name__)

_TEXT_GRACE_S = 0.3  # STATUSTEXT explaining a refusal may trail its COMMAND_ACK / MISSION_ACK


@dataclass(frozen=True)
class MavlinkTimeouts:
    """Timeouts and retries; `*_wall_s` are wall-clock seconds, `*_clock_s` seconds of the adapter's Clock."""

    command_ack_wall_s: float = 1.5
    command_retries: int = 3
    mission_item_wall_s: float = 1.5
    mission_retries: int = 4
    param_wall_s: float = 1.5
    link_lost_clock_s: float = 5.0  # no HEARTBEAT for this long -> LinkStatus.LOST
    link_lost_min_wall_s: float = 1.0  # never declare a loss faster than this (scheduler hiccups)
    mode_change_clock_s: float = 5.0
    takeoff_clock_s: float = 60.0
    vehicle_wait_floor_wall_s: float = 5.0  # clock-second waits for the vehicle never shrink below this wall time
    reconnect_backoff_wall_s: float = 0.5
    reconnect_backoff_max_wall_s: float = 5.0


class MavlinkSession:
    """The shared state of one vehicle connection; each protocol part holds the same session."""

    def __init__(
        self,
        vehicle_id: str,
        url: str,
        on_message: Callable[[Any], None],
        *,
        clock: Clock,
        timeouts: MavlinkTimeouts,
        source_system: int,
        source_component: int,
        expected_system: int | None = None,
        signing: SigningKey | None = None,
        transport: MavlinkTransport | None = None,
    ) -> None:
        self.vehicle_id = vehicle_id
        self.url = url
        self.address = parse_url(url)
        self.clock = clock
        self.timeouts = timeouts
        self.link = MavlinkLink(
            self.address, on_message, source_system=source_system, source_component=source_component,
            expected_system=expected_system, signing=signing, transport=transport,
        )  # fmt: skip
        self.target_system: int | None = None
        self.target_component: int = 1
        self.link_status = LinkStatus.CONNECTING
        self.closed = False
        self.last_heartbeat_wall = 0.0
        self.texts: collections.deque[tuple[float, int, str]] = collections.deque(maxlen=32)
        self._changed = asyncio.Event()
        self._text_arrived = asyncio.Event()

    # ------------------------------------------------------------------ waiting for the vehicle

    def notify_changed(self) -> None:
        """Wake every `wait_until`: the vehicle's state has changed."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout_wall_s: float, call: str, why: str) -> None:
        """Return once `predicate()` holds; AdapterTimeout naming `call` and `why` after `timeout_wall_s`."""
        deadline = time.monotonic() + timeout_wall_s
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.timeout(call, f"{why} within {timeout_wall_s:.1f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
            if self.closed:
                raise NotConnected(self.vehicle_id, call, "adapter closed while waiting")

    def clock_to_wall(self, clock_s: float) -> float:
        """Wall seconds that `clock_s` seconds of the session's clock take."""
        return self.clock.wall_s(clock_s)

    def vehicle_wait_wall(self, clock_s: float) -> float:
        """Wall seconds to wait for the vehicle: `clock_s` scaled by the speed-up, but never under the
        floor (a 5 s mode change at x60 would be 0.08 s, less than one heartbeat round trip)."""
        return max(self.clock.wall_s(clock_s), min(clock_s, self.timeouts.vehicle_wait_floor_wall_s))

    def timeout(self, call: str, why: str) -> AdapterTimeout:
        """Log, then return the AdapterTimeout to raise."""
        logger.warning("%s: %s timed out: %s", self.vehicle_id, call, why)
        return AdapterTimeout(self.vehicle_id, call, why)

    # ------------------------------------------------------------------ sending

    def require_link(self, call: str) -> None:
        """Raise NotConnected before connect()/after close(), LinkLost while heartbeats are missing."""
        if self.closed or self.target_system is None:
            raise NotConnected(self.vehicle_id, call, "not connected; call connect() first")
        if self.link_status is LinkStatus.LOST:
            raise LinkLost(self.vehicle_id, call, "no heartbeat from the vehicle; waiting for it to come back")

    def target_sys(self) -> int:
        """The vehicle's system id (NotConnected before its first heartbeat)."""
        if self.target_system is None:
            raise NotConnected(self.vehicle_id, "send", "no heartbeat yet; call connect() first")
        return self.target_system

    # ------------------------------------------------------------------ STATUSTEXT

    def on_statustext(self, msg: Any) -> None:
        """Keep the vehicle's text (refusal reasons, failsafe causes) and log it."""
        text = msg.text if isinstance(msg.text, str) else bytes(msg.text).decode(errors="replace")
        text = text.rstrip("\x00")
        self.texts.append((time.monotonic(), int(msg.severity), text))
        logger.log(
            logging.WARNING if msg.severity <= mavlink.MAV_SEVERITY_WARNING else logging.INFO,
            "%s: STATUSTEXT %s",
            self.vehicle_id,
            text,
        )
        self._text_arrived.set()
        self._text_arrived = asyncio.Event()

    def texts_within(self, seconds: float) -> list[str]:
        """The texts of the last `seconds` wall seconds, oldest first."""
        since = time.monotonic() - seconds
        return [text for stamp, _, text in self.texts if stamp > since]

    async def texts_since(self, since_wall: float, prefixes: tuple[str, ...] = ()) -> str:
        """STATUSTEXT sent around a refusal (warnings and worse first), waiting briefly if none came yet.

        With `prefixes`, texts that name the refused action (ArduPilot starts its arming refusals with "Arm:" or
        "PreArm:") are the answer; an unrelated warning sent in the same second (e.g. a periodic Remote ID one)
        is not.
        """

        def collect() -> list[tuple[int, str]]:
            found = [(sev, text) for stamp, sev, text in self.texts if stamp >= since_wall - 0.05]
            named = [(sev, text) for sev, text in found if prefixes and text.startswith(prefixes)]
            return named or ([] if prefixes else found)

        found = collect()
        if not found:
            deadline = time.monotonic() + _TEXT_GRACE_S
            while not found and (left := deadline - time.monotonic()) > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._text_arrived.wait(), left)
                found = collect()
            if not found and prefixes:
                prefixes = ()
                found = collect()
        serious = [text for sev, text in found if sev <= mavlink.MAV_SEVERITY_WARNING]
        return "; ".join(serious or [text for _, text in found])

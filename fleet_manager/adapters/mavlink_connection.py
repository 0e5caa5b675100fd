"""Keeping the link to one MAVLink vehicle alive.

Open with retries until a deadline; then one periodic task per link: the GCS heartbeat at 1 Hz
(ArduCopter's GCS failsafe watches it), the heartbeat watchdog (no HEARTBEAT for
`link_lost_clock_s` -> LinkStatus.LOST), reopening a closed or stale socket with back-off, and
asking for the telemetry streams again when they stop (a rebooted autopilot streams nothing).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ..errors import AdapterError, CommandRefused
from .base import LinkStatus
from .mavlink_commands import MavlinkCommands
from .mavlink_link import mavlink
from .mavlink_progress import MissionProgress
from .mavlink_session import MavlinkSession
from .mavlink_telemetry import MavlinkTelemetry, StreamRequest

logger = logging.getLogger(__name__)


class LinkKeeper:
    """Opens the link, watches it, and reopens it; reports status changes to the mission and telemetry."""

    def __init__(
        self,
        session: MavlinkSession,
        commands: MavlinkCommands,
        telemetry: MavlinkTelemetry,
        progress: MissionProgress,
        streams: tuple[StreamRequest, ...],
        telemetry_rate_hz: float,
        publish: Callable[[], None],
    ) -> None:
        self._session = session
        self._commands = commands
        self._telemetry = telemetry
        self._progress = progress
        self._streams = streams
        self._telemetry_rate_hz = telemetry_rate_hz
        self._publish = publish
        self._last_stream_request_wall = 0.0
        self._stream_task: asyncio.Task[None] | None = None

    async def open_until(self, deadline: float) -> None:
        """Open the socket, retrying with back-off until `deadline` (time.monotonic()); AdapterTimeout then."""
        session = self._session
        delay = 0.1
        while True:
            try:
                await session.link.open(timeout_s=max(0.1, min(5.0, deadline - time.monotonic())))
                return
            except (OSError, TimeoutError) as exc:
                if time.monotonic() + delay >= deadline:
                    raise session.timeout("connect()", f"cannot open {session.url}: {exc}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def housekeeping(self) -> None:
        """One periodic task per link: GCS heartbeat at 1 Hz, heartbeat watchdog, reconnect, stream re-request."""
        while not self._session.closed:
            try:
                await self._keep_link()
            except asyncio.CancelledError:
                raise
            except Exception:  # the watchdog must outlive any single failure, or link loss goes unseen
                logger.exception("%s: link housekeeping failed; restarting it", self._session.vehicle_id)
                await asyncio.sleep(1.0)

    async def request_streams(self, deadline: float) -> None:
        """SET_MESSAGE_INTERVAL for every stream; AdapterTimeout when the vehicle does not answer by `deadline`."""
        self._last_stream_request_wall = time.monotonic()
        for stream in self._streams:
            # Intervals are in the vehicle's own time: under SITL --speedup K they arrive K times as often.
            interval_us = int(1e6 / stream.rate_hz)
            try:
                await self._commands.command(
                    mavlink.MAV_CMD_SET_MESSAGE_INTERVAL,
                    stream.message_id,
                    interval_us,
                    call=f"request_stream({stream.message_id}@{stream.rate_hz:g}Hz)",
                )
            except CommandRefused as exc:
                logger.warning("%s: %s", self._session.vehicle_id, exc)
            if time.monotonic() > deadline:
                raise self._session.timeout("request_streams()", "vehicle does not answer SET_MESSAGE_INTERVAL")

    def set_link(self, status: LinkStatus, why: str) -> None:
        """Record a link status change: log it, tell the running mission, re-request streams after a loss."""
        session = self._session
        if status is session.link_status:
            return
        previous, session.link_status = session.link_status, status
        if status is LinkStatus.LOST:
            logger.warning("%s: link lost: %s", session.vehicle_id, why)
        else:
            logger.info("%s: link %s (%s)", session.vehicle_id, status.value, why)
        self._progress.on_link(status, previous, why)
        if status is LinkStatus.CONNECTED and previous is LinkStatus.LOST and self._stream_task is None:
            self._stream_task = asyncio.create_task(self._rerequest_streams())
        self._publish()

    async def _keep_link(self) -> None:
        session = self._session
        timeouts = session.timeouts
        link = session.link
        lost_wall = max(timeouts.link_lost_min_wall_s, session.clock_to_wall(timeouts.link_lost_clock_s))
        tick = min(0.25, lost_wall / 4)
        next_heartbeat = 0.0
        backoff = timeouts.reconnect_backoff_wall_s
        next_reconnect = 0.0
        while not session.closed:
            now = time.monotonic()
            if now >= next_heartbeat:
                next_heartbeat = now + 1.0
                link.send(
                    link.mav.heartbeat_encode(
                        mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, mavlink.MAV_STATE_ACTIVE
                    )
                )
            silent = now - session.last_heartbeat_wall
            if session.link_status is LinkStatus.CONNECTED and silent > lost_wall:
                self.set_link(LinkStatus.LOST, f"no HEARTBEAT for {silent:.1f} s")
            tcp_stale = (
                session.address.scheme in ("tcp", "serial") and session.link_status is LinkStatus.LOST
                and silent > 2 * lost_wall
            )
            if (not link.is_open or tcp_stale) and now >= next_reconnect:
                try:
                    # On a socket shared with other vehicles only silence from all of them reopens it.
                    if await link.reopen(2 * lost_wall, timeout_s=min(2.0, lost_wall)):
                        logger.info("%s: reopened %s", session.vehicle_id, session.url)
                    backoff = timeouts.reconnect_backoff_wall_s
                    session.last_heartbeat_wall = min(session.last_heartbeat_wall, now)
                    next_heartbeat = 0.0
                except (OSError, TimeoutError) as exc:
                    logger.debug("%s: reconnect failed: %s", session.vehicle_id, exc)
                    backoff = min(backoff * 2, timeouts.reconnect_backoff_max_wall_s)
                next_reconnect = time.monotonic() + backoff
            streams_stale = now - self._telemetry.last_position_wall > max(3.0, 3.0 / self._telemetry_rate_hz)
            if (
                session.link_status is LinkStatus.CONNECTED
                and streams_stale
                and now - self._last_stream_request_wall > 5.0
                and self._stream_task is None
            ):
                self._stream_task = asyncio.create_task(self._rerequest_streams())
            await asyncio.sleep(tick)

    async def _rerequest_streams(self) -> None:
        try:
            await self.request_streams(time.monotonic() + 10.0)
        except AdapterError as exc:
            logger.warning("%s: stream request failed: %s", self._session.vehicle_id, exc)
        finally:
            self._stream_task = None

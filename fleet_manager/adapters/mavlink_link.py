"""MAVLink transport: one asyncio byte stream per vehicle URL, parsed into pymavlink messages.

URLs follow pymavlink's `mavlink_connection` spelling, parsed in one place (`parse_url`):

- `tcp:HOST:PORT`      connect to a TCP server (ArduPilot SITL SERIAL0, the in-repo simulator);
- `udpout:HOST:PORT`   send to HOST:PORT, receive the replies (the vehicle answers the last sender);
- `udp:HOST:PORT`, `udpin:HOST:PORT`   listen on HOST:PORT, reply to whoever sent last
  (MAVProxy `--out`, SITL `--serial0 udpclient:...`, a telemetry radio bridge).

No threads: the sockets are asyncio transports and the bytes go through pymavlink's parser in
the event loop, so hundreds of links share one process. The parser runs in robust mode, so the
text banner SITL prints before MAVLink on TCP, garbage and truncated frames are counted and
skipped rather than raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink  # MAVLink 2 framing, no MAVLINK20 env needed

from mission_planner.errors import FinalMileError

logger = logging.getLogger(__name__)

GCS_SYSTEM_ID = 250
GCS_COMPONENT_ID = 190  # MAV_COMP_ID_MISSIONPLANNER

_SCHEMES = {"tcp": "tcp", "udp": "udpin", "udpin": "udpin", "udpout": "udpout"}


class LinkUrlError(FinalMileError, ValueError):
    """A vehicle URL cannot be parsed."""


@dataclass(frozen=True)
class LinkAddress:
    """Where a vehicle's MAVLink stream is: scheme (`tcp`, `udpin`, `udpout`), host and port."""

    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        """The canonical URL of this address."""
        return f"{self.scheme}:{self.host}:{self.port}"


def parse_url(url: str) -> LinkAddress:
    """Parse `tcp:H:P`, `udp:H:P`, `udpin:H:P` or `udpout:H:P` (a `//` after the colon is accepted)."""
    scheme, sep, rest = url.partition(":")
    rest = rest.removeprefix("//")
    if not sep or scheme.lower() not in _SCHEMES:
        raise LinkUrlError(
            f"vehicle url {url!r}: scheme must be one of tcp:, udp:, udpin:, udpout: (e.g. tcp:127.0.0.1:5760)"
        )
    host, sep, port_text = rest.rpartition(":")
    if not sep or not host:
        raise LinkUrlError(f"vehicle url {url!r}: expected {scheme}:HOST:PORT")
    try:
        port = int(port_text)
    except ValueError:
        raise LinkUrlError(f"vehicle url {url!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise LinkUrlError(f"vehicle url {url!r}: port {port} is outside 0..65535")
    return LinkAddress(_SCHEMES[scheme.lower()], host, port)


@dataclass
class LinkStats:
    """Counters of one link, for diagnostics and the benchmark."""

    bytes_in: int = 0
    messages_in: int = 0
    bad_frames: int = 0
    messages_out: int = 0


MessageHandler = Callable[[Any], None]


class _StreamProtocol(asyncio.Protocol):
    def __init__(self, link: MavlinkLink) -> None:
        self._link = link

    def data_received(self, data: bytes) -> None:
        self._link._feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._link._transport_lost(self, exc)


class _DatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self, link: MavlinkLink) -> None:
        self._link = link

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._link._peer = addr
        self._link._feed(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable while the vehicle is down: expected, the heartbeat watchdog decides.
        logger.debug("udp error on %s: %s", self._link.address.url, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._link._transport_lost(self, exc)


class MavlinkLink:
    """One MAVLink connection: open/close the socket, send messages, hand every parsed message on."""

    def __init__(
        self,
        address: LinkAddress,
        on_message: MessageHandler,
        *,
        source_system: int = GCS_SYSTEM_ID,
        source_component: int = GCS_COMPONENT_ID,
    ) -> None:
        self.address = address
        self.stats = LinkStats()
        self._on_message = on_message
        self._source_system = source_system
        self._source_component = source_component
        self._mav = self._new_parser()
        self._transport: asyncio.BaseTransport | None = None
        self._protocol: asyncio.BaseProtocol | None = None
        self._peer: tuple[Any, int] | None = None

    @property
    def mav(self) -> Any:
        """The pymavlink MAVLink object, for its `*_encode` message constructors."""
        return self._mav

    @property
    def is_open(self) -> bool:
        """Whether a socket is open (for TCP: connected)."""
        return self._transport is not None and not self._transport.is_closing()

    def _new_parser(self) -> Any:
        mav = mavlink.MAVLink(None, srcSystem=self._source_system, srcComponent=self._source_component)
        mav.robust_parsing = True
        return mav

    async def open(self, timeout_s: float = 5.0) -> None:
        """Open the socket; raises ConnectionError/OSError/TimeoutError when that fails."""
        loop = asyncio.get_running_loop()
        self._mav = self._new_parser()  # a fresh parser: no half frame from the previous connection
        addr = self.address
        transport: asyncio.BaseTransport
        protocol: asyncio.BaseProtocol
        if addr.scheme == "tcp":
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(lambda: _StreamProtocol(self), addr.host, addr.port), timeout_s
            )
        else:
            here = (addr.host, addr.port)
            outgoing = addr.scheme == "udpout"
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _DatagramProtocol(self),
                local_addr=None if outgoing else here,
                remote_addr=here if outgoing else None,
            )
            self._peer = None
        self._transport, self._protocol = transport, protocol

    def close(self) -> None:
        """Close the socket; idempotent."""
        transport, self._transport, self._protocol = self._transport, None, None
        if transport is not None:
            transport.close()

    def send(self, message: Any) -> bool:
        """Send one message; returns False when there is nowhere to send it (closed, no UDP peer yet)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        data = message.pack(self._mav)
        self._mav.seq = (self._mav.seq + 1) % 256
        if self.address.scheme == "tcp":
            transport.write(data)  # type: ignore[attr-defined]
        elif self.address.scheme == "udpout":
            transport.sendto(data)  # type: ignore[attr-defined]
        elif self._peer is not None:
            transport.sendto(data, self._peer)  # type: ignore[attr-defined]
        else:
            return False
        self.stats.messages_out += 1
        return True

    def _feed(self, data: bytes) -> None:
        self.stats.bytes_in += len(data)
        try:
            messages = self._mav.parse_buffer(data)
        except Exception as exc:  # pymavlink raises on some malformed frames even in robust mode
            self.stats.bad_frames += 1
            logger.debug("%s: dropped malformed bytes: %s", self.address.url, exc)
            self._mav = self._new_parser()
            return
        if not messages:
            return
        for message in messages:
            if message.get_type() == "BAD_DATA":
                self.stats.bad_frames += 1
                continue
            self.stats.messages_in += 1
            try:
                self._on_message(message)
            except Exception:  # a handler bug must not kill the link for every other message
                logger.exception("%s: error handling %s", self.address.url, message.get_type())

    def _transport_lost(self, protocol: asyncio.BaseProtocol, exc: Exception | None) -> None:
        if protocol is self._protocol:
            logger.info("%s: connection closed (%s)", self.address.url, exc or "by peer")
            self._transport, self._protocol = None, None

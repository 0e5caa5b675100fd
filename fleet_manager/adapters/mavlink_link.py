"""MAVLink transport: one asyncio byte stream per vehicle URL, parsed into pymavlink messages.

URLs follow pymavlink's `mavlink_connection` spelling, parsed in one place (`parse_url`):

- `tcp:HOST:PORT`      connect to a TCP server (ArduPilot SITL SERIAL0, the in-repo simulator);
- `tcpin:HOST:PORT`    listen for TCP clients (a companion computer or mavlink-router connecting to us);
- `udpout:HOST:PORT`   send to HOST:PORT, receive the replies (the vehicle answers the last sender);
- `udp:HOST:PORT`, `udpin:HOST:PORT`   listen on HOST:PORT, reply to whoever sent last
  (MAVProxy `--out`, SITL `--serial0 udpclient:...`, a telemetry radio bridge);
- `serial:DEVICE:BAUD`, `serial:DEVICE,BAUD` or pymavlink's bare `DEVICE,BAUD` (`/dev/ttyUSB0,57600`)
  a serial port: a telemetry radio, or the autopilot's USB.

One socket may carry several vehicles (mavlink-router, a radio mesh, a companion computer):
`MavlinkTransport` owns the socket and hands each frame to the `MavlinkLink` whose vehicle sent it
(by source system id), so several adapters share one URL, each with its own system id. A link that
names no system id takes the first autopilot heartbeat that no other link on the socket claims.

Each `MavlinkLink` encodes with its own ground-station ids and, when given a `SigningKey`, signs
every frame (MAVLink 2 signing) and drops, counting them, unsigned or badly signed frames from its
vehicle. No threads: sockets are asyncio transports and the bytes go through pymavlink's parser in
the event loop, so hundreds of links share one process. The parser runs in robust mode, so the text
banner SITL prints before MAVLink on TCP, garbage and truncated frames are counted and skipped.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink  # MAVLink 2 framing, no MAVLINK20 env needed

from mission_planner.errors import FinalMileError

from .mavlink_signing import SigningKey, SigningState

logger = logging.getLogger(__name__)

GCS_SYSTEM_ID = 255  # ArduPilot's default MAV_GCS_SYSID (SYSID_MYGCS before 4.7)
GCS_COMPONENT_ID = 190  # MAV_COMP_ID_MISSIONPLANNER
PEER_PIN_HOLD_S = 5.0  # UDP: silence after which a system id may be heard from a new address
MAX_UDP_SENDERS = 64  # UDP: partial-frame parsers kept, one per sender address

_SCHEMES = {"tcp": "tcp", "tcpin": "tcpin", "udp": "udpin", "udpin": "udpin", "udpout": "udpout", "serial": "serial"}
_BARE_SERIAL = re.compile(r"^(?P<device>(/dev/\S+|COM\d+)),(?P<baud>\d+)$")
_SERIAL_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 921600, 1500000)


class LinkUrlError(FinalMileError, ValueError):
    """A vehicle URL cannot be parsed."""


@dataclass(frozen=True)
class LinkAddress:
    """Where a vehicle's MAVLink stream is: scheme (`tcp`, `tcpin`, `udpin`, `udpout`, `serial`), host and port.

    For `serial` the host is the device path and the port the baud rate.
    """

    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        """The canonical URL of this address."""
        if self.scheme == "serial":
            return f"serial:{self.host},{self.port}"
        return f"{self.scheme}:{self.host}:{self.port}"


def parse_url(url: str) -> LinkAddress:
    """Parse `tcp:`, `tcpin:`, `udp:`/`udpin:`, `udpout:` `H:P`, or a serial port (`serial:DEV:BAUD`, `DEV,BAUD`)."""
    bare = _BARE_SERIAL.match(url.strip())
    if bare:
        return _serial(url, bare["device"], bare["baud"])
    scheme, sep, rest = url.partition(":")
    rest = rest.removeprefix("//")
    if not sep or scheme.lower() not in _SCHEMES:
        raise LinkUrlError(
            f"vehicle url {url!r}: scheme must be one of tcp:, tcpin:, udp:, udpin:, udpout:, serial: "
            "(e.g. tcp:127.0.0.1:5760, serial:/dev/ttyUSB0:57600, or /dev/ttyUSB0,57600)"
        )
    if scheme.lower() == "serial":
        device, separator, baud = rest.rpartition("," if "," in rest else ":")
        if not separator or not device:
            raise LinkUrlError(f"vehicle url {url!r}: expected serial:DEVICE:BAUD (e.g. serial:/dev/ttyUSB0:57600)")
        return _serial(url, device, baud)
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


def _serial(url: str, device: str, baud_text: str) -> LinkAddress:
    try:
        baud = int(baud_text)
    except ValueError:
        raise LinkUrlError(f"vehicle url {url!r}: baud rate {baud_text!r} is not a number") from None
    if baud not in _SERIAL_BAUDS:
        raise LinkUrlError(f"vehicle url {url!r}: baud rate {baud} is not one of {', '.join(map(str, _SERIAL_BAUDS))}")
    return LinkAddress("serial", device, baud)


@dataclass
class LinkStats:
    """Counters of one vehicle's link, for diagnostics, telemetry and the benchmark."""

    bytes_in: int = 0
    messages_in: int = 0
    bad_frames: int = 0
    messages_out: int = 0
    unsigned_dropped: int = 0  # signing on: frames from the vehicle without a signature
    bad_signature_dropped: int = 0  # signing on: wrong key, replayed or stale timestamp
    foreign_dropped: int = 0  # UDP: frames with this vehicle's system id from another address than its own

    @property
    def rejected_frames(self) -> int:
        """Frames from the vehicle dropped because signing rejected them."""
        return self.unsigned_dropped + self.bad_signature_dropped


MessageHandler = Callable[[Any], None]


class _StreamProtocol(asyncio.Protocol):
    def __init__(self, transport: MavlinkTransport) -> None:
        self._owner = transport
        self._parser = transport.new_parser()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._owner._stream_made(self)

    def data_received(self, data: bytes) -> None:
        self._parser = self._owner._feed(data, self._parser, None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._stream_lost(self, exc)


class _DatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self, transport: MavlinkTransport) -> None:
        self._owner = transport
        # One parser per sender, so bytes from one address never splice into another's frames.
        self._parsers: dict[tuple[Any, int], Any] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        parser = self._parsers.pop(addr, None) or self._owner.new_parser()
        self._parsers[addr] = self._owner._feed(data, parser, addr)
        if len(self._parsers) > MAX_UDP_SENDERS:
            del self._parsers[next(iter(self._parsers))]  # the sender heard from longest ago

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable while the vehicle is down: expected, the heartbeat watchdog decides.
        logger.debug("udp error on %s: %s", self._owner.address.url, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._datagram_lost(self, exc)


class MavlinkTransport:
    """One socket (or serial port, or TCP listener) and the vehicle links it carries, routed by system id."""

    def __init__(self, address: LinkAddress) -> None:
        self.address = address
        self.bytes_in = 0
        self.bad_frames = 0
        self.unrouted = 0  # frames from a system no link on this socket serves
        self.last_rx_wall = 0.0
        self.seq = 0  # one sequence counter per socket: the peer counts losses per sender
        self._links: list[MavlinkLink] = []
        self._streams: list[_StreamProtocol] = []
        self._datagram: asyncio.DatagramTransport | None = None
        self._datagram_protocol: _DatagramProtocol | None = None
        self._server: asyncio.AbstractServer | None = None
        self._peer: tuple[Any, int] | None = None
        # UDP: the address each system id is pinned to, and when it was last heard from there.
        self._peer_of_system: dict[int, tuple[Any, int]] = {}
        self._peer_heard_wall: dict[int, float] = {}
        self.foreign = 0  # frames dropped for coming from another address than their system's pinned one
        self._opening: asyncio.Lock | None = None

    # ------------------------------------------------------------------ links on this socket

    @property
    def links(self) -> tuple[MavlinkLink, ...]:
        """The vehicle links attached to this socket."""
        return tuple(self._links)

    def attach(self, link: MavlinkLink) -> None:
        """Carry `link`; two links may not expect the same system id."""
        if link.expected_system is not None and any(
            other.expected_system == link.expected_system for other in self._links if other is not link
        ):
            raise LinkUrlError(f"{self.address.url}: two vehicles expect system id {link.expected_system}")
        if link not in self._links:
            self._links.append(link)

    def detach(self, link: MavlinkLink) -> None:
        """Stop carrying `link`; the socket closes with its last link."""
        if link in self._links:
            self._links.remove(link)
        if not self._links:
            self.close()

    def new_parser(self) -> Any:
        """A pymavlink parser without keys: signatures are checked per vehicle link."""
        mav = mavlink.MAVLink(None)
        mav.robust_parsing = True
        return mav

    # ------------------------------------------------------------------ socket

    @property
    def is_open(self) -> bool:
        """Whether the socket can carry frames (TCP: connected; tcpin: listening; serial: open)."""
        if self.address.scheme == "tcpin":
            return self._server is not None and self._server.is_serving()
        if self.address.scheme in ("tcp", "serial"):
            return any(s.transport is not None and not s.transport.is_closing() for s in self._streams)
        return self._datagram is not None and not self._datagram.is_closing()

    async def open(self, timeout_s: float = 5.0) -> None:
        """Open the socket if it is not open; raises ConnectionError/OSError/TimeoutError when that fails."""
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self.is_open:
                return
            await self._open(timeout_s)

    async def _open(self, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        addr = self.address
        if addr.scheme == "tcp":
            await asyncio.wait_for(loop.create_connection(lambda: _StreamProtocol(self), addr.host, addr.port),
                                   timeout_s)
        elif addr.scheme == "tcpin":
            self._server = await loop.create_server(lambda: _StreamProtocol(self), addr.host, addr.port)
        elif addr.scheme == "serial":
            from serial_asyncio_fast import create_serial_connection  # only for fleets with a serial link

            await asyncio.wait_for(
                create_serial_connection(loop, lambda: _StreamProtocol(self), addr.host, baudrate=addr.port),
                timeout_s,
            )
        else:
            here = (addr.host, addr.port)
            outgoing = addr.scheme == "udpout"
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _DatagramProtocol(self),
                local_addr=None if outgoing else here,
                remote_addr=here if outgoing else None,
            )
            self._datagram, self._datagram_protocol = transport, protocol
            self._peer = None
            self._peer_of_system.clear()
            self._peer_heard_wall.clear()

    async def reopen_if_silent(self, silent_wall_s: float, timeout_s: float) -> bool:
        """Reopen a closed socket, or one that has carried nothing for `silent_wall_s`; True when reopened.

        On a shared socket one vehicle going quiet does not cut the others: only silence from all does.
        """
        if self.is_open and time.monotonic() - self.last_rx_wall < silent_wall_s:
            return False
        self.close()
        await self.open(timeout_s)
        return True

    def close(self) -> None:
        """Close the socket; idempotent."""
        streams, self._streams = self._streams, []
        for stream in streams:
            if stream.transport is not None:
                stream.transport.close()
        server, self._server = self._server, None
        if server is not None:
            server.close()
        datagram, self._datagram, self._datagram_protocol = self._datagram, None, None
        if datagram is not None:
            datagram.close()

    def write(self, data: bytes, system_id: int | None) -> bool:
        """Write one packed frame toward `system_id` (False when there is nowhere to send it)."""
        scheme = self.address.scheme
        if scheme in ("tcp", "tcpin", "serial"):
            sent = False
            for stream in self._streams:  # tcpin: every connected client (each may carry several vehicles)
                if stream.transport is not None and not stream.transport.is_closing():
                    stream.transport.write(data)
                    sent = True
            return sent
        datagram = self._datagram
        if datagram is None or datagram.is_closing():
            return False
        if scheme == "udpout":
            datagram.sendto(data)
            return True
        peer = self._peer_of_system.get(system_id or -1, self._peer)
        if peer is None:
            return False
        datagram.sendto(data, peer)
        return True

    # ------------------------------------------------------------------ incoming

    def _stream_made(self, stream: _StreamProtocol) -> None:
        self._streams.append(stream)
        if self.address.scheme == "tcpin":
            logger.info("%s: client connected", self.address.url)

    def _stream_lost(self, stream: _StreamProtocol, exc: Exception | None) -> None:
        if stream in self._streams:
            self._streams.remove(stream)
            logger.info("%s: connection closed (%s)", self.address.url, exc or "by peer")
        stream.transport = None

    def _datagram_lost(self, protocol: _DatagramProtocol, exc: Exception | None) -> None:
        if protocol is self._datagram_protocol:
            self._datagram, self._datagram_protocol = None, None

    def _feed(self, data: bytes, parser: Any, peer: tuple[Any, int] | None) -> Any:
        """Parse `data`; returns the parser to use next (a fresh one after an undecodable frame)."""
        self.bytes_in += len(data)
        now = time.monotonic()
        try:
            messages = parser.parse_buffer(data)
        except Exception as exc:  # pymavlink raises on some malformed frames even in robust mode
            self.bad_frames += 1
            logger.debug("%s: dropped malformed bytes: %s", self.address.url, exc)
            return self.new_parser()
        for message in messages or ():
            if message.get_type() == "BAD_DATA":
                self.bad_frames += 1
                for attached in self._links:
                    attached.stats.bad_frames += 1
                continue
            source = message.get_srcSystem()
            if peer is not None and not self._pin(source, peer, now):
                self.foreign += 1
                for attached in self._links:
                    if attached.system_id == source:
                        attached.stats.foreign_dropped += 1
                continue
            target = self._route(message, source)
            if target is None:
                self.unrouted += 1
                continue
            self.last_rx_wall = now
            if peer is not None:
                self._peer = peer
            target.deliver(message)
        return parser

    def _pin(self, source: int, peer: tuple[Any, int], now: float) -> bool:
        """Whether a UDP frame from `peer` claiming system `source` is taken (pinning the address).

        A system id stays bound to the address it was first heard from while that address keeps talking;
        a spoofer on the port cannot take the replies or inject telemetry. Only after `PEER_PIN_HOLD_S`
        of silence (a rebooted radio or router on a new port) may another address take over.
        """
        pinned = self._peer_of_system.get(source)
        if pinned is not None and pinned != peer and now - self._peer_heard_wall.get(source, 0.0) < PEER_PIN_HOLD_S:
            return False
        if pinned != peer:
            if pinned is not None:
                logger.warning("%s: system %d moved from %s to %s after %.0f s of silence", self.address.url,
                               source, pinned, peer, now - self._peer_heard_wall.get(source, 0.0))
            self._peer_of_system[source] = peer
        self._peer_heard_wall[source] = now
        return True

    def _route(self, message: Any, source: int) -> MavlinkLink | None:
        for link in self._links:
            if link.system_id == source:
                return link
        if message.get_type() != "HEARTBEAT" or message.autopilot == mavlink.MAV_AUTOPILOT_INVALID:
            return None
        # The first autopilot heartbeat no link claims goes to a link that named no system id.
        for link in self._links:
            if link.system_id is None:
                link.system_id = source
                return link
        return None


class MavlinkLink:
    """One vehicle's MAVLink link on a (possibly shared) transport: send messages, hand its frames on."""

    def __init__(
        self,
        address: LinkAddress,
        on_message: MessageHandler,
        *,
        source_system: int = GCS_SYSTEM_ID,
        source_component: int = GCS_COMPONENT_ID,
        expected_system: int | None = None,
        signing: SigningKey | None = None,
        transport: MavlinkTransport | None = None,
    ) -> None:
        self.address = address
        self.stats = LinkStats()
        self.source_system = source_system
        self.source_component = source_component
        self.expected_system = expected_system
        self.system_id = expected_system  # the vehicle's system id (learnt from its first heartbeat if not given)
        self._on_message = on_message
        self.transport = transport or MavlinkTransport(address)
        self._mav = mavlink.MAVLink(None, srcSystem=source_system, srcComponent=source_component)
        self.signing = SigningState(self._mav, signing) if signing is not None else None
        self._attached = False

    @property
    def mav(self) -> Any:
        """The pymavlink MAVLink object, for its `*_encode` message constructors."""
        return self._mav

    @property
    def is_open(self) -> bool:
        """Whether the socket is open (for TCP: connected)."""
        return self._attached and self.transport.is_open

    async def open(self, timeout_s: float = 5.0) -> None:
        """Attach to the transport and open it; raises ConnectionError/OSError/TimeoutError when that fails."""
        self.transport.attach(self)
        self._attached = True
        await self.transport.open(timeout_s)

    async def reopen(self, silent_wall_s: float, timeout_s: float) -> bool:
        """Reopen the socket when it is closed or has carried nothing for `silent_wall_s` (see the transport)."""
        self.transport.attach(self)
        self._attached = True
        return await self.transport.reopen_if_silent(silent_wall_s, timeout_s)

    def close(self) -> None:
        """Leave the transport (closing the socket when no other vehicle uses it); idempotent."""
        if self._attached:
            self._attached = False
            self.transport.detach(self)

    def send(self, message: Any) -> bool:
        """Send one message; returns False when there is nowhere to send it (closed, no UDP peer yet)."""
        if not self._attached:
            return False
        transport = self.transport
        self._mav.seq = transport.seq
        data = message.pack(self._mav)
        transport.seq = (transport.seq + 1) % 256
        if not transport.write(data, self.system_id):
            return False
        self.stats.messages_out += 1
        return True

    def deliver(self, message: Any) -> None:
        """A frame from this link's vehicle: check its signature (when signing), then hand it on."""
        self.stats.bytes_in += len(message.get_msgbuf())
        if self.signing is not None and not self.signing.accept(message, self.stats):
            return
        self.stats.messages_in += 1
        try:
            self._on_message(message)
        except Exception:  # a handler bug must not kill the link for every other message
            logger.exception("%s: error handling %s", self.address.url, message.get_type())

"""Sockets: each vehicle serves MAVLink on TCP (like SITL's SERIAL0) and UDP (reply to last sender).

Vehicle i listens on TCP host:(base_port + 10·i) and UDP host:(udp_base_port + 10·i). The first TCP
client of a vehicle gets ArduPilot's plain-text boot banner before the first MAVLink frame, as
SITL prints it on SERIAL0. Every TCP client and the UDP peer are separate links.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from sim_worlds.mavsim.autopilot import Vehicle
from sim_worlds.mavsim.commands import handle_message
from sim_worlds.mavsim.link import MAX_BACKLOG_BYTES, Link

logger = logging.getLogger(__name__)

PROBE_GRACE_S = 0.2

BANNER = (
    b"\n\nInit ArduCopter V4.7.0-dev (mavsim)\n\nFree RAM: 524288\nBooting 0/0\n"
    b"0 0 0 AP_Logger_File: buffer size=204800\n"
)


def _deliver(vehicle: Vehicle, link: Link, data: bytes) -> None:
    for message in link.parse(data):
        try:
            handle_message(vehicle, link, message)
        except Exception:
            logger.exception("sysid %d: error handling %s", vehicle.system_id, message.get_type())


class _TcpClient(asyncio.Protocol):
    def __init__(self, vehicle: Vehicle, loop_time: Any) -> None:
        self.vehicle = vehicle
        self._loop_time = loop_time
        self.transport: asyncio.Transport | None = None
        self.link: Link | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        # A port probe that closes at once must neither boot the vehicle nor eat the banner.
        asyncio.get_running_loop().call_later(PROBE_GRACE_S, self._attach)

    def _attach(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing() or self.link is not None:
            return
        vehicle = self.vehicle
        if vehicle.boot_s is None:
            vehicle.start_boot(self._loop_time())
            transport.write(BANNER)
        self.link = Link(vehicle.system_id, self._write, f"tcp{transport.get_extra_info('peername')}",
                         backlog=transport.get_write_buffer_size, trusted=True)
        vehicle.add_link(self.link)

    def _write(self, data: bytes) -> None:
        # A client that went away leaves the transport closing before connection_lost runs; writing
        # on would only make asyncio log "socket.send() raised exception" for every frame.
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.link is None:
            self._attach()
        if self.link is not None:
            _deliver(self.vehicle, self.link, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.link is not None:
            self.link.closed = True
            if self.link in self.vehicle.links:
                self.vehicle.links.remove(self.link)


class _UdpPeer(asyncio.DatagramProtocol):
    def __init__(self, vehicle: Vehicle, loop_time: Any) -> None:
        self.vehicle = vehicle
        self._loop_time = loop_time
        self.transport: asyncio.DatagramTransport | None = None
        self.peer: Any = None
        self.link = Link(vehicle.system_id, self._write, f"udp{vehicle.system_id}", backlog=self._backlog)

    def _backlog(self) -> int:
        return MAX_BACKLOG_BYTES + 1 if self.peer is None or self.transport is None else 0

    def _write(self, data: bytes) -> None:
        if self.transport is not None and self.peer is not None:
            self.transport.sendto(data, self.peer)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.vehicle.add_link(self.link)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.peer = addr
        self.vehicle.start_boot(self._loop_time())
        _deliver(self.vehicle, self.link, data)

    def error_received(self, exc: Exception) -> None:
        logger.debug("sysid %d: UDP error %s", self.vehicle.system_id, exc)


class _SharedSerial(asyncio.Protocol):
    """Every vehicle on one serial line (a radio mesh, or mavlink-router's serial endpoint): one parser,
    each message offered to every vehicle (each answers only what is addressed to it)."""

    def __init__(self, vehicles: list[Vehicle], loop_time: Any) -> None:
        self.vehicles = vehicles
        self._loop_time = loop_time
        self.transport: asyncio.Transport | None = None
        self._parser = Link(0, lambda data: None, "serial-parser")
        self.links: dict[int, Link] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        for vehicle in self.vehicles:
            link = Link(vehicle.system_id, self._write, f"serial{vehicle.system_id}",
                        backlog=self.transport.get_write_buffer_size)
            self.links[vehicle.system_id] = link
            vehicle.add_link(link)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        messages = self._parser.parse(data)
        for vehicle in self.vehicles:
            vehicle.start_boot(self._loop_time())
            link = self.links[vehicle.system_id]
            link.active = link.active or bool(messages)
            for message in messages:
                try:
                    handle_message(vehicle, link, message)
                except Exception:
                    logger.exception("sysid %d: error handling %s", vehicle.system_id, message.get_type())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve_serial(vehicles: list[Vehicle], device: str, baud: int, sim_now: Any) -> Any:
    """Serve every vehicle on one serial device (e.g. one end of a pseudo-terminal pair); returns its transport."""
    from serial_asyncio_fast import create_serial_connection

    transport, _ = await create_serial_connection(asyncio.get_running_loop(),
                                                  lambda: _SharedSerial(vehicles, sim_now), device, baudrate=baud)
    return transport


async def serve_vehicle(
    vehicle: Vehicle, host: str, tcp_port: int, udp_port: int | None, sim_now: Any
) -> list[Any]:
    """Open the vehicle's TCP server (and UDP endpoint); returns the objects to close on shutdown."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _TcpClient(vehicle, sim_now), host, tcp_port)
    closers: list[Any] = [server]
    if udp_port is not None:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpPeer(vehicle, sim_now), local_addr=(host, udp_port))
        closers.append(transport)
    return closers

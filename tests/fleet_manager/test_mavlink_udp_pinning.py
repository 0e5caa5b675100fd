"""A spoofer on the UDP port is ignored (issue 19, item 6): replies stay with the vehicle, its id is not taken."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from fleet_manager.adapters.mavlink_link import MavlinkLink, mavlink, parse_url

pytestmark = pytest.mark.timeout(60)


def _heartbeat(system_id: int) -> bytes:
    mav = mavlink.MAVLink(None, srcSystem=system_id, srcComponent=1)
    return bytes(mavlink.MAVLink_heartbeat_message(
        mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0, 0, 3).pack(mav))


def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def _received(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            sock.recvfrom(4096)
        except BlockingIOError:
            return count
        count += 1


async def test_a_spoofer_on_the_udp_port_neither_gets_replies_nor_speaks_for_the_vehicle() -> None:
    heard: list[Any] = []
    link = MavlinkLink(parse_url("udpin:127.0.0.1:0"), heard.append)
    await link.open()
    transport = link.transport
    assert transport._datagram is not None
    port = transport._datagram.get_extra_info("sockname")[1]
    vehicle, spoofer = _udp(), _udp()
    try:
        vehicle.sendto(_heartbeat(1), ("127.0.0.1", port))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if heard:
                break
        assert link.system_id == 1
        # The spoofer speaks as the vehicle and as another system, then the GCS sends a command.
        for _ in range(5):
            spoofer.sendto(_heartbeat(1), ("127.0.0.1", port))
            spoofer.sendto(_heartbeat(2), ("127.0.0.1", port))
        await asyncio.sleep(0.2)
        assert link.send(mavlink.MAVLink_command_long_message(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0))
        await asyncio.sleep(0.2)
        assert _received(vehicle) == 1 and _received(spoofer) == 0
        assert len(heard) == 1 and link.system_id == 1
        assert transport.foreign == 5
        # The vehicle itself keeps being heard.
        vehicle.sendto(_heartbeat(1), ("127.0.0.1", port))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(heard) == 2:
                break
        assert len(heard) == 2
    finally:
        link.close()
        vehicle.close()
        spoofer.close()

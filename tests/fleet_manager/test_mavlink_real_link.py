"""What real drones need from the MAVLink link, against the in-repo simulator over real sockets and a serial line.

Remote ID (mavsim enforces AP_OpenDroneID's arming check with `DID_ENABLE=1`, `DID_OPTIONS=1`),
GCS identity (`MAV_OPTIONS=1`: only MAV_GCS_SYSID is obeyed), MAVLink 2 signing (SETUP_SIGNING over
TCP, then signed over UDP; unsigned frames dropped and counted), several vehicles on one serial line
(a pseudo-terminal pair, as a telemetry radio) routed by system id, and `tcpin:` (the vehicle side
connects to the fleet manager, as mavlink-router's TCP client endpoint does).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import select
import threading
import tty
from collections.abc import AsyncIterator, Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter, MavlinkTimeouts
from fleet_manager.adapters.mavlink_link import MavlinkTransport, mavlink, parse_url
from fleet_manager.adapters.mavlink_remote_id import RemoteIdAircraft, RemoteIdConfig, RemoteIdOperator
from fleet_manager.adapters.mavlink_signing import SigningKey
from fleet_manager.errors import AdapterTimeout, CommandRefused
from fleet_manager.fleet import Fleet
from fleet_manager.link_metrics import register_link_metrics
from mission_planner.clock import Clock
from mission_planner.model import VehicleKind
from mission_planner.profiles import DEFAULT_PROFILES
from sim_worlds.mavsim.process import MavsimProcess, free_tcp_port

pytestmark = pytest.mark.sim

SPEEDUP = 10.0
HOME = (60.1715, 24.9381, 10.0)
REMOTE_ID = RemoteIdConfig(RemoteIdOperator("FIN87astrdge12k8", 60.17152, 24.93815, 12.0),
                           RemoteIdAircraft("FM-SIM-0001"))
KEY = SigningKey.from_passphrase("finalmile mavsim test key")
FAST_BOOT = ("--boot-s", "4")


def _adapter(url: str, name: str, **options: object) -> MavlinkAdapter:
    return MavlinkAdapter(name, url, clock=Clock(speedup=SPEEDUP), **options)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def _connected(url: str, name: str, **options: object) -> AsyncIterator[MavlinkAdapter]:
    drone = _adapter(url, name, **options)
    await drone.connect(timeout_s=20)
    try:
        yield drone
    finally:
        await drone.close()


@pytest.mark.timeout(120)
async def test_remote_id_check_on_the_simulator_as_on_arducopter() -> None:
    """No Remote ID data: 'UA_TYPE required in BasicID'; streamed: armable; stopped: 'SYSTEM not available'."""
    params = {"DID_ENABLE": 1, "DID_OPTIONS": 1, "DID_MAVPORT": 2}
    with MavsimProcess(1, speedup=SPEEDUP, home=HOME, params=params, extra_args=FAST_BOOT) as sim:
        async with _connected(sim.urls[0], "no-remote-id") as silent:
            await silent.wait_ready(timeout_s=60)
            await silent.set_mode("GUIDED")
            with pytest.raises(CommandRefused) as refusal:
                await silent.arm()
            assert refusal.value.status_text == "Arm: OpenDroneID: UA_TYPE required in BasicID"
        async with _connected(sim.urls[0], "remote-id", remote_id=REMOTE_ID) as drone:
            await drone.wait_ready(timeout_s=60)
            await drone.set_mode("GUIDED")
            await asyncio.sleep(0.3)  # the transmitter hears the forwarded data within a second of vehicle time
            await drone.arm()
            await drone.disarm()
            assert drone.remote_id is not None
            await drone.remote_id.stop()
            await asyncio.sleep(0.6)
            with pytest.raises(CommandRefused) as refusal:
                await drone.arm()
            assert refusal.value.status_text == "Arm: OpenDroneID: SYSTEM not available"


@pytest.mark.timeout(120)
async def test_only_the_gcs_system_id_is_obeyed_with_mav_options_1() -> None:
    """MAV_OPTIONS=1: GCS id 250 gets no answer; the default 255 connects and commands."""
    with MavsimProcess(1, speedup=SPEEDUP, home=HOME, params={"MAV_OPTIONS": 1}, extra_args=FAST_BOOT) as sim:
        stranger = _adapter(sim.urls[0], "gcs-250", gcs_system_id=250,
                            timeouts=MavlinkTimeouts(command_ack_wall_s=0.4, command_retries=1))
        with pytest.raises(AdapterTimeout, match="SET_MESSAGE_INTERVAL"):
            await stranger.connect(timeout_s=5)
        async with _connected(sim.urls[0], "gcs-255") as drone:
            assert await drone.get_parameter("MAV_GCS_SYSID") == 255


@pytest.mark.timeout(120)
async def test_signing_set_up_over_tcp_then_signed_over_udp_and_unsigned_frames_dropped() -> None:
    """SETUP_SIGNING over TCP (trusted), then a signed UDP link works; without the key, the vehicle's frames are
    dropped and counted; a vehicle that does not sign is refused by a link that expects signatures."""
    with MavsimProcess(1, speedup=SPEEDUP, home=HOME, extra_args=FAST_BOOT) as sim:
        udp = f"udpout:127.0.0.1:{sim.udp_ports[0]}"
        unsigned_vehicle = _adapter(sim.urls[0], "expects-signing", signing=KEY)
        with pytest.raises(AdapterTimeout, match="HEARTBEAT"):
            await unsigned_vehicle.connect(timeout_s=3)
        assert unsigned_vehicle.link_stats.unsigned_dropped > 0 and unsigned_vehicle.link_stats.messages_in == 0
        fleet = Fleet()
        fleet.add("hub", unsigned_vehicle, DEFAULT_PROFILES[VehicleKind.DRONE], home_latitude_deg=HOME[0],
                  home_longitude_deg=HOME[1])
        registry = CollectorRegistry()
        register_link_metrics(registry, fleet)
        exposition = generate_latest(registry).decode()
        assert 'finalmile_mavlink_rejected_frames_total{reason="unsigned",vehicle_id="expects-signing"}' in exposition

        async with _connected(sim.urls[0], "installer", signing=KEY, signing_setup=True) as installer:
            assert installer.link.signing is not None and installer.link.signing.verified
        async with _connected(udp, "signed", signing=KEY) as drone:
            await drone.wait_ready(timeout_s=60)
            await drone.set_mode("GUIDED")
            assert drone.latest_state().mode == "GUIDED"  # type: ignore[union-attr]
            assert drone.link_stats.rejected_frames == 0
        wrong = _adapter(udp, "wrong-key", signing=SigningKey.from_passphrase("another key"))
        with pytest.raises(AdapterTimeout, match="HEARTBEAT"):
            await wrong.connect(timeout_s=3)
        assert wrong.link_stats.bad_signature_dropped > 0


@contextlib.contextmanager
def _pty_pair() -> Iterator[tuple[str, str]]:
    """Two pseudo-terminals wired back to back (what `socat pty,raw pty,raw` makes): (path A, path B).

    The slave ends stay open here until the pair is torn down: closed early, the master reads EIO and
    the kernel's deferred release of the slave can race the simulator's or the adapter's open, leaving
    the line dead (no byte either way) on a loaded machine.
    """
    masters, slaves, paths = [], [], []
    for _ in range(2):
        master, slave = pty.openpty()
        tty.setraw(slave)
        masters.append(master)
        slaves.append(slave)
        paths.append(os.ttyname(slave))
    stop = threading.Event()

    def bridge() -> None:
        a, b = masters
        while not stop.is_set():
            ready, _, _ = select.select([a, b], [], [], 0.1)
            for source in ready:
                with contextlib.suppress(OSError):  # EIO once torn down
                    os.write(b if source == a else a, os.read(source, 4096))

    thread = threading.Thread(target=bridge, daemon=True)
    thread.start()
    try:
        yield paths[0], paths[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        for fd in masters + slaves:
            os.close(fd)


@pytest.mark.timeout(120)
async def test_two_vehicles_on_one_serial_line_are_each_routed_to_their_own_adapter() -> None:
    """mavsim serves vehicles 1 and 2 on one serial line (pty pair): two adapters on the same URL, one each."""
    with _pty_pair() as (sim_end, our_end), MavsimProcess(2, speedup=SPEEDUP, home=HOME,
                                                         extra_args=(*FAST_BOOT, "--serial", f"{sim_end},57600")):
        url = f"serial:{our_end}:57600"
        transport = MavlinkTransport(parse_url(url))
        first = _adapter(url, "radio-1", system_id=1, transport=transport)
        second = _adapter(url, "radio-2", system_id=2, transport=transport)
        try:
            await asyncio.gather(first.connect(timeout_s=20), second.connect(timeout_s=20))
            await asyncio.gather(first.wait_ready(timeout_s=60), second.wait_ready(timeout_s=60))
            await second.set_mode("LOITER")
            await first.set_mode("GUIDED")
            assert (first.target_system, second.target_system) == (1, 2)
            assert first.latest_state().mode == "GUIDED"  # type: ignore[union-attr]
            assert second.latest_state().mode == "LOITER"  # type: ignore[union-attr]
            assert first.link_stats.messages_in > 10 and second.link_stats.messages_in > 10
        finally:
            await first.close()
            await second.close()


@pytest.mark.timeout(60)
async def test_tcpin_serves_a_vehicle_that_connects_to_the_fleet_manager() -> None:
    """`tcpin:`: the fleet manager listens; a router-like client connects to it and to the vehicle."""
    port = free_tcp_port()
    with MavsimProcess(1, speedup=SPEEDUP, home=HOME, extra_args=FAST_BOOT) as sim:
        drone = _adapter(f"tcpin:127.0.0.1:{port}", "listening")
        connecting = asyncio.create_task(drone.connect(timeout_s=20))
        await asyncio.sleep(0.3)
        vehicle_reader, vehicle_writer = await asyncio.open_connection("127.0.0.1", sim.base_port)
        our_reader, our_writer = await asyncio.open_connection("127.0.0.1", port)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(4096):
                writer.write(data)

        pipes = [asyncio.create_task(pipe(vehicle_reader, our_writer)),
                 asyncio.create_task(pipe(our_reader, vehicle_writer))]
        try:
            await connecting
            await drone.set_mode("GUIDED")
            assert drone.target_system == 1
            assert drone.latest_state().mode == "GUIDED"  # type: ignore[union-attr]
        finally:
            await drone.close()
            for task in pipes:
                task.cancel()
            vehicle_writer.close()
            our_writer.close()


def test_remote_id_refusals_come_in_arducopters_order() -> None:
    """No Basic ID first, then no operator location; without DID_OPTIONS bit 0 nothing is enforced."""
    from sim_worlds.mavsim.params import ParamTable
    from sim_worlds.mavsim.remote_id import RemoteIdState, pre_arm_failure

    params = ParamTable({"DID_ENABLE": 1, "DID_OPTIONS": 1, "DID_MAVPORT": 2})
    state = RemoteIdState()
    assert pre_arm_failure(state, params, 10.0) == "UA_TYPE required in BasicID"
    state.basic_id_type = mavlink.MAV_ODID_ID_TYPE_SERIAL_NUMBER
    assert pre_arm_failure(state, params, 10.0) == "operator location must be set"
    params.set("DID_OPTIONS", 0)
    assert pre_arm_failure(state, params, 10.0) is None


class _RadioBridge(asyncio.DatagramProtocol):
    """The vehicle's side of a UDP radio link: relays mavsim's UDP port to a ground station listening on
    `udp:` (as SITL's `--out udp:HOST:PORT` or a telemetry radio bridge does), from one fixed address."""

    def __init__(self, vehicle_port: int, gcs_port: int) -> None:
        self.vehicle = ("127.0.0.1", vehicle_port)
        self.gcs = ("127.0.0.1", gcs_port)
        self.transport: asyncio.DatagramTransport | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, self.gcs if addr == self.vehicle else self.vehicle)


class _Listener(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1


@pytest.mark.timeout(90)
async def test_a_spoofer_on_the_udp_port_is_ignored_while_the_vehicle_talks() -> None:
    """`udp:` listen link: a second sender claiming the vehicle's system id (heartbeats, a position 5 km
    away) is dropped and counted; our replies keep going to the vehicle's address, never to the spoofer."""
    loop = asyncio.get_running_loop()
    port = free_tcp_port()  # the same number is free for UDP in practice; a clash fails loudly at bind
    with MavsimProcess(1, speedup=SPEEDUP, home=HOME, extra_args=FAST_BOOT) as sim:
        drone = _adapter(f"udp:127.0.0.1:{port}", "pinned", system_id=1)
        connecting = asyncio.create_task(drone.connect(timeout_s=20))
        await asyncio.sleep(0.2)
        bridge_transport, bridge = await loop.create_datagram_endpoint(
            lambda: _RadioBridge(sim.udp_ports[0], port), local_addr=("127.0.0.1", 0))
        bridge.transport = bridge_transport
        gcs = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
        # mavsim talks to whoever wrote to its UDP port last: make that this bridge, as SITL's --out would be.
        bridge_transport.sendto(gcs.heartbeat_encode(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID,
                                                     0, 0, 0).pack(gcs), bridge.vehicle)
        spoofer_transport, spoofer = await loop.create_datagram_endpoint(_Listener, local_addr=("127.0.0.1", 0))
        try:
            await connecting
            await drone.wait_ready(timeout_s=60)
            fake = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
            far_lat, far_lon = int((HOME[0] + 0.045) * 1e7), int(HOME[1] * 1e7)
            for _ in range(30):
                spoofer_transport.sendto(fake.heartbeat_encode(
                    mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0, 3).pack(fake),
                    ("127.0.0.1", port))
                spoofer_transport.sendto(fake.global_position_int_encode(
                    0, far_lat, far_lon, 500_000, 490_000, 0, 0, 0, 0).pack(fake), ("127.0.0.1", port))
                await asyncio.sleep(0.02)
            await drone.set_mode("LOITER")  # the command reaches the vehicle, not the spoofer
            state = drone.latest_state()
            assert state is not None and state.mode == "LOITER"
            assert abs(state.latitude_deg - HOME[0]) < 0.001, "a spoofed position was taken as the vehicle's"
            assert drone.link_stats.foreign_dropped >= 60
            assert spoofer.received == 0, "a reply went to the spoofer"
        finally:
            await drone.close()
            bridge_transport.close()
            spoofer_transport.close()

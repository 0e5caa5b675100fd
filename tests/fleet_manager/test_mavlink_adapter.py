"""The MAVLink adapter against the in-repo ArduCopter simulator over real UDP on 127.0.0.1.

One `finalmile mavsim` process (speed-up 10) hosts one vehicle per test; a test-side UDP relay
sits between adapter and vehicle where a test needs to cut the link or inject garbage. Pure
conversions (URLs, mission/fence items, read-back quirks) are tested without a vehicle.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from fleet_manager.adapters.base import (
    FencePolygon,
    Geofence,
    LinkStatus,
    Mission,
    MissionEvent,
    MissionOutcome,
    MissionStep,
    StepKind,
)
from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter, MavlinkTimeouts
from fleet_manager.adapters.mavlink_codec import (
    FENCE,
    MISSION,
    MissionEncodingError,
    MissionItem,
    fence_items,
    item_difference,
    mission_plan,
)
from fleet_manager.adapters.mavlink_link import LinkUrlError, mavlink, parse_url
from fleet_manager.errors import AdapterTimeout, CommandRefused, LinkLost, MissionBusy, NoMissionRunning
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame

SPEEDUP = 10.0
HOME = (60.1715, 24.9381, 10.0)
FRAME = LocalFrame.at(HOME[0], HOME[1])
VEHICLES = 7  # one per flying test, so tests never share a vehicle's state


def _ll(x_m: float, y_m: float) -> tuple[float, float]:
    return FRAME.to_wgs84(x_m, y_m)


def _square_fence(half_m: float) -> Geofence:
    corners = [(-half_m, -half_m), (half_m, -half_m), (half_m, half_m), (-half_m, half_m)]
    return Geofence(polygons=(FencePolygon(tuple(_ll(x, y) for x, y in corners), inclusion=True),))


def _delivery(mission_id: str, drop_x_m: float, drop_y_m: float, altitude_m: float = 20.0) -> Mission:
    lat, lon = _ll(drop_x_m, drop_y_m)
    return Mission(
        mission_id,
        (
            MissionStep(StepKind.TAKEOFF, altitude_m=altitude_m),
            MissionStep(StepKind.DELIVER, lat, lon, altitude_m=altitude_m, order_id="order-1"),
            MissionStep(StepKind.RETURN),
        ),
    )


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    x1, y1 = FRAME.to_local(lat1, lon1)
    x2, y2 = FRAME.to_local(lat2, lon2)
    return math.hypot(x2 - x1, y2 - y1)


# ---------------------------------------------------------------------- pure parts


def test_parse_url_accepts_pymavlink_spellings_and_names_bad_ones() -> None:
    """tcp:, tcpin:, udp:/udpin: (listen), udpout: and serial ports are parsed; bad ones are clear errors."""
    assert parse_url("tcp:127.0.0.1:5760").scheme == "tcp"
    assert parse_url("tcpin:0.0.0.0:5760").scheme == "tcpin"
    assert parse_url("udp:0.0.0.0:14550").scheme == "udpin"
    assert parse_url("udpout://10.0.0.2:14550").port == 14550
    serial = parse_url("serial:/dev/ttyUSB0:57600")
    assert (serial.scheme, serial.host, serial.port) == ("serial", "/dev/ttyUSB0", 57600)
    assert parse_url("/dev/ttyUSB0,57600") == serial == parse_url("serial:/dev/ttyUSB0,57600")
    with pytest.raises(LinkUrlError, match="scheme"):
        parse_url("radio:/dev/ttyUSB0:57600")
    with pytest.raises(LinkUrlError, match="baud rate 57601"):
        parse_url("/dev/ttyUSB0,57601")
    with pytest.raises(LinkUrlError, match="port"):
        parse_url("tcp:localhost:http")


def test_delivery_becomes_waypoint_descent_gripper_climb() -> None:
    """DELIVER turns into: waypoint above the drop, descent to release height, DO_GRIPPER release, climb."""
    plan = mission_plan(_delivery("m", 80, 60), home=HOME)
    commands = [item.command for item in plan.items]
    assert commands == [
        mavlink.MAV_CMD_NAV_WAYPOINT,  # item 0: home
        mavlink.MAV_CMD_NAV_TAKEOFF,
        mavlink.MAV_CMD_NAV_WAYPOINT,
        mavlink.MAV_CMD_NAV_WAYPOINT,
        mavlink.MAV_CMD_DO_GRIPPER,
        mavlink.MAV_CMD_NAV_WAYPOINT,
        mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH,
    ]
    assert plan.items[3].z == pytest.approx(3.0) and plan.items[2].z == pytest.approx(20.0)
    assert plan.items[4].param2 == mavlink.GRIPPER_ACTION_RELEASE
    assert plan.last_seq_of_step == (1, 5, 6) and plan.gripper_seqs == (4,)


def test_mission_step_without_position_is_refused_before_upload() -> None:
    """A GOTO without coordinates never reaches the vehicle: the error names the step and field."""
    with pytest.raises(MissionEncodingError, match=r"step 1 .*latitude_deg"):
        mission_plan(Mission("m", (MissionStep(StepKind.TAKEOFF, altitude_m=10), MissionStep(StepKind.GOTO))))


def test_read_back_tolerates_arducopter_quirks_but_not_real_changes() -> None:
    """Home in item 0, takeoff x/y = 0 and RTL frame 0 are accepted; a moved waypoint is not."""
    plan = mission_plan(_delivery("m", 80, 60), home=HOME)
    home, takeoff, waypoint = plan.items[0], plan.items[1], plan.items[2]
    rtl = plan.items[-1]
    assert item_difference(home, MissionItem(0, 0, 16, x=1, y=2, z=99.0)) is None
    assert item_difference(takeoff, MissionItem(1, 3, 22, x=0, y=0, z=takeoff.z)) is None
    assert item_difference(rtl, MissionItem(rtl.seq, 0, rtl.command)) is None
    moved = MissionItem(2, waypoint.frame, waypoint.command, x=waypoint.x + 10, y=waypoint.y, z=waypoint.z)
    assert "position" in (item_difference(waypoint, moved) or "")
    vertex = fence_items(_square_fence(50))[0]
    assert vertex.mission_type == FENCE and vertex.param1 == 4


# ---------------------------------------------------------------------- against the simulator


@pytest.fixture(scope="module")
def mavsim() -> Iterator[Any]:
    """One simulator process for the module, vehicle i on UDP port udp_ports[i]."""
    from sim_worlds.mavsim.process import MavsimProcess

    with MavsimProcess(VEHICLES, speedup=SPEEDUP, home=HOME, params={"FENCE_ENABLE": 1, "FENCE_TYPE": 5}) as sim:
        yield sim


class UdpRelay(asyncio.DatagramProtocol):
    """Forwards datagrams between the adapter and a vehicle; can drop them (link loss) or inject garbage."""

    def __init__(self, vehicle_port: int) -> None:
        self.vehicle = ("127.0.0.1", vehicle_port)
        self.client: tuple[str, int] | None = None
        self.cut = False
        self.uplink_muted = False  # drop adapter -> vehicle only (the vehicle is still heard)
        self.mute_after_msgid: int | None = None  # mute the uplink for mute_s after forwarding this message
        self.mute_s = 0.0
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    async def start(self) -> UdpRelay:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self.transport = transport  # type: ignore[assignment]
        self.port = transport.get_extra_info("sockname")[1]
        return self

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is None or self.cut:
            return
        if addr == self.vehicle:
            if self.client is not None:
                self.transport.sendto(data, self.client)
        else:
            self.client = addr
            if self.uplink_muted:
                return
            self.transport.sendto(data, self.vehicle)
            if self.mute_after_msgid is not None and _msgid(data) == self.mute_after_msgid:
                self.mute_after_msgid = None
                self.uplink_muted = True
                asyncio.get_running_loop().call_later(self.mute_s, setattr, self, "uplink_muted", False)

    def inject(self, data: bytes) -> None:
        """Send raw bytes to the adapter as if the vehicle had sent them."""
        if self.transport is not None and self.client is not None:
            self.transport.sendto(data, self.client)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _msgid(datagram: bytes) -> int | None:
    """The message id of a MAVLink 2 frame at the start of a datagram."""
    if len(datagram) < 10 or datagram[0] != 0xFD:
        return None
    return int.from_bytes(datagram[7:10], "little")


@pytest.fixture
async def adapter_factory() -> AsyncIterator[Any]:
    """Make connected, ready adapters on simulator vehicles; closes them after the test."""
    made: list[MavlinkAdapter] = []

    async def make(url: str, **kwargs: Any) -> MavlinkAdapter:
        adapter = MavlinkAdapter(f"drone-{len(made)}", url, clock=Clock(speedup=SPEEDUP), **kwargs)
        made.append(adapter)
        await adapter.connect(timeout_s=20)
        return adapter

    yield make
    for adapter in made:
        await adapter.close()


async def _collect(adapter: MavlinkAdapter, into: list[MissionEvent]) -> None:
    async for event in adapter.mission_events():
        into.append(event)


@pytest.mark.sim
@pytest.mark.timeout(120)
async def test_full_delivery_sortie_releases_parcel_at_the_drop_point(mavsim: Any, adapter_factory: Any) -> None:
    """Fence + mission uploaded and read back, take-off, fly, release near the drop, return, land, disarm."""
    drone: MavlinkAdapter = await adapter_factory(f"udpout:127.0.0.1:{mavsim.udp_ports[0]}")
    await drone.wait_ready(timeout_s=120)
    events: list[MissionEvent] = []
    collector = asyncio.create_task(_collect(drone, events))
    states = []

    async def watch() -> None:
        async for state in drone.telemetry():
            states.append(state)

    watcher = asyncio.create_task(watch())
    start = drone.latest_state()
    assert start is not None and start.position_valid and not start.armed
    mission = _delivery("sortie-1", 90, 70)
    await drone.start_mission(mission, geofence=_square_fence(300))

    stored_mission = await drone.download_items(MISSION)
    stored_fence = await drone.download_items(FENCE)
    assert len(stored_mission) == 7 and len(stored_fence) == 4

    result = await drone.wait_mission(timeout_s=400)
    await asyncio.sleep(0.1)
    collector.cancel()
    watcher.cancel()
    assert result.outcome is MissionOutcome.SUCCEEDED, result
    assert result.steps_completed == 3
    released = [e for e in events if e.what == "payload_released"]
    assert len(released) == 1 and released[0].detail == "order-1"
    drop = mission.steps[1]
    assert released[0].latitude_deg is not None and released[0].longitude_deg is not None
    assert drop.latitude_deg is not None and drop.longitude_deg is not None
    miss_m = _distance_m(released[0].latitude_deg, released[0].longitude_deg, drop.latitude_deg, drop.longitude_deg)
    assert miss_m < 3.0, f"released {miss_m:.1f} m from the drop point"
    assert [e.step_index for e in events if e.what == "step_reached"] == [0, 1, 2]
    end = drone.latest_state()
    assert end is not None and not end.armed and end.relative_altitude_m < 0.5
    assert _distance_m(end.latitude_deg, end.longitude_deg, start.latitude_deg, start.longitude_deg) < 3.0
    farthest = max(_distance_m(s.latitude_deg, s.longitude_deg, HOME[0], HOME[1]) for s in states)
    assert 100 < farthest < 130  # it flew out to the drop point (114 m) and not beyond
    assert max(s.relative_altitude_m for s in states) == pytest.approx(20.0, abs=1.5)
    assert start.battery_remaining_pct is not None and end.battery_remaining_pct is not None
    assert end.battery_remaining_pct < start.battery_remaining_pct


@pytest.mark.sim
@pytest.mark.timeout(120)
async def test_fence_breach_makes_the_vehicle_return_and_is_reported(mavsim: Any, adapter_factory: Any) -> None:
    """A waypoint outside the inclusion fence: the vehicle switches to RTL itself; the adapter reports a failsafe."""
    drone: MavlinkAdapter = await adapter_factory(f"udpout:127.0.0.1:{mavsim.udp_ports[1]}")
    await drone.wait_ready(timeout_s=120)
    events: list[MissionEvent] = []
    collector = asyncio.create_task(_collect(drone, events))
    await drone.start_mission(_delivery("breach", 0, 200), geofence=_square_fence(60))
    result = await drone.wait_mission(timeout_s=400)
    collector.cancel()
    failsafes = [e for e in events if e.what == "failsafe"]
    assert failsafes and "RTL" in failsafes[0].detail
    assert result.outcome is MissionOutcome.FAILED and "RTL" in result.error_msg
    assert not any(e.what == "payload_released" for e in events)


@pytest.mark.sim
@pytest.mark.timeout(120)
async def test_low_battery_makes_the_vehicle_return(mavsim: Any, adapter_factory: Any) -> None:
    """With BATT_FS_LOW_ACT=RTL, a voltage under BATT_LOW_VOLT in flight sends the drone home; reported."""
    drone: MavlinkAdapter = await adapter_factory(f"udpout:127.0.0.1:{mavsim.udp_ports[2]}")
    await drone.wait_ready(timeout_s=120)
    await drone.set_parameter("BATT_FS_LOW_ACT", 2)
    events: list[MissionEvent] = []
    collector = asyncio.create_task(_collect(drone, events))
    await drone.start_mission(_delivery("battery", 300, 300, altitude_m=30))
    assert await drone.set_parameter("BATT_LOW_VOLT", 13.0) == pytest.approx(13.0)
    result = await drone.wait_mission(timeout_s=400)
    collector.cancel()
    failsafe = next(e for e in events if e.what == "failsafe")
    assert "RTL" in failsafe.detail
    assert result.outcome is MissionOutcome.FAILED


@pytest.mark.sim
@pytest.mark.timeout(60)
async def test_link_loss_is_reported_and_the_adapter_reconnects(mavsim: Any, adapter_factory: Any) -> None:
    """Heartbeats stop → LinkStatus.LOST and commands raise LinkLost; they resume → CONNECTED again."""
    relay = await UdpRelay(mavsim.udp_ports[3]).start()
    try:
        drone: MavlinkAdapter = await adapter_factory(
            f"udpout:127.0.0.1:{relay.port}", timeouts=MavlinkTimeouts(link_lost_clock_s=10.0)
        )
        seen: list[LinkStatus] = []

        async def watch() -> None:
            async for state in drone.telemetry():
                if not seen or seen[-1] is not state.link:
                    seen.append(state.link)

        watcher = asyncio.create_task(watch())
        relay.cut = True
        await asyncio.wait_for(_until(lambda: drone.link_status is LinkStatus.LOST), 10)
        with pytest.raises(LinkLost):
            await drone.set_mode("GUIDED")
        relay.cut = False
        await asyncio.wait_for(_until(lambda: drone.link_status is LinkStatus.CONNECTED), 10)
        await drone.set_mode("GUIDED")  # commands work again after the reconnect
        watcher.cancel()
        assert seen[-2:] == [LinkStatus.LOST, LinkStatus.CONNECTED]
    finally:
        relay.close()


@pytest.mark.sim
@pytest.mark.timeout(60)
async def test_refusals_carry_the_vehicles_code_and_text(mavsim: Any, adapter_factory: Any) -> None:
    """Arming without a GPS fix and a 2-vertex fence are refused with MAV_RESULT / MAV_MISSION_RESULT and STATUSTEXT."""
    drone: MavlinkAdapter = await adapter_factory(f"udpout:127.0.0.1:{mavsim.udp_ports[4]}")
    await drone.wait_ready(timeout_s=120)
    bad_fence = Geofence(polygons=(FencePolygon((_ll(0, 0), _ll(50, 0)), inclusion=False),))
    with pytest.raises(CommandRefused) as fence_refusal:
        await drone.upload_geofence(bad_fence)
    assert fence_refusal.value.result_name == "MAV_MISSION_ERROR"
    assert "vertex" in (fence_refusal.value.status_text or "").lower()

    from sim_worlds.mavsim.process import MavsimProcess

    with MavsimProcess(1, speedup=SPEEDUP, home=HOME, params={"SIM_GPS_DISABLE": 1}) as no_gps:
        blind: MavlinkAdapter = await adapter_factory(f"udpout:127.0.0.1:{no_gps.udp_ports[0]}")
        await blind.clock.sleep(30)  # well past the time a GPS would have had a fix
        assert not _position_valid(blind)
        await blind.set_mode("GUIDED")  # accepted while disarmed, as on ArduCopter
        with pytest.raises(CommandRefused) as arm_refusal:
            await blind.arm()
        refusal = arm_refusal.value
        assert refusal.result_code == mavlink.MAV_RESULT_FAILED and refusal.result_name == "MAV_RESULT_FAILED"
        assert refusal.status_text and refusal.status_text.startswith("Arm:")
        assert not blind.latest_state().armed  # type: ignore[union-attr]


@pytest.mark.sim
@pytest.mark.timeout(90)
async def test_an_upload_the_vehicle_cancels_on_its_own_timeout_is_sent_again(
    mavsim: Any, adapter_factory: Any
) -> None:
    """Our uplink goes quiet mid-upload for longer than the vehicle's 8 s upload timeout: the vehicle answers
    MAV_MISSION_OPERATION_CANCELLED; the adapter starts the transfer again and the fence reads back whole."""
    relay = await UdpRelay(mavsim.udp_ports[4]).start()
    cancelled: list[int] = []
    parser = mavlink.MAVLink(None)
    parser.robust_parsing = True
    heard = relay.datagram_received

    def listen(data: bytes, addr: tuple[str, int]) -> None:
        if addr == relay.vehicle:
            for message in parser.parse_buffer(data) or ():
                if message.get_type() == "MISSION_ACK" and message.type == mavlink.MAV_MISSION_OPERATION_CANCELLED:
                    cancelled.append(message.mission_type)
        heard(data, addr)

    relay.datagram_received = listen  # type: ignore[method-assign]
    try:
        drone: MavlinkAdapter = await adapter_factory(f"udpout:127.0.0.1:{relay.port}")
        await drone.wait_ready(timeout_s=120)
        relay.mute_s = 4.0  # > 8 s of vehicle time (0.8 s at 10x) and the simulator's 3 s wall-time floor
        relay.mute_after_msgid = mavlink.MAVLINK_MSG_ID_MISSION_ITEM_INT
        fence = _square_fence(150)
        stored = await drone.upload_geofence(fence)
        assert cancelled == [FENCE], "the vehicle never gave the first upload up"
        assert len(stored) == len(fence_items(fence))
    finally:
        relay.close()


@pytest.mark.sim
@pytest.mark.timeout(60)
async def test_garbage_and_truncated_frames_do_not_break_the_link(mavsim: Any, adapter_factory: Any) -> None:
    """Random bytes, truncated MAVLink frames and a text banner between real packets: telemetry keeps flowing."""
    relay = await UdpRelay(mavsim.udp_ports[5]).start()
    try:
        drone: MavlinkAdapter = await adapter_factory(f"udpout:127.0.0.1:{relay.port}")
        heartbeats_before = drone.heartbeats_received
        frame = drone.link.mav.heartbeat_encode(2, 3, 0, 0, 3).pack(drone.link.mav)
        junk = [b"\xfd\xff" + bytes(range(256)), frame[:7], frame[:-1], b"\n\nInit ArduCopter V4.7.0\n", b"\xfe\x09"]
        for _ in range(20):
            for data in junk:
                relay.inject(data)
            await asyncio.sleep(0.02)
        await asyncio.wait_for(_until(lambda: drone.heartbeats_received >= heartbeats_before + 5), 10)
        assert drone.link.stats.bad_frames > 0
        assert drone.link_status is LinkStatus.CONNECTED
        assert await drone.get_parameter("WPNAV_SPEED") == pytest.approx(1000.0)
    finally:
        relay.close()


@pytest.mark.sim
@pytest.mark.timeout(120)
async def test_start_mission_is_refused_while_a_mission_runs_and_the_mission_flies_on(
    mavsim: Any, adapter_factory: Any
) -> None:
    """Over UDP: replace_mission on an idle drone and a second start_mission in flight are refused with typed
    errors naming the way out; nothing is uploaded, and the first mission flies on to its drop."""
    drone: MavlinkAdapter = await adapter_factory(f"udpout:127.0.0.1:{mavsim.udp_ports[6]}")
    await drone.wait_ready(timeout_s=120)
    with pytest.raises(NoMissionRunning, match="start_mission"):
        await drone.replace_mission(_delivery("nothing-to-replace", 50, 0))
    events: list[MissionEvent] = []
    collector = asyncio.create_task(_collect(drone, events))
    first = _delivery("first", 60, 40)
    await drone.start_mission(first)
    stored = await drone.download_items(MISSION)
    with pytest.raises(MissionBusy) as busy:
        await drone.start_mission(_delivery("second", -60, -40))
    assert isinstance(busy.value, CommandRefused) and "'first' is still running" in str(busy.value)
    assert "replace_mission()" in str(busy.value) and busy.value.vehicle_id == drone.vehicle_id
    assert await drone.download_items(MISSION) == stored  # the refused mission never reached the vehicle
    result = await drone.wait_mission(timeout_s=400)
    await asyncio.sleep(0.1)
    collector.cancel()
    assert result.mission_id == "first" and result.outcome is MissionOutcome.SUCCEEDED, result
    assert {e.mission_id for e in events} == {"first"}
    released = [e for e in events if e.what == "payload_released"]
    drop = first.steps[1]
    assert len(released) == 1 and released[0].latitude_deg is not None and released[0].longitude_deg is not None
    assert drop.latitude_deg is not None and drop.longitude_deg is not None
    assert _distance_m(released[0].latitude_deg, released[0].longitude_deg, drop.latitude_deg, drop.longitude_deg) < 3


@pytest.mark.sim
@pytest.mark.timeout(60)
async def test_wait_ready_times_out_naming_what_the_vehicle_lacks(adapter_factory: Any) -> None:
    """A drone without GPS never becomes ready: wait_ready raises AdapterTimeout after its timeout, saying why."""
    from sim_worlds.mavsim.process import MavsimProcess

    with MavsimProcess(1, speedup=SPEEDUP, home=HOME, params={"SIM_GPS_DISABLE": 1}) as no_gps:
        blind: MavlinkAdapter = await adapter_factory(f"udpout:127.0.0.1:{no_gps.udp_ports[0]}")
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(AdapterTimeout) as timeout:
            await blind.wait_ready(timeout_s=2.0)
        waited_s = loop.time() - started
    assert 1.9 < waited_s < 10.0, waited_s
    message = str(timeout.value)
    assert blind.vehicle_id in message and "wait_ready()" in message
    assert "no GPS fix / EKF position" in message and "within 2.0 s" in message


def _position_valid(drone: MavlinkAdapter) -> bool:
    state = drone.latest_state()
    return state is not None and state.position_valid


async def _until(predicate: Any) -> None:
    while not predicate():
        await asyncio.sleep(0.05)

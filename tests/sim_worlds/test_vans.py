"""Simulated vans driven through the van adapter over the real JSON-over-TCP protocol."""

from __future__ import annotations

import asyncio
import json
import math

import pytest
from _mavsim_gcs import Gcs
from pymavlink.dialects.v20 import ardupilotmega as mav

from fleet_manager.adapters.base import Mission, MissionOutcome, MissionStep, StepKind
from fleet_manager.adapters.van_adapter import VanAdapter
from fleet_manager.errors import AdapterTimeout, CommandRefused, MissionBusy, NoMissionRunning, NotConnected
from fleet_manager.world import load_world
from mission_planner.clock import Clock
from sim_worlds.mavsim.process import MavsimProcess
from sim_worlds.mavsim.sim_control import MavsimControl
from sim_worlds.robots.runner import FleetConfig as RobotFleetConfig
from sim_worlds.robots.runner import build_robots
from sim_worlds.robots.sim_control import RobotControlServer
from sim_worlds.van_carriage import Carriages, ChannelCarriage
from sim_worlds.vans import VanFleetServer, build_vans

pytestmark = [pytest.mark.sim, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return load_world("helsinki")


def _distance_m(world, lat1: float, lon1: float, lat2: float, lon2: float) -> float:  # type: ignore[no-untyped-def]
    x1, y1 = world.frame.to_local(lat1, lon1)
    x2, y2 = world.frame.to_local(lat2, lon2)
    return math.hypot(x2 - x1, y2 - y1)


async def test_van_delivers_and_returns(world) -> None:  # type: ignore[no-untyped-def]
    """A van drives to a recipient, hands the parcel over, returns to the hub; odometer and battery move."""
    server = VanFleetServer(build_vans(world, 1, stop_duration_s=60), Clock(start_s=0.0, speedup=300))
    port = await server.start()
    adapter = VanAdapter("van-1", f"tcp:127.0.0.1:{port}")
    try:
        await adapter.connect(timeout_s=5)
        start = adapter.latest_state()
        assert start is not None and start.mode == "IDLE"
        target = world.addresses[10]
        events: list[str] = []

        async def collect() -> None:
            async for event in adapter.mission_events():
                events.append(f"{event.what}:{event.detail}")

        collector = asyncio.create_task(collect())
        await asyncio.sleep(0)
        mission = Mission(
            "m-1",
            (
                MissionStep(StepKind.DELIVER, target.latitude_deg, target.longitude_deg, order_id="o-1"),
                MissionStep(StepKind.RETURN),
            ),
        )
        await adapter.start_mission(mission)
        result = await adapter.wait_mission(timeout_s=30)
        collector.cancel()
        assert result.outcome is MissionOutcome.SUCCEEDED and result.steps_completed == 2
        assert "parcel_handed_over:o-1" in events
        end = adapter.latest_state()
        assert end is not None
        assert _distance_m(world, end.latitude_deg, end.longitude_deg, start.latitude_deg, start.longitude_deg) < 5
        assert adapter.odometer_m > 100
        assert end.battery_remaining_wh is not None and start.battery_remaining_wh is not None
        assert end.battery_remaining_wh < start.battery_remaining_wh
    finally:
        await adapter.close()
        await server.close()


async def test_van_refuses_flying_and_pauses(world) -> None:  # type: ignore[no-untyped-def]
    """A van refuses TAKEOFF with its own reason; pause holds it still; resume continues."""
    server = VanFleetServer(build_vans(world, 1), Clock(start_s=0.0, speedup=20))
    port = await server.start()
    adapter = VanAdapter("van-1", f"tcp:127.0.0.1:{port}")
    try:
        await adapter.connect(timeout_s=5)
        with pytest.raises(CommandRefused, match="not something a van does"):
            await adapter.start_mission(Mission("m-x", (MissionStep(StepKind.TAKEOFF, altitude_m=30),)))
        far = max(world.addresses, key=lambda b: math.hypot(b.x_m, b.y_m))
        await adapter.start_mission(Mission("m-2", (MissionStep(StepKind.GOTO, far.latitude_deg, far.longitude_deg),)))
        await asyncio.sleep(0.6)
        await adapter.pause()
        await asyncio.sleep(0.4)
        held = adapter.latest_state()
        await asyncio.sleep(0.6)
        still = adapter.latest_state()
        assert held is not None and still is not None and still.mode == "PAUSED"
        assert _distance_m(world, held.latitude_deg, held.longitude_deg, still.latitude_deg, still.longitude_deg) < 1
        await adapter.resume()
        await asyncio.sleep(0.6)
        moved = adapter.latest_state()
        assert moved is not None
        assert _distance_m(world, still.latitude_deg, still.longitude_deg, moved.latitude_deg, moved.longitude_deg) > 5
    finally:
        await adapter.close()
        await server.close()


async def test_an_idle_van_charges_at_the_hub_and_an_empty_one_goes_nowhere(world) -> None:  # type: ignore[no-untyped-def]
    """Back at the hub a van charges at the depot charger's power (its telemetry shows it); away from the hub it
    does not; with an empty pack it stays where it is."""
    vans = build_vans(world, 2, battery_wh=60_000.0, charge_w=22_000.0)
    at_hub, flat = vans
    at_hub.remaining_wh = 6_000.0
    server = VanFleetServer(vans, Clock(start_s=0.0, speedup=600))
    port = await server.start()
    adapter = VanAdapter("van-1", f"tcp:127.0.0.1:{port}")
    flat_adapter = VanAdapter("van-2", f"tcp:127.0.0.1:{port}")
    try:
        await adapter.connect(timeout_s=5)
        await flat_adapter.connect(timeout_s=5)
        before = adapter.latest_state()
        assert before is not None and before.battery_remaining_wh is not None
        await asyncio.sleep(1.0)  # 600 s of simulated time: ~3.7 kWh at 22 kW
        after = adapter.latest_state()
        assert after is not None and after.battery_remaining_wh is not None and after.battery_remaining_pct is not None
        gained_wh = after.battery_remaining_wh - before.battery_remaining_wh
        elapsed_s = after.stamp_s - before.stamp_s
        assert gained_wh == pytest.approx(22_000.0 * elapsed_s / 3600.0, rel=0.05)
        assert after.battery_remaining_pct == pytest.approx(100.0 * after.battery_remaining_wh / 60_000.0)

        flat.charge_w = 0.0  # no charger for this one: nothing tops it up before it is sent off
        flat.remaining_wh = 0.0
        far = max(world.addresses, key=lambda b: math.hypot(b.x_m, b.y_m))
        await flat_adapter.start_mission(Mission("m-flat", (MissionStep(StepKind.GOTO, far.latitude_deg,
                                                                        far.longitude_deg),)))
        await asyncio.sleep(0.6)
        stuck = flat_adapter.latest_state()
        assert stuck is not None and stuck.ground_speed_m_s == 0.0
        assert _distance_m(world, stuck.latitude_deg, stuck.longitude_deg, *world.frame.to_wgs84(*flat.home_xy)) < 1
        assert flat.odometer_m == 0.0
    finally:
        await adapter.close()
        await flat_adapter.close()
        await server.close()

    away = build_vans(world, 1, charge_w=22_000.0)[0]
    away.x_m += 500.0
    away.remaining_wh = 1_000.0
    away.advance(3600.0, 0.0)
    assert away.remaining_wh == 1_000.0, "no charger away from the hub"
    home = build_vans(world, 1, charge_w=22_000.0)[0]
    home.remaining_wh = 59_000.0
    home.advance(3600.0, 0.0)
    assert home.remaining_wh == 60_000.0, "a full pack stops charging"


async def test_unknown_van_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    """Saying hello with an unknown id gets no telemetry: connect times out naming the van."""
    server = VanFleetServer(build_vans(world, 1), Clock())
    port = await server.start()
    adapter = VanAdapter("van-9", f"tcp:127.0.0.1:{port}")
    try:
        with pytest.raises(Exception, match="van-9"):
            await adapter.connect(timeout_s=1)
    finally:
        await adapter.close()
        await server.close()


@pytest.mark.timeout(120)
async def test_van_loads_launches_and_recovers_a_drone(world) -> None:  # type: ignore[no-untyped-def]
    """Over the van protocol and mavsim's sim-control + MAVLink: load at the hub, ride, launch at a stop
    (the drone arms there and home is the stop), refuse to recover it flying, recover it landed, ride home."""
    hub = world.hub
    stop = min(world.addresses, key=lambda b: abs(math.hypot(b.x_m - hub.x_m, b.y_m - hub.y_m) - 400.0))
    with MavsimProcess(1, speedup=10, home=(hub.latitude_deg, hub.longitude_deg, 10.0),
                       params={"DISARM_DELAY": 0}, extra_args=("--boot-s", "3"), control=True) as drones, \
            MavsimControl(drones.control_url) as control:
        carriage = Carriages([ChannelCarriage.numbered(MavsimControl(drones.control_url))])
        server = VanFleetServer(build_vans(world, 1, carriage=carriage), Clock(start_s=0.0, speedup=60))
        port = await server.start()
        van = VanAdapter("van-1", f"tcp:127.0.0.1:{port}")
        gcs = Gcs(drones.urls[0])
        try:
            await van.connect(timeout_s=5)
            await asyncio.to_thread(_gcs_ready, gcs)
            with pytest.raises(CommandRefused, match="no simulator connected to this van knows that vehicle"):
                await van.load("robot-1")
            await van.load("drone-1")
            assert van.carried == ("drone-1",)
            assert await asyncio.to_thread(gcs.command, mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) == mav.MAV_RESULT_FAILED

            await van.start_mission(Mission("m-van", (MissionStep(StepKind.GOTO, stop.latitude_deg, stop.longitude_deg),
                                                      MissionStep(StepKind.WAIT, duration_s=3600.0))))
            with pytest.raises(CommandRefused, match="while driving"):
                await van.launch("drone-1")
            parked = await _wait_state(van, lambda s: s.mode == "WAITING", 20.0)
            assert parked.mission_step == 1 and "drone-1" in (await _next_carried(van))
            status = control.status(0)
            assert _distance_m(world, status["latitude_deg"], status["longitude_deg"],
                               parked.latitude_deg, parked.longitude_deg) < 2.0
            assert _distance_m(world, parked.latitude_deg, parked.longitude_deg, hub.latitude_deg,
                               hub.longitude_deg) > 150

            await van.launch("drone-1")
            assert van.carried == ()
            await asyncio.to_thread(_take_off, gcs)
            with pytest.raises(CommandRefused, match="drone-1 is armed: it must land/stop and disarm first"):
                await van.recover("drone-1")
            await asyncio.to_thread(_land, gcs)
            home = control.status(0)
            assert _distance_m(world, home["home_latitude_deg"], home["home_longitude_deg"],
                               parked.latitude_deg, parked.longitude_deg) < 2.0  # armed at the stop: home moved

            await van.recover("drone-1")
            assert van.carried == ("drone-1",)
            await van.replace_mission(Mission("m-home", (MissionStep(StepKind.RETURN),)))  # m-van waits on
            assert (await van.wait_mission(timeout_s=30)).outcome is MissionOutcome.SUCCEEDED
            back = await _wait_state(van, lambda s: s.mode == "IDLE", 5.0)
            await asyncio.sleep(0.3)  # one more tick moves the carried drone to the van's last position
            status = control.status(0)
            assert _distance_m(world, status["latitude_deg"], status["longitude_deg"],
                               back.latitude_deg, back.longitude_deg) < 2.0
            await van.unload("drone-1")
            assert van.carried == () and control.status(0)["carrier"] is None
        finally:
            gcs.close()
            await van.close()
            await server.close()


def _gcs_ready(gcs: Gcs) -> None:
    gcs.heartbeat()
    gcs.stream(0, 10)
    gcs.wait_type("HOME_POSITION", 10.0)


def _take_off(gcs: Gcs) -> None:
    gcs.wait_armable_and_arm()
    assert gcs.command(mav.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 8.0) == mav.MAV_RESULT_ACCEPTED
    gcs.wait(lambda m: m.get_type() == "GLOBAL_POSITION_INT" and m.relative_alt > 7000, 20, "8 m up")


def _land(gcs: Gcs) -> None:
    assert gcs.command(mav.MAV_CMD_NAV_LAND) == mav.MAV_RESULT_ACCEPTED
    gcs.wait(lambda m: m.get_type() == "HEARTBEAT" and m.get_srcComponent() == 1
             and not m.base_mode & mav.MAV_MODE_FLAG_SAFETY_ARMED, 30, "landed and disarmed")


async def _wait_state(van: VanAdapter, predicate, timeout_s: float):  # type: ignore[no-untyped-def]
    async def first():  # type: ignore[no-untyped-def]
        async for state in van.telemetry():
            if predicate(state):
                return state
        raise AssertionError("telemetry ended")

    return await asyncio.wait_for(first(), timeout_s)


async def _next_carried(van: VanAdapter) -> tuple[str, ...]:
    await _wait_state(van, lambda s: True, 2.0)
    return van.carried


async def test_van_carries_a_robot_through_the_robots_control_channel(world) -> None:  # type: ignore[no-untyped-def]
    """Load a sim robot at the hub, drive to a stop, launch it there (it then plans from the stop), recover it."""
    hub = world.hub
    stop = min(world.addresses, key=lambda b: abs(math.hypot(b.x_m - hub.x_m, b.y_m - hub.y_m) - 400.0))
    sims = [robot for _, robot in build_robots(RobotFleetConfig(count=1))]
    robots_server = RobotControlServer(sims, world.frame)
    control_url = f"tcp:127.0.0.1:{robots_server.start()}"
    carriage = Carriages([ChannelCarriage.numbered(MavsimControl(control_url), "robot_")])
    server = VanFleetServer(build_vans(world, 1, carriage=carriage), Clock(start_s=0.0, speedup=60))
    van = VanAdapter("van-1", f"tcp:127.0.0.1:{await server.start()}")
    try:
        await van.connect(timeout_s=5)
        await van.load("robot_1")
        assert sims[0].carrier == "van-1"
        await van.start_mission(Mission("m-r", (MissionStep(StepKind.GOTO, stop.latitude_deg, stop.longitude_deg),
                                                MissionStep(StepKind.WAIT, duration_s=3600.0))))
        parked = await _wait_state(van, lambda s: s.mode == "WAITING", 20.0)
        await van.launch("robot_1")
        x_m, y_m = world.frame.to_local(parked.latitude_deg, parked.longitude_deg)
        assert sims[0].carrier is None and math.hypot(sims[0].pose.x_m - x_m, sims[0].pose.y_m - y_m) < 2.0
        sims[0].start_goal(hub.x_m, hub.y_m)
        with pytest.raises(CommandRefused, match="robot_1 is armed"):
            await van.recover("robot_1")  # it is driving its goal
        sims[0].stop()
        await van.recover("robot_1")
        assert van.carried == ("robot_1",) and sims[0].carrier == "van-1"
    finally:
        await van.close()
        await server.close()
        robots_server.stop()


async def test_van_refuses_a_second_start_and_replace_sends_it_to_the_new_target(world) -> None:  # type: ignore[no-untyped-def]
    """Over TCP: replace with no mission, start during a drive and a replacement the van refuses raise typed errors
    (the drive goes on); replace mid-route ends the old mission CANCELED and the van drives to the new target."""
    hub = world.hub
    far = max(world.addresses, key=lambda b: math.hypot(b.x_m - hub.x_m, b.y_m - hub.y_m))
    near = max((b for b in world.addresses if 300 < math.hypot(b.x_m - hub.x_m, b.y_m - hub.y_m) < 600),
               key=lambda b: math.hypot(b.x_m - far.x_m, b.y_m - far.y_m))
    server = VanFleetServer(build_vans(world, 1), Clock(start_s=0.0, speedup=40))
    adapter = VanAdapter("van-1", f"tcp:127.0.0.1:{await server.start()}")
    try:
        await adapter.connect(timeout_s=5)
        with pytest.raises(NoMissionRunning, match="start_mission"):
            await adapter.replace_mission(Mission("m-none", (MissionStep(StepKind.GOTO, near.latitude_deg,
                                                                           near.longitude_deg),)))
        await adapter.start_mission(Mission("m-far", (MissionStep(StepKind.GOTO, far.latitude_deg,
                                                                  far.longitude_deg),)))
        old_result = asyncio.create_task(adapter.wait_mission(timeout_s=30))
        driving = await _wait_state(adapter, lambda s: s.mode == "DRIVING" and s.ground_speed_m_s > 0, 5.0)
        with pytest.raises(MissionBusy, match="'m-far' is still running") as busy:
            await adapter.start_mission(Mission("m-other", (MissionStep(StepKind.RETURN),)))
        assert isinstance(busy.value, CommandRefused) and "replace_mission()" in str(busy.value)
        with pytest.raises(CommandRefused, match="not something a van does"):
            await adapter.replace_mission(Mission("m-fly", (MissionStep(StepKind.TAKEOFF, altitude_m=30),)))
        assert (await _wait_state(adapter, lambda s: True, 2.0)).mission_id == "m-far"  # the drive goes on
        assert not old_result.done()

        await adapter.replace_mission(Mission("m-near", (MissionStep(StepKind.GOTO, near.latitude_deg,
                                                                     near.longitude_deg),)))
        replaced = await old_result
        assert replaced.mission_id == "m-far" and replaced.outcome is MissionOutcome.CANCELED
        assert "replaced" in replaced.error_msg
        result = await adapter.wait_mission(timeout_s=40)
        assert result.mission_id == "m-near" and result.outcome is MissionOutcome.SUCCEEDED, result
        end = adapter.latest_state()
        assert end is not None
        node = world.street_graph.nodes[world.nearest_street_node(near.x_m, near.y_m)]
        end_xy = world.frame.to_local(end.latitude_deg, end.longitude_deg)
        assert math.dist(end_xy, (node["x_m"], node["y_m"])) < 2.0
        far_node = world.street_graph.nodes[world.nearest_street_node(far.x_m, far.y_m)]
        assert math.dist(end_xy, (far_node["x_m"], far_node["y_m"])) > 300.0
        assert _distance_m(world, driving.latitude_deg, driving.longitude_deg, end.latitude_deg,
                           end.longitude_deg) > 100.0
    finally:
        await adapter.close()
        await server.close()


async def test_van_wait_ready_after_the_welcome_and_times_out_without_one(world) -> None:  # type: ignore[no-untyped-def]
    """wait_ready returns once the driver app has welcomed the van (its home known); a driver app that streams
    state but never welcomes makes it raise AdapterTimeout naming what is missing, after the timeout."""
    server = VanFleetServer(build_vans(world, 1), Clock(start_s=0.0, speedup=20))
    adapter = VanAdapter("van-1", f"tcp:127.0.0.1:{await server.start()}")
    with pytest.raises(NotConnected, match="connect"):
        await adapter.wait_ready(timeout_s=1)
    try:
        await adapter.connect(timeout_s=5)
        await adapter.wait_ready(timeout_s=5)
        state = adapter.latest_state()
        assert adapter.home is not None and state is not None
        assert _distance_m(world, adapter.home[0], adapter.home[1], state.latitude_deg, state.longitude_deg) < 1.0
    finally:
        await adapter.close()
        await server.close()

    async def no_welcome(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()  # the hello
        state = {"type": "state", "stamp_s": 0.0, "latitude_deg": world.hub.latitude_deg,
                 "longitude_deg": world.hub.longitude_deg, "mode": "IDLE"}
        writer.write((json.dumps(state) + "\n").encode())
        await reader.read()  # until the adapter hangs up
        writer.close()

    app = await asyncio.start_server(no_welcome, "127.0.0.1", 0)
    url = f"tcp:127.0.0.1:{app.sockets[0].getsockname()[1]}"
    quiet = VanAdapter("van-1", url)
    try:
        await quiet.connect(timeout_s=5)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(AdapterTimeout) as timeout:
            await quiet.wait_ready(timeout_s=0.5)
        assert 0.45 < loop.time() - started < 5.0
        assert str(timeout.value) == f"van-1: wait_ready() failed: no welcome from the driver app at {url} within 0.5 s"
    finally:
        await quiet.close()
        app.close()
        await app.wait_closed()


def test_a_held_van_finishes_its_hand_over_but_does_not_drive_on(world) -> None:  # type: ignore[no-untyped-def]
    """Paused at a stop (the choreography holding it for a drone), the van's hand-over still counts down and is
    reported; the drive to the next stop waits for resume. (Pure physics: no server.)"""
    (van,) = build_vans(world, 1, stop_duration_s=120.0)
    hub_xy = (van.x_m, van.y_m)
    first, second = sorted(world.addresses, key=lambda b: math.hypot(b.x_m - hub_xy[0], b.y_m - hub_xy[1]))[40:42]
    van.start_mission({"mission_id": "m-hold", "steps": [
        {"kind": "deliver", "latitude_deg": first.latitude_deg, "longitude_deg": first.longitude_deg, "order_id": "a"},
        {"kind": "deliver", "latitude_deg": second.latitude_deg, "longitude_deg": second.longitude_deg,
         "order_id": "b"}]}, 0.0)
    now_s = 0.0
    while van.mode != "HANDING_OVER":
        now_s += 1.0
        van.advance(1.0, now_s)
        assert now_s < 3600, "the van never reached its first stop"
    van.pause()
    at_stop = (van.x_m, van.y_m)
    for _ in range(300):  # five minutes held: more than the 120 s hand-over
        now_s += 1.0
        van.advance(1.0, now_s)
    handed = [e for e in van.outbox if e.get("what") == "parcel_handed_over"]
    assert [e["detail"] for e in handed] == ["a"]
    assert (van.x_m, van.y_m) == at_stop and van.step_index == 1 and van.mode == "PAUSED"
    van.resume()
    assert van.mode == "DRIVING"
    now_s += 5.0
    van.advance(5.0, now_s)
    assert math.hypot(van.x_m - at_stop[0], van.y_m - at_stop[1]) > 1.0

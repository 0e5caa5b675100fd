"""The ROS 2 adapter against sim robots in another process, over real rclpy and DDS.

Robots run as `python -m fleet_manager.cli robots` (process group killed on exit) on a random
ROS_DOMAIN_ID in 100..200 per test run; the adapter talks to them through one shared Ros2Bridge,
exactly as it would talk to Nav2 robots.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator

import networkx as nx
import pytest

pytest.importorskip("rclpy", reason="rclpy not installed (run `make setup`)")
pytest.importorskip("nav2_msgs.action", reason="nav2_msgs not built or env not set (run `make ros`)")

from shapely.geometry import LineString, Point
from shapely.strtree import STRtree

from fleet_manager.adapters import nav2_codes
from fleet_manager.adapters.base import LinkStatus, Mission, MissionOutcome, MissionStep, StepKind
from fleet_manager.adapters.ros2_adapter import GoalAborted, GoalRejected, Ros2Adapter
from fleet_manager.adapters.ros2_bridge import Ros2Bridge
from fleet_manager.errors import AdapterTimeout, CommandRefused, LinkLost, MissionBusy, NoMissionRunning
from fleet_manager.world import World, load_world
from sim_worlds.leases import lease_ros_domain
from sim_worlds.robots.process import RobotsProcess

pytestmark = [pytest.mark.ros, pytest.mark.sim]

SPEEDUP = 40.0
# Held while this test process lives: no other FinalMile process on the machine uses the domain meanwhile.
_DOMAIN = lease_ros_domain()
DOMAIN_ID = _DOMAIN.number


@pytest.fixture(scope="module")
def world() -> World:
    """Central Helsinki."""
    return load_world("helsinki")


@pytest.fixture(scope="module")
def bridge() -> Iterator[Ros2Bridge]:
    """One bridge for the whole module, as the fleet manager has one for all robots."""
    ros_bridge = Ros2Bridge(domain_id=DOMAIN_ID, node_name="finalmile_test_adapter")
    ros_bridge.start()
    yield ros_bridge
    ros_bridge.close()


@pytest.fixture(scope="module")
def fleet() -> Iterator[RobotsProcess]:
    """Five sim robots at the hub: robot_1..3 deliver, robot_4 is cancelled, robot_5 gets a bad goal."""
    with RobotsProcess(5, domain_id=DOMAIN_ID, speedup=SPEEDUP) as robots:
        yield robots


def _hub_node(world: World) -> int:
    return world.nearest_walk_node(world.hub.x_m, world.hub.y_m)


def _walk_targets(world: World, low_m: float, high_m: float, count: int) -> list[tuple[float, float]]:
    """(lat, lon) of the walk nodes nearest `count` addresses whose walk from the hub is low..high m."""
    lengths = nx.single_source_dijkstra_path_length(world.walk_graph, _hub_node(world), weight="length_m")
    targets: list[tuple[float, float]] = []
    for building in world.addresses:
        node = world.nearest_walk_node(building.x_m, building.y_m)
        data = world.walk_graph.nodes[node]
        point = (data["latitude_deg"], data["longitude_deg"])
        if low_m <= lengths.get(node, -1.0) <= high_m and point not in targets:
            targets.append(point)
        if len(targets) == count:
            return targets
    raise AssertionError(f"world has fewer than {count} addresses {low_m}-{high_m} m from the hub")


def _adapter(name: str, bridge: Ros2Bridge, world: World, **kwargs: float) -> Ros2Adapter:
    return Ros2Adapter(name, bridge, world.frame, namespace=f"/{name}", **kwargs)


async def _until(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.timeout(120)
async def test_three_robots_deliver_three_parcels_concurrently_along_walkways(
    world: World, bridge: Ros2Bridge, fleet: RobotsProcess
) -> None:
    """Each robot drives to its address on walkways, opens its compartment, and the mission succeeds."""
    targets = _walk_targets(world, 250.0, 700.0, 3)
    adapters = [_adapter(f"robot_{i + 1}", bridge, world) for i in range(3)]
    await asyncio.gather(*(a.connect(timeout_s=30.0) for a in adapters))
    tracks: dict[str, list[tuple[float, float]]] = {a.vehicle_id: [] for a in adapters}
    events: dict[str, list[str]] = {a.vehicle_id: [] for a in adapters}

    async def record(adapter: Ros2Adapter) -> None:
        async for state in adapter.telemetry():
            if state.position_valid:
                tracks[adapter.vehicle_id].append(world.frame.to_local(state.latitude_deg, state.longitude_deg))

    async def listen(adapter: Ros2Adapter) -> None:
        async for event in adapter.mission_events():
            events[adapter.vehicle_id].append(event.what)

    watchers = [asyncio.create_task(f(a)) for a in adapters for f in (record, listen)]
    await asyncio.sleep(0)
    try:
        for i, (adapter, (lat, lon)) in enumerate(zip(adapters, targets, strict=True)):
            step = MissionStep(StepKind.DELIVER, latitude_deg=lat, longitude_deg=lon, order_id=f"order-{i}")
            await adapter.start_mission(Mission(f"m-{i}", (step,)))
        results = await asyncio.gather(*(a.wait_mission(timeout_s=60.0) for a in adapters))
        # The goal's last feedback may trail its result (rclpy then drops it); the robot's next amcl_pose
        # (within AMCL's update, <= 0.5 s here) brings the final position.
        for adapter, target in zip(adapters, targets, strict=True):
            goal_xy = world.frame.to_local(*target)
            await _until(lambda a=adapter, g=goal_xy: math.dist(_here(a, world), g) < 1.0, 2.0,  # type: ignore[misc]
                         f"{adapter.vehicle_id}'s position at its goal")
    finally:
        for adapter in adapters:
            await adapter.close()
        await asyncio.gather(*watchers, return_exceptions=True)

    assert [r.outcome for r in results] == [MissionOutcome.SUCCEEDED] * 3
    edges = [
        LineString([(world.walk_graph.nodes[u]["x_m"], world.walk_graph.nodes[u]["y_m"]),
                    (world.walk_graph.nodes[v]["x_m"], world.walk_graph.nodes[v]["y_m"])])
        for u, v in world.walk_graph.edges
    ]  # fmt: skip
    tree = STRtree(edges)
    for adapter, (lat, lon) in zip(adapters, targets, strict=True):
        track = tracks[adapter.vehicle_id]
        assert len(track) >= 10, f"{adapter.vehicle_id}: only {len(track)} positions"
        off_walkway = [p for p in track if edges[int(tree.nearest(Point(p)))].distance(Point(p)) > 0.5]
        assert not off_walkway, f"{adapter.vehicle_id} left the walkways at {off_walkway[:3]}"
        goal_x, goal_y = world.frame.to_local(lat, lon)
        assert math.dist(track[-1], (goal_x, goal_y)) < 1.0
        assert {"goal_accepted", "compartment_opened", "step_reached"} <= set(events[adapter.vehicle_id])
        assert events[adapter.vehicle_id].index("compartment_opened") < events[adapter.vehicle_id].index("step_reached")
    assert len({track[-1] for track in tracks.values()}) == 3  # three different doors


@pytest.mark.timeout(90)
async def test_pause_stops_resume_continues_and_land_cancels_mid_route(
    world: World, bridge: Ros2Bridge, fleet: RobotsProcess
) -> None:
    """Pause cancels the goal and the robot holds; resume re-sends it; land ends the mission CANCELED."""
    ((lat, lon),) = _walk_targets(world, 1200.0, 2500.0, 1)
    adapter = _adapter("robot_4", bridge, world)
    await adapter.connect(timeout_s=30.0)
    try:
        start = adapter.latest_state()
        await _until(lambda: adapter.latest_state().position_valid, 10.0, "a map pose")  # type: ignore[union-attr]
        await adapter.start_mission(
            Mission("m-cancel", (MissionStep(StepKind.GOTO, latitude_deg=lat, longitude_deg=lon),))
        )
        start = adapter.latest_state()
        assert start is not None

        def moved_m() -> float:
            now = adapter.latest_state()
            assert now is not None
            return math.dist(world.frame.to_local(start.latitude_deg, start.longitude_deg),
                             world.frame.to_local(now.latitude_deg, now.longitude_deg))  # fmt: skip

        await _until(lambda: moved_m() > 30.0, 20.0, "the robot to drive 30 m")
        await adapter.pause()
        await _until(lambda: adapter.latest_state().ground_speed_m_s == 0.0, 5.0, "the robot to stop")  # type: ignore[union-attr]
        held = moved_m()
        await asyncio.sleep(1.0)
        assert moved_m() == pytest.approx(held, abs=0.01), "a paused robot must hold its position"
        await adapter.resume()
        await _until(lambda: moved_m() > held + 30.0, 20.0, "the robot to drive on after resume")
        await adapter.land()
        result = await adapter.wait_mission(timeout_s=10.0)
        assert result.outcome is MissionOutcome.CANCELED
        await _until(lambda: adapter.latest_state().ground_speed_m_s == 0.0, 5.0, "the robot to stop")  # type: ignore[union-attr]
        stopped_at = moved_m()
        await asyncio.sleep(1.0)
        assert moved_m() == pytest.approx(stopped_at, abs=0.01)
        progress = adapter.navigation_progress()
        assert progress is not None and progress.distance_remaining_m > 100.0
    finally:
        await adapter.close()


@pytest.mark.timeout(60)
async def test_unreachable_goal_aborts_with_nav2_code_and_reason(
    world: World, bridge: Ros2Bridge, fleet: RobotsProcess
) -> None:
    """A goal 3 km outside the walk graph: GoalAborted with GOAL_OUTSIDE_MAP (204) and the robot's message."""
    adapter = _adapter("robot_5", bridge, world)
    await adapter.connect(timeout_s=30.0)
    try:
        step = MissionStep(StepKind.GOTO, latitude_deg=60.20, longitude_deg=24.90)
        await adapter.start_mission(Mission("m-far", (step,)))
        with pytest.raises(GoalAborted) as caught:
            await adapter.wait_mission(timeout_s=20.0)
    finally:
        await adapter.close()
    error = caught.value
    assert (error.result_code, error.result_name) == (nav2_codes.GOAL_OUTSIDE_MAP, "GOAL_OUTSIDE_MAP")
    assert error.status_text and "from the nearest walkway" in error.status_text
    assert error.result.outcome is MissionOutcome.FAILED and "robot_5" in str(error)


@pytest.mark.timeout(90)
async def test_battery_exhausted_aborts_then_next_goal_is_rejected(world: World, bridge: Ros2Bridge) -> None:
    """A robot with 0.5 % charge stops part-way (UNKNOWN 9000, 'battery exhausted'); its next goal is rejected."""
    ((lat, lon),) = _walk_targets(world, 600.0, 1500.0, 1)
    with RobotsProcess(1, domain_id=DOMAIN_ID, speedup=SPEEDUP, battery_pct=0.5, namespace_prefix="lowbat_"):
        adapter = _adapter("lowbat_1", bridge, world)
        await adapter.connect(timeout_s=30.0)
        try:
            step = MissionStep(StepKind.GOTO, latitude_deg=lat, longitude_deg=lon)
            await adapter.start_mission(Mission("m-battery", (step,)))
            with pytest.raises(GoalAborted) as caught:
                await adapter.wait_mission(timeout_s=40.0)
            assert caught.value.result_code == nav2_codes.UNKNOWN
            assert caught.value.status_text and "battery exhausted" in caught.value.status_text
            await _until(lambda: adapter.latest_state().battery_remaining_pct == 0.0, 5.0, "an empty battery report")  # type: ignore[union-attr]
            with pytest.raises(GoalRejected, match="rejected"):
                await adapter.start_mission(Mission("m-again", (step,)))
        finally:
            await adapter.close()


@pytest.mark.timeout(90)
async def test_killed_robot_process_is_reported_lost_within_the_timeout(world: World, bridge: Ros2Bridge) -> None:
    """SIGKILL the robots mid-mission: link LOST and the mission fails with LinkLost within the link timeout."""
    ((lat, lon),) = _walk_targets(world, 1200.0, 2500.0, 1)
    link_timeout_s = 1.0
    with RobotsProcess(1, domain_id=DOMAIN_ID, speedup=10.0, namespace_prefix="doomed_") as robots:
        adapter = _adapter("doomed_1", bridge, world, link_timeout_s=link_timeout_s)
        await adapter.connect(timeout_s=30.0)
        try:
            await adapter.start_mission(
                Mission("m-lost", (MissionStep(StepKind.GOTO, latitude_deg=lat, longitude_deg=lon),))
            )
            await asyncio.sleep(0.5)
            robots.kill()
            killed_at = time.monotonic()
            with pytest.raises(LinkLost) as caught:
                await adapter.wait_mission(timeout_s=10.0)
            detected_after_s = time.monotonic() - killed_at
            state = adapter.latest_state()
            assert state is not None and state.link is LinkStatus.LOST
            assert detected_after_s < link_timeout_s + 1.0, f"lost reported {detected_after_s:.2f} s after the kill"
            assert "doomed_1" in str(caught.value)
        finally:
            await adapter.close()


def _here(adapter: Ros2Adapter, world: World) -> tuple[float, float]:
    state = adapter.latest_state()
    assert state is not None
    return world.frame.to_local(state.latitude_deg, state.longitude_deg)


@pytest.mark.timeout(120)
async def test_busy_robot_refuses_start_and_replace_mid_goal_drives_to_the_new_target(
    world: World, bridge: Ros2Bridge
) -> None:
    """Over DDS: replace with no mission, start while driving and a replacement the robot cannot do are refused with
    typed errors (the drive goes on); replace mid-goal cancels the goal, the old mission ends CANCELED and the
    robot delivers at the new target."""
    ((far_lat, far_lon),) = _walk_targets(world, 1200.0, 2500.0, 1)
    far_xy = world.frame.to_local(far_lat, far_lon)
    near_lat, near_lon = max(_walk_targets(world, 200.0, 600.0, 10),
                             key=lambda p: math.dist(world.frame.to_local(*p), far_xy))
    deliver_near = MissionStep(StepKind.DELIVER, latitude_deg=near_lat, longitude_deg=near_lon, order_id="o-near")
    with RobotsProcess(1, domain_id=DOMAIN_ID, speedup=SPEEDUP, namespace_prefix="swap_"):
        adapter = _adapter("swap_1", bridge, world)
        await adapter.connect(timeout_s=30.0)
        events: list[tuple[str, str]] = []

        async def listen() -> None:
            async for event in adapter.mission_events():
                events.append((event.mission_id, event.what))

        listener = asyncio.create_task(listen())
        try:
            await adapter.wait_ready(timeout_s=20.0)
            with pytest.raises(NoMissionRunning, match="start_mission"):
                await adapter.replace_mission(Mission("m-none", (deliver_near,)))
            await adapter.start_mission(
                Mission("m-far", (MissionStep(StepKind.GOTO, latitude_deg=far_lat, longitude_deg=far_lon),))
            )
            old_result = asyncio.create_task(adapter.wait_mission(timeout_s=60.0))
            start = adapter.latest_state()
            assert start is not None
            start_xy = world.frame.to_local(start.latitude_deg, start.longitude_deg)

            def moved_m() -> float:
                return math.dist(start_xy, _here(adapter, world))

            await _until(lambda: moved_m() > 30.0, 20.0, "the robot to drive 30 m")
            with pytest.raises(MissionBusy, match="m-far is running") as busy:
                await adapter.start_mission(Mission("m-other", (deliver_near,)))
            assert "replace_mission()" in str(busy.value)
            with pytest.raises(CommandRefused, match="a ground robot does GOTO, DELIVER, WAIT and RETURN"):
                await adapter.replace_mission(Mission("m-fly", (MissionStep(StepKind.TAKEOFF, altitude_m=30.0),)))
            driven = moved_m()
            await _until(lambda: moved_m() > driven + 5.0, 10.0, "the refused calls to leave the drive going")
            assert not old_result.done()

            await adapter.replace_mission(Mission("m-near", (deliver_near,)))
            replaced = await old_result
            assert replaced.mission_id == "m-far" and replaced.outcome is MissionOutcome.CANCELED
            assert replaced.error_msg == "replaced by mission m-near"
            result = await adapter.wait_mission(timeout_s=60.0)
            assert result.mission_id == "m-near" and result.outcome is MissionOutcome.SUCCEEDED, result
            near_xy = world.frame.to_local(near_lat, near_lon)
            await _until(lambda: math.dist(_here(adapter, world), near_xy) < 1.0, 2.0, "the position at the goal")
            end_xy = _here(adapter, world)
            assert math.dist(end_xy, far_xy) > 500.0
        finally:
            await adapter.close()
            await asyncio.gather(listener, return_exceptions=True)
    assert ("m-near", "compartment_opened") in events and ("m-near", "step_reached") in events
    assert ("m-far", "step_reached") not in events


@pytest.mark.timeout(60)
async def test_wait_ready_times_out_without_a_navigation_server(world: World, bridge: Ros2Bridge) -> None:
    """Odometry but no NavigateToPose server in the namespace (only a test publisher there): wait_ready raises
    AdapterTimeout naming the missing action server once its timeout has passed."""
    from nav_msgs.msg import Odometry

    publisher = await bridge.call(
        lambda: bridge.node.create_publisher(Odometry, "/serverless_1/odom", 10), timeout_s=5.0
    )

    async def publish() -> None:
        while True:
            await bridge.call(lambda: publisher.publish(Odometry()), timeout_s=5.0)
            await asyncio.sleep(0.05)

    publishing = asyncio.create_task(publish())
    adapter = _adapter("serverless_1", bridge, world)
    try:
        await adapter.connect(timeout_s=10.0)
        started = time.monotonic()
        with pytest.raises(AdapterTimeout) as timeout:
            await adapter.wait_ready(timeout_s=1.0)
        assert 1.0 <= time.monotonic() - started < 5.0
        assert str(timeout.value) == (
            "serverless_1: wait_ready failed: no NavigateToPose action server at /serverless_1 within 1.0 s"
        )
    finally:
        publishing.cancel()
        await adapter.close()
        await bridge.call(lambda: bridge.node.destroy_publisher(publisher), timeout_s=5.0)


async def _count_states(adapter: Ros2Adapter, counts: list[int], index: int) -> None:
    async for _ in adapter.telemetry():
        counts[index] += 1


@pytest.mark.timeout(90)
async def test_adapters_close_and_connect_again_while_the_robots_publish(
    world: World, bridge: Ros2Bridge, fleet: RobotsProcess
) -> None:
    """Four rounds of five adapters connecting, taking telemetry and closing on one bridge (the entities stay with
    the bridge, the adapters attach and detach): every round gets fresh states, a closed one gets no more."""
    for round_index in range(4):
        adapters = [_adapter(f"robot_{i + 1}", bridge, world) for i in range(5)]
        await asyncio.gather(*(a.connect(timeout_s=30.0) for a in adapters))
        counts = [0] * len(adapters)
        counters = [asyncio.create_task(_count_states(a, counts, i)) for i, a in enumerate(adapters)]
        await _until(lambda c=counts: min(c) >= 3, 10.0, f"odometry for every adapter in round {round_index}")
        closed = adapters.pop()
        await closed.close()
        stale = closed.latest_state()
        await asyncio.sleep(0.5)
        assert closed.latest_state() is stale, "a closed adapter must not take messages any more"
        await asyncio.gather(*(a.close() for a in adapters))
        await asyncio.gather(*counters, return_exceptions=True)
    fleet.check_alive()

"""Robots with map frames of their own, over real rclpy/DDS: ROS parameters, datums, fromLL, the latched amcl_pose.

One `finalmile robots` process on a random ROS_DOMAIN_ID, configured the way a user configures a
real robot: `--ros-args -p` (count, battery, speed-up) and a parameters file (what a launch file's
`parameters=` produces: `/**` for all, plus a key per robot node). Its two robots localise in
different map frames: `frames_1` in a tangent-plane frame turned 30 deg, `frames_2` in a UTM frame
turned -60 deg that it converts itself through robot_localization's `fromLL` (as navsat_transform).
The fleet manager side is built from a fleet file through the adapter factory: `frames_1` with its
`map_datum`, `frames_2` with its `fromll_service`. Ground truth comes from the simulator's own
side channel, in the world's frame, which neither map frame touches.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest
import yaml

pytest.importorskip("rclpy", reason="rclpy not installed (run `make setup`)")
pytest.importorskip("robot_localization.srv", reason="robot_localization stand-in not built (run `make ros`)")

from fleet_manager.adapters.base import Mission, MissionOutcome, MissionStep, StepKind
from fleet_manager.adapters.factory import AdapterFactory
from fleet_manager.adapters.ros2_adapter import Ros2Adapter
from fleet_manager.adapters.ros2_bridge import Ros2Bridge
from fleet_manager.fleet_file import FleetFile, parse_fleet
from fleet_manager.store.db import upgrade
from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from mission_planner.map_frame import MapFrame
from sim_worlds.day import free_port
from sim_worlds.leases import lease_ros_domain
from sim_worlds.mavsim.sim_control import MavsimControl
from sim_worlds.robots.process import RobotsProcess

pytestmark = [pytest.mark.ros, pytest.mark.sim]

# Held while this test process lives: no other FinalMile process on the machine uses the domain meanwhile.
_DOMAIN = lease_ros_domain()
DOMAIN_ID = _DOMAIN.number
DATUM_1 = {"latitude_deg": 60.1655, "longitude_deg": 24.9290, "yaw_deg": 30.0}  # ~800 m SW of the hub
DATUM_2 = {"latitude_deg": 60.1760, "longitude_deg": 24.9500, "yaw_deg": -60.0, "projection": "utm"}
SPEED_LIMIT_M_S = 2.0


@pytest.fixture(scope="module")
def world() -> World:
    """Central Helsinki."""
    return load_world("helsinki")


@pytest.fixture(scope="module")
def robots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RobotsProcess, int]]:
    """`--count 1` on the command line, `-p count:=2` after --ros-args; datums per robot from a parameters file."""
    params = {
        "/**": {"ros__parameters": {"speed_limit": SPEED_LIMIT_M_S}},
        "/frames_1/sim_robot": {"ros__parameters": {"map_datum": DATUM_1}},
        "/frames_2/sim_robot": {"ros__parameters": {"map_datum": DATUM_2, "fromll_service": True}},
    }
    params_file = tmp_path_factory.mktemp("params") / "robots.yaml"
    params_file.write_text(yaml.safe_dump(params))
    port = free_port()
    ros_args = ["-p", "count:=2", "-p", "battery_pct:=80", "-p", "speedup:=40", "--params-file", str(params_file)]
    with RobotsProcess(1, domain_id=DOMAIN_ID, namespace_prefix="frames_", ros_args=ros_args,
                       control_port=port) as process:  # fmt: skip
        yield process, port


def _truth(port: int, index: int) -> tuple[float, float]:
    """Where the simulator has robot `index` (WGS84, from its world-frame pose)."""
    with MavsimControl(f"tcp:127.0.0.1:{port}") as control:
        status = control.status(index)
    return status["latitude_deg"], status["longitude_deg"]


def _wait_truth(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _truth(port, 0)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _addresses(world: World, count: int) -> list[tuple[float, float]]:
    """Delivery points of `count` buildings 250..700 m walk from the hub, each within 25 m of a walkway."""
    hub = world.nearest_walk_node(world.hub.x_m, world.hub.y_m)
    lengths = nx.single_source_dijkstra_path_length(world.walk_graph, hub, weight="length_m")
    found: list[tuple[float, float]] = []
    for building in world.addresses:
        point = building.delivery_point
        assert point is not None
        node = world.nearest_walk_node(point.x_m, point.y_m)
        data = world.walk_graph.nodes[node]
        near_walkway = math.dist((data["x_m"], data["y_m"]), (point.x_m, point.y_m)) < 25.0
        if 250.0 <= lengths.get(node, -1.0) <= 700.0 and near_walkway:
            found.append((point.latitude_deg, point.longitude_deg))
        if len(found) == count:
            return found
    raise AssertionError(f"fewer than {count} addresses fit")


def _fleet(world: World) -> AdapterFactory:
    return AdapterFactory(frame=world.frame, clock=Clock(), ros_domain_id=DOMAIN_ID)


def _fleet_file() -> FleetFile:
    """frames_1 with its map_datum, frames_2 with its fromll_service."""
    return parse_fleet({
        "hubs": [{"hub_id": "hub-frames", "recipient_presence": {"kind": "always"}}],
        "vehicles": [
            {"vehicle_id": "frames_1", "kind": "robot", "url": "ros2:/frames_1", "map_datum": DATUM_1},
            {"vehicle_id": "frames_2", "kind": "robot", "url": "ros2:/frames_2", "fromll_service": "/frames_2/fromLL"},
        ],
    }, "test")  # fmt: skip


def _build(factory: AdapterFactory) -> list[Ros2Adapter]:
    """The fleet file's robots, built by the factory as the runtime builds them."""
    fleet = _fleet_file()
    adapters = []
    for vehicle in fleet.vehicles:
        adapter = factory.build(vehicle.vehicle_id, vehicle.adapter_kind.value, vehicle.url, fleet.profile(vehicle),
                                map_datum=vehicle.map_datum, fromll_service=vehicle.fromll_service)
        assert isinstance(adapter, Ros2Adapter)
        adapters.append(adapter)
    return adapters


@pytest.mark.timeout(90)
async def test_ros_parameters_from_the_command_line_and_a_parameters_file_take_effect(
    world: World, robots: tuple[RobotsProcess, int]
) -> None:
    """-p count:=2 beats --count 1, -p battery_pct:=80 shows on battery_state, and each robot reports its latched
    amcl_pose in the map frame its parameters-file datum gives; frames_2 answers fromLL in its UTM frame."""
    from geometry_msgs.msg import PoseWithCovarianceStamped
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from robot_localization.srv import FromLL
    from sensor_msgs.msg import BatteryState

    process, port = robots
    _wait_truth(port)
    bridge = Ros2Bridge(domain_id=DOMAIN_ID, node_name="finalmile_test_params")
    bridge.start()
    loop = asyncio.get_running_loop()
    poses: dict[str, asyncio.Future[PoseWithCovarianceStamped]] = {n: loop.create_future() for n in ("1", "2")}
    battery: asyncio.Future[BatteryState] = loop.create_future()

    def settle(future: asyncio.Future[object]) -> object:
        return lambda message: None if future.done() else future.set_result(message)

    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    try:
        entities = await bridge.call(lambda: [
            *(bridge.node.create_subscription(PoseWithCovarianceStamped, f"/frames_{n}/amcl_pose",
                                              bridge.to_loop(loop, settle(poses[n])), latched) for n in poses),
            bridge.node.create_subscription(BatteryState, "/frames_2/battery_state",
                                            bridge.to_loop(loop, settle(battery)), 10),
            bridge.node.create_client(FromLL, "/frames_2/fromLL"),
        ], timeout_s=10.0)  # fmt: skip
        wanted = {("sim_robot", "/frames_1"), ("sim_robot", "/frames_2")}
        deadline = time.monotonic() + 30.0  # the control channel opens before the robots' nodes
        while not wanted <= set(names := await bridge.call(bridge.node.get_node_names_and_namespaces, timeout_s=10.0)):
            assert time.monotonic() < deadline, f"robots not on the graph: {names}"
            await asyncio.sleep(0.2)
        assert ("sim_robots_frames_1", "/") in names  # the remap renamed the manager only
        # The robots start on the hub's dock and charge there (300 W at speed-up 40), so the first reading is
        # 80 % or a little above it; without the parameter it would be the default, a full pack.
        percentage = (await asyncio.wait_for(battery, 10.0)).percentage
        assert 0.795 <= percentage < 0.9, percentage
        frames = {"1": MapFrame.at(**DATUM_1), "2": MapFrame.at(**DATUM_2)}  # type: ignore[arg-type]
        for n, frame in frames.items():
            pose = (await asyncio.wait_for(poses[n], 10.0)).pose.pose.position
            expected = frame.to_local(*_truth(port, int(n) - 1))
            assert math.dist((pose.x, pose.y), expected) < 0.01, (n, pose, expected)
        client = entities[-1]
        while not await bridge.call(client.service_is_ready, timeout_s=5.0):
            await asyncio.sleep(0.05)
        request = FromLL.Request()
        request.ll_point.latitude, request.ll_point.longitude = world.hub.latitude_deg, world.hub.longitude_deg
        answer = await bridge.call(lambda: client.call_async(request), timeout_s=5.0)
        hub_in_2 = frames["2"].to_local(world.hub.latitude_deg, world.hub.longitude_deg)
        assert (answer.map_point.x, answer.map_point.y) == pytest.approx(hub_in_2, abs=1e-6)
        assert math.dist(hub_in_2, (world.hub.x_m, world.hub.y_m)) > 500.0  # a frame of its own, not the world's
    finally:
        bridge.close()
    process.check_alive()


@pytest.mark.timeout(120)
async def test_two_robots_with_their_own_map_frames_deliver_to_wgs84_addresses_within_half_a_metre(
    world: World, robots: tuple[RobotsProcess, int]
) -> None:
    """frames_1 (datum from the fleet file) and frames_2 (its fromLL) each deliver at a WGS84 address: the simulator
    has them within 0.5 m of it, and the positions the fleet manager reports (what the dashboard draws) agree."""
    _, port = robots
    _wait_truth(port)
    targets = _addresses(world, 2)
    factory = _fleet(world)
    adapters = _build(factory)
    speeds: list[float] = []

    async def watch(adapter: Ros2Adapter) -> None:
        async for state in adapter.telemetry():
            speeds.append(state.ground_speed_m_s)

    try:
        await asyncio.gather(*(a.connect(timeout_s=30.0) for a in adapters))
        await asyncio.gather(*(a.wait_ready(timeout_s=20.0) for a in adapters))
        watchers = [asyncio.create_task(watch(a)) for a in adapters]
        for i, (adapter, (lat, lon)) in enumerate(zip(adapters, targets, strict=True)):
            step = MissionStep(StepKind.DELIVER, latitude_deg=lat, longitude_deg=lon, order_id=f"o-{i}")
            await adapter.start_mission(Mission(f"m-frames-{i}", (step,)))
        results = await asyncio.gather(*(a.wait_mission(timeout_s=60.0) for a in adapters))
        assert [r.outcome for r in results] == [MissionOutcome.SUCCEEDED] * 2
        for i, (adapter, target) in enumerate(zip(adapters, targets, strict=True)):
            truth = world.frame.to_local(*_truth(port, i))
            goal = world.frame.to_local(*target)
            assert math.dist(truth, goal) < 0.5, f"{adapter.vehicle_id} stopped {math.dist(truth, goal):.2f} m away"

            def off_m(adapter: Ros2Adapter = adapter, truth: tuple[float, float] = truth) -> float:
                state = adapter.latest_state()
                assert state is not None and state.position_valid
                return math.dist(world.frame.to_local(state.latitude_deg, state.longitude_deg), truth)

            # The goal's last feedback may trail its result; the robot's next amcl_pose (<= 0.5 s) has the end.
            deadline = time.monotonic() + 2.0
            while off_m() >= 0.5 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert off_m() < 0.5, f"{adapter.vehicle_id} reported {off_m():.2f} m off"
        assert max(speeds) == pytest.approx(SPEED_LIMIT_M_S, abs=0.05)  # speed_limit from the parameters file's /**
        for watcher in watchers:
            watcher.cancel()
    finally:
        await asyncio.gather(*(a.close() for a in adapters))
        factory.close()


@pytest.mark.timeout(60)
async def test_a_parked_robot_is_located_at_once_from_its_latched_amcl_pose(
    world: World, robots: tuple[RobotsProcess, int]
) -> None:
    """A fleet manager that starts after the robot parked: AMCL published its last pose long ago and publishes
    nothing while the robot stands, yet the adapter (reliable, transient local) has the pose within seconds."""
    _, port = robots
    _wait_truth(port)
    await asyncio.sleep(1.0)  # parked: no amcl_pose since
    factory = _fleet(world)
    adapter = _build(factory)[0]
    try:
        await adapter.connect(timeout_s=30.0)
        await adapter.wait_ready(timeout_s=10.0)
        state = adapter.latest_state()
        assert state is not None and state.position_valid and state.ground_speed_m_s == 0.0
        truth = world.frame.to_local(*_truth(port, 0))
        assert math.dist(world.frame.to_local(state.latitude_deg, state.longitude_deg), truth) < 0.5
    finally:
        await adapter.close()
        factory.close()


@pytest.mark.timeout(120)
async def test_the_fleet_manager_from_a_fleet_file_shows_both_robots_where_they_are(
    tmp_path: Path, world: World, robots: tuple[RobotsProcess, int]
) -> None:
    """`Runtime.start` with the fleet file (one robot by datum, one by fromLL): GET /v1/vehicles — what the
    dashboard draws — has each robot within 0.5 m of where the simulator has it."""
    import httpx
    import uvicorn

    from fleet_manager.config import Role, Settings
    from fleet_manager.runtime import Runtime

    _, port = robots
    _wait_truth(port)
    viewer_key = "viewer-key-map-frames-" + "f" * 16  # keys are at least 32 characters
    api_port = free_port()
    settings = Settings(database_url=upgrade(f"sqlite:///{tmp_path / 'fm.db'}"), hub_id="hub-frames", port=api_port,
                        api_keys={viewer_key: frozenset({Role.VIEWER})}, ros_domain_id=DOMAIN_ID)
    runtime = await Runtime.start(settings, _fleet_file())
    server = uvicorn.Server(uvicorn.Config(runtime.app, host="127.0.0.1", port=api_port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        truth = {f"frames_{i + 1}": world.frame.to_local(*_truth(port, i)) for i in range(2)}
        deadline = time.monotonic() + 30.0
        while not server.started:
            assert time.monotonic() < deadline, "the API did not start"
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(timeout=10.0) as http:
            while True:
                response = await http.get(f"http://127.0.0.1:{api_port}/v1/vehicles",
                                          headers={"Authorization": f"Bearer {viewer_key}"})
                shown = {v["vehicle_id"]: v["state"] for v in response.json()} if response.status_code == 200 else {}
                off_m = {
                    vehicle_id: math.dist(world.frame.to_local(state["latitude_deg"], state["longitude_deg"]), xy)
                    for vehicle_id, xy in truth.items()
                    if (state := shown.get(vehicle_id)) and state.get("position_valid")
                }
                if len(off_m) == 2 and max(off_m.values()) < 0.5:
                    break
                assert time.monotonic() < deadline, f"/v1/vehicles: {response.status_code}, off by {off_m} m"
                await asyncio.sleep(0.2)
    finally:
        server.should_exit = True
        await serving
        await runtime.close()

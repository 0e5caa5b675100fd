"""A Nav2 robot keeps driving while the fleet manager is down; the next process adopts its mission over DDS.

A sim robot in another process (`python -m fleet_manager.cli robots`, random ROS_DOMAIN_ID); one
adapter on its own bridge (rclpy node) starts a drop-and-return mission and goes away with its node
while the first leg is driven (the kill -9 of the service); a fresh adapter on a fresh node reads the
navigator's goal status, follows the running leg's goal without sending it again, opens the
compartment at the door and sends the return leg. A probe on the status topic counts the goals the
robot accepted: one per leg.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import networkx as nx
import pytest

pytest.importorskip("rclpy", reason="rclpy not installed (run `make setup`)")
pytest.importorskip("nav2_msgs.action", reason="nav2_msgs not built or env not set (run `make ros`)")

from fleet_manager.adapters.base import HeldMission, Mission, MissionOutcome, MissionStep, StepKind
from fleet_manager.adapters.ros2_adapter import Ros2Adapter
from fleet_manager.adapters.ros2_adoption import STATUS_SUCCEEDED, LegGoal, mission_goals
from fleet_manager.adapters.ros2_bridge import Ros2Bridge
from fleet_manager.dispatcher import DispatcherConfig
from fleet_manager.domain.orders import Address, DeliveryMode, Order, OrderStatus, Recipient
from fleet_manager.errors import AdapterError
from fleet_manager.fleet import Fleet, VehicleProfile
from fleet_manager.planning import FleetPlanner
from fleet_manager.reconcile import reconcile_in_flight
from fleet_manager.runtime import HubServices, build_hub
from fleet_manager.store import fleet as fleet_store
from fleet_manager.store import orders as order_store
from fleet_manager.store.db import Database
from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from sim_worlds.leases import lease_ros_domain
from sim_worlds.robots.process import RobotsProcess

pytestmark = [pytest.mark.ros, pytest.mark.sim]

SPEEDUP = 20.0
# Held while this test process lives: no other FinalMile process on the machine uses the domain meanwhile.
_DOMAIN = lease_ros_domain()
DOMAIN_ID = _DOMAIN.number
# A door this far (walk from the hub) keeps the first leg running for about 15 s of wall time at SPEEDUP:
# ample for the next process to connect and adopt it while it runs, even on a loaded machine.
FAR_M = (400.0, 700.0)


@pytest.fixture(scope="module")
def world() -> World:
    """Central Helsinki."""
    return load_world("helsinki")


@pytest.fixture(scope="module")
def robots() -> Iterator[RobotsProcess]:
    """Sim robots at the hub: robot_1 adopted mid-leg, robot_2 idle at its drop, robot_3 through reconcile."""
    with RobotsProcess(3, domain_id=DOMAIN_ID, speedup=SPEEDUP) as process:
        yield process


class AtHome:
    """Every recipient is at home to take the parcel."""

    async def is_present(self, order: Order) -> bool:
        return True


class GoalProbe:
    """Every goal id the robot's navigator ever listed (its status topic, as any ROS tool sees it)."""

    def __init__(self, bridge: Ros2Bridge, namespace: str) -> None:
        self.bridge, self.namespace = bridge, namespace
        self._seen: dict[bytes, object] = {}  # goal id -> its newest action_msgs/GoalStatus
        self._lock = threading.Lock()

    async def start(self) -> None:
        from action_msgs.msg import GoalStatusArray
        from rclpy.qos import qos_profile_action_status_default

        def on_status(message: GoalStatusArray) -> None:
            with self._lock:
                for entry in message.status_list:
                    self._seen[bytes(entry.goal_info.goal_id.uuid)] = entry

        await self.bridge.call(lambda: self.bridge.node.create_subscription(
            GoalStatusArray, f"{self.namespace}/navigate_to_pose/_action/status", on_status,
            qos_profile_action_status_default), timeout_s=10.0, what="probe subscription")

    def goals(self, mission_id: str) -> dict[int, int]:
        """Leg -> how many goals were accepted for it in `mission_id`."""
        counts: dict[int, int] = {}
        for goal in self.legs(mission_id):
            counts[goal.step_index] = counts.get(goal.step_index, 0) + 1
        return counts

    def legs(self, mission_id: str) -> list[LegGoal]:
        """The goals of `mission_id` the navigator listed, with their newest status."""
        with self._lock:
            entries = list(self._seen.values())
        return mission_goals(mission_id, entries)


def _door(world: World, low_m: float, high_m: float) -> tuple[float, float]:
    """(lat, lon) of the walk node nearest an address low..high m's walk from the hub."""
    hub = world.nearest_walk_node(world.hub.x_m, world.hub.y_m)
    lengths = nx.single_source_dijkstra_path_length(world.walk_graph, hub, weight="length_m")
    for building in world.addresses:
        node = world.nearest_walk_node(building.x_m, building.y_m)
        if low_m <= lengths.get(node, -1.0) <= high_m:
            data = world.walk_graph.nodes[node]
            return data["latitude_deg"], data["longitude_deg"]
    raise AssertionError(f"no address {low_m}-{high_m} m from the hub")


async def _until(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)


def _mission(world: World, mission_id: str, door: tuple[float, float]) -> Mission:
    return Mission(mission_id, (MissionStep(StepKind.DELIVER, *door, order_id=f"{mission_id}-parcel"),
                                MissionStep(StepKind.RETURN)))


async def _crashed_process_left(robot: str, world: World, mission: Mission, *, until_what: str,
                                domain_id: int = DOMAIN_ID) -> None:
    """An adapter on its own node starts `mission` and dies (node and all) once it saw `until_what`."""
    bridge = Ros2Bridge(domain_id=domain_id, node_name=f"finalmile_crashed_{robot}")
    bridge.start()
    adapter = Ros2Adapter(robot, bridge, world.frame, namespace=f"/{robot}")
    try:
        await adapter.connect(timeout_s=30.0)
        await adapter.wait_ready(timeout_s=30.0)

        async def first(what: str) -> None:
            async for event in adapter.mission_events():
                if event.what == what:
                    return

        seen = asyncio.create_task(first(until_what))
        await asyncio.sleep(0)  # subscribed before the mission starts
        await adapter.start_mission(mission)
        await asyncio.wait_for(seen, 60.0)
    finally:
        await adapter.close()  # sends nothing to the robot: its goal runs on
        with contextlib.suppress(AdapterError):  # the dead process's own view: closed during the mission
            await adapter.wait_mission(timeout_s=1.0)
        bridge.close()


@contextlib.asynccontextmanager
async def _next_process(robot: str, world: World, mission: Mission) -> AsyncIterator[tuple[GoalProbe, Ros2Adapter]]:
    """A process that started `mission` on `robot` and crashed once the first goal was accepted; then the restarted
    fleet manager's node: a goal probe (listening from the start) and a fresh, unconnected adapter."""
    bridge = Ros2Bridge(domain_id=DOMAIN_ID, node_name=f"finalmile_restarted_{robot}")
    bridge.start()
    probe = GoalProbe(bridge, f"/{robot}")
    adapter = Ros2Adapter(robot, bridge, world.frame, namespace=f"/{robot}")
    try:
        await probe.start()
        await _crashed_process_left(robot, world, mission, until_what="goal_accepted")
        yield probe, adapter
    finally:
        await adapter.close()
        bridge.close()


@pytest.mark.timeout(180)
async def test_a_robot_mid_leg_is_adopted_and_its_running_goal_is_never_sent_again(
    world: World, robots: RobotsProcess
) -> None:
    mission = _mission(world, "m-adopt-mid-leg", _door(world, *FAR_M))
    async with _next_process("robot_1", world, mission) as (probe, adapter):
        await _until(lambda: probe.goals(mission.mission_id) == {0: 1}, 20.0, "the first leg's goal on the status")

        await adapter.connect(timeout_s=30.0)
        await adapter.set_home(world.hub.latitude_deg, world.hub.longitude_deg)
        events: list[str] = []

        async def collect() -> None:
            async for event in adapter.mission_events():
                events.append(event.what)

        collector = asyncio.create_task(collect())
        await asyncio.sleep(0)
        report = await adapter.adopt_mission(mission)
        assert report.held is HeldMission.RUNNING and report.steps_completed == 0, report
        result = await adapter.wait_mission(timeout_s=120.0)
        collector.cancel()
        assert result.outcome is MissionOutcome.SUCCEEDED and result.steps_completed == 2, result
        assert events.index("goal_adopted") < events.index("compartment_opened") < events.index("goal_accepted"), events
        assert probe.goals(mission.mission_id) == {0: 1, 1: 1}  # the running leg was never sent a second time
        hub_xy = (world.hub.x_m, world.hub.y_m)
        await _until(lambda: _distance_m(adapter, world, hub_xy) < 25.0, 10.0, "robot_1 back at the hub")


@pytest.mark.timeout(180)
async def test_a_robot_stopped_at_its_drop_is_reported_ended_with_the_parcel_unsure(
    world: World, robots: RobotsProcess
) -> None:
    """The old process died after the robot reached the door: the compartment may or may not have opened."""
    mission = _mission(world, "m-adopt-at-door", _door(world, 150.0, 400.0))
    async with _next_process("robot_2", world, mission) as (probe, adapter):
        await _until(lambda: [g.status for g in probe.legs(mission.mission_id)] == [STATUS_SUCCEEDED], 90.0,
                     "robot_2 at the door")
        await adapter.connect(timeout_s=30.0)
        report = await adapter.adopt_mission(mission)
        assert report.held is HeldMission.ENDED and report.unsure_steps == (0,), report
        assert report.handed_over_steps == () and report.outcome is MissionOutcome.FAILED, report
        assert probe.goals(mission.mission_id) == {0: 1}  # nothing sent: no return leg, no second drop


def _distance_m(adapter: Ros2Adapter, world: World, xy: tuple[float, float]) -> float:
    state = adapter.latest_state()
    if state is None:
        return math.inf
    return math.dist(world.frame.to_local(state.latitude_deg, state.longitude_deg), xy)


@pytest.mark.timeout(180)
async def test_a_restarted_fleet_manager_reconciles_a_robot_mid_leg_and_the_order_is_delivered(
    world: World, robots: RobotsProcess, tmp_path: Path
) -> None:
    """Store, hub services and reconcile as at start-up: the order goes out once and is delivered."""
    hub_id = "hub-robots"
    door = _door(world, *FAR_M)
    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    with database.transaction() as session:
        order, _ = order_store.create_order(session, new=order_store.NewOrder(
            hub_id=hub_id, recipient=Recipient("Aino"), reference="robot-restart", weight_kg=1.0,
            destination=Address(*door, street="door"), customs_cleared=True), actor="backend",
            at_s=1_749_704_400.0)
    mission = Mission("m-reconciled", (MissionStep(StepKind.DELIVER, *door, order_id=order.order_id),
                                       MissionStep(StepKind.RETURN)))
    try:
        async with _next_process("robot_3", world, mission) as (probe, adapter):
            hub = robot_hub(hub_id, database, world, adapter)
            # What the crashed process had recorded: the mission stored, the parcel loaded, the robot departed.
            await hub.lifecycle.load(mission=mission, vehicle_id="robot_3", mode=DeliveryMode.ROBOT,
                                     order_ids=[order.order_id], details={"mode": "robot"})
            await hub.lifecycle.depart(mission_id=mission.mission_id, vehicle_id="robot_3", mode=DeliveryMode.ROBOT,
                                       order_ids=[order.order_id], eta_s={})

            await adapter.connect(timeout_s=30.0)
            await adopted_and_delivered(hub, database, order.order_id, mission.mission_id)
            assert probe.goals(mission.mission_id) == {0: 1, 1: 1}  # each leg sent once: the drop never twice
    finally:
        database.dispose()


def robot_hub(hub_id: str, database: Database, world: World, adapter: Ros2Adapter) -> HubServices:
    """Hub services over `database` with one robot (`adapter`); every recipient at home."""
    fleet = Fleet()
    fleet.add(hub_id, adapter, VehicleProfile(max_payload_kg=20.0, battery_wh=1000.0, speed_m_s=1.5,
                                              cruise_altitude_m=0.0, reserve_pct=20.0),
              home_latitude_deg=world.hub.latitude_deg, home_longitude_deg=world.hub.longitude_deg)
    planner = FleetPlanner(world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph,
                           hub_xy=(world.hub.x_m, world.hub.y_m))
    return build_hub(hub_id=hub_id, database=database, fleet=fleet, world=world, clock=Clock(), recipients=AtHome(),
                     planner=planner, dispatcher_config=DispatcherConfig(hub_id=hub_id, lookahead_s=math.inf))


async def adopted_and_delivered(
    hub: HubServices, database: Database, order_id: str, mission_id: str,
) -> fleet_store.MissionRecord:
    """Reconcile as at start-up: the mission is adopted, followed to its end, and the order delivered."""
    report = await reconcile_in_flight(database=database, hub_id=hub.hub_id, fleet=hub.missions.fleet,
                                       missions=hub.missions, lifecycle=hub.lifecycle)
    assert [(m.verdict, m.order_ids) for m in report.missions] == [("adopted", (order_id,))], report
    await _until(lambda: not hub.missions.running, 150.0, "the adopted mission to end")
    with database.read() as session:
        delivered = order_store.get_order(session, order_id=order_id)
        record = fleet_store.get_mission(session, mission_id=mission_id)
    assert delivered.status is OrderStatus.DELIVERED, delivered
    assert record.status is fleet_store.MissionStatus.SUCCEEDED, record
    return record

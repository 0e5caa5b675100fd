"""ROS 2 Nav2 ground robots behind the `VehicleAdapter` contract.

One `Ros2Adapter` per robot namespace (`/robot_1`), all sharing one `Ros2Bridge` (one rclpy node
in its own executor thread). Per robot: a `navigate_to_pose` action client (nav2_msgs/action/
NavigateToPose), subscriptions to `odom`, `amcl_pose` (with AMCL's own QoS: reliable, transient
local, so a parked robot's last pose arrives at once) and `battery_state`, and a std_srvs/Trigger
client for the compartment. A mission is sent leg by leg as successive NavigateToPose goals.

Each robot has its own `map` frame: the world's frame (default), a `MapFrame` from a datum, or the
one the robot's robot_localization `fromLL` service converts into (`ros2_fromll`: goals through the
service, positions through a frame fitted to it at connect). Goals, positions, mission events and
so the dashboard all convert through it.

This module connects and composes: `ros2_missions` runs missions (start, replace, pause, ...),
`ros2_goals` sends, follows and cancels the goals and opens the compartment, and `ros2_telemetry`
folds what the robot reports into snapshots (and watches the link: silence for `link_timeout_s`
fails a running mission with `LinkLost`).
After a fleet-manager restart `adopt_mission` reads the navigator's goal status (`ros2_adoption`)
and follows the leg the robot is on without sending it again.

All adapter state lives on the asyncio loop; ROS callbacks reach it through `Ros2Bridge.to_loop`
and rclpy is touched only inside `Ros2Bridge.call`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fleet_manager.adapters.base import (
    AdoptionReport,
    Geofence,
    HeldMission,
    Mission,
    MissionEvent,
    MissionResult,
    StepKind,
    VehicleAdapter,
    VehicleKind,
    VehicleState,
)
from fleet_manager.adapters.ros2_adoption import (
    ARRIVED_WITHIN_M,
    StatusLatch,
    mission_goals,
    read_adoption,
    read_recorded_leg,
)
from fleet_manager.adapters.ros2_bridge import BridgeError, Relay, Ros2Bridge
from fleet_manager.adapters.ros2_fromll import FromLLClient
from fleet_manager.adapters.ros2_goals import GoalAborted as GoalAborted
from fleet_manager.adapters.ros2_goals import GoalClient
from fleet_manager.adapters.ros2_goals import GoalRejected as GoalRejected
from fleet_manager.adapters.ros2_missions import RobotMissions
from fleet_manager.adapters.ros2_telemetry import MAP_FRAME_ID as MAP_FRAME_ID
from fleet_manager.adapters.ros2_telemetry import NavigationProgress, RobotTelemetry
from fleet_manager.errors import AdapterTimeout, NotConnected
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame
from mission_planner.map_frame import MapFrame

logger = logging.getLogger(__name__)

ODOM_QUEUE_DEPTH = 50  # 5 s of 10 Hz odometry per robot


class Ros2Adapter(VehicleAdapter):
    """A Nav2 robot (or the in-repo sim robot) reached over ROS 2 in namespace `namespace`.

    `frame` is the robot's map frame on the Earth (the world's `LocalFrame`, or a `MapFrame` from its
    datum); with `fromll_service` the robot converts itself and `world_frame` anchors the fit.
    """

    kind = VehicleKind.ROBOT

    def __init__(
        self,
        vehicle_id: str,
        bridge: Ros2Bridge,
        frame: LocalFrame | MapFrame,
        *,
        namespace: str | None = None,
        clock: Clock | None = None,
        link_timeout_s: float = 2.0,
        goal_response_timeout_s: float = 10.0,
        compartment_service: str | None = None,
        compartment_timeout_s: float = 10.0,
        fromll_service: str | None = None,
        world_frame: LocalFrame | None = None,
        goal_status_timeout_s: float = 3.0,
    ) -> None:
        if link_timeout_s <= 0:
            raise ValueError(f"link_timeout_s must be > 0, got {link_timeout_s}")
        if goal_response_timeout_s <= 0:
            raise ValueError(f"goal_response_timeout_s must be > 0, got {goal_response_timeout_s}")
        self.vehicle_id = vehicle_id
        self.bridge = bridge
        self.frame = frame if isinstance(frame, MapFrame) else MapFrame.of(frame)
        self.world_frame = world_frame or (frame if isinstance(frame, LocalFrame) else None)
        self.fromll = FromLLClient(vehicle_id, fromll_service, bridge) if fromll_service else None
        if self.fromll is not None and self.world_frame is None:
            raise ValueError(f"{vehicle_id}: fromll_service needs world_frame (the anchor of the map-frame fit)")
        self.namespace = "/" + (namespace or vehicle_id).strip("/")
        self.clock = clock or Clock()
        self.link_timeout_s = link_timeout_s
        self.goal_response_timeout_s = goal_response_timeout_s
        self.compartment_service = compartment_service or f"{self.namespace}/sim_robot/open_compartment"
        self.compartment_timeout_s = compartment_timeout_s
        self.goal_status_timeout_s = goal_status_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ros: dict[str, Any] = {}
        self._taps: list[tuple[str, Callable[[Any], None]]] = []
        self._connected = False
        self._telemetry = RobotTelemetry(
            vehicle_id, self.namespace, self.frame, self.clock, link_timeout_s=link_timeout_s,
            mission_view=lambda: self._missions.view(),
        )  # fmt: skip
        self._goals = GoalClient(
            vehicle_id, self.namespace, bridge, goal_response_timeout_s=goal_response_timeout_s,
            compartment_timeout_s=compartment_timeout_s,
        )  # fmt: skip
        self._missions = RobotMissions(
            vehicle_id, self.namespace, self._goal_xy, self.clock, self._telemetry, self._goals,
            link_timeout_s=link_timeout_s,
        )  # fmt: skip
        self._watchdog: asyncio.Task[None] | None = None

    # --- connection ----------------------------------------------------------------------------
    async def connect(self, timeout_s: float = 30.0) -> None:
        """Fit the map frame (fromLL), create the action client, subscriptions and service client; wait for odometry."""
        if self._connected:
            return
        self._loop = asyncio.get_running_loop()
        self._telemetry.fanout.reopen()
        self._missions.events.reopen()
        self.bridge.start()
        started = time.monotonic()
        if self.fromll is not None and self.world_frame is not None:
            try:
                await self.fromll.open()
                self.frame = self._telemetry.frame = await self.fromll.fit(self.world_frame, timeout_s)
            except BridgeError as exc:
                raise AdapterTimeout(self.vehicle_id, "connect", str(exc)) from exc
            timeout_s = max(0.1, timeout_s - (time.monotonic() - started))
        try:
            self._ros = await self.bridge.call(
                self._create_ros_entities, timeout_s=timeout_s, what=f"{self.vehicle_id}: create ROS entities"
            )
        except BridgeError as exc:
            raise AdapterTimeout(self.vehicle_id, "connect", str(exc)) from exc
        self._goals.action, self._goals.compartment = self._ros["action"], self._ros["compartment"]
        self._connected = True
        try:
            await asyncio.wait_for(self._telemetry.first_state.wait(), timeout_s)
        except TimeoutError as exc:
            logger.warning("%s: no odometry on %s/odom within %.1f s", self.vehicle_id, self.namespace, timeout_s)
            await self.close()
            raise AdapterTimeout(
                self.vehicle_id, "connect", f"no odometry on {self.namespace}/odom within {timeout_s} s"
            ) from exc
        self._watchdog = asyncio.create_task(
            self._telemetry.watch_link(self._missions.on_link_lost), name=f"{self.vehicle_id}-link-watchdog"
        )

    def _create_ros_entities(self) -> dict[str, Any]:
        """Runs in the ROS thread (through Ros2Bridge.call): this robot's entities (kept by the bridge), attached."""
        entities = self.bridge.entities(f"robot {self.namespace} {self.compartment_service}", self._build_entities)
        loop = self._require_loop("connect")
        for topic, handler in (("odom", self._telemetry.on_odometry), ("amcl_pose", self._telemetry.on_amcl_pose),
                               ("battery_state", self._telemetry.on_battery)):  # fmt: skip
            entities["relays"][topic].attach(self, self.bridge.to_loop(loop, handler))
        return entities

    def _build_entities(self) -> dict[str, Any]:
        """Runs in the ROS thread, once per robot and bridge."""
        from action_msgs.msg import GoalStatusArray
        from geometry_msgs.msg import PoseWithCovarianceStamped
        from nav2_msgs.action import NavigateToPose
        from nav_msgs.msg import Odometry
        from rclpy.action import ActionClient
        from rclpy.qos import (
            DurabilityPolicy,
            QoSProfile,
            ReliabilityPolicy,
            qos_profile_action_status_default,
            qos_profile_sensor_data,
        )
        from sensor_msgs.msg import BatteryState
        from std_srvs.srv import Trigger

        node, ns = self.bridge.node_for(self.namespace), self.namespace
        # Best-effort subscriptions match both reliable and best-effort publishers. amcl_pose takes AMCL's
        # own QoS (nav2_amcl: KeepLast(1), reliable, transient local): AMCL publishes only when the robot
        # moves, so a parked robot's pose is the one latched sample.
        amcl_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.TRANSIENT_LOCAL)
        # Sensor QoS, but a deeper queue: with a hundred robots on two cores the executor thread can be
        # held off for a while, and a 5-deep queue (qos_profile_sensor_data) then loses odometry.
        odom_qos = QoSProfile(depth=ODOM_QUEUE_DEPTH, reliability=ReliabilityPolicy.BEST_EFFORT)
        relays = {topic: Relay() for topic in ("odom", "amcl_pose", "battery_state")}
        status = StatusLatch()  # the navigator's goals, for adopting a mission after a restart (ros2_adoption)
        return {
            "action": ActionClient(node, NavigateToPose, f"{ns}/navigate_to_pose"),
            "status": status,
            "compartment": node.create_client(Trigger, self.compartment_service),
            "relays": relays,
            "subscriptions": [
                node.create_subscription(Odometry, f"{ns}/odom", relays["odom"], odom_qos),
                node.create_subscription(PoseWithCovarianceStamped, f"{ns}/amcl_pose", relays["amcl_pose"], amcl_qos),
                node.create_subscription(BatteryState, f"{ns}/battery_state", relays["battery_state"],
                                         qos_profile_sensor_data),
                node.create_subscription(GoalStatusArray, f"{ns}/navigate_to_pose/_action/status", status,
                                         qos_profile_action_status_default),
            ],
        }

    async def close(self) -> None:
        """Stop watching, end the telemetry and event streams and detach from the ROS entities; idempotent."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._missions.running:
            self._missions.fail(NotConnected(self.vehicle_id, "wait_mission", "adapter closed during the mission"))
        entities, self._ros = self._ros, {}
        self._goals.action = self._goals.compartment = None
        for relay in entities.get("relays", {}).values():  # the entities stay with the bridge (see entities())
            relay.detach(self)
        for topic, handler in self._taps:
            entities["relays"][topic].detach(handler)
        self._taps.clear()
        self._connected = False
        self._telemetry.fanout.close()
        self._missions.events.close()

    def _require_loop(self, call: str) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise NotConnected(self.vehicle_id, call, "adapter not connected; call connect() first")
        return self._loop

    def _require_connected(self, call: str) -> None:
        if not self._connected:
            raise NotConnected(self.vehicle_id, call, "adapter not connected; call connect() first")

    def tap(self, topic: str, handler: Callable[[Any], None]) -> None:
        """Also hand every raw `topic` message ('odom', 'amcl_pose', 'battery_state') to `handler` on the loop,
        in the same order as the adapter sees them (diagnostics, benchmarks); until the adapter closes."""
        relays = self._ros.get("relays")
        if relays is None or topic not in relays:
            raise NotConnected(self.vehicle_id, "tap", f"no {topic!r} subscription; connect() first")
        relays[topic].attach(handler, self.bridge.to_loop(self._require_loop("tap"), handler))
        self._taps.append((topic, handler))

    async def _goal_xy(self, latitude_deg: float, longitude_deg: float) -> tuple[float, float]:
        """A WGS84 goal in the robot's map frame: through its fromLL service when it has one, else the frame."""
        if self.fromll is not None:
            return await self.fromll.map_point(latitude_deg, longitude_deg)
        return self.frame.to_local(latitude_deg, longitude_deg)

    # --- telemetry -----------------------------------------------------------------------------
    def latest_state(self) -> VehicleState | None:
        """The newest snapshot, or None before the first odometry."""
        return self._telemetry.state

    def navigation_progress(self) -> NavigationProgress | None:
        """The newest NavigateToPose feedback of the current mission (distance and time remaining)."""
        return self._telemetry.progress

    def telemetry(self) -> AsyncIterator[VehicleState]:
        """Every new snapshot (one per odometry message and per link change) until the adapter closes."""
        return self._telemetry.fanout.subscribe()

    def mission_events(self) -> AsyncIterator[MissionEvent]:
        """Progress events (goal_accepted, step_reached, compartment_opened, paused, resumed, ...)."""
        return self._missions.events.subscribe()

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait until the robot's NavigateToPose action server is up and a map-frame pose has arrived (wall s)."""
        self._require_connected("wait_ready")
        deadline = time.monotonic() + timeout_s
        action, _ = self._goals.require_clients("wait_ready")
        await self._goals.wait_for_server(
            action.server_is_ready, "wait_ready", timeout_s, server="NavigateToPose action server"
        )
        if not await self._telemetry.wait_state(lambda state: state.position_valid, deadline - time.monotonic()):
            why = f"no map-frame pose (amcl_pose or goal feedback) from {self.namespace} within {timeout_s} s"
            logger.warning("%s: wait_ready: %s", self.vehicle_id, why)
            raise AdapterTimeout(self.vehicle_id, "wait_ready", why)

    # --- missions (RobotMissions runs them) ----------------------------------------------------
    async def start_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Validate, send the first leg and return once the robot accepted it (GoalRejected if not).

        Raises MissionBusy while a mission runs. Robots keep to walkways; `geofence` is not sent (Nav2
        keep-out zones live in the robot's map).
        """
        self._require_connected("start_mission")
        await self._missions.start_mission(mission)

    async def replace_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Cancel the running goal and go on with `mission`'s goals from where the robot is.

        The old mission ends CANCELED. Raises NoMissionRunning when none runs, CommandRefused when the
        new mission is invalid or the robot refuses to cancel its goal (the old mission then runs on);
        see `RobotMissions.replace_mission`. `geofence` is not sent.
        """
        self._require_connected("replace_mission")
        await self._missions.replace_mission(mission)

    async def wait_mission(self, timeout_s: float) -> MissionResult:
        """The mission's end; GoalAborted / GoalRejected / LinkLost when it failed, AdapterTimeout after `timeout_s`."""
        return await self._missions.wait_mission(timeout_s)

    async def pause(self) -> None:
        """Cancel the running goal and hold; the mission stays and `resume()` re-sends the leg."""
        self._require_connected("pause")
        await self._missions.pause()

    async def resume(self) -> None:
        """Continue a paused mission from the leg it was on."""
        self._require_connected("resume")
        await self._missions.resume()

    async def return_home(self) -> None:
        """Abandon the mission and drive back to where the robot was first seen."""
        self._require_connected("return_home")
        await self._missions.return_home()

    async def land(self) -> None:
        """A robot has nothing to land: stop where it is (cancel the goal, end the mission CANCELED)."""
        self._require_connected("land")
        await self._missions.land()

    # --- after a restart -------------------------------------------------------------------------
    async def set_home(self, latitude_deg: float, longitude_deg: float) -> None:
        """RETURN legs go to this point (the hub) instead of where this adapter first saw the robot."""
        self._telemetry.home_xy = await self._goal_xy(latitude_deg, longitude_deg)

    async def confirm_drop(self, mission_id: str, step_index: int, *, release: bool) -> None:
        """Open the compartment at the door the robot waits at, or keep the parcel and go on."""
        self._require_connected("confirm_drop")
        self._missions.confirm_drop(mission_id, step_index, release=release)

    async def adopt_recorded_leg(self, mission: Mission, leg: int, *, releasing_step: int | None) -> AdoptionReport:
        """The navigator lists no goal of `mission`, or ended it at a door: adopt it from the store's record of its
        legs and release decisions and the robot's pose (see `read_recorded_leg`); RUNNING: the legs from the one
        named are sent."""
        self._require_connected("adopt_mission")
        step = mission.steps[leg] if 0 <= leg < len(mission.steps) else None
        here = self._telemetry.map_xy
        target: tuple[float, float] | None = None
        if step is not None and step.kind is StepKind.RETURN:
            target = self._telemetry.home_xy
        elif step is not None and step.latitude_deg is not None and step.longitude_deg is not None:
            target = await self._goal_xy(step.latitude_deg, step.longitude_deg)
        arrived = here is not None and target is not None and math.dist(here, target) <= ARRIVED_WITHIN_M
        adoption = read_recorded_leg(mission, leg, releasing_step=releasing_step, arrived=arrived)
        if adoption.report.held is HeldMission.RUNNING:
            # a new id for the leg sent again: the navigator refuses one it still tracks (a finished goal, listed
            # until its result expires)
            latch: StatusLatch = self._ros["status"]
            listed = mission_goals(mission.mission_id, latch.latest.status_list if latch.latest is not None else ())
            attempt = 1 + max((g.attempt for g in listed if g.step_index == adoption.next_step), default=0)
            await self._missions.adopt(mission, adoption, attempts={adoption.next_step or 0: attempt})
        logger.info("%s: mission %s after a restart, from the store: %s (%s)", self.vehicle_id, mission.mission_id,
                    adoption.report.held.value, adoption.report.detail)
        return adoption.report

    async def adopt_mission(self, mission: Mission) -> AdoptionReport:
        """Match `mission` with the goals the robot's navigator tracks (see `ros2_adoption`); RUNNING: follow it.

        The leg being driven is followed by its goal id, never sent again; the later legs are sent as
        usual. Once the navigator is up, waits up to `goal_status_timeout_s` for its latched goal status (a
        navigator that never had a goal publishes none: ABSENT). Raises AdapterTimeout without a navigator.
        """
        self._require_connected("adopt_mission")
        action, _ = self._goals.require_clients("adopt_mission")
        await self._goals.wait_for_server(action.server_is_ready, "adopt_mission", self.goal_response_timeout_s,
                                          server="NavigateToPose action server")
        latch: StatusLatch = self._ros["status"]
        deadline = time.monotonic() + self.goal_status_timeout_s
        while latch.latest is None and time.monotonic() < deadline:  # the latched sample follows discovery
            await asyncio.sleep(0.05)
        status_list = latch.latest.status_list if latch.latest is not None else ()
        adoption = read_adoption(mission, mission_goals(mission.mission_id, status_list))
        if adoption.report.held is HeldMission.RUNNING:
            await self._missions.adopt(mission, adoption)
        logger.info("%s: mission %s after a restart: %s (%s)", self.vehicle_id, mission.mission_id,
                    adoption.report.held.value, adoption.report.detail)
        return adoption.report

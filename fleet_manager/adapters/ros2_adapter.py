"""ROS 2 Nav2 ground robots behind the `VehicleAdapter` contract.

One `Ros2Adapter` per robot namespace (`/robot_1`), all sharing one `Ros2Bridge` (one rclpy node
in its own executor thread). Per robot: a `navigate_to_pose` action client (nav2_msgs/action/
NavigateToPose), subscriptions to `odom`, `amcl_pose` and `battery_state`, and a std_srvs/Trigger
client for the compartment. A mission is sent leg by leg as successive NavigateToPose goals.

This module connects and composes: `ros2_missions` runs missions (start, replace, pause, ...),
`ros2_goals` sends, follows and cancels the goals and opens the compartment, and `ros2_telemetry`
folds what the robot reports into snapshots (and watches the link: silence for `link_timeout_s`
fails a running mission with `LinkLost`).

All adapter state lives on the asyncio loop; ROS callbacks reach it through `Ros2Bridge.to_loop`
and rclpy is touched only inside `Ros2Bridge.call`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fleet_manager.adapters.base import (
    Geofence,
    Mission,
    MissionEvent,
    MissionResult,
    VehicleAdapter,
    VehicleKind,
    VehicleState,
)
from fleet_manager.adapters.ros2_bridge import BridgeError, Ros2Bridge
from fleet_manager.adapters.ros2_goals import GoalAborted as GoalAborted
from fleet_manager.adapters.ros2_goals import GoalClient
from fleet_manager.adapters.ros2_goals import GoalRejected as GoalRejected
from fleet_manager.adapters.ros2_missions import RobotMissions
from fleet_manager.adapters.ros2_telemetry import MAP_FRAME_ID as MAP_FRAME_ID
from fleet_manager.adapters.ros2_telemetry import NavigationProgress, RobotTelemetry
from fleet_manager.errors import AdapterTimeout, NotConnected
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame

logger = logging.getLogger(__name__)


class Ros2Adapter(VehicleAdapter):
    """A Nav2 robot (or the in-repo sim robot) reached over ROS 2 in namespace `namespace`."""

    kind = VehicleKind.ROBOT

    def __init__(
        self,
        vehicle_id: str,
        bridge: Ros2Bridge,
        frame: LocalFrame,
        *,
        namespace: str | None = None,
        clock: Clock | None = None,
        link_timeout_s: float = 2.0,
        goal_response_timeout_s: float = 10.0,
        compartment_service: str | None = None,
        compartment_timeout_s: float = 10.0,
    ) -> None:
        if link_timeout_s <= 0:
            raise ValueError(f"link_timeout_s must be > 0, got {link_timeout_s}")
        if goal_response_timeout_s <= 0:
            raise ValueError(f"goal_response_timeout_s must be > 0, got {goal_response_timeout_s}")
        self.vehicle_id = vehicle_id
        self.bridge = bridge
        self.frame = frame
        self.namespace = "/" + (namespace or vehicle_id).strip("/")
        self.clock = clock or Clock()
        self.link_timeout_s = link_timeout_s
        self.goal_response_timeout_s = goal_response_timeout_s
        self.compartment_service = compartment_service or f"{self.namespace}/sim_robot/open_compartment"
        self.compartment_timeout_s = compartment_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ros: dict[str, Any] = {}
        self._connected = False
        self._telemetry = RobotTelemetry(
            vehicle_id, self.namespace, frame, self.clock, link_timeout_s=link_timeout_s,
            mission_view=lambda: self._missions.view(),
        )  # fmt: skip
        self._goals = GoalClient(
            vehicle_id, self.namespace, bridge, goal_response_timeout_s=goal_response_timeout_s,
            compartment_timeout_s=compartment_timeout_s,
        )  # fmt: skip
        self._missions = RobotMissions(
            vehicle_id, self.namespace, frame, self.clock, self._telemetry, self._goals,
            link_timeout_s=link_timeout_s,
        )  # fmt: skip
        self._watchdog: asyncio.Task[None] | None = None

    # --- connection ----------------------------------------------------------------------------
    async def connect(self, timeout_s: float = 30.0) -> None:
        """Create the action client, subscriptions and service client; wait for the first odometry."""
        if self._connected:
            return
        self._loop = asyncio.get_running_loop()
        self._telemetry.fanout.reopen()
        self._missions.events.reopen()
        self.bridge.start()
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
        """Runs in the ROS thread (through Ros2Bridge.call)."""
        from geometry_msgs.msg import PoseWithCovarianceStamped
        from nav2_msgs.action import NavigateToPose
        from nav_msgs.msg import Odometry
        from rclpy.action import ActionClient
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import BatteryState
        from std_srvs.srv import Trigger

        node, loop, ns = self.bridge.node, self._require_loop("connect"), self.namespace
        on_loop = self.bridge.to_loop
        # Best-effort subscriptions match both reliable and best-effort publishers.
        return {
            "action": ActionClient(node, NavigateToPose, f"{ns}/navigate_to_pose"),
            "compartment": node.create_client(Trigger, self.compartment_service),
            "subscriptions": [
                node.create_subscription(
                    Odometry, f"{ns}/odom", on_loop(loop, self._telemetry.on_odometry), qos_profile_sensor_data
                ),
                node.create_subscription(
                    PoseWithCovarianceStamped,
                    f"{ns}/amcl_pose",
                    on_loop(loop, self._telemetry.on_amcl_pose),
                    qos_profile_sensor_data,
                ),
                node.create_subscription(
                    BatteryState,
                    f"{ns}/battery_state",
                    on_loop(loop, self._telemetry.on_battery),
                    qos_profile_sensor_data,
                ),
            ],
        }

    def _destroy_ros_entities(self, entities: dict[str, Any]) -> None:
        """Runs in the ROS thread."""
        node = self.bridge.node
        for subscription in entities.get("subscriptions", ()):
            node.destroy_subscription(subscription)
        if "compartment" in entities:
            node.destroy_client(entities["compartment"])
        if "action" in entities:
            entities["action"].destroy()

    async def close(self) -> None:
        """Stop watching, end the telemetry and event streams and drop the ROS entities; idempotent."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._missions.running:
            self._missions.fail(NotConnected(self.vehicle_id, "wait_mission", "adapter closed during the mission"))
        entities, self._ros = self._ros, {}
        self._goals.action = self._goals.compartment = None
        if entities and self.bridge.running:
            with contextlib.suppress(BridgeError):
                await self.bridge.call(lambda: self._destroy_ros_entities(entities), timeout_s=5.0, what="close")
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

"""NavigateToPose goals and the parcel compartment of one ROS 2 robot, over the shared `Ros2Bridge`.

A goal is sent, accepted or rejected (`GoalRejected`), and ends SUCCEEDED, CANCELED or ABORTED
(`GoalAborted`, with Nav2's error code, name and message). rclpy is touched only through
`Ros2Bridge.call`; the action client and the service client are created by the adapter.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from ..errors import AdapterError, AdapterTimeout, CommandRefused, NotConnected
from . import nav2_codes
from .base import MissionOutcome, MissionResult
from .ros2_bridge import BridgeError, Ros2Bridge
from .ros2_telemetry import MAP_FRAME_ID

logger = logging.getLogger(__name__)

# action_msgs/msg/GoalStatus
STATUS_SUCCEEDED, STATUS_CANCELED, STATUS_ABORTED = 4, 5, 6
# action_msgs/srv/CancelGoal response codes
CANCEL_REJECTED = 1


class GoalRejected(CommandRefused):
    """The robot's navigator rejected a NavigateToPose goal."""


class GoalAborted(AdapterError):
    """The robot's navigator aborted a goal; `result_code`/`result_name`/`status_text` are Nav2's."""

    def __init__(self, vehicle_id: str, call: str, reason: str, *, result: MissionResult, **kwargs: Any) -> None:
        self.result = result
        super().__init__(vehicle_id, call, reason, **kwargs)


class GoalClient:
    """Sends goals to, cancels goals of, and opens the compartment of one robot."""

    def __init__(
        self, vehicle_id: str, namespace: str, bridge: Ros2Bridge, *, goal_response_timeout_s: float,
        compartment_timeout_s: float,
    ) -> None:  # fmt: skip
        self.vehicle_id = vehicle_id
        self.namespace = namespace
        self.bridge = bridge
        self.goal_response_timeout_s = goal_response_timeout_s
        self.compartment_timeout_s = compartment_timeout_s
        self.action: Any = None  # rclpy ActionClient, set by the adapter once created
        self.compartment: Any = None  # rclpy service client (std_srvs/Trigger)
        self.handle: Any = None  # the goal being driven, if any

    def require_clients(self, call: str) -> tuple[Any, Any]:
        """The action and compartment clients (NotConnected before connect)."""
        if self.action is None or self.compartment is None:
            raise NotConnected(self.vehicle_id, call, "adapter not connected; call connect() first")
        return self.action, self.compartment

    async def wait_for_server(
        self, ready: Callable[[], bool], what: str, timeout_s: float, *, server: str = "server"
    ) -> None:
        """Poll `ready()` in the ROS thread until it holds; AdapterTimeout naming `server` after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not await self.bridge.call(ready, timeout_s=timeout_s, what=what):
            if time.monotonic() > deadline:
                logger.warning("%s: %s: no %s at %s within %s s", self.vehicle_id, what, server, self.namespace,
                               timeout_s)
                raise AdapterTimeout(self.vehicle_id, what, f"no {server} at {self.namespace} within {timeout_s} s")
            await asyncio.sleep(0.05)

    async def send(
        self, x_m: float, y_m: float, *, facing_from: tuple[float, float] | None, where: str,
        on_feedback: Callable[[Any], None], goal_id: bytes,
    ) -> Any:  # fmt: skip
        """Send a goal with id `goal_id` (16 bytes) at (x_m, y_m) in the map frame; returns its handle once
        accepted (GoalRejected if not)."""
        from nav2_msgs.action import NavigateToPose
        from unique_identifier_msgs.msg import UUID

        goal = NavigateToPose.Goal()
        goal.pose.header.frame_id = MAP_FRAME_ID  # stamp 0: Nav2 uses the latest transform
        goal.pose.pose.position.x, goal.pose.pose.position.y = x_m, y_m
        if facing_from is not None:  # face the way the robot will arrive from
            yaw = math.atan2(y_m - facing_from[1], x_m - facing_from[0])
            goal.pose.pose.orientation.z, goal.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
        else:
            goal.pose.pose.orientation.w = 1.0
        client, _ = self.require_clients("navigate_to_pose")
        feedback = self.bridge.to_loop(asyncio.get_running_loop(), on_feedback)
        uuid = UUID(uuid=list(goal_id))

        def send_if_ready() -> Any:
            # One crossing into the ROS thread when the server is up (the usual case): goal latency counts.
            return (client.send_goal_async(goal, feedback_callback=feedback, goal_uuid=uuid)
                    if client.server_is_ready() else None)

        try:
            handle = await self.bridge.call(send_if_ready, timeout_s=self.goal_response_timeout_s,
                                            what=f"{self.vehicle_id}: send NavigateToPose goal")  # fmt: skip
            if handle is None:
                await self.wait_for_server(client.server_is_ready, "navigate_to_pose", self.goal_response_timeout_s)
                handle = await self.bridge.call(
                    lambda: client.send_goal_async(goal, feedback_callback=feedback, goal_uuid=uuid),
                    timeout_s=self.goal_response_timeout_s,
                    what=f"{self.vehicle_id}: send NavigateToPose goal",
                )
        except BridgeError as exc:
            raise AdapterTimeout(self.vehicle_id, "navigate_to_pose", str(exc)) from exc
        if not handle.accepted:
            raise GoalRejected(self.vehicle_id, "navigate_to_pose", f"{where}: goal rejected by the robot's navigator")
        self.handle = handle
        return handle

    def follow(self, goal_id: bytes) -> Any:
        """A handle on a goal another process sent (`goal_id`, 16 bytes), for `result` and `cancel`.

        get_result and cancel go by goal id alone; no feedback arrives for such a goal (rclpy routes
        feedback only to goals its client sent).
        """
        from nav2_msgs.action import NavigateToPose
        from rclpy.action.client import ClientGoalHandle
        from unique_identifier_msgs.msg import UUID

        client, _ = self.require_clients("follow_goal")
        accepted = NavigateToPose.Impl.SendGoalService.Response(accepted=True)
        self.handle = ClientGoalHandle(client, UUID(uuid=list(goal_id)), accepted)
        return self.handle

    async def result(self, handle: Any, *, where: str, mission_id: str, step_index: int) -> int:
        """Wait for the goal's end; returns its GoalStatus (SUCCEEDED or CANCELED; an abort raises GoalAborted)."""
        response = await self.bridge.call(handle.get_result_async, timeout_s=None, what="NavigateToPose result")
        if self.handle is handle:
            self.handle = None
        if response.status == STATUS_ABORTED:
            code, message = int(response.result.error_code), str(response.result.error_msg)
            result = MissionResult(mission_id, MissionOutcome.FAILED, code, message, step_index)
            raise GoalAborted(
                self.vehicle_id,
                "navigate_to_pose",
                f"{where}: aborted by the robot's navigator",
                result=result,
                result_code=code,
                result_name=nav2_codes.error_name(code),
                status_text=message,
            )
        if response.status not in (STATUS_SUCCEEDED, STATUS_CANCELED):
            raise AdapterError(
                self.vehicle_id, "navigate_to_pose", f"{where}: ended with goal status {response.status}"
            )
        return int(response.status)

    async def cancel(self) -> int | None:
        """Ask the robot to cancel the running goal; its CancelGoal return code (None when there is no goal)."""
        handle = self.handle
        if handle is None:
            return None
        try:
            response = await self.bridge.call(
                handle.cancel_goal_async, timeout_s=self.goal_response_timeout_s, what=f"{self.vehicle_id}: cancel goal"
            )
        except BridgeError as exc:
            raise AdapterTimeout(self.vehicle_id, "cancel_goal", str(exc)) from exc
        return int(response.return_code)

    async def open_compartment(self, step_index: int) -> str:
        """Open the parcel compartment (std_srvs/Trigger); the robot's message, CommandRefused if it did not open."""
        from std_srvs.srv import Trigger

        _, client = self.require_clients("open_compartment")
        await self.wait_for_server(client.service_is_ready, "open_compartment", self.compartment_timeout_s)
        try:
            response = await self.bridge.call(
                lambda: client.call_async(Trigger.Request()),
                timeout_s=self.compartment_timeout_s,
                what=f"{self.vehicle_id}: open compartment",
            )
        except BridgeError as exc:
            raise AdapterTimeout(self.vehicle_id, "open_compartment", str(exc)) from exc
        if not response.success:
            raise CommandRefused(
                self.vehicle_id,
                "open_compartment",
                f"step {step_index}: compartment did not open",
                status_text=response.message,
            )
        return str(response.message)

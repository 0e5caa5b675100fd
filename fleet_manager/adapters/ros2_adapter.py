"""ROS 2 Nav2 ground robots behind the `VehicleAdapter` contract.

One `Ros2Adapter` per robot namespace (`/robot_1`), all sharing one `Ros2Bridge` (one rclpy node
in its own executor thread). Per robot: a `navigate_to_pose` action client (nav2_msgs/action/
NavigateToPose), subscriptions to `odom`, `amcl_pose` and `battery_state`, and a std_srvs/Trigger
client for the compartment. A mission is sent leg by leg as successive NavigateToPose goals:
GOTO = navigate; DELIVER = navigate, then open the compartment; WAIT = hold; RETURN = navigate home.

Position comes from map-frame sources only (goal feedback `current_pose`, `amcl_pose`): a real
robot's `odom` frame drifts from `map`. Odometry gives speed and liveness: no message for
`link_timeout_s` marks the link LOST and fails a running mission with `LinkLost`.

All adapter state lives on the asyncio loop; ROS callbacks reach it through `Ros2Bridge.to_loop`
and rclpy is touched only inside `Ros2Bridge.call`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fleet_manager.adapters import nav2_codes
from fleet_manager.adapters.base import (
    Geofence,
    LinkStatus,
    Mission,
    MissionEvent,
    MissionOutcome,
    MissionResult,
    MissionStep,
    StepKind,
    VehicleAdapter,
    VehicleKind,
    VehicleState,
)
from fleet_manager.adapters.fanout import Fanout
from fleet_manager.adapters.ros2_bridge import BridgeError, Ros2Bridge
from fleet_manager.errors import AdapterError, AdapterTimeout, CommandRefused, LinkLost, NotConnected
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame

logger = logging.getLogger(__name__)

MAP_FRAME_ID = "map"
_NAVIGATION_STEPS = (StepKind.GOTO, StepKind.DELIVER, StepKind.RETURN)
_SUPPORTED_STEPS = (*_NAVIGATION_STEPS, StepKind.WAIT)
_QUEUE_SIZE = 256  # per telemetry / event subscriber; a slow one loses its oldest items
# action_msgs/msg/GoalStatus
_STATUS_SUCCEEDED, _STATUS_CANCELED, _STATUS_ABORTED = 4, 5, 6


class GoalRejected(CommandRefused):
    """The robot's navigator rejected a NavigateToPose goal."""


class GoalAborted(AdapterError):
    """The robot's navigator aborted a goal; `result_code`/`result_name`/`status_text` are Nav2's."""

    def __init__(self, vehicle_id: str, call: str, reason: str, *, result: MissionResult, **kwargs: Any) -> None:
        self.result = result
        super().__init__(vehicle_id, call, reason, **kwargs)


@dataclass(frozen=True)
class NavigationProgress:
    """The newest NavigateToPose feedback of the running goal."""

    step_index: int
    distance_remaining_m: float
    estimated_time_remaining_s: float
    navigation_time_s: float
    number_of_recoveries: int


def _seconds(duration: Any) -> float:
    return float(duration.sec) + float(duration.nanosec) * 1e-9


def _yaw_rad(orientation: Any) -> float:
    return math.atan2(
        2.0 * (orientation.w * orientation.z + orientation.x * orientation.y),
        1.0 - 2.0 * (orientation.y * orientation.y + orientation.z * orientation.z),
    )


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
        self._link = LinkStatus.CONNECTING
        self._last_rx_monotonic = 0.0
        self._map_xy: tuple[float, float] | None = None
        self._yaw_rad = 0.0
        self._speed_m_s = 0.0
        self._battery_pct: float | None = None
        self._battery_wh: float | None = None
        self._battery_v: float | None = None
        self._home_xy: tuple[float, float] | None = None
        self._state: VehicleState | None = None
        self._first_state = asyncio.Event()
        self._state_fanout: Fanout[VehicleState] = Fanout(_QUEUE_SIZE, name=f"{vehicle_id} telemetry")
        self._event_fanout: Fanout[MissionEvent] = Fanout(_QUEUE_SIZE, name=f"{vehicle_id} mission events")
        self._watchdog: asyncio.Task[None] | None = None
        self._mission: Mission | None = None
        self._step: int | None = None
        self._mode = "IDLE"
        self._mission_task: asyncio.Task[None] | None = None
        self._result: asyncio.Future[MissionResult] | None = None
        self._goal_handle: Any = None
        self._paused = False
        self._resume_event = asyncio.Event()
        self._progress: NavigationProgress | None = None

    # --- connection ----------------------------------------------------------------------------
    async def connect(self, timeout_s: float = 30.0) -> None:
        """Create the action client, subscriptions and service client; wait for the first odometry."""
        if self._connected:
            return
        self._loop = asyncio.get_running_loop()
        self._state_fanout.reopen()
        self._event_fanout.reopen()
        self.bridge.start()
        try:
            self._ros = await self.bridge.call(
                self._create_ros_entities, timeout_s=timeout_s, what=f"{self.vehicle_id}: create ROS entities"
            )
        except BridgeError as exc:
            raise AdapterTimeout(self.vehicle_id, "connect", str(exc)) from exc
        self._connected = True
        try:
            await asyncio.wait_for(self._first_state.wait(), timeout_s)
        except TimeoutError as exc:
            logger.warning("%s: no odometry on %s/odom within %.1f s", self.vehicle_id, self.namespace, timeout_s)
            await self.close()
            raise AdapterTimeout(
                self.vehicle_id, "connect", f"no odometry on {self.namespace}/odom within {timeout_s} s"
            ) from exc
        self._watchdog = asyncio.create_task(self._watch_link(), name=f"{self.vehicle_id}-link-watchdog")

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
                    Odometry, f"{ns}/odom", on_loop(loop, self._on_odometry), qos_profile_sensor_data
                ),
                node.create_subscription(
                    PoseWithCovarianceStamped,
                    f"{ns}/amcl_pose",
                    on_loop(loop, self._on_amcl_pose),
                    qos_profile_sensor_data,
                ),
                node.create_subscription(
                    BatteryState, f"{ns}/battery_state", on_loop(loop, self._on_battery), qos_profile_sensor_data
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
        if self._mission_running:
            self._fail_mission(NotConnected(self.vehicle_id, "wait_mission", "adapter closed during the mission"))
        entities, self._ros = self._ros, {}
        if entities and self.bridge.running:
            with contextlib.suppress(BridgeError):
                await self.bridge.call(lambda: self._destroy_ros_entities(entities), timeout_s=5.0, what="close")
        self._connected = False
        self._state_fanout.close()
        self._event_fanout.close()

    def _require_loop(self, call: str) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise NotConnected(self.vehicle_id, call, "adapter not connected; call connect() first")
        return self._loop

    def _require_connected(self, call: str) -> None:
        if not self._connected:
            raise NotConnected(self.vehicle_id, call, "adapter not connected; call connect() first")

    # --- telemetry -----------------------------------------------------------------------------
    def _on_odometry(self, message: Any) -> None:
        self._last_rx_monotonic = time.monotonic()
        self._speed_m_s = abs(float(message.twist.twist.linear.x))
        if self._map_xy is None:
            # Before any map-frame pose, the heading from odometry is still better than none.
            self._yaw_rad = _yaw_rad(message.pose.pose.orientation)
        self._link = LinkStatus.CONNECTED
        self._emit_state()

    def _on_amcl_pose(self, message: Any) -> None:
        self._last_rx_monotonic = time.monotonic()
        if message.header.frame_id in ("", MAP_FRAME_ID):
            self._set_map_pose(message.pose.pose)

    def _on_battery(self, message: Any) -> None:
        self._last_rx_monotonic = time.monotonic()
        percentage, voltage, charge = float(message.percentage), float(message.voltage), float(message.charge)
        self._battery_pct = percentage * 100.0 if math.isfinite(percentage) else None
        self._battery_v = voltage if math.isfinite(voltage) and voltage > 0 else None
        self._battery_wh = charge * voltage if self._battery_v is not None and math.isfinite(charge) else None

    def _on_feedback(self, message: Any) -> None:
        feedback = message.feedback
        self._last_rx_monotonic = time.monotonic()
        if feedback.current_pose.header.frame_id in ("", MAP_FRAME_ID):
            self._set_map_pose(feedback.current_pose.pose)
        if self._step is not None:
            self._progress = NavigationProgress(
                step_index=self._step,
                distance_remaining_m=float(feedback.distance_remaining),
                estimated_time_remaining_s=_seconds(feedback.estimated_time_remaining),
                navigation_time_s=_seconds(feedback.navigation_time),
                number_of_recoveries=int(feedback.number_of_recoveries),
            )

    def _set_map_pose(self, pose: Any) -> None:
        self._map_xy = (float(pose.position.x), float(pose.position.y))
        self._yaw_rad = _yaw_rad(pose.orientation)
        if self._home_xy is None:
            self._home_xy = self._map_xy

    def _emit_state(self) -> None:
        if self._map_xy is not None:
            latitude_deg, longitude_deg = self.frame.to_wgs84(*self._map_xy)
        else:
            latitude_deg, longitude_deg = self.frame.origin_latitude_deg, self.frame.origin_longitude_deg
        self._state = VehicleState(
            vehicle_id=self.vehicle_id,
            kind=VehicleKind.ROBOT,
            stamp_s=self.clock.now(),
            latitude_deg=latitude_deg,
            longitude_deg=longitude_deg,
            heading_deg=(90.0 - math.degrees(self._yaw_rad)) % 360.0,
            ground_speed_m_s=self._speed_m_s,
            battery_remaining_pct=self._battery_pct,
            battery_remaining_wh=self._battery_wh,
            battery_voltage_v=self._battery_v,
            mode=self._mode,
            armed=self._mission_running,
            link=self._link,
            mission_id=self._mission.mission_id if self._mission else None,
            mission_step=self._step,
            position_valid=self._map_xy is not None,
        )
        self._first_state.set()
        self._state_fanout.publish(self._state)

    def latest_state(self) -> VehicleState | None:
        """The newest snapshot, or None before the first odometry."""
        return self._state

    def navigation_progress(self) -> NavigationProgress | None:
        """The newest NavigateToPose feedback of the current mission (distance and time remaining)."""
        return self._progress

    def telemetry(self) -> AsyncIterator[VehicleState]:
        """Every new snapshot (one per odometry message and per link change) until the adapter closes."""
        return self._state_fanout.subscribe()

    def mission_events(self) -> AsyncIterator[MissionEvent]:
        """Progress events (goal_accepted, step_reached, compartment_opened, paused, resumed, ...)."""
        return self._event_fanout.subscribe()

    def _emit_event(self, step_index: int, what: str, detail: str = "") -> None:
        if self._mission is None:
            return
        position = self.frame.to_wgs84(*self._map_xy) if self._map_xy is not None else (None, None)
        event = MissionEvent(
            mission_id=self._mission.mission_id,
            stamp_s=self.clock.now(),
            step_index=step_index,
            what=what,
            detail=detail,
            latitude_deg=position[0],
            longitude_deg=position[1],
        )
        self._event_fanout.publish(event)

    async def _watch_link(self) -> None:
        period_s = min(0.25, self.link_timeout_s / 4.0)
        while True:
            await asyncio.sleep(period_s)
            silent_s = time.monotonic() - self._last_rx_monotonic
            if self._link is LinkStatus.LOST or silent_s <= self.link_timeout_s:
                continue
            self._link = LinkStatus.LOST
            logger.warning("%s: link lost, nothing from %s for %.1f s", self.vehicle_id, self.namespace, silent_s)
            self._emit_state()
            if self._mission_running:
                self._fail_mission(
                    LinkLost(
                        self.vehicle_id,
                        "navigate_to_pose",
                        f"no message from {self.namespace} for {silent_s:.1f} s (link timeout {self.link_timeout_s} s)",
                    )
                )

    # --- missions ------------------------------------------------------------------------------
    @property
    def _mission_running(self) -> bool:
        return self._result is not None and not self._result.done()

    def _validate(self, mission: Mission) -> None:
        if not mission.steps:
            raise CommandRefused(self.vehicle_id, "start_mission", f"mission {mission.mission_id!r} has no steps")
        for index, step in enumerate(mission.steps):
            if step.kind not in _SUPPORTED_STEPS:
                raise CommandRefused(
                    self.vehicle_id,
                    "start_mission",
                    f"step {index} is {step.kind.value!r}; a ground robot does GOTO, DELIVER, WAIT and RETURN",
                )
            if step.kind in (StepKind.GOTO, StepKind.DELIVER) and (
                step.latitude_deg is None or step.longitude_deg is None
            ):
                raise CommandRefused(
                    self.vehicle_id,
                    "start_mission",
                    f"step {index} ({step.kind.value}) needs latitude_deg and longitude_deg",
                )
            if step.kind is StepKind.RETURN and self._home_xy is None:
                raise CommandRefused(
                    self.vehicle_id, "start_mission", f"step {index} (return): home position not known yet"
                )

    async def start_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Validate, send the first leg and return once the robot accepted it (GoalRejected if not).

        Robots keep to walkways; `geofence` is not sent (Nav2 keep-out zones live in the robot's map).
        """
        self._require_connected("start_mission")
        if self._mission_running:
            raise CommandRefused(
                self.vehicle_id,
                "start_mission",
                f"mission {self._mission.mission_id if self._mission else '?'} is running",
            )
        self._validate(mission)
        loop = asyncio.get_running_loop()
        self._mission, self._step, self._progress = mission, 0, None
        self._paused = False
        self._result = loop.create_future()
        begun: asyncio.Future[None] = loop.create_future()
        self._mission_task = asyncio.create_task(self._run_mission(mission, begun), name=f"{self.vehicle_id}-mission")
        await begun

    async def _run_mission(self, mission: Mission, begun: asyncio.Future[None]) -> None:
        index = 0
        try:
            while index < len(mission.steps):
                step = mission.steps[index]
                self._step = index
                await self._wait_unpaused()
                if step.kind in _NAVIGATION_STEPS:
                    status = await self._navigate(index, step, begun)
                    if status == _STATUS_CANCELED:
                        if self._paused:
                            continue  # resume() re-sends this leg
                        self._finish(MissionOutcome.CANCELED, index, "goal canceled on the robot")
                        return
                elif step.kind is StepKind.WAIT:
                    self._settle(begun)
                    self._mode = "WAITING"
                    await self.clock.sleep(step.duration_s)
                if step.kind is StepKind.DELIVER:
                    await self._open_compartment(index, step)
                self._emit_event(index, "step_reached", step.kind.value)
                index += 1
            self._finish(MissionOutcome.SUCCEEDED, index)
        except AdapterError as exc:
            rejected_at_start = not begun.done()
            if rejected_at_start:
                begun.set_exception(exc)  # start_mission raises it
            self._fail_mission(exc)
            if rejected_at_start and self._result is not None:
                self._result.exception()  # already reported by start_mission; wait_mission still raises it
        finally:
            self._settle(begun)
            self._mode = "IDLE"

    @staticmethod
    def _settle(begun: asyncio.Future[None]) -> None:
        if not begun.done():
            begun.set_result(None)

    def _finish(self, outcome: MissionOutcome, steps_completed: int, message: str = "") -> None:
        if self._result is not None and not self._result.done() and self._mission is not None:
            self._result.set_result(
                MissionResult(self._mission.mission_id, outcome, error_msg=message, steps_completed=steps_completed)
            )
        self._goal_handle = None

    def _fail_mission(self, error: AdapterError) -> None:
        if self._result is not None and not self._result.done():
            self._result.set_exception(error)
        task = self._mission_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        self._goal_handle = None

    async def _wait_unpaused(self) -> None:
        if self._paused:
            self._mode = "PAUSED"
            await self._resume_event.wait()

    def _target_xy(self, step: MissionStep) -> tuple[float, float]:
        if step.kind is StepKind.RETURN:
            if self._home_xy is None:
                raise CommandRefused(self.vehicle_id, "navigate_to_pose", "home position not known")
            return self._home_xy
        if step.latitude_deg is None or step.longitude_deg is None:
            raise CommandRefused(self.vehicle_id, "navigate_to_pose", f"{step.kind.value} step without a position")
        return self.frame.to_local(step.latitude_deg, step.longitude_deg)

    async def _wait_for_server(self, ready: Any, what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not await self.bridge.call(ready, timeout_s=timeout_s, what=what):
            if time.monotonic() > deadline:
                raise AdapterTimeout(self.vehicle_id, what, f"no server at {self.namespace} within {timeout_s} s")
            await asyncio.sleep(0.05)

    async def _navigate(self, index: int, step: MissionStep, begun: asyncio.Future[None]) -> int:
        """Send one NavigateToPose goal and wait for its end; returns the GoalStatus (aborts raise)."""
        from nav2_msgs.action import NavigateToPose

        x_m, y_m = self._target_xy(step)
        goal = NavigateToPose.Goal()
        goal.pose.header.frame_id = MAP_FRAME_ID  # stamp 0: Nav2 uses the latest transform
        goal.pose.pose.position.x, goal.pose.pose.position.y = x_m, y_m
        if self._map_xy is not None:  # face the way the robot will arrive from
            yaw = math.atan2(y_m - self._map_xy[1], x_m - self._map_xy[0])
            goal.pose.pose.orientation.z, goal.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
        else:
            goal.pose.pose.orientation.w = 1.0
        client = self._ros["action"]
        await self._wait_for_server(client.server_is_ready, "navigate_to_pose", self.goal_response_timeout_s)
        feedback = self.bridge.to_loop(self._require_loop("navigate_to_pose"), self._on_feedback)
        try:
            handle = await self.bridge.call(
                lambda: client.send_goal_async(goal, feedback_callback=feedback),
                timeout_s=self.goal_response_timeout_s,
                what=f"{self.vehicle_id}: send NavigateToPose goal",
            )
        except BridgeError as exc:
            raise AdapterTimeout(self.vehicle_id, "navigate_to_pose", str(exc)) from exc
        where = f"step {index} ({step.kind.value}) to ({x_m:.1f}, {y_m:.1f}) m in {MAP_FRAME_ID}"
        if not handle.accepted:
            raise GoalRejected(self.vehicle_id, "navigate_to_pose", f"{where}: goal rejected by the robot's navigator")
        self._goal_handle = handle
        self._mode = "NAVIGATING"
        self._settle(begun)
        self._emit_event(index, "goal_accepted", where)
        if self._paused:  # pause() arrived while the goal was on its way
            await self._cancel_goal()
        response = await self.bridge.call(handle.get_result_async, timeout_s=None, what="NavigateToPose result")
        self._goal_handle = None
        if response.status == _STATUS_ABORTED:
            code, message = int(response.result.error_code), str(response.result.error_msg)
            mission_id = self._mission.mission_id if self._mission else ""
            result = MissionResult(mission_id, MissionOutcome.FAILED, code, message, index)
            raise GoalAborted(
                self.vehicle_id,
                "navigate_to_pose",
                f"{where}: aborted by the robot's navigator",
                result=result,
                result_code=code,
                result_name=nav2_codes.error_name(code),
                status_text=message,
            )
        if response.status not in (_STATUS_SUCCEEDED, _STATUS_CANCELED):
            raise AdapterError(
                self.vehicle_id, "navigate_to_pose", f"{where}: ended with goal status {response.status}"
            )
        return int(response.status)

    async def _cancel_goal(self) -> None:
        handle = self._goal_handle
        if handle is None:
            return
        try:
            await self.bridge.call(
                handle.cancel_goal_async, timeout_s=self.goal_response_timeout_s, what=f"{self.vehicle_id}: cancel goal"
            )
        except BridgeError as exc:
            raise AdapterTimeout(self.vehicle_id, "cancel_goal", str(exc)) from exc

    async def _open_compartment(self, index: int, step: MissionStep) -> None:
        from std_srvs.srv import Trigger

        client = self._ros["compartment"]
        self._mode = "DELIVERING"
        await self._wait_for_server(client.service_is_ready, "open_compartment", self.compartment_timeout_s)
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
                f"step {index}: compartment did not open",
                status_text=response.message,
            )
        self._emit_event(index, "compartment_opened", f"order {step.order_id or '-'}: {response.message}")

    async def wait_mission(self, timeout_s: float) -> MissionResult:
        """The mission's end; GoalAborted / GoalRejected / LinkLost when it failed, AdapterTimeout after `timeout_s`."""
        if self._result is None:
            raise CommandRefused(self.vehicle_id, "wait_mission", "no mission was started")
        try:
            return await asyncio.wait_for(asyncio.shield(self._result), timeout_s)
        except TimeoutError as exc:
            raise AdapterTimeout(self.vehicle_id, "wait_mission", f"mission still running after {timeout_s} s") from exc

    async def pause(self) -> None:
        """Cancel the running goal and hold; the mission stays and `resume()` re-sends the leg."""
        self._require_connected("pause")
        if not self._mission_running:
            raise CommandRefused(self.vehicle_id, "pause", "no mission is running")
        if self._paused:
            return
        self._paused = True
        self._resume_event.clear()
        self._mode = "PAUSED"
        await self._cancel_goal()
        self._emit_event(self._step or 0, "paused")

    async def resume(self) -> None:
        """Continue a paused mission from the leg it was on."""
        self._require_connected("resume")
        if not self._paused or not self._mission_running:
            raise CommandRefused(self.vehicle_id, "resume", "the mission is not paused")
        self._paused = False
        self._resume_event.set()
        self._emit_event(self._step or 0, "resumed")

    async def _abandon(self, why: str) -> None:
        """End the running mission as CANCELED and stop the robot."""
        if not self._mission_running:
            return
        await self._cancel_goal()
        steps_completed = self._step or 0
        if self._mission_task is not None and not self._mission_task.done():
            self._mission_task.cancel()
        self._finish(MissionOutcome.CANCELED, steps_completed, why)
        self._paused = False
        self._mode = "IDLE"

    async def return_home(self) -> None:
        """Abandon the mission and drive back to where the robot was first seen."""
        self._require_connected("return_home")
        if self._home_xy is None:
            raise CommandRefused(self.vehicle_id, "return_home", "home position not known yet")
        previous = self._mission.mission_id if self._mission else "robot"
        await self._abandon("abandoned: returning home")
        await self.start_mission(Mission(f"{previous}-return-home", (MissionStep(StepKind.RETURN),)))

    async def land(self) -> None:
        """A robot has nothing to land: stop where it is (cancel the goal, end the mission CANCELED)."""
        self._require_connected("land")
        await self._abandon("stopped by operator")

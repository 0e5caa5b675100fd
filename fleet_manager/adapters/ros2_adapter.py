"""ROS 2 Nav2 ground robots behind the `VehicleAdapter` contract.

One `Ros2Adapter` per robot namespace (`/robot_1`), all sharing one `Ros2Bridge` (one rclpy node
in its own executor thread). Per robot: a `navigate_to_pose` action client (nav2_msgs/action/
NavigateToPose), subscriptions to `odom`, `amcl_pose` and `battery_state`, and a std_srvs/Trigger
client for the compartment. A mission is sent leg by leg as successive NavigateToPose goals:
GOTO = navigate; DELIVER = navigate, then open the compartment; WAIT = hold; RETURN = navigate home.
`replace_mission` cancels the running goal and goes on with the new mission's goals.

This module runs missions; `ros2_telemetry` folds what the robot reports into snapshots (and
watches the link: silence for `link_timeout_s` fails a running mission with `LinkLost`), and
`ros2_goals` sends, follows and cancels the goals and opens the compartment.

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
from fleet_manager.adapters.ros2_goals import CANCEL_REJECTED, STATUS_CANCELED, GoalClient
from fleet_manager.adapters.ros2_goals import GoalAborted as GoalAborted
from fleet_manager.adapters.ros2_goals import GoalRejected as GoalRejected
from fleet_manager.adapters.ros2_telemetry import MAP_FRAME_ID as MAP_FRAME_ID
from fleet_manager.adapters.ros2_telemetry import MissionView, NavigationProgress, RobotTelemetry
from fleet_manager.errors import (
    AdapterError,
    AdapterTimeout,
    CommandRefused,
    LinkLost,
    MissionBusy,
    NoMissionRunning,
    NotConnected,
)
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame

logger = logging.getLogger(__name__)

_NAVIGATION_STEPS = (StepKind.GOTO, StepKind.DELIVER, StepKind.RETURN)
_SUPPORTED_STEPS = (*_NAVIGATION_STEPS, StepKind.WAIT)
_QUEUE_SIZE = 256  # per mission-event subscriber; a slow one loses its oldest events


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
            mission_view=self._mission_view,
        )  # fmt: skip
        self._goals = GoalClient(
            vehicle_id, self.namespace, bridge, goal_response_timeout_s=goal_response_timeout_s,
            compartment_timeout_s=compartment_timeout_s,
        )  # fmt: skip
        self._event_fanout: Fanout[MissionEvent] = Fanout(_QUEUE_SIZE, name=f"{vehicle_id} mission events")
        self._watchdog: asyncio.Task[None] | None = None
        self._mission: Mission | None = None
        self._step: int | None = None
        self._mode = "IDLE"
        self._mission_task: asyncio.Task[None] | None = None
        self._result: asyncio.Future[MissionResult] | None = None
        self._paused = False
        self._replacing = False  # replace_mission() is stopping the mission task: a canceled goal is its doing
        self._resume_event = asyncio.Event()

    # --- connection ----------------------------------------------------------------------------
    async def connect(self, timeout_s: float = 30.0) -> None:
        """Create the action client, subscriptions and service client; wait for the first odometry."""
        if self._connected:
            return
        self._loop = asyncio.get_running_loop()
        self._telemetry.fanout.reopen()
        self._event_fanout.reopen()
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
            self._telemetry.watch_link(self._on_link_lost), name=f"{self.vehicle_id}-link-watchdog"
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
        if self._mission_running:
            self._fail_mission(NotConnected(self.vehicle_id, "wait_mission", "adapter closed during the mission"))
        entities, self._ros = self._ros, {}
        self._goals.action = self._goals.compartment = None
        if entities and self.bridge.running:
            with contextlib.suppress(BridgeError):
                await self.bridge.call(lambda: self._destroy_ros_entities(entities), timeout_s=5.0, what="close")
        self._connected = False
        self._telemetry.fanout.close()
        self._event_fanout.close()

    def _require_loop(self, call: str) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise NotConnected(self.vehicle_id, call, "adapter not connected; call connect() first")
        return self._loop

    def _require_connected(self, call: str) -> None:
        if not self._connected:
            raise NotConnected(self.vehicle_id, call, "adapter not connected; call connect() first")

    # --- telemetry -----------------------------------------------------------------------------
    def _mission_view(self) -> MissionView:
        return MissionView(
            self._mode, self._mission_running, self._mission.mission_id if self._mission else None, self._step
        )

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
        return self._event_fanout.subscribe()

    def _emit_event(self, step_index: int, what: str, detail: str = "") -> None:
        if self._mission is None:
            return
        latitude_deg, longitude_deg = self._telemetry.position_wgs84()
        event = MissionEvent(
            mission_id=self._mission.mission_id,
            stamp_s=self.clock.now(),
            step_index=step_index,
            what=what,
            detail=detail,
            latitude_deg=latitude_deg,
            longitude_deg=longitude_deg,
        )
        self._event_fanout.publish(event)

    def _on_link_lost(self, silent_s: float) -> None:
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

    def _validate(self, mission: Mission, call: str) -> None:
        if not mission.steps:
            raise CommandRefused(self.vehicle_id, call, f"mission {mission.mission_id!r} has no steps")
        for index, step in enumerate(mission.steps):
            if step.kind not in _SUPPORTED_STEPS:
                raise CommandRefused(
                    self.vehicle_id,
                    call,
                    f"step {index} is {step.kind.value!r}; a ground robot does GOTO, DELIVER, WAIT and RETURN",
                )
            if step.kind in (StepKind.GOTO, StepKind.DELIVER) and (
                step.latitude_deg is None or step.longitude_deg is None
            ):
                raise CommandRefused(
                    self.vehicle_id,
                    call,
                    f"step {index} ({step.kind.value}) needs latitude_deg and longitude_deg",
                )
            if step.kind is StepKind.RETURN and self._telemetry.home_xy is None:
                raise CommandRefused(
                    self.vehicle_id, call, f"step {index} (return): home position not known yet"
                )

    async def start_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Validate, send the first leg and return once the robot accepted it (GoalRejected if not).

        Robots keep to walkways; `geofence` is not sent (Nav2 keep-out zones live in the robot's map).
        """
        self._require_connected("start_mission")
        if self._mission_running:
            raise MissionBusy(
                self.vehicle_id,
                "start_mission",
                f"mission {self._mission.mission_id if self._mission else '?'} is running; "
                "replace_mission() switches the robot to a new one",
            )
        self._validate(mission, "start_mission")
        await self._begin(mission)

    async def replace_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Cancel the running goal and go on with `mission`'s goals from where the robot is.

        The old mission ends CANCELED ("replaced by mission ..."); returns once the robot accepted the
        new mission's first goal. Raises NoMissionRunning when no mission runs, CommandRefused when the
        new mission is invalid or the robot refuses to cancel its goal (the old mission then runs on),
        GoalRejected when the robot, its old goal canceled, rejects the new first goal (it then holds
        where it is and the old mission ends CANCELED all the same). `geofence` is not sent.
        """
        call = "replace_mission"
        self._require_connected(call)
        old, old_result = self._mission, self._result
        if old is None or old_result is None or old_result.done():
            raise NoMissionRunning(self.vehicle_id, call, "no mission is running; start_mission() starts one")
        self._validate(mission, call)
        self._replacing = True
        try:
            code = await self._goals.cancel()
            if code == CANCEL_REJECTED:
                raise CommandRefused(
                    self.vehicle_id, call, f"the robot refused to cancel its goal; mission {old.mission_id!r} runs on",
                    result_code=code, result_name="ERROR_REJECTED",
                )  # fmt: skip
            task = self._mission_task
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait({task})
        finally:
            self._replacing = False
        steps_completed = self._step or 0
        why = f"replaced by mission {mission.mission_id}"
        try:
            await self._begin(mission)
        except AdapterError:
            why = f"canceled for mission {mission.mission_id}, which the robot did not take"
            raise
        finally:
            if not old_result.done():
                old_result.set_result(MissionResult(old.mission_id, MissionOutcome.CANCELED, error_msg=why,
                                                    steps_completed=steps_completed))

    async def _begin(self, mission: Mission) -> None:
        """Make `mission` current and run it; returns once its first goal is accepted (or it first waits)."""
        loop = asyncio.get_running_loop()
        self._mission, self._step, self._telemetry.progress = mission, 0, None
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
                    if status == STATUS_CANCELED:
                        if self._paused:
                            continue  # resume() re-sends this leg
                        if self._replacing:
                            return  # replace_mission() ends this mission
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
        self._goals.handle = None

    def _fail_mission(self, error: AdapterError) -> None:
        if self._result is not None and not self._result.done():
            self._result.set_exception(error)
        task = self._mission_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        self._goals.handle = None

    async def _wait_unpaused(self) -> None:
        if self._paused:
            self._mode = "PAUSED"
            await self._resume_event.wait()

    def _target_xy(self, step: MissionStep) -> tuple[float, float]:
        if step.kind is StepKind.RETURN:
            if self._telemetry.home_xy is None:
                raise CommandRefused(self.vehicle_id, "navigate_to_pose", "home position not known")
            return self._telemetry.home_xy
        if step.latitude_deg is None or step.longitude_deg is None:
            raise CommandRefused(self.vehicle_id, "navigate_to_pose", f"{step.kind.value} step without a position")
        return self.frame.to_local(step.latitude_deg, step.longitude_deg)

    async def _navigate(self, index: int, step: MissionStep, begun: asyncio.Future[None]) -> int:
        """Send one NavigateToPose goal and wait for its end; returns the GoalStatus (aborts raise)."""
        x_m, y_m = self._target_xy(step)
        where = f"step {index} ({step.kind.value}) to ({x_m:.1f}, {y_m:.1f}) m in {MAP_FRAME_ID}"
        handle = await self._goals.send(
            x_m, y_m, facing_from=self._telemetry.map_xy, where=where,
            on_feedback=lambda message: self._telemetry.on_feedback(message, self._step),
        )  # fmt: skip
        self._mode = "NAVIGATING"
        self._settle(begun)
        self._emit_event(index, "goal_accepted", where)
        if self._paused:  # pause() arrived while the goal was on its way
            await self._goals.cancel()
        mission_id = self._mission.mission_id if self._mission else ""
        return await self._goals.result(handle, where=where, mission_id=mission_id, step_index=index)

    async def _open_compartment(self, index: int, step: MissionStep) -> None:
        self._mode = "DELIVERING"
        message = await self._goals.open_compartment(index)
        self._emit_event(index, "compartment_opened", f"order {step.order_id or '-'}: {message}")

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
        await self._goals.cancel()
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
        await self._goals.cancel()
        steps_completed = self._step or 0
        if self._mission_task is not None and not self._mission_task.done():
            self._mission_task.cancel()
        self._finish(MissionOutcome.CANCELED, steps_completed, why)
        self._paused = False
        self._mode = "IDLE"

    async def return_home(self) -> None:
        """Abandon the mission and drive back to where the robot was first seen."""
        self._require_connected("return_home")
        if self._telemetry.home_xy is None:
            raise CommandRefused(self.vehicle_id, "return_home", "home position not known yet")
        previous = self._mission.mission_id if self._mission else "robot"
        await self._abandon("abandoned: returning home")
        await self.start_mission(Mission(f"{previous}-return-home", (MissionStep(StepKind.RETURN),)))

    async def land(self) -> None:
        """A robot has nothing to land: stop where it is (cancel the goal, end the mission CANCELED)."""
        self._require_connected("land")
        await self._abandon("stopped by operator")

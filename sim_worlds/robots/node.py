"""The sim robot's rclpy node: Nav2's NavigateToPose action server, odometry, battery and a compartment service.

One node per robot namespace (`/robot_1/sim_robot`): `navigate_to_pose` (nav2_msgs/action/
NavigateToPose, goals in the robot's `map` frame), `odom` (nav_msgs/Odometry, 10 Hz), `amcl_pose`
(geometry_msgs/PoseWithCovarianceStamped in `map`, as AMCL publishes it: with AMCL's QoS — keep
last 1, reliable, transient local — once at start and then only after the robot moved 0.25 m or
turned 0.2 rad, at most 2 Hz), `battery_state` (sensor_msgs/BatteryState, 1 Hz) and
`~/open_compartment` (std_srvs/Trigger). With `fromll_service` it also answers robot_localization's
`fromLL` / `toLL` in its namespace, as navsat_transform does.

The `map` frame is the world's local frame, or the one the node's `map_datum.*` parameters place
(`sim_worlds.robots.params`): a real robot localises in a map frame of its own, so robots with
different frames can be tested together. Everything runs in the executor thread and nothing blocks,
so one executor serves many robots.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import PoseWithCovarianceStamped, Quaternion
from nav2_msgs.action import NavigateToPose
from nav_msgs.msg import Odometry
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import GoalEvent, ServerGoalHandle
from rclpy.context import Context
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import BatteryState
from std_srvs.srv import Trigger

from mission_planner.geodesy import LocalFrame
from sim_worlds.robots.params import declare_map
from sim_worlds.robots.robot import NAV2_UNKNOWN, CompartmentRefused, GoalFailure, RobotSim, StepStatus
from sim_worlds.robots.robot_map import MapDatumSetting, RobotMap

logger = logging.getLogger(__name__)

ODOM_PERIOD_S = 0.1
AMCL_POSE_EVERY_TICKS = 5  # at most 2 Hz
AMCL_UPDATE_MIN_M = 0.25  # nav2_amcl update_min_d
AMCL_UPDATE_MIN_RAD = 0.2  # nav2_amcl update_min_a
# nav2_amcl publishes amcl_pose with KeepLast(1), reliable, transient local.
AMCL_POSE_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
BATTERY_EVERY_TICKS = 10
# How long a finished goal (and its status) stays listed: rcl's default was 15 min, newer rcl and rclpy keep
# 10 s. A fleet manager restarted after a leg ended reads that leg from the list (fleet_manager ros2_adoption).
RESULT_TIMEOUT_S = 15 * 60
_NOMINAL_VOLTAGE_V = 50.4


@dataclass
class _ActiveGoal:
    handle: ServerGoalHandle


def _duration(seconds: float) -> Duration:
    whole = math.floor(max(0.0, seconds))
    return Duration(sec=int(whole), nanosec=int((max(0.0, seconds) - whole) * 1e9))


def _quaternion(yaw_rad: float) -> Quaternion:
    return Quaternion(x=0.0, y=0.0, z=math.sin(yaw_rad / 2.0), w=math.cos(yaw_rad / 2.0))


class SimRobotNode(Node):
    """A Nav2-compatible sidewalk robot on the ROS graph, driving `robot` in simulated time `speedup`× wall."""

    def __init__(
        self, robot: RobotSim, *, namespace: str, speedup: float, context: Context | None = None,
        world_frame: LocalFrame | None = None, map_datum: MapDatumSetting | None = None, fromll_service: bool = False,
        cli_args: list[str] | None = None,
    ) -> None:  # fmt: skip
        """`map_datum` / `fromll_service` are defaults of the node's parameters; `cli_args` its ROS arguments
        (given, the process's global arguments are not used: they may rename every node). No parameter
        services: a hundred robots would add six services each to discovery."""
        if speedup <= 0:
            raise ValueError(f"speedup must be > 0, got {speedup}")
        super().__init__("sim_robot", namespace=namespace, context=context, cli_args=cli_args,
                         use_global_arguments=cli_args is None, start_parameter_services=False)
        self.robot = robot
        self.speedup = speedup
        datum, offers_fromll = declare_map(self, map_datum, fromll_service)
        if (datum is not None or offers_fromll) and world_frame is None:
            raise ValueError(f"{namespace}: a map datum or fromLL needs the world frame")
        self.map = RobotMap(world_frame, datum) if world_frame is not None else None
        if datum is not None:
            self.get_logger().info(f"map frame: {self.map.frame.describe() if self.map else datum}")
        self._active: _ActiveGoal | None = None
        self._ticks = 0
        self._last_tick = time.monotonic()
        self._amcl_published: tuple[float, float, float] | None = None  # world x, y, yaw at the last amcl_pose
        self._odom_pub = self.create_publisher(Odometry, "odom", 10)
        self._amcl_pub = self.create_publisher(PoseWithCovarianceStamped, "amcl_pose", AMCL_POSE_QOS)
        self._battery_pub = self.create_publisher(BatteryState, "battery_state", 10)
        self._action_server = ActionServer(
            self,
            NavigateToPose,
            "navigate_to_pose",
            execute_callback=self._on_execute_unplanned,
            goal_callback=self._on_goal,
            handle_accepted_callback=self._on_accepted,
            cancel_callback=self._on_cancel,
            # Nav2's servers read the same-named parameter; a real bt_navigator keeps rcl's default (10 s now)
            result_timeout=int(self.declare_parameter("action_server_result_timeout", RESULT_TIMEOUT_S).value),
        )
        self.create_service(Trigger, "~/open_compartment", self._on_open_compartment)
        if offers_fromll:
            from robot_localization.srv import FromLL, ToLL

            self.create_service(FromLL, "fromLL", self._on_from_ll)
            self.create_service(ToLL, "toLL", self._on_to_ll)
        self.create_timer(ODOM_PERIOD_S, self._tick)

    # --- frames ----------------------------------------------------------------------------------
    def _map_pose(self) -> tuple[float, float, float]:
        """The robot's pose (x, y, yaw) in its map frame."""
        pose = self.robot.pose
        if self.map is None:
            return pose.x_m, pose.y_m, pose.yaw_rad
        x_m, y_m = self.map.to_map(pose.x_m, pose.y_m)
        return x_m, y_m, self.map.yaw_to_map(pose.yaw_rad)

    def _on_from_ll(self, request: Any, response: Any) -> Any:
        if self.map is not None:
            response.map_point.x, response.map_point.y = self.map.from_wgs84(
                request.ll_point.latitude, request.ll_point.longitude)
        return response

    def _on_to_ll(self, request: Any, response: Any) -> Any:
        if self.map is not None:
            response.ll_point.latitude, response.ll_point.longitude = self.map.to_wgs84(
                request.map_point.x, request.map_point.y)
            response.ll_point.altitude = 0.0
        return response

    # --- action server -------------------------------------------------------------------------
    # The goal stays EXECUTING while the timer drives the robot; the timer then hands the outcome to
    # the action server (`notify_execute`) with a callback that only sets the terminal state. An
    # `async` execute callback that awaits the outcome would keep rclpy's executor spinning busily.
    def _on_goal(self, request: Any) -> GoalResponse:
        if self.robot.battery.empty:
            self.get_logger().warning("goal rejected: battery exhausted")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_accepted(self, handle: ServerGoalHandle) -> None:
        self.robot.goals_accepted += 1
        # Nav2 preempts: a new goal replaces the running one, which ends aborted.
        if self._active is not None:
            self._finish("aborted", NAV2_UNKNOWN, "preempted by a new goal")
        pose = handle.request.pose
        goal_x, goal_y = pose.pose.position.x, pose.pose.position.y
        if self.map is not None:
            goal_x, goal_y = self.map.to_world(goal_x, goal_y)
        try:
            self.robot.start_goal(goal_x, goal_y, pose.header.frame_id)
        except GoalFailure as failure:
            self.get_logger().info(f"goal aborted: {failure}")
            handle.execute(self._outcome_callback("aborted", failure.error_code, failure.error_msg))
            return
        if not handle.is_cancel_requested:
            handle._update_state(GoalEvent.EXECUTE)  # what ServerGoalHandle.execute() does first
        self._active = _ActiveGoal(handle)

    def _on_cancel(self, handle: ServerGoalHandle) -> CancelResponse:
        return CancelResponse.ACCEPT

    def _on_execute_unplanned(self, handle: ServerGoalHandle) -> Any:
        handle.abort()
        return NavigateToPose.Result(error_code=NAV2_UNKNOWN, error_msg="goal executed without a route")

    @staticmethod
    def _outcome_callback(outcome: str, error_code: int, error_msg: str) -> Callable[[ServerGoalHandle], Any]:
        def finish(handle: ServerGoalHandle) -> Any:
            if outcome == "succeeded":
                handle.succeed()
            elif outcome == "canceled" and handle.is_cancel_requested:
                handle.canceled()
            else:
                handle.abort()
            return NavigateToPose.Result(error_code=error_code, error_msg=error_msg)

        return finish

    def _finish(self, outcome: str, error_code: int = 0, error_msg: str = "") -> None:
        active, self._active = self._active, None
        self.robot.stop()
        if active is not None:
            self._action_server.notify_execute(active.handle, self._outcome_callback(outcome, error_code, error_msg))

    # --- simulation tick -----------------------------------------------------------------------
    def _tick(self) -> None:
        now = time.monotonic()
        dt_sim_s = (now - self._last_tick) * self.speedup
        self._last_tick = now
        self._ticks += 1
        active = self._active
        if active is not None and active.handle.is_cancel_requested:
            self._finish("canceled")
            active = None
        status = self.robot.step(dt_sim_s)
        if active is not None:
            if status is StepStatus.ARRIVED:
                self._publish_feedback(active.handle)
                self._finish("succeeded")
            elif status is StepStatus.BATTERY_EMPTY:
                self._finish("aborted", NAV2_UNKNOWN, "battery exhausted: robot stopped on the way")
            else:
                self._publish_feedback(active.handle)
        self._publish_odometry()
        if self._ticks % AMCL_POSE_EVERY_TICKS == 1:
            self._publish_amcl_pose_if_moved()
        if self._ticks % BATTERY_EVERY_TICKS == 1:
            self._publish_battery()

    def _publish_feedback(self, handle: ServerGoalHandle) -> None:
        feedback = NavigateToPose.Feedback()
        feedback.current_pose.header.frame_id = "map"
        feedback.current_pose.header.stamp = self.get_clock().now().to_msg()
        x_m, y_m, yaw_rad = self._map_pose()
        feedback.current_pose.pose.position.x, feedback.current_pose.pose.position.y = x_m, y_m
        feedback.current_pose.pose.orientation = _quaternion(yaw_rad)
        feedback.navigation_time = _duration(self.robot.navigation_time_s)
        feedback.estimated_time_remaining = _duration(self.robot.estimated_time_remaining_s)
        feedback.number_of_recoveries = 0
        feedback.distance_remaining = float(self.robot.distance_remaining_m)
        handle.publish_feedback(feedback)

    def _publish_odometry(self) -> None:
        odom = Odometry()
        # Perfect localisation: the odom frame coincides with the robot's map frame.
        odom.header.frame_id = "odom"
        odom.header.stamp = self.get_clock().now().to_msg()
        odom.child_frame_id = "base_link"
        x_m, y_m, yaw_rad = self._map_pose()
        odom.pose.pose.position.x, odom.pose.pose.position.y = x_m, y_m
        odom.pose.pose.orientation = _quaternion(yaw_rad)
        odom.twist.twist.linear.x = float(self.robot.speed_m_s)
        self._odom_pub.publish(odom)
        self.robot.odometry_sent += 1

    def _publish_amcl_pose_if_moved(self) -> None:
        """As AMCL does: a pose at start, then only once the robot moved or turned enough (latched)."""
        pose = self.robot.pose
        last = self._amcl_published
        if last is not None and (
            math.hypot(pose.x_m - last[0], pose.y_m - last[1]) < AMCL_UPDATE_MIN_M
            and abs(math.remainder(pose.yaw_rad - last[2], math.tau)) < AMCL_UPDATE_MIN_RAD
        ):
            return
        self._amcl_published = (pose.x_m, pose.y_m, pose.yaw_rad)
        msg = PoseWithCovarianceStamped()
        msg.header.frame_id = "map"
        msg.header.stamp = self.get_clock().now().to_msg()
        x_m, y_m, yaw_rad = self._map_pose()
        msg.pose.pose.position.x, msg.pose.pose.position.y = x_m, y_m
        msg.pose.pose.orientation = _quaternion(yaw_rad)
        self._amcl_pub.publish(msg)

    def _publish_battery(self) -> None:
        battery = self.robot.battery
        msg = BatteryState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.voltage = float(battery.voltage_v)
        msg.percentage = float(battery.fraction)
        msg.charge = float(battery.charge_wh / _NOMINAL_VOLTAGE_V)
        msg.capacity = float(battery.capacity_wh / _NOMINAL_VOLTAGE_V)
        msg.design_capacity = msg.capacity
        msg.current = float("nan")
        msg.temperature = float("nan")
        if self.robot.charging:
            msg.power_supply_status = BatteryState.POWER_SUPPLY_STATUS_CHARGING
        elif battery.full and not self.robot.active:
            msg.power_supply_status = BatteryState.POWER_SUPPLY_STATUS_FULL
        else:
            msg.power_supply_status = BatteryState.POWER_SUPPLY_STATUS_DISCHARGING
        msg.power_supply_technology = BatteryState.POWER_SUPPLY_TECHNOLOGY_LION
        msg.present = True
        msg.location = self.get_namespace()
        self._battery_pub.publish(msg)

    # --- compartment ---------------------------------------------------------------------------
    def _on_open_compartment(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            response.message = self.robot.open_compartment()
            response.success = True
        except CompartmentRefused as exc:
            response.success, response.message = False, str(exc)
        self.get_logger().info(f"open_compartment: {response.message}")
        return response

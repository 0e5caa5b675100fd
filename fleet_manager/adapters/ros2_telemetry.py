"""What a ROS 2 robot reports about itself, folded into `VehicleState` snapshots.

Position comes from map-frame sources only (goal feedback `current_pose`, `amcl_pose`): a real
robot's `odom` frame drifts from `map`. Odometry gives speed and liveness, and each odometry
message is one new snapshot; `battery_state` gives charge. The link watchdog marks the link LOST
when nothing has arrived for `link_timeout_s` and tells the adapter (which fails a running mission).

All of it runs on the asyncio loop: ROS callbacks reach it through `Ros2Bridge.to_loop`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from mission_planner.clock import Clock
from mission_planner.map_frame import MapFrame

from .base import LinkStatus, VehicleKind, VehicleState
from .fanout import Fanout

logger = logging.getLogger(__name__)

MAP_FRAME_ID = "map"
POWER_SUPPLY_STATUS_CHARGING = 1  # sensor_msgs/BatteryState (this module stays importable without ROS 2)
_QUEUE_SIZE = 256  # per telemetry subscriber; a slow one loses its oldest snapshots


class MissionView(NamedTuple):
    """What a snapshot says about the mission: the adapter's mode, whether one runs, its id and step."""

    mode: str
    running: bool
    mission_id: str | None
    step: int | None


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


class RobotTelemetry:
    """Pose, speed, battery and link of one robot; `fanout` hands the snapshots out."""

    def __init__(
        self,
        vehicle_id: str,
        namespace: str,
        frame: MapFrame,
        clock: Clock,
        *,
        link_timeout_s: float,
        mission_view: Callable[[], MissionView],
    ) -> None:
        self.vehicle_id = vehicle_id
        self.namespace = namespace
        self.frame = frame  # the robot's map frame on the Earth (the adapter may replace it with a fitted one)
        self.clock = clock
        self.link_timeout_s = link_timeout_s
        self.link = LinkStatus.CONNECTING
        self.map_xy: tuple[float, float] | None = None
        self.home_xy: tuple[float, float] | None = None  # where the robot was first seen in the map frame
        self.state: VehicleState | None = None
        self.progress: NavigationProgress | None = None
        self.first_state = asyncio.Event()
        self.fanout: Fanout[VehicleState] = Fanout(_QUEUE_SIZE, name=f"{vehicle_id} telemetry")
        self._mission_view = mission_view
        self._state_changed = asyncio.Event()
        self._last_rx_monotonic = 0.0
        self._yaw_rad = 0.0
        self._speed_m_s = 0.0
        self._battery_pct: float | None = None
        self._battery_wh: float | None = None
        self._battery_v: float | None = None
        self._charging = False  # BatteryState says CHARGING (the hub's dock, a van's bay)

    # --- ROS messages (on the loop) ------------------------------------------------------------
    def on_odometry(self, message: Any) -> None:
        """Speed and liveness; a new snapshot."""
        self._last_rx_monotonic = time.monotonic()
        self._speed_m_s = abs(float(message.twist.twist.linear.x))
        if self.map_xy is None:
            # Before any map-frame pose, the heading from odometry is still better than none.
            self._yaw_rad = _yaw_rad(message.pose.pose.orientation)
        self.link = LinkStatus.CONNECTED
        self.emit()

    def on_amcl_pose(self, message: Any) -> None:
        """The localised map-frame pose."""
        self._last_rx_monotonic = time.monotonic()
        if message.header.frame_id in ("", MAP_FRAME_ID):
            self._set_map_pose(message.pose.pose)

    def on_battery(self, message: Any) -> None:
        """Charge (percentage, voltage, Wh from charge x voltage)."""
        self._last_rx_monotonic = time.monotonic()
        percentage, voltage, charge = float(message.percentage), float(message.voltage), float(message.charge)
        self._battery_pct = percentage * 100.0 if math.isfinite(percentage) else None
        self._battery_v = voltage if math.isfinite(voltage) and voltage > 0 else None
        self._battery_wh = charge * voltage if self._battery_v is not None and math.isfinite(charge) else None
        self._charging = int(getattr(message, "power_supply_status", 0)) == POWER_SUPPLY_STATUS_CHARGING

    def on_feedback(self, message: Any, step_index: int | None) -> None:
        """NavigateToPose feedback of the goal for mission step `step_index`: pose and progress."""
        feedback = message.feedback
        self._last_rx_monotonic = time.monotonic()
        if feedback.current_pose.header.frame_id in ("", MAP_FRAME_ID):
            self._set_map_pose(feedback.current_pose.pose)
        if step_index is not None:
            self.progress = NavigationProgress(
                step_index=step_index,
                distance_remaining_m=float(feedback.distance_remaining),
                estimated_time_remaining_s=_seconds(feedback.estimated_time_remaining),
                navigation_time_s=_seconds(feedback.navigation_time),
                number_of_recoveries=int(feedback.number_of_recoveries),
            )

    def _set_map_pose(self, pose: Any) -> None:
        self.map_xy = (float(pose.position.x), float(pose.position.y))
        self._yaw_rad = _yaw_rad(pose.orientation)
        if self.home_xy is None:
            self.home_xy = self.map_xy

    # --- snapshots -----------------------------------------------------------------------------
    def position_wgs84(self) -> tuple[float | None, float | None]:
        """(latitude_deg, longitude_deg) of the newest map pose, (None, None) before one."""
        return self.frame.to_wgs84(*self.map_xy) if self.map_xy is not None else (None, None)

    def emit(self) -> None:
        """Build and publish a snapshot from the newest values and the adapter's mission view."""
        if self.map_xy is not None:
            latitude_deg, longitude_deg = self.frame.to_wgs84(*self.map_xy)
        else:
            latitude_deg, longitude_deg = self.frame.origin_latitude_deg, self.frame.origin_longitude_deg
        mission = self._mission_view()
        self.state = VehicleState(
            vehicle_id=self.vehicle_id,
            kind=VehicleKind.ROBOT,
            stamp_s=self.clock.now(),
            latitude_deg=latitude_deg,
            longitude_deg=longitude_deg,
            heading_deg=self.frame.bearing_deg(self._yaw_rad),
            ground_speed_m_s=self._speed_m_s,
            battery_remaining_pct=self._battery_pct,
            battery_remaining_wh=self._battery_wh,
            battery_voltage_v=self._battery_v,
            charging=self._charging,
            mode=mission.mode,
            armed=mission.running,
            link=self.link,
            mission_id=mission.mission_id,
            mission_step=mission.step,
            position_valid=self.map_xy is not None,
        )
        self.first_state.set()
        self._state_changed.set()
        self._state_changed = asyncio.Event()
        self.fanout.publish(self.state)

    async def wait_state(self, predicate: Callable[[VehicleState], bool], timeout_s: float) -> bool:
        """Wait until the newest snapshot satisfies `predicate`; False when `timeout_s` passes first."""
        deadline = time.monotonic() + timeout_s
        while self.state is None or not predicate(self.state):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._state_changed.wait(), remaining)
            except TimeoutError:
                return False
        return True

    # --- link ----------------------------------------------------------------------------------
    async def watch_link(self, on_lost: Callable[[float], None]) -> None:
        """Mark the link LOST after `link_timeout_s` without a message; `on_lost(silent_s)` then."""
        period_s = min(0.25, self.link_timeout_s / 4.0)
        while True:
            await asyncio.sleep(period_s)
            silent_s = time.monotonic() - self._last_rx_monotonic
            if self.link is LinkStatus.LOST or silent_s <= self.link_timeout_s:
                continue
            self.link = LinkStatus.LOST
            logger.warning("%s: link lost, nothing from %s for %.1f s", self.vehicle_id, self.namespace, silent_s)
            self.emit()
            on_lost(silent_s)

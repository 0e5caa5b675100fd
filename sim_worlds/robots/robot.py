"""One simulated sidewalk robot: follows walk-graph routes at a speed limit, drains its battery (no ROS) and charges
it while stopped on the hub's dock or stowed on a van.

The node in `sim_worlds.robots.node` owns one `RobotSim` and advances it with `step(dt_s)` in
simulated seconds; everything a Nav2 client sees (pose, distance and time remaining, the error
code of a failed goal) is computed here so it can be tested with plain pytest.
"""

from __future__ import annotations

import enum
import math

from fleet_manager.adapters import nav2_codes
from mission_planner.errors import FinalMileError
from sim_worlds.robots.battery import SimBattery
from sim_worlds.robots.route import Pose2D, Route, RouteError, WalkRouter

# The sim robot reports the numbers a real Nav2 reports (see fleet_manager.adapters.nav2_codes):
# the navigator's own codes, and the planner's that bt_navigator passes up.
NAV2_UNKNOWN = nav2_codes.UNKNOWN
NAV2_TF_ERROR = nav2_codes.TF_ERROR
_ROUTE_ERROR_CODES = {
    "goal_off_graph": nav2_codes.GOAL_OUTSIDE_MAP,
    "start_off_graph": nav2_codes.START_OUTSIDE_MAP,
    "no_path": nav2_codes.NO_VALID_PATH,
}
GOAL_FRAME_ID = "map"
DEFAULT_CHARGER_POWER_W = 300.0  # a sidewalk robot's dock charger (the van's bay supplies the same)
DOCK_RADIUS_M = 30.0  # a stopped robot this close to the hub's dock is on it


class GoalFailure(FinalMileError):
    """A goal the robot cannot reach, with the Nav2 error code and message it reports."""

    def __init__(self, error_code: int, error_msg: str) -> None:
        self.error_code = error_code
        self.error_name = nav2_codes.error_name(error_code)
        self.error_msg = error_msg
        super().__init__(f"{self.error_name} ({error_code}): {error_msg}")


class CompartmentRefused(FinalMileError):
    """The compartment cannot open now (the robot is driving)."""


class StepStatus(enum.StrEnum):
    """What the robot is doing after a simulation step."""

    IDLE = "idle"
    MOVING = "moving"
    ARRIVED = "arrived"
    BATTERY_EMPTY = "battery_empty"


class RobotSim:
    """A robot on the walk graph: `start_goal`, then `step` until ARRIVED or BATTERY_EMPTY; `stop` cancels."""

    def __init__(
        self,
        name: str,
        router: WalkRouter,
        start_xy: tuple[float, float],
        *,
        battery: SimBattery,
        speed_limit_m_s: float = 1.7,
        payload_kg: float = 2.0,
        dock_xy: tuple[float, float] | None = None,
        charger_power_w: float = DEFAULT_CHARGER_POWER_W,
    ) -> None:
        if speed_limit_m_s <= 0:
            raise ValueError(f"speed_limit_m_s must be > 0, got {speed_limit_m_s}")
        if charger_power_w < 0:
            raise ValueError(f"charger_power_w must be >= 0, got {charger_power_w}")
        self.dock_xy = dock_xy  # the hub's charging dock (None: no dock)
        self.charger_power_w = charger_power_w
        self.name = name
        self.router = router
        self.battery = battery
        self.speed_limit_m_s = speed_limit_m_s
        self.payload_kg = payload_kg
        self.pose = Pose2D(start_xy[0], start_xy[1], 0.0)
        self.speed_m_s = 0.0
        self.route: Route | None = None
        self.travelled_m = 0.0
        self.navigation_time_s = 0.0
        self.odometer_m = 0.0
        self.parcels_handed_over = 0
        self.carrier: str | None = None  # simulation only (sim_control): the van it rides in
        self.odometry_sent = 0  # odometry messages its node published (sim_control reports it; benchmarks)
        self.goals_accepted = 0  # NavigateToPose goals its action server accepted (sim_control: no goal sent twice)

    @property
    def active(self) -> bool:
        """True while a goal is being driven to."""
        return self.route is not None

    @property
    def charging(self) -> bool:
        """Stopped on the hub's dock (within `DOCK_RADIUS_M`) or stowed on a van, with a pack not yet full."""
        if self.active or self.battery.full:
            return False
        if self.carrier is not None:
            return True  # the van's bay supplies it
        return self.dock_xy is not None and math.hypot(self.pose.x_m - self.dock_xy[0],
                                                       self.pose.y_m - self.dock_xy[1]) <= DOCK_RADIUS_M

    @property
    def distance_remaining_m(self) -> float:
        """Route distance still to drive (0 when idle)."""
        return 0.0 if self.route is None else max(0.0, self.route.length_m - self.travelled_m)

    @property
    def estimated_time_remaining_s(self) -> float:
        """Distance remaining at the speed limit."""
        return self.distance_remaining_m / self.speed_limit_m_s

    def start_goal(self, goal_x_m: float, goal_y_m: float, frame_id: str = GOAL_FRAME_ID) -> Route:
        """Plan a route to the goal and start driving; GoalFailure (Nav2 code) when it cannot be reached."""
        if frame_id != GOAL_FRAME_ID:
            raise GoalFailure(NAV2_TF_ERROR, f"goal frame {frame_id!r} is not {GOAL_FRAME_ID!r}; no transform known")
        if not (math.isfinite(goal_x_m) and math.isfinite(goal_y_m)):
            raise GoalFailure(nav2_codes.GOAL_OUTSIDE_MAP, f"goal ({goal_x_m}, {goal_y_m}) is not a finite position")
        if self.battery.empty:
            raise GoalFailure(NAV2_UNKNOWN, "battery exhausted: cannot drive")
        if self.carrier is not None:
            raise GoalFailure(NAV2_UNKNOWN, f"stowed on {self.carrier}: cannot drive until launched")
        try:
            route = self.router.plan((self.pose.x_m, self.pose.y_m), (goal_x_m, goal_y_m))
        except RouteError as exc:
            raise GoalFailure(_ROUTE_ERROR_CODES.get(exc.reason, NAV2_UNKNOWN), str(exc)) from exc
        self.route = route
        self.travelled_m = 0.0
        self.navigation_time_s = 0.0
        return route

    def stop(self) -> None:
        """Stop where the robot is (goal cancelled or aborted)."""
        self.route = None
        self.speed_m_s = 0.0

    def step(self, dt_s: float) -> StepStatus:
        """Advance the simulation by `dt_s` simulated seconds."""
        if dt_s < 0:
            raise ValueError(f"dt_s must be >= 0, got {dt_s}")
        if self.charging:
            self.battery.charge(dt_s, self.charger_power_w)
        else:
            self.battery.idle(dt_s)
        if self.route is None:
            self.speed_m_s = 0.0
            return StepStatus.BATTERY_EMPTY if self.battery.empty else StepStatus.IDLE
        self.navigation_time_s += dt_s
        wanted_m = min(self.speed_limit_m_s * dt_s, self.distance_remaining_m)
        reachable_m = min(wanted_m, self.battery.range_m(self.payload_kg))
        self.battery.drive(reachable_m, self.payload_kg)
        self.travelled_m += reachable_m
        self.odometer_m += reachable_m
        self.speed_m_s = reachable_m / dt_s if dt_s > 0 else 0.0
        self.pose = self.route.pose_at(self.travelled_m)
        if self.distance_remaining_m <= 1e-6:
            self.stop()
            return StepStatus.ARRIVED
        if self.battery.empty or reachable_m < wanted_m:
            self.battery.charge_wh = 0.0
            self.stop()
            return StepStatus.BATTERY_EMPTY
        return StepStatus.MOVING

    def open_compartment(self) -> str:
        """Hand the parcel over and say so; CompartmentRefused while a goal is being driven to."""
        if self.active:
            raise CompartmentRefused("robot is driving; the compartment opens only when stopped")
        self.parcels_handed_over += 1
        return (
            f"compartment opened at ({self.pose.x_m:.1f}, {self.pose.y_m:.1f}) m; "
            f"parcel {self.parcels_handed_over} handed over"
        )

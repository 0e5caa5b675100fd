"""The Nav2-compatible sidewalk sim robot: ROS-free motion and battery logic, and its rclpy node.

`route`, `battery` and `robot` hold the simulation and import no ROS; `node` wraps one robot in an
rclpy node that speaks Nav2's NavigateToPose, and `runner` runs several of them in one process.
"""

from __future__ import annotations

from sim_worlds.robots.battery import SimBattery as SimBattery
from sim_worlds.robots.robot import CompartmentRefused as CompartmentRefused
from sim_worlds.robots.robot import GoalFailure as GoalFailure
from sim_worlds.robots.robot import RobotSim as RobotSim
from sim_worlds.robots.robot import StepStatus as StepStatus
from sim_worlds.robots.route import Route as Route
from sim_worlds.robots.route import RouteError as RouteError
from sim_worlds.robots.route import plan_route as plan_route

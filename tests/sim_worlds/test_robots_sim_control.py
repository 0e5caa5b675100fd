"""Sim robots' sim-control channel over real TCP (no ROS needed): place, stow, recharge, refusals."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from fleet_manager.world import load_world
from sim_worlds.mavsim.sim_control import MavsimControl, SimControlError
from sim_worlds.robots.robot import GoalFailure, RobotSim
from sim_worlds.robots.runner import FleetConfig, build_robots
from sim_worlds.robots.sim_control import RobotControlServer

pytestmark = pytest.mark.timeout(60)
STOP = (60.1690, 24.9450)


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return load_world("helsinki")


@pytest.fixture
def robots(world: Any) -> Iterator[tuple[list[RobotSim], MavsimControl]]:
    """Two sim robots at the hub behind a control server on a free port, and a connected client."""
    sims = [robot for _, robot in build_robots(FleetConfig(count=2))]
    server = RobotControlServer(sims, world.frame)
    port = server.start()
    try:
        with MavsimControl(f"tcp:127.0.0.1:{port}") as control:
            yield sims, control
    finally:
        server.stop()


def test_place_moves_a_parked_robot_and_it_drives_from_there(world: Any, robots: Any) -> None:
    """A placed robot stands at the stop (status and pose) and plans its next route from there."""
    sims, control = robots
    assert control.ping() == 2
    status = control.place(0, *STOP)
    x_m, y_m = world.frame.to_local(*STOP)
    assert math.hypot(sims[0].pose.x_m - x_m, sims[0].pose.y_m - y_m) < 0.01
    assert status["armed"] is False and status["landed"] is True and status["name"] == "robot_1"
    route = sims[0].start_goal(world.hub.x_m, world.hub.y_m)
    start_x_m, start_y_m = route.points[0]
    assert math.hypot(start_x_m - x_m, start_y_m - y_m) < 1.0  # the route starts at the stop, not the hub


def test_a_stowed_robot_refuses_goals_and_a_driving_robot_cannot_be_moved(world: Any, robots: Any) -> None:
    """Attached: NavigateToPose goals fail naming the van; driving: place/attach are refused."""
    sims, control = robots
    control.attach(0, "van-1")
    with pytest.raises(GoalFailure, match="stowed on van-1"):
        sims[0].start_goal(sims[0].pose.x_m + 30.0, sims[0].pose.y_m)
    assert control.detach(0)["carrier"] is None
    sims[1].start_goal(sims[1].pose.x_m + 100.0, sims[1].pose.y_m)
    with pytest.raises(SimControlError, match="robot_2 is driving a goal"):
        control.place(1, *STOP)


def test_recharge_sets_the_pack(robots: Any) -> None:
    """recharge sets the robot's charge; out-of-range values are refused."""
    sims, control = robots
    assert control.recharge(1, 25.0)["battery_remaining_pct"] == pytest.approx(25.0)
    assert sims[1].battery.fraction == pytest.approx(0.25)
    with pytest.raises(SimControlError, match="must be within"):
        control.recharge(1, -5.0)

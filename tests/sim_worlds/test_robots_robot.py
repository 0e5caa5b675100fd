"""One sim robot without ROS: drives routes at its speed limit, stops on cancel, aborts with Nav2's codes."""

from __future__ import annotations

import networkx as nx
import pytest

from fleet_manager.adapters import nav2_codes
from mission_planner.energy import RobotModel
from sim_worlds.robots.battery import SimBattery
from sim_worlds.robots.robot import CompartmentRefused, GoalFailure, RobotSim, StepStatus
from sim_worlds.robots.route import WalkRouter


def _line_router() -> WalkRouter:
    """A straight 1 km walkway along x with a node every 100 m."""
    graph = nx.Graph()
    for i in range(11):
        graph.add_node(i, x_m=100.0 * i, y_m=0.0)
        if i:
            graph.add_edge(i - 1, i, length_m=100.0)
    return WalkRouter(graph, max_snap_m=30.0)


def _robot(percent: float = 100.0) -> RobotSim:
    return RobotSim("r1", _line_router(), (0.0, 0.0), battery=SimBattery.at_percent(RobotModel(), percent),
                    speed_limit_m_s=2.0)  # fmt: skip


def test_robot_drives_at_its_speed_limit_and_arrives() -> None:
    """500 m at 2 m/s: 250 m after 125 s with 250 m (125 s) left, arrived after 250 s."""
    robot = _robot()
    robot.start_goal(500.0, 0.0)
    assert robot.step(125.0) is StepStatus.MOVING
    assert (robot.pose.x_m, robot.speed_m_s) == (pytest.approx(250.0), pytest.approx(2.0))
    assert (robot.distance_remaining_m, robot.estimated_time_remaining_s) == (
        pytest.approx(250.0),
        pytest.approx(125.0),
    )
    assert robot.step(200.0) is StepStatus.ARRIVED
    assert robot.pose.x_m == pytest.approx(500.0) and not robot.active and robot.speed_m_s == 0.0


def test_stop_holds_the_robot_where_it_is() -> None:
    """After stop (cancel) the robot stays put."""
    robot = _robot()
    robot.start_goal(900.0, 0.0)
    robot.step(10.0)
    robot.stop()
    assert robot.step(100.0) is StepStatus.IDLE
    assert robot.pose.x_m == pytest.approx(20.0)


def test_unreachable_goal_fails_with_goal_outside_map() -> None:
    """A goal 200 m off the walkway is GOAL_OUTSIDE_MAP (204), as Nav2's planner reports it."""
    with pytest.raises(GoalFailure) as caught:
        _robot().start_goal(500.0, 200.0)
    assert (caught.value.error_code, caught.value.error_name) == (nav2_codes.GOAL_OUTSIDE_MAP, "GOAL_OUTSIDE_MAP")


def test_goal_in_another_frame_is_a_tf_error() -> None:
    """Only `map` goals are understood; others are TF_ERROR (9002)."""
    with pytest.raises(GoalFailure) as caught:
        _robot().start_goal(500.0, 0.0, frame_id="odom")
    assert caught.value.error_code == nav2_codes.TF_ERROR


def test_battery_runs_out_on_the_way() -> None:
    """1 % (5 Wh ≈ 160 m at 31.2 Wh/km) is not enough for 1 km: the robot stops part-way, battery empty."""
    robot = _robot(percent=1.0)
    robot.start_goal(1000.0, 0.0)
    statuses = [robot.step(10.0) for _ in range(60)]
    assert StepStatus.BATTERY_EMPTY in statuses
    assert 100.0 < robot.pose.x_m < 200.0 and robot.battery.empty and not robot.active
    with pytest.raises(GoalFailure) as caught:
        robot.start_goal(0.0, 0.0)
    assert caught.value.error_code == nav2_codes.UNKNOWN and "battery" in caught.value.error_msg


def test_compartment_opens_only_when_stopped() -> None:
    """While driving the compartment stays shut; at the goal it hands the parcel over."""
    robot = _robot()
    robot.start_goal(100.0, 0.0)
    with pytest.raises(CompartmentRefused):
        robot.open_compartment()
    robot.step(100.0)
    assert "handed over" in robot.open_compartment()
    assert robot.parcels_handed_over == 1


def test_robot_charges_on_the_hub_dock_and_in_a_van_not_while_driving_or_away() -> None:
    """Stopped on its dock or stowed in a van the pack fills at the charger's power; driving, or stopped away
    from the dock, it drains."""
    robot = RobotSim("r1", _line_router(), (0.0, 0.0), battery=SimBattery.at_percent(RobotModel(), 50.0),
                     speed_limit_m_s=2.0, dock_xy=(0.0, 0.0), charger_power_w=360.0)
    assert robot.charging
    robot.step(10.0)
    assert robot.battery.charge_wh == pytest.approx(250.0 + 1.0)  # 360 W x 10 s
    robot.start_goal(100.0, 0.0)
    assert not robot.charging
    before = robot.battery.charge_wh
    robot.step(60.0)  # arrives 100 m away: off the dock
    assert robot.battery.charge_wh < before and not robot.charging
    robot.carrier = "van-1"
    assert robot.charging
    before = robot.battery.charge_wh
    robot.step(10.0)
    assert robot.battery.charge_wh == pytest.approx(before + 1.0)
    with pytest.raises(ValueError, match="charger_power_w"):
        RobotSim("r2", _line_router(), (0.0, 0.0), battery=SimBattery.at_percent(RobotModel(), 50.0),
                 charger_power_w=-5.0)

"""Which leg of a stored mission a Nav2 robot is on, from its navigator's goal list (pure logic; the DDS
round trip is tests/ros/test_ros2_adoption.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fleet_manager.adapters.base import HeldMission, Mission, MissionOutcome, MissionStep, StepKind
from fleet_manager.adapters.ros2_adoption import (
    STATUS_ABORTED,
    STATUS_EXECUTING,
    STATUS_SUCCEEDED,
    leg_goal_id,
    mission_goals,
    read_adoption,
    read_recorded_leg,
)

MISSION = Mission("m-7", (
    MissionStep(StepKind.GOTO, 60.17, 24.94),
    MissionStep(StepKind.DELIVER, 60.171, 24.941, order_id="o-1"),
    MissionStep(StepKind.DELIVER, 60.172, 24.942, order_id="o-2"),
    MissionStep(StepKind.RETURN)))


def _entry(mission_id: str, step: int, attempt: int, status: int) -> SimpleNamespace:
    """An action_msgs/GoalStatus as rclpy hands it over."""
    goal_id = SimpleNamespace(uuid=list(leg_goal_id(mission_id, step, attempt)))
    return SimpleNamespace(goal_info=SimpleNamespace(goal_id=goal_id), status=status)


def _read(*entries: SimpleNamespace):  # type: ignore[no-untyped-def]
    return read_adoption(MISSION, mission_goals(MISSION.mission_id, entries))


def test_the_running_leg_is_followed_by_its_goal_and_earlier_drops_count_as_handed_over() -> None:
    adoption = _read(_entry("m-7", 0, 0, STATUS_SUCCEEDED), _entry("m-7", 1, 0, STATUS_SUCCEEDED),
                     _entry("m-7", 2, 0, STATUS_EXECUTING), _entry("m-other", 3, 0, STATUS_EXECUTING))
    assert adoption.report.held is HeldMission.RUNNING
    assert adoption.follow is not None and adoption.follow.step_index == 2 and adoption.next_step is None
    assert adoption.report.handed_over_steps == (1,) and adoption.report.steps_completed == 2


def test_a_leg_sent_again_after_a_pause_is_followed_under_its_newest_id() -> None:
    adoption = _read(_entry("m-7", 0, 0, 5), _entry("m-7", 0, 1, STATUS_EXECUTING))
    assert adoption.follow is not None and (adoption.follow.step_index, adoption.follow.attempt) == (0, 1)


def test_between_two_legs_the_mission_goes_on_with_the_next_step() -> None:
    adoption = _read(_entry("m-7", 0, 0, STATUS_SUCCEEDED))
    assert adoption.report.held is HeldMission.RUNNING and adoption.follow is None and adoption.next_step == 1


def test_a_robot_idle_at_its_drop_leaves_that_parcel_unsure() -> None:
    report = _read(_entry("m-7", 0, 0, STATUS_SUCCEEDED), _entry("m-7", 1, 0, STATUS_SUCCEEDED)).report
    assert report.held is HeldMission.ENDED and report.unsure_steps == (1,) and report.handed_over_steps == ()


@pytest.mark.parametrize(("status", "outcome"), [(STATUS_ABORTED, MissionOutcome.FAILED), (5, MissionOutcome.CANCELED)])
def test_an_aborted_or_canceled_leg_ends_the_mission(status: int, outcome: MissionOutcome) -> None:
    report = _read(_entry("m-7", 1, 0, STATUS_SUCCEEDED), _entry("m-7", 2, 0, status)).report
    assert report.held is HeldMission.ENDED and report.outcome is outcome and report.handed_over_steps == (1,)


def test_the_return_leg_done_means_the_mission_succeeded_with_every_drop() -> None:
    report = _read(_entry("m-7", 3, 0, STATUS_SUCCEEDED)).report
    assert report.held is HeldMission.ENDED and report.outcome is MissionOutcome.SUCCEEDED
    assert report.handed_over_steps == (1, 2) and report.steps_completed == 4


def test_no_goal_of_the_mission_is_absent() -> None:
    assert _read(_entry("m-other", 0, 0, STATUS_EXECUTING)).report.held is HeldMission.ABSENT
    assert _read().report.held is HeldMission.ABSENT


@pytest.mark.parametrize(("leg", "releasing", "arrived", "held", "next_step", "unsure"), [
    (1, None, False, HeldMission.RUNNING, 1, ()),  # not at the door: the leg is sent again
    (1, None, True, HeldMission.RUNNING, 1, ()),  # at the door, nothing decided: the compartment never opened
    (1, 0, True, HeldMission.RUNNING, 1, ()),  # an earlier drop's decision says nothing about this one
    (1, 1, True, HeldMission.ENDED, None, (1,)),  # release decided there: the one unknown
    (0, None, True, HeldMission.RUNNING, 1, ()),  # a via point reached: on with the next step
])
def test_without_the_goal_list_the_recorded_leg_and_the_pose_decide(  # type: ignore[no-untyped-def]
    leg, releasing, arrived, held, next_step, unsure
) -> None:
    """Goal status expired: the legs and release decisions the fleet manager recorded, with the robot's pose."""
    adoption = read_recorded_leg(MISSION, leg, releasing_step=releasing, arrived=arrived)
    assert adoption.report.held is held and adoption.next_step == next_step
    assert adoption.report.unsure_steps == unsure
    assert adoption.report.handed_over_steps == tuple(i for i in (1, 2) if i < leg)


def test_the_recorded_return_leg_done_ends_the_mission_and_an_unknown_leg_is_absent() -> None:
    assert read_recorded_leg(MISSION, 3, releasing_step=2, arrived=True).report.outcome is MissionOutcome.SUCCEEDED
    assert read_recorded_leg(MISSION, 9, releasing_step=None, arrived=True).report.held is HeldMission.ABSENT

"""Which leg of a stored mission a Nav2 robot is driving, read from its goal status after a restart.

A new fleet-manager process does not own the goal handles the old one sent, but every NavigateToPose
server publishes the status of the goals it tracks on `<ns>/navigate_to_pose/_action/status`
(action_msgs/GoalStatusArray, with rcl_action's status QoS: keep last 1, reliable, transient local,
so a late subscriber gets the newest array at once). A running goal stays in that list; a finished
one until its result expires (rcl's result_timeout: 15 min in older releases, 10 s in newer ones and
in rclpy), after which the robot's mission reads ABSENT.

The goal id is chosen by the client, so the adapter gives every leg an id that names it
(`leg_goal_id`): 12 bytes of a hash of the mission id, the step index and the attempt (a paused leg
is sent again under a new id: a server refuses a goal id it still tracks). The new process then reads
the leg from the status list instead of guessing it from the robot's position, and follows that goal
by its id (the action's get_result and cancel services take any goal id).

A real Nav2 bt_navigator passes rcl's default options unchanged (nav2::SimpleActionServer), so a finished
leg is listed for 10 s on current releases. Without the list, the store's record is the evidence
(`read_recorded_leg`): the fleet manager writes each leg as it sends it, and a drop's release decision
before the compartment opens; with the robot's own pose against that leg's target.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .base import AdoptionReport, HeldMission, Mission, MissionOutcome, StepKind

_MISSION_BYTES = 12
# action_msgs/msg/GoalStatus
STATUS_ACCEPTED, STATUS_EXECUTING, STATUS_CANCELING = 1, 2, 3
STATUS_SUCCEEDED, STATUS_CANCELED, STATUS_ABORTED = 4, 5, 6
_ACTIVE = (STATUS_ACCEPTED, STATUS_EXECUTING, STATUS_CANCELING)


class StatusLatch:
    """The newest GoalStatusArray of one robot's navigator, kept with its ROS entities (set in the ROS thread).

    The array is latched by the server (transient local) but delivered once per subscription, and the
    subscription outlives an adapter that closes and connects again: so it is kept here, not in the adapter.
    """

    def __init__(self) -> None:
        self.latest: Any = None

    def __call__(self, message: Any) -> None:
        self.latest = message  # one reference assignment: read from the asyncio loop without a lock


def leg_goal_id(mission_id: str, step_index: int, attempt: int) -> bytes:
    """The 16-byte goal id of `attempt` at leg `step_index` of mission `mission_id`."""
    if not 0 <= step_index < 1 << 16:
        raise ValueError(f"step_index must be within 0..65535, got {step_index}")
    prefix = hashlib.blake2b(mission_id.encode(), digest_size=_MISSION_BYTES).digest()
    return prefix + step_index.to_bytes(2, "big") + (attempt % (1 << 16)).to_bytes(2, "big")


@dataclass(frozen=True)
class LegGoal:
    """A goal of the robot's status list that belongs to a leg of the mission asked about."""

    goal_id: bytes
    step_index: int
    attempt: int
    status: int

    @property
    def active(self) -> bool:
        """Accepted, executing or being canceled: the robot is still on it."""
        return self.status in _ACTIVE


def mission_goals(mission_id: str, status_list: Iterable[Any]) -> list[LegGoal]:
    """The goals of action_msgs/GoalStatus entries in `status_list` sent for `mission_id`, oldest leg first."""
    prefix = leg_goal_id(mission_id, 0, 0)[:_MISSION_BYTES]
    goals = []
    for entry in status_list:
        goal_id = bytes(entry.goal_info.goal_id.uuid)
        if goal_id[:_MISSION_BYTES] == prefix:
            goals.append(LegGoal(goal_id, int.from_bytes(goal_id[12:14], "big"),
                                 int.from_bytes(goal_id[14:16], "big"), int(entry.status)))
    return sorted(goals, key=lambda goal: (goal.step_index, goal.attempt))


@dataclass(frozen=True)
class LegAdoption:
    """What the status list says about a mission: the report, and the goal or leg to go on from when RUNNING."""

    report: AdoptionReport
    follow: LegGoal | None = None  # RUNNING on this goal: follow it, never send it again
    next_step: int | None = None  # RUNNING between legs: go on with this step


def read_adoption(mission: Mission, goals: list[LegGoal]) -> LegAdoption:
    """Match `mission` with its goals on the robot (`mission_goals`).

    A leg goal still active: RUNNING on it. The newest leg goal succeeded and its step was no drop:
    RUNNING from the next step (the old process died between two legs; the last leg done, nothing
    adopted is sent twice). Its step was a drop: whether the compartment was opened before the crash
    is unknown, so the mission is ENDED with that step in `unsure_steps`. Canceled or aborted: ENDED.
    No goal of the mission: ABSENT. A drop before the newest leg was handed over (the next leg is
    only sent after the compartment opened).
    """
    mission_id = mission.mission_id
    if not goals:
        return LegAdoption(AdoptionReport(mission_id, HeldMission.ABSENT,
                                          detail="the robot's navigator tracks no goal of this mission"))
    newest = goals[-1]
    step = mission.steps[newest.step_index] if newest.step_index < len(mission.steps) else None
    handed = tuple(i for i, s in enumerate(mission.steps) if s.kind is StepKind.DELIVER and i < newest.step_index)
    where = f"leg {newest.step_index} goal (attempt {newest.attempt}) status {newest.status}"
    if step is None:
        return LegAdoption(AdoptionReport(mission_id, HeldMission.ABSENT,
                                          detail=f"{where} names a step the stored mission does not have"))
    if newest.active:
        return LegAdoption(AdoptionReport(mission_id, HeldMission.RUNNING, newest.step_index, handed,
                                          detail=f"following the robot's running {where}"), follow=newest)
    if newest.status == STATUS_SUCCEEDED and step.kind is StepKind.DELIVER:
        return LegAdoption(AdoptionReport(
            mission_id, HeldMission.ENDED, newest.step_index, handed, MissionOutcome.FAILED,
            detail=f"{where}: arrived at the drop, but whether the compartment opened is unknown",
            unsure_steps=(newest.step_index,)))
    if newest.status == STATUS_SUCCEEDED and newest.step_index + 1 < len(mission.steps):
        return LegAdoption(AdoptionReport(mission_id, HeldMission.RUNNING, newest.step_index + 1, handed,
                                          detail=f"{where}: going on with step {newest.step_index + 1}"),
                           next_step=newest.step_index + 1)
    if newest.status == STATUS_SUCCEEDED:
        return LegAdoption(AdoptionReport(mission_id, HeldMission.ENDED, len(mission.steps), handed,
                                          MissionOutcome.SUCCEEDED, detail=f"{where}: the last leg is done"))
    outcome = MissionOutcome.CANCELED if newest.status == STATUS_CANCELED else MissionOutcome.FAILED
    return LegAdoption(AdoptionReport(mission_id, HeldMission.ENDED, newest.step_index, handed, outcome,
                                      detail=f"{where}: the robot is no longer on it"))


ARRIVED_WITHIN_M = 5.0  # a robot this close to a leg's target may have finished it (Nav2's tolerance is far less)


def read_recorded_leg(mission: Mission, leg: int, *, releasing_step: int | None, arrived: bool) -> LegAdoption:
    """What the store says when the navigator lists no goal of `mission` (expired, or the robot restarted).

    `leg` is the last leg the fleet manager recorded sending; `releasing_step` the drop it last decided to
    release (recorded before the compartment opens); `arrived`: the robot stands at `leg`'s target. The
    robot drives only goals the fleet manager sends and opens a compartment only when told, so: not at the
    target, the leg is sent again; at a door with no release recorded, the compartment never opened: the leg
    is sent again (it ends at once) and the drop decided anew; a release recorded there is the one unknown
    (unsure); at any other target, the mission goes on with the next step.
    """
    mission_id = mission.mission_id
    if not 0 <= leg < len(mission.steps):
        return LegAdoption(AdoptionReport(mission_id, HeldMission.ABSENT,
                                          detail=f"recorded leg {leg} is not a step of the stored mission"))
    step = mission.steps[leg]
    handed = tuple(i for i, s in enumerate(mission.steps) if s.kind is StepKind.DELIVER and i < leg)
    where = f"no goal listed; leg {leg} recorded as sent, robot {'at' if arrived else 'away from'} its target"
    if not arrived or (step.kind is StepKind.DELIVER and releasing_step != leg):
        return LegAdoption(AdoptionReport(mission_id, HeldMission.RUNNING, leg, handed,
                                          detail=f"{where}: leg {leg} sent again"), next_step=leg)
    if step.kind is StepKind.DELIVER:
        return LegAdoption(AdoptionReport(
            mission_id, HeldMission.ENDED, leg, handed, MissionOutcome.FAILED,
            detail=f"{where}: its release was decided, whether the compartment opened is unknown",
            unsure_steps=(leg,)))
    if leg + 1 < len(mission.steps):
        return LegAdoption(AdoptionReport(mission_id, HeldMission.RUNNING, leg + 1, handed,
                                          detail=f"{where}: going on with step {leg + 1}"), next_step=leg + 1)
    return LegAdoption(AdoptionReport(mission_id, HeldMission.ENDED, len(mission.steps), handed,
                                      MissionOutcome.SUCCEEDED, detail=f"{where}: the last leg is done"))

"""Missions on a ROS 2 robot, leg by leg as NavigateToPose goals.

GOTO = navigate; DELIVER = navigate, then open the compartment (with `confirm_release`: only once the fleet
manager says the recipient takes the parcel, `at_drop` / `confirm_drop`); WAIT = hold; RETURN = navigate to
where the robot was first seen. Pause cancels the goal and keeps the mission (resume re-sends the
leg); replace cancels the goal and goes on with the new mission's goals; land/return end it
CANCELED. One task per mission follows it; its outcome is a `MissionResult` (or the error that
ended it: GoalAborted, GoalRejected, LinkLost) for `wait_mission`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mission_planner.clock import Clock

from ..errors import AdapterError, AdapterTimeout, CommandRefused, LinkLost, MissionBusy, NoMissionRunning
from .base import Mission, MissionEvent, MissionOutcome, MissionResult, MissionStep, StepKind
from .fanout import Fanout
from .ros2_adoption import LegAdoption, LegGoal, leg_goal_id
from .ros2_goals import CANCEL_REJECTED, STATUS_CANCELED, GoalClient
from .ros2_telemetry import MAP_FRAME_ID, MissionView, RobotTelemetry

logger = logging.getLogger(__name__)

_NAVIGATION_STEPS = (StepKind.GOTO, StepKind.DELIVER, StepKind.RETURN)
_SUPPORTED_STEPS = (*_NAVIGATION_STEPS, StepKind.WAIT)
_QUEUE_SIZE = 256  # per mission-event subscriber; a slow one loses its oldest events
DROP_DECISION_TIMEOUT_S = 120.0  # clock s at a door without an answer: the parcel stays in, the robot goes on
# ... but never less wall time than this: the answer comes from the fleet manager and the recipient-presence
# service (its HTTP timeout is 5 s), whose pace is wall time however fast a simulation runs
DROP_DECISION_MIN_WALL_S = 15.0


@dataclass(frozen=True)
class LegTimeout:
    """How long one NavigateToPose leg may take (clock seconds): a navigator that never answers ends the mission.

    The straight distance at `slowest_m_s` (paths wind round blocks: the factor is in the speed) plus
    `margin_s` for the planner, recoveries and a door held open; never less than `min_s`.
    """

    slowest_m_s: float = 0.25
    margin_s: float = 120.0
    min_s: float = 180.0

    def for_leg(self, from_xy: tuple[float, float] | None, to_xy: tuple[float, float]) -> float:
        """The timeout of a leg from `from_xy` (None: unknown, the minimum) to `to_xy` (map metres)."""
        if from_xy is None:
            return self.min_s
        distance_m = math.hypot(to_xy[0] - from_xy[0], to_xy[1] - from_xy[1])
        return max(self.min_s, distance_m / self.slowest_m_s + self.margin_s)


class RobotMissions:
    """The mission half of the vehicle contract for one robot; `events` hands out its progress."""

    def __init__(
        self, vehicle_id: str, namespace: str, goal_xy: Callable[[float, float], Awaitable[tuple[float, float]]],
        clock: Clock, telemetry: RobotTelemetry, goals: GoalClient, *, link_timeout_s: float,
        leg_timeout: LegTimeout | None = None,
    ) -> None:  # fmt: skip
        self.vehicle_id = vehicle_id
        self.leg_timeout = leg_timeout or LegTimeout()
        self.namespace = namespace
        self.goal_xy = goal_xy  # WGS84 -> the robot's map frame (its datum, or its fromLL service)
        self.clock = clock
        self.link_timeout_s = link_timeout_s
        self.events: Fanout[MissionEvent] = Fanout(_QUEUE_SIZE, name=f"{vehicle_id} mission events")
        self._telemetry = telemetry
        self._goals = goals
        self._mission: Mission | None = None
        self._step: int | None = None
        self._mode = "IDLE"
        self._mission_task: asyncio.Task[None] | None = None
        self._result: asyncio.Future[MissionResult] | None = None
        self._paused = False
        self._replacing = False  # replace_mission() is stopping the mission task: a canceled goal is its doing
        self._resume_event = asyncio.Event()
        self._attempts: dict[int, int] = {}  # leg -> goals sent for it (each under its own id, see ros2_adoption)
        self._drop: tuple[int, asyncio.Future[bool]] | None = None  # the DELIVER step held at its door, the answer

    def view(self) -> MissionView:
        """What a telemetry snapshot says about the mission (mode, running, id, step)."""
        return MissionView(
            self._mode, self.running, self._mission.mission_id if self._mission else None, self._step
        )

    def emit_event(self, step_index: int, what: str, detail: str = "") -> None:
        """Publish an event of the current mission, at the robot's newest map position."""
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
        self.events.publish(event)

    def on_link_lost(self, silent_s: float) -> None:
        """The link watchdog saw `silent_s` seconds of silence: a running mission fails with LinkLost."""
        if self.running:
            self.fail(
                LinkLost(
                    self.vehicle_id,
                    "navigate_to_pose",
                    f"no message from {self.namespace} for {silent_s:.1f} s (link timeout {self.link_timeout_s} s)",
                )
            )

    @property
    def running(self) -> bool:
        """Whether a mission has started and not ended."""
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

    async def start_mission(self, mission: Mission) -> None:
        """Validate, send the first leg and return once the robot accepted it (GoalRejected if not).

        Raises MissionBusy while a mission runs, CommandRefused for a step a robot cannot do.
        """
        if self.running:
            raise MissionBusy(
                self.vehicle_id,
                "start_mission",
                f"mission {self._mission.mission_id if self._mission else '?'} is running; "
                "replace_mission() switches the robot to a new one",
            )
        self._validate(mission, "start_mission")
        await self._begin(mission)

    async def replace_mission(self, mission: Mission) -> None:
        """Cancel the running goal and go on with `mission`'s goals from where the robot is.

        The old mission ends CANCELED ("replaced by mission ..."); returns once the robot accepted the
        new mission's first goal. Raises NoMissionRunning when no mission runs, CommandRefused when the
        new mission is invalid or the robot refuses to cancel its goal (the old mission then runs on),
        GoalRejected when the robot, its old goal canceled, rejects the new first goal (it then holds
        where it is and the old mission ends CANCELED all the same).
        """
        call = "replace_mission"
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

    async def adopt(self, mission: Mission, adoption: LegAdoption, *, attempts: dict[int, int] | None = None) -> None:
        """Follow `mission`, which the robot runs for a process that is gone (`adoption` RUNNING, see ros2_adoption).

        The running leg's goal is followed by its id, never sent again; the steps after it run as usual.
        Raises MissionBusy while a mission of this adapter runs.
        """
        if self.running:
            raise MissionBusy(self.vehicle_id, "adopt_mission",
                              f"mission {self._mission.mission_id if self._mission else '?'} is running")
        start = adoption.follow.step_index if adoption.follow is not None else adoption.next_step
        if start is None:
            raise CommandRefused(self.vehicle_id, "adopt_mission", f"{adoption.report.detail}: nothing to follow")
        self._validate(mission, "adopt_mission")
        if adoption.follow is not None:
            attempts = {**(attempts or {}), adoption.follow.step_index: adoption.follow.attempt + 1}
        await self._begin(mission, start=start, follow=adoption.follow, attempts=attempts)

    async def _begin(
        self, mission: Mission, *, start: int = 0, follow: LegGoal | None = None,
        attempts: dict[int, int] | None = None,
    ) -> None:
        """Make `mission` current and run it from step `start`; returns once its first goal is accepted (or it
        first waits, or the goal `follow` is being followed)."""
        loop = asyncio.get_running_loop()
        self._mission, self._step, self._telemetry.progress = mission, start, None
        self._paused = False
        self._attempts = dict(attempts or {})
        self._result = loop.create_future()
        begun: asyncio.Future[None] = loop.create_future()
        self._mission_task = asyncio.create_task(self._run_mission(mission, begun, start, follow),
                                                 name=f"{self.vehicle_id}-mission")
        await begun

    async def _run_mission(
        self, mission: Mission, begun: asyncio.Future[None], start: int, follow: LegGoal | None,
    ) -> None:
        index = start
        try:
            while index < len(mission.steps):
                step = mission.steps[index]
                self._step = index
                await self._wait_unpaused()
                if step.kind in _NAVIGATION_STEPS:
                    if follow is not None and follow.step_index == index:
                        status = await self._follow(index, step, follow, begun)
                        follow = None  # a leg paused meanwhile is sent again as a new goal
                    else:
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
                if step.kind is StepKind.DELIVER and (
                        not step.confirm_release or await self._drop_decision(index, step)):
                    await self._open_compartment(index, step)
                self.emit_event(index, "step_reached", step.kind.value)
                index += 1
            self._finish(MissionOutcome.SUCCEEDED, index)
        except AdapterError as exc:
            rejected_at_start = not begun.done()
            if rejected_at_start:
                begun.set_exception(exc)  # start_mission raises it
            self.fail(exc)
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

    def fail(self, error: AdapterError) -> None:
        """End the running mission with `error` (wait_mission raises it) and stop following it."""
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

    async def _target_xy(self, step: MissionStep) -> tuple[float, float]:
        if step.kind is StepKind.RETURN:
            if self._telemetry.home_xy is None:
                raise CommandRefused(self.vehicle_id, "navigate_to_pose", "home position not known")
            return self._telemetry.home_xy
        if step.latitude_deg is None or step.longitude_deg is None:
            raise CommandRefused(self.vehicle_id, "navigate_to_pose", f"{step.kind.value} step without a position")
        return await self.goal_xy(step.latitude_deg, step.longitude_deg)

    async def _navigate(self, index: int, step: MissionStep, begun: asyncio.Future[None]) -> int:
        """Send one NavigateToPose goal and wait for its end; returns the GoalStatus (aborts raise)."""
        x_m, y_m = await self._target_xy(step)
        start_xy = self._telemetry.map_xy
        where = f"step {index} ({step.kind.value}) to ({x_m:.1f}, {y_m:.1f}) m in {MAP_FRAME_ID}"
        attempt = self._attempts.get(index, 0)
        self._attempts[index] = attempt + 1
        mission_id = self._mission.mission_id if self._mission else ""
        handle = await self._goals.send(
            x_m, y_m, facing_from=self._telemetry.map_xy, where=where,
            on_feedback=lambda message: self._telemetry.on_feedback(message, self._step),
            goal_id=leg_goal_id(mission_id, index, attempt),
        )  # fmt: skip
        self.emit_event(index, "goal_accepted", where)
        return await self._await_leg(index, handle, where, start_xy, (x_m, y_m), begun)

    async def _follow(self, index: int, step: MissionStep, goal: LegGoal, begun: asyncio.Future[None]) -> int:
        """Wait for the end of the goal another process sent for this leg; returns its GoalStatus."""
        x_m, y_m = await self._target_xy(step)
        where = f"step {index} ({step.kind.value}) to ({x_m:.1f}, {y_m:.1f}) m in {MAP_FRAME_ID}, adopted goal"
        handle = self._goals.follow(goal.goal_id)
        self.emit_event(index, "goal_adopted", where)
        return await self._await_leg(index, handle, where, self._telemetry.map_xy, (x_m, y_m), begun)

    async def _await_leg(
        self, index: int, handle: object, where: str, start_xy: tuple[float, float] | None,
        target_xy: tuple[float, float], begun: asyncio.Future[None],
    ) -> int:
        """The end of an accepted leg goal (its GoalStatus; aborts raise), within the leg timeout."""
        self._mode = "NAVIGATING"
        self._settle(begun)
        if self._paused:  # pause() arrived while the goal was on its way
            await self._goals.cancel()
        mission_id = self._mission.mission_id if self._mission else ""
        limit_s = self.leg_timeout.for_leg(start_xy, target_xy)
        try:
            return await asyncio.wait_for(
                self._goals.result(handle, where=where, mission_id=mission_id, step_index=index),
                self.clock.wall_s(limit_s),
            )
        except TimeoutError:
            with contextlib.suppress(AdapterError):
                await self._goals.cancel()  # the robot may still be driving it: stop it before the mission fails
            raise AdapterTimeout(self.vehicle_id, "navigate_to_pose",
                                 f"{where}: no result within {limit_s:.0f} s (leg timeout)") from None

    async def _drop_decision(self, index: int, step: MissionStep) -> bool:
        """At the door of DELIVER step `index`: wait for `confirm_drop`; no answer in time keeps the parcel in."""
        self._mode = "AT_DROP"
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._drop = (index, answer)
        self.emit_event(index, "at_drop", step.order_id or "")
        try:
            return await asyncio.wait_for(answer, max(self.clock.wall_s(DROP_DECISION_TIMEOUT_S),
                                                      DROP_DECISION_MIN_WALL_S))
        except TimeoutError:
            logger.warning("%s: no drop decision for step %d within %.0f s: parcel kept in, going on",
                           self.vehicle_id, index, DROP_DECISION_TIMEOUT_S)
            return False
        finally:
            self._drop = None

    def confirm_drop(self, mission_id: str, step_index: int, *, release: bool) -> None:
        """The answer for the door the robot waits at: open the compartment, or keep the parcel and go on."""
        call = f"confirm_drop({mission_id!r}, {step_index}, release={release})"
        drop = self._drop
        if self._mission is None or self._mission.mission_id != mission_id:
            raise NoMissionRunning(self.vehicle_id, call, f"mission {mission_id!r} is not the one running")
        if drop is None or drop[0] != step_index or drop[1].done():
            raise CommandRefused(self.vehicle_id, call, f"not holding at the drop of step {step_index}")
        drop[1].set_result(release)

    async def _open_compartment(self, index: int, step: MissionStep) -> None:
        self._mode = "DELIVERING"
        message = await self._goals.open_compartment(index)
        self.emit_event(index, "compartment_opened", f"order {step.order_id or '-'}: {message}")

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
        if not self.running:
            raise CommandRefused(self.vehicle_id, "pause", "no mission is running")
        if self._paused:
            return
        self._paused = True
        self._resume_event.clear()
        self._mode = "PAUSED"
        await self._goals.cancel()
        self.emit_event(self._step or 0, "paused")

    async def resume(self) -> None:
        """Continue a paused mission from the leg it was on."""
        if not self._paused or not self.running:
            raise CommandRefused(self.vehicle_id, "resume", "the mission is not paused")
        self._paused = False
        self._resume_event.set()
        self.emit_event(self._step or 0, "resumed")

    async def _abandon(self, why: str) -> None:
        """End the running mission as CANCELED and stop the robot."""
        if not self.running:
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
        if self._telemetry.home_xy is None:
            raise CommandRefused(self.vehicle_id, "return_home", "home position not known yet")
        previous = self._mission.mission_id if self._mission else "robot"
        await self._abandon("abandoned: returning home")
        await self.start_mission(Mission(f"{previous}-return-home", (MissionStep(StepKind.RETURN),)))

    async def land(self) -> None:
        """A robot has nothing to land: stop where it is (cancel the goal, end the mission CANCELED)."""
        await self._abandon("stopped by operator")

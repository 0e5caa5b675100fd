"""A drone's running mission as the autopilot reports it: steps reached, parcels released, failsafes, the end.

Fed by MISSION_ITEM_REACHED / MISSION_CURRENT and by the heartbeat (mode changes, disarm): a step
is reached when the last item of its plan is; a drone holding over a drop for the fleet manager's decision
(its NAV_LOITER_UNLIM item current) is announced once as `at_drop`; a DO_GRIPPER item counts as released
once the mission has moved past it, unless the fleet manager had the drone skip it; a failsafe mode
the adapter did not ask for is reported with the STATUSTEXT that came with it; the mission ends
SUCCEEDED when its last step is reached in the air, or at the disarm after RETURN/LAND (any disarmed
heartbeat of a started run, not only a change from armed), CANCELED
after return_home()/land()/a replacement, FAILED otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from mission_planner.clock import Clock

from .base import LinkStatus, Mission, MissionEvent, MissionOutcome, MissionResult, StepKind
from .fanout import Fanout
from .mavlink_codec import MissionPlan, mode_name
from .mavlink_commands import MavlinkCommands
from .mavlink_session import MavlinkSession
from .mavlink_telemetry import TelemetryData

logger = logging.getLogger(__name__)

# Modes the autopilot switches to on its own in a failsafe (fence, battery, GCS/RC loss, EKF).
_FAILSAFE_MODES = frozenset({"RTL", "LAND", "SMART_RTL", "BRAKE", "AUTO_RTL"})
_DISARM_GRACE_S = 1.0  # MISSION_ITEM_REACHED of the last item may trail the disarm heartbeat
_FAILSAFE_TEXT_S = 3.0  # STATUSTEXT this recent explains a failsafe mode change


@dataclass
class MissionRun:
    """One mission flown by the vehicle, and how far it got."""

    mission: Mission
    plan: MissionPlan
    result: asyncio.Future[MissionResult]
    steps_completed: int = 0
    released: set[int] = field(default_factory=set)
    withheld: set[int] = field(default_factory=set)  # gripper items jumped over: the parcel stayed aboard
    announced_holds: set[int] = field(default_factory=set)  # drop holds reported as `at_drop`
    cancel_reason: str = ""
    failsafe_reason: str = ""
    started: bool = False
    ending: bool = False  # a disarm was heard: the end is being settled after the grace


class MissionProgress:
    """Follows the current `run` and publishes its events."""

    def __init__(
        self,
        session: MavlinkSession,
        telemetry: TelemetryData,
        commands: MavlinkCommands,
        events: Fanout[MissionEvent],
        clock: Clock,
    ) -> None:
        self._session = session
        self._telemetry = telemetry
        self._commands = commands
        self._events = events
        self._clock = clock
        self.run: MissionRun | None = None

    def handlers(self) -> dict[str, Any]:
        """Message type -> handler, for the adapter's message router."""
        return {"MISSION_CURRENT": self.on_mission_current, "MISSION_ITEM_REACHED": self.on_item_reached}

    def adopt(self, mission: Mission, plan: MissionPlan, seq: int) -> MissionRun:
        """Follow `mission`, which the vehicle is already flying at item `seq` (after a restart of ours).

        Steps whose last item is behind `seq` are done and gripper items behind it released; no
        events are published for them (the caller settles what happened while nobody listened).
        """
        run = self.new_run(mission, plan)
        run.started = True
        run.steps_completed = steps_done_before(plan, seq)
        run.released = {s for s in plan.gripper_seqs if s < seq}
        self.run = run
        return run

    def new_run(self, mission: Mission, plan: MissionPlan) -> MissionRun:
        """A run for `mission` (not yet current: the caller makes it so)."""
        return MissionRun(mission, plan, asyncio.get_running_loop().create_future())

    def active(self) -> MissionRun | None:
        """The run whose result is still open, if any."""
        run = self.run
        return run if run is not None and not run.result.done() else None

    def current_step(self) -> int:
        """Index of the mission step the vehicle is on (-1 when unknown)."""
        run, seq = self.run, self._telemetry.mission_seq
        if run is None or seq is None or not 0 <= seq < len(run.plan.step_of_seq):
            return -1
        return run.plan.step_of_seq[seq]

    def event(
        self,
        run: MissionRun,
        what: str,
        step_index: int,
        detail: str = "",
        latitude_deg: float | None = None,
        longitude_deg: float | None = None,
    ) -> None:
        """Log and publish one event of `run`."""
        event = MissionEvent(
            run.mission.mission_id, self._clock.now(), step_index, what, detail, latitude_deg, longitude_deg
        )
        logger.info("%s: %s step %d %s", self._session.vehicle_id, what, step_index, detail)
        self._events.publish(event)

    def result(self, run: MissionRun, outcome: MissionOutcome, why: str = "") -> MissionResult:
        """The MissionResult of `run` ending with `outcome`."""
        return MissionResult(run.mission.mission_id, outcome, error_msg=why, steps_completed=run.steps_completed)

    def cancel(self, run: MissionRun, why: str) -> None:
        """End `run` CANCELED now (it was replaced), with its mission_ended event."""
        self.event(run, "mission_ended", run.steps_completed, f"{MissionOutcome.CANCELED.value}: {why}")
        run.result.set_result(self.result(run, MissionOutcome.CANCELED, why))

    def close(self) -> None:
        """The adapter closes: an open run ends UNKNOWN."""
        run = self.active()
        if run is not None:
            run.result.set_result(self.result(run, MissionOutcome.UNKNOWN, "adapter closed before the mission ended"))

    # ------------------------------------------------------------------ what the vehicle reports

    def on_heartbeat(self, was_armed: bool, old_mode: int | None) -> None:
        """A mode change may be a failsafe; a disarm ends the mission (after a grace for trailing messages)."""
        run = self.run
        t = self._telemetry
        if run is None or not run.started or run.result.done() or t.custom_mode is None:
            return
        if old_mode is not None and old_mode != t.custom_mode:
            self._on_mode_change(run, t.custom_mode)
        # Any disarmed heartbeat of a started run ends it, not only the change from armed: a drone a failsafe landed
        # during a radio drop may be heard disarmed first after its run started, and no change would come then.
        if not t.armed and not run.ending:
            run.ending = True
            asyncio.get_running_loop().call_later(_DISARM_GRACE_S, self._finish_after_disarm, run)

    def on_link(self, status: LinkStatus, previous: LinkStatus, why: str) -> None:
        """A running mission reports the link going and coming back."""
        run = self.active()
        if run is None:
            return
        if status is LinkStatus.LOST:
            self.event(run, "link_lost", self.current_step(), why)
        elif previous is LinkStatus.LOST:
            self.event(run, "link_restored", self.current_step(), why)

    def on_mission_current(self, msg: Any) -> None:
        """The item the vehicle is on; a gripper item behind it has released its parcel."""
        self._telemetry.mission_seq = int(msg.seq)
        self._telemetry.mission_state = int(getattr(msg, "mission_state", 0) or 0)
        run = self.run
        if run is not None and run.started and not run.result.done():
            seq = int(msg.seq)
            self._check_release(run, seq - 1)
            # Steps whose items all lie behind the current one are done, reached or not: a drone that flew on
            # through a radio drop (FS_OPTIONS: continue in AUTO) reports MISSION_CURRENT again when the link is back,
            # but the MISSION_ITEM_REACHED of the drop were lost. Without this, a delivery flown and landed wholly
            # inside a drop ended FAILED ("disarmed at step 1") and its parcel went out a second time.
            self._complete_steps(run, steps_done_before(run.plan, seq))
            # A hold nobody follows yet is announced once somebody does: after a restart of ours the adopted
            # mission's runner subscribes only after the adoption, and a drone left waiting for an answer that
            # nobody was asked for would hover until its mission timed out.
            if seq in run.plan.drop_hold_seqs and seq not in run.announced_holds and self._events.subscribers:
                run.announced_holds.add(seq)
                step = run.plan.step_of_seq[seq]
                t = self._telemetry
                self.event(run, "at_drop", step, run.mission.steps[step].order_id or "", t.latitude_deg,
                           t.longitude_deg)

    def on_item_reached(self, msg: Any) -> None:
        """Steps whose last item is reached are done; the last one ends a mission that stays in the air."""
        run = self.run
        if run is None or not run.started or run.result.done():
            return
        seq = int(msg.seq)
        plan = run.plan
        if not 0 < seq < len(plan.items):
            return
        self._check_release(run, seq)
        self._complete_steps(run, steps_done_before(plan, seq + 1))
        if run.steps_completed == len(run.mission.steps) and run.mission.steps[-1].kind not in (
            StepKind.RETURN,
            StepKind.LAND,
        ):
            run.result.set_result(self.result(run, MissionOutcome.SUCCEEDED))

    def _complete_steps(self, run: MissionRun, count: int) -> None:
        """The first `count` steps are done: a step_reached event for each not yet reported."""
        while run.steps_completed < count:
            done = run.steps_completed
            run.steps_completed += 1
            self.event(run, "step_reached", done, run.mission.steps[done].kind.value)

    def _on_mode_change(self, run: MissionRun, custom_mode: int) -> None:
        name = mode_name(custom_mode)
        self.event(run, "mode_changed", self.current_step(), name)
        if custom_mode != self._commands.commanded_mode and name in _FAILSAFE_MODES:
            recent = self._session.texts_within(_FAILSAFE_TEXT_S)
            run.failsafe_reason = f"vehicle switched to {name}" + (f": {'; '.join(recent)}" if recent else "")
            logger.warning("%s: %s", self._session.vehicle_id, run.failsafe_reason)
            self.event(run, "failsafe", self.current_step(), run.failsafe_reason)

    def _check_release(self, run: MissionRun, passed_seq: int) -> None:
        """A DO_GRIPPER item is done once the mission has moved past it."""
        for seq in run.plan.gripper_seqs:
            if passed_seq >= seq and seq not in run.released and seq not in run.withheld:
                run.released.add(seq)
                step = run.plan.step_of_seq[seq]
                t = self._telemetry
                self.event(
                    run,
                    "payload_released",
                    step,
                    run.mission.steps[step].order_id or "",
                    t.latitude_deg,
                    t.longitude_deg,
                )

    def _finish_after_disarm(self, run: MissionRun) -> None:
        run.ending = False
        if run.result.done() or self._telemetry.armed:
            return
        n = len(run.mission.steps)
        last = run.mission.steps[-1].kind
        at_last_item = self._telemetry.mission_seq == len(run.plan.items) - 1
        if run.steps_completed >= n or (
            last in (StepKind.RETURN, StepKind.LAND)
            and at_last_item
            and not run.failsafe_reason
            and not run.cancel_reason
            and run.steps_completed >= n - 1
        ):
            while run.steps_completed < n:
                run.steps_completed += 1
                self.event(run, "step_reached", run.steps_completed - 1, run.mission.steps[-1].kind.value)
            outcome, why = MissionOutcome.SUCCEEDED, ""
        elif run.cancel_reason and not run.failsafe_reason:
            outcome, why = MissionOutcome.CANCELED, run.cancel_reason
        else:
            outcome = MissionOutcome.FAILED
            mode = self._telemetry.mode_name()
            why = run.failsafe_reason or f"vehicle disarmed at step {run.steps_completed} in {mode}"
        self.event(run, "mission_ended", run.steps_completed, f"{outcome.value}: {why}".rstrip(": "))
        run.result.set_result(self.result(run, outcome, why))


def steps_done_before(plan: MissionPlan, seq: int) -> int:
    """How many leading steps of `plan` are complete when the vehicle is on item `seq`."""
    done = 0
    while done < len(plan.last_seq_of_step) and plan.last_seq_of_step[done] < seq:
        done += 1
    return done

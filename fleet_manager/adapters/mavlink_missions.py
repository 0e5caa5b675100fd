"""Flying missions on a MAVLink drone, as MAVSDK's `mission` plugin over `mission_raw`.

Start: fence and mission uploaded and read back, GUIDED, arm, take-off, then AUTO. Replace (the
in-flight re-route): upload, jump to item 1, then the fence, so the drone already heads away from
a new zone when the new fence arrives. Pause/resume/return/land are mode changes (BRAKE, AUTO, RTL,
LAND); what the vehicle then reports is followed by `MissionProgress`.
"""

from __future__ import annotations

import asyncio
import logging

from shapely.geometry import Point
from shapely.geometry import Polygon as ShapelyPolygon

from ..errors import AdapterError, AdapterTimeout, CommandRefused, MissionBusy, NoMissionRunning
from .base import AdoptionReport, Geofence, HeldMission, Mission, MissionOutcome, MissionResult
from .mavlink_codec import COPTER_MODES, FENCE, MISSION, MissionItem, MissionPlan, fence_items, mission_plan
from .mavlink_commands import MavlinkCommands
from .mavlink_link import mavlink
from .mavlink_progress import MissionProgress, steps_done_before
from .mavlink_session import MavlinkSession
from .mavlink_telemetry import TelemetryData
from .mavlink_transfer import MissionTransfer, compare_items

logger = logging.getLogger(__name__)
HOME_WAIT_CLOCK_S = 12.0  # HOME_POSITION is requested every 5 s of the vehicle's clock: two periods and a margin


class MissionFlight:
    """The mission half of the vehicle contract for one drone."""

    def __init__(
        self,
        session: MavlinkSession,
        telemetry: TelemetryData,
        commands: MavlinkCommands,
        transfer: MissionTransfer,
        progress: MissionProgress,
        *,
        enable_fence: bool,
    ) -> None:
        self._session = session
        self._vehicle_id = session.vehicle_id
        self._telemetry = telemetry
        self._commands = commands
        self._transfer = transfer
        self._progress = progress
        self.enable_fence = enable_fence  # DO_FENCE_ENABLE after a fence upload

    async def start_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Upload and verify fence and mission, arm in GUIDED, take off, switch to AUTO.

        A drone that is airborne without a mission (its last one ended in the air) flies the new one
        from where it is. Raises MissionBusy while the drone is armed on a mission that has not ended
        (`replace_mission` switches a flying drone to a new one), AdapterError when it stands disarmed once AUTO
        is set (a failsafe landed it during the start).
        """
        call = f"start_mission({mission.mission_id!r})"
        self._session.require_link(call)
        t = self._telemetry
        running = self._progress.active()
        if running is not None and t.armed:
            raise MissionBusy(
                self._vehicle_id, call,
                f"mission {running.mission.mission_id!r} is still running; replace_mission() switches a flying drone",
            )  # fmt: skip
        if geofence is not None:
            await self._upload_fence(geofence, call)
        plan = await self.upload_mission(mission)
        run = self._progress.new_run(mission, plan)
        self._progress.run = run
        try:
            if not t.airborne():
                # A home an earlier trip pinned (a van-launched drone's recovery stop) is locked: arming would
                # keep it, and an RTL of this trip would fly there. Home is where this trip takes off.
                await self._commands.set_home_here()
                await self._commands.set_mode("GUIDED")
                await self._commands.arm()
                await self._commands.takeoff(plan.takeoff_altitude_m)
                climbed_m = min(1.5, 0.5 * plan.takeoff_altitude_m)
                await self._session.wait_until(
                    lambda: t.relative_altitude_m >= climbed_m,
                    self._session.vehicle_wait_wall(self._session.timeouts.takeoff_clock_s),
                    call,
                    f"vehicle did not climb to {climbed_m:.1f} m after take-off",
                )
            else:
                await self._commands.set_current_item(1, call)
            await self._commands.set_mode("AUTO")
            if not t.armed:
                # A failsafe landed it while the start waited for AUTO (its radio link dropped after the take-off: GCS
                # failsafe, RTL, disarmed). ArduCopter still takes AUTO on the ground, disarmed, so the switch above
                # succeeds; the disarm came before the run started and no other comes, so the run would stay open
                # for good with the drone standing at home (safety day 35, seed 19035: a mission 'running' all day).
                raise AdapterError(self._vehicle_id, call, "the vehicle stands disarmed: a failsafe landed it before "
                                   "the mission could start")
        except BaseException:
            self._progress.run = None
            raise
        run.started = True
        self._progress.event(run, "mission_started", -1, f"{len(plan.items) - 1} items")

    async def replace_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Replace the mission of a flying drone: it flies the new one from where it is, at once.

        Order matters for the autopilot's own fence: the new mission goes up first and is made
        current (ArduCopter keeps flying its in-memory item after an upload until told to jump;
        MAV_CMD_DO_SET_MISSION_CURRENT restarts at item 1), so the drone already heads away when the
        new fence arrives. The old mission then ends CANCELED ("replaced by ...").

        Raises NoMissionRunning when the drone runs no mission, CommandRefused when it is not flying
        (a mission is replaced in the air only) or refuses the upload or the switch: the old mission
        then runs on. A fence refused after the switch raises too; the new mission then flies
        inside the fence the drone already had.
        """
        call = f"replace_mission({mission.mission_id!r})"
        self._session.require_link(call)
        old = self._progress.active()
        if old is None:
            raise NoMissionRunning(self._vehicle_id, call, "no mission is running; start_mission() starts one")
        if not self._telemetry.airborne():
            raise CommandRefused(self._vehicle_id, call, "the vehicle is not flying; missions are replaced in flight")
        plan = await self.upload_mission(mission)
        run = self._progress.new_run(mission, plan)
        self._progress.run = run
        try:
            await self._commands.set_current_item(1, call)
            if self._telemetry.custom_mode != COPTER_MODES["AUTO"]:
                await self._commands.set_mode("AUTO")
        except BaseException:
            self._progress.run = old
            raise
        run.started = True
        if not old.result.done():
            self._progress.cancel(old, f"replaced by mission {mission.mission_id}")
        self._progress.event(run, "mission_started", -1, f"{len(plan.items) - 1} items, in flight")
        if geofence is not None:
            await self._upload_fence(geofence, call)

    async def adopt_mission(self, mission: Mission) -> AdoptionReport:
        """After a restart of ours: is the drone still flying `mission` (as the store kept it)?

        The stored mission items are read back and compared with `mission`'s (ABSENT when they
        differ); MISSION_CURRENT says which item it is on. Armed: RUNNING, followed from that item
        on. Disarmed: ENDED, SUCCEEDED when it got to the last item (or the autopilot says the
        mission is complete), FAILED otherwise (a failsafe landing, say).
        """
        call = f"adopt_mission({mission.mission_id!r})"
        session, t = self._session, self._telemetry
        session.require_link(call)
        wait_wall_s = session.vehicle_wait_wall(session.timeouts.mode_change_clock_s)
        await session.wait_until(lambda: t.mission_seq is not None, wait_wall_s, call, "no MISSION_CURRENT")
        stored = await self._transfer.download_items(MISSION, call=call)
        plan = mission_plan(mission, home=t.home or (t.latitude_deg, t.longitude_deg, 0.0))
        problem = compare_items(plan.items, stored)
        if problem is not None:
            return AdoptionReport(mission.mission_id, HeldMission.ABSENT, detail=f"the drone holds another mission "
                                  f"({problem})")
        seq = t.mission_seq or 0
        where = f"item {seq}/{len(plan.items) - 1} in {t.mode_name()}"
        if t.armed:
            run = self._progress.adopt(mission, plan, seq)
            released = tuple(plan.step_of_seq[s] for s in sorted(run.released))
            return AdoptionReport(mission.mission_id, HeldMission.RUNNING, run.steps_completed, released,
                                  detail=f"armed, {where}")
        complete = t.mission_state == mavlink.MISSION_STATE_COMPLETE or seq >= len(plan.items) - 1
        if complete:
            return AdoptionReport(mission.mission_id, HeldMission.ENDED, len(mission.steps),
                                  tuple(plan.step_of_seq[s] for s in plan.gripper_seqs), MissionOutcome.SUCCEEDED,
                                  detail=f"landed and disarmed, mission complete ({where})")
        if seq <= 1:
            return AdoptionReport(mission.mission_id, HeldMission.ENDED, 0, (), MissionOutcome.FAILED,
                                  detail=f"disarmed before it started ({where})")
        released = tuple(plan.step_of_seq[s] for s in plan.gripper_seqs if s < seq)
        return AdoptionReport(mission.mission_id, HeldMission.ENDED, steps_done_before(plan, seq), released,
                              MissionOutcome.FAILED, detail=f"landed and disarmed before the end ({where})")

    async def set_home(self, latitude_deg: float, longitude_deg: float) -> None:
        """RTL (the autopilot's own failsafes included) goes to this point from now on.

        Home keeps its altitude: the mission's altitudes are relative to home, so moving it up or down would
        shift every waypoint still to fly by the difference in ground height; the landing at the new point
        descends to the ground there (and with RTL_ALT_TYPE=1 the way there keeps its height above terrain).
        """
        call = f"set_home({latitude_deg:.6f}, {longitude_deg:.6f})"
        session, t = self._session, self._telemetry
        session.require_link(call)
        # HOME_POSITION is streamed at 0.2 Hz: a link opened just now (a restart's reconciliation) has not had it
        await session.wait_until(lambda: t.home is not None, session.vehicle_wait_wall(HOME_WAIT_CLOCK_S), call,
                                 "the vehicle reported no home")
        home = t.home
        if home is None:
            raise AdapterError(self._vehicle_id, call, "the vehicle has reported no home yet")
        await self._commands.set_home(latitude_deg, longitude_deg, home[2])

    async def confirm_drop(self, mission_id: str, step_index: int, *, release: bool) -> None:
        """The drone holds over the drop of DELIVER step `step_index`: descend and release, or keep the parcel.

        Either is a jump in the stored mission (DO_SET_MISSION_CURRENT, which ArduCopter starts at once in
        AUTO): to the descent, or past the gripper to the climb. Refused unless the drone is in AUTO on that
        hold, so a drone a failsafe took away never goes back to the door on a late answer.
        """
        call = f"confirm_drop({mission_id!r}, {step_index}, release={release})"
        self._session.require_link(call)
        run = self._progress.active()
        if run is None or run.mission.mission_id != mission_id:
            raise NoMissionRunning(self._vehicle_id, call, f"mission {mission_id!r} is not the one running")
        items = run.plan.drop_items(step_index)
        if items is None:
            raise CommandRefused(self._vehicle_id, call, f"step {step_index} does not hold for a decision")
        hold, descent, climb = items
        t = self._telemetry
        if t.mission_seq != hold or t.custom_mode != COPTER_MODES["AUTO"]:
            raise CommandRefused(self._vehicle_id, call,
                                 f"not holding at the drop (item {t.mission_seq}, {t.mode_name()}); hold is {hold}")
        if not release:  # before the jump: MISSION_CURRENT past the gripper must not count as a release
            run.withheld.add(climb - 1)
        await self._commands.set_current_item(descent if release else climb, call)

    async def wait_mission(self, timeout_s: float) -> MissionResult:
        """Wait until the mission ends (landed and disarmed, or its last item reached airborne).

        `timeout_s` is in seconds of the adapter's clock; raises AdapterTimeout when it passes.
        """
        run = self._progress.run
        if run is None:
            raise AdapterError(self._vehicle_id, "wait_mission()", "no mission was started")
        try:
            return await asyncio.wait_for(asyncio.shield(run.result), self._session.clock_to_wall(timeout_s))
        except TimeoutError:
            raise AdapterTimeout(
                self._vehicle_id,
                "wait_mission()",
                f"mission {run.mission.mission_id!r} still running after {timeout_s:.0f} s "
                f"(step {run.steps_completed}/{len(run.mission.steps)}, mode {self._telemetry.mode_name()})",
            ) from None

    async def pause(self) -> None:
        """Stop and hold where the vehicle is (BRAKE)."""
        await self._commands.set_mode("BRAKE")

    async def resume(self) -> None:
        """Continue the mission from where it stopped (AUTO)."""
        if self._progress.run is None:
            raise AdapterError(self._vehicle_id, "resume()", "no mission to resume")
        await self._commands.set_mode("AUTO")

    async def return_home(self) -> None:
        """Abandon the mission and return to launch (RTL); the mission then ends CANCELED."""
        run = self._progress.active()
        if run is not None:
            run.cancel_reason = "returned home on request"
        await self._commands.set_mode("RTL")

    async def land(self) -> None:
        """Land where the vehicle is (LAND); the mission then ends CANCELED."""
        run = self._progress.active()
        if run is not None:
            run.cancel_reason = "landed on request"
        await self._commands.set_mode("LAND")

    async def upload_mission(self, mission: Mission) -> MissionPlan:
        """Convert, upload and read back `mission`; returns the items and their step mapping."""
        t = self._telemetry
        plan = mission_plan(mission, home=t.home or (t.latitude_deg, t.longitude_deg, 0.0))
        await self._transfer.upload_items(plan.items, MISSION, call=f"upload_mission({mission.mission_id!r})")
        return plan

    async def upload_geofence(self, geofence: Geofence) -> tuple[MissionItem, ...]:
        """Convert, upload and read back a geofence (MAV_MISSION_TYPE_FENCE)."""
        items = fence_items(geofence)
        await self._transfer.upload_items(items, FENCE, call="upload_geofence()")
        return items

    async def update_geofence(self, geofence: Geofence) -> None:
        """Upload and enable a new fence now, mission or not (a zone published while the drone flies)."""
        self._session.require_link("update_geofence()")
        await self._upload_fence(geofence, "update_geofence()")

    async def _upload_fence(self, geofence: Geofence, call: str) -> None:
        fence = self._fence_for_here(geofence)
        await self.upload_geofence(fence)
        if self.enable_fence and (fence.polygons or fence.circles):
            await self._commands.enable_fence(call)

    def _fence_for_here(self, geofence: Geofence) -> Geofence:
        """The fence without exclusions the flying drone is inside: a breach there would only trigger RTL
        straight through the zone; the drone's mission leads it out and the monitors watch it."""
        t = self._telemetry
        if not t.airborne() or not t.position_valid():
            return geofence
        here = Point(t.longitude_deg, t.latitude_deg)
        kept = []
        for polygon in geofence.polygons:
            if not polygon.inclusion and len(polygon.vertices) >= 3 and ShapelyPolygon(
                [(lon, lat) for lat, lon in polygon.vertices]
            ).covers(here):
                logger.warning("%s: fence exclusion around the drone's position left out of the upload",
                               self._vehicle_id)
                continue
            kept.append(polygon)
        circles = []
        for circle in geofence.circles:
            inside = t.distance_m(circle.latitude_deg, circle.longitude_deg) <= circle.radius_m
            if not circle.inclusion and inside:
                logger.warning("%s: fence exclusion circle around the drone left out of the upload", self._vehicle_id)
                continue
            circles.append(circle)
        return Geofence(polygons=tuple(kept), circles=tuple(circles))

"""Which vehicle runs which mission: start a runner per sortie, replace or give up a mission in flight.

This is the narrow interface the safety monitors and the re-router use (`running_mission`,
`pending_drop`, `replace_mission`, `abandon`), and what the planning cycle asks before planning
(`is_busy`, `claimed`, `avoided_by`). The steps of each mission are followed by a
`MissionRunner`; the order records by `OrderLifecycle`; the van's launch and recovery of the
drones it carries by `VanChoreography`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mission_planner.clock import Clock

from .adapters.base import Geofence, Mission, MissionOutcome, StepKind
from .domain.errors import Conflict, NotFound
from .fleet import Fleet, FleetVehicle
from .mission_runner import MissionRunner, RunningMission
from .order_lifecycle import OrderLifecycle
from .sorties import Handoff, Sortie
from .van_choreography import VanChoreography

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MissionConfig:
    """Timing of missions; durations are seconds of the fleet clock."""

    mission_timeout_s: float = 3 * 3600.0
    avoid_after_failure_s: float = 1800.0  # a vehicle that failed an order is not given it again for this long
    refused_pause_s: float = 300.0  # a vehicle that refused a mission is left alone this long (often transient)
    # A van holds at a launch stop for its vehicle's planned launch time plus this margin at most: past it the launch
    # is given up (the vehicle back aboard, its parcels planned again) and the van drives on. At a recovery stop it
    # waits the plan's wait plus this margin (or the vehicle's way back, if longer), then leaves it and drives on.
    launch_hold_margin_s: float = 300.0


class MissionControl:
    """The missions of one hub's vehicles: started, followed, replaced, given up."""

    def __init__(
        self, *, fleet: Fleet, lifecycle: OrderLifecycle, clock: Clock,
        geofence_for: Callable[[FleetVehicle], Geofence], on_vehicle_free: Callable[[], None],
        config: MissionConfig | None = None,
        zones_crossed: Callable[[FleetVehicle, Mission], Awaitable[list[str]]] | None = None,
    ) -> None:
        """`zones_crossed(vehicle, mission)`: blocking zones in force now that a drone mission would cross
        (checked just before it starts: a zone published since the plan was made sends it back to planning)."""
        self.fleet = fleet
        self.lifecycle = lifecycle
        self.clock = clock
        self.geofence_for = geofence_for
        self.zones_crossed = zones_crossed
        self.config = config or MissionConfig()
        self.choreography = VanChoreography(self)
        self.running: dict[str, RunningMission] = {}  # vehicle_id -> mission
        self.claimed: set[str] = set()  # orders on a mission (or on a drone trip a van will launch)
        self.riding: set[str] = set()  # drones and robots out with their van's sortie (aboard or launched from it)
        self._on_vehicle_free = on_vehicle_free
        self._avoid: dict[str, dict[str, float]] = {}  # order -> vehicle -> until (clock s), after a failure
        self._tasks: set[asyncio.Task[None]] = set()
        self._replacing: dict[str, asyncio.Lock] = {}  # vehicle -> one replace_mission at a time
        # how a drone whose mission timed out is brought in (the runtime sets the rerouter's terrain-safe recall)
        self.recall_drone: Callable[[FleetVehicle], Awaitable[None]] | None = None
        # the monitors' reaction to zones a drone's mission crosses (the runtime sets it): for zones published
        # while a start was under way, which the drone's mission and fence do not hold
        self.react_to_zones: Callable[[str, list[str]], None] | None = None

    # ----- what the planning cycle asks --------------------------------------------------------------
    def is_busy(self, vehicle_id: str) -> bool:
        """On a mission, or riding out with its van."""
        return vehicle_id in self.running or vehicle_id in self.riding

    def avoided_by(self, order_id: str, now_s: float) -> frozenset[str]:
        """Vehicles that failed this order recently (not given it again until the avoidance ends)."""
        return frozenset(v for v, until_s in self._avoid.get(order_id, {}).items() if until_s > now_s)

    # ----- starting and ending --------------------------------------------------------------------------
    async def start(self, sortie: Sortie) -> asyncio.Task[None] | None:
        """Load the sortie's orders and start its runner; None when the orders moved meanwhile."""
        vehicle = self.fleet.get(sortie.vehicle_id)
        mission = sortie.mission
        self.claimed.update(sortie.all_order_ids)
        self.riding.update(h.vehicle_id for h in sortie.handoffs)
        vehicle.mission_id = mission.mission_id
        details: dict[str, Any] = {"mode": sortie.mode.value, "planned_energy_wh": round(sortie.planned_energy_wh, 1),
                                   "cruise_speed_m_s": mission.cruise_speed_m_s, **sortie.details}
        try:
            loaded = await self.lifecycle.load(mission=mission, vehicle_id=vehicle.vehicle_id, mode=sortie.mode,
                                               order_ids=sortie.order_ids, details=details)
        except (Conflict, NotFound) as exc:
            logger.warning("%s: could not prepare %s: %s", vehicle.vehicle_id, mission.mission_id, exc)
            vehicle.mission_id = None
            self.claimed.difference_update(sortie.all_order_ids)
            self.riding.difference_update(h.vehicle_id for h in sortie.handoffs)
            return None
        running = RunningMission.from_details(vehicle, mission, sortie.mode, loaded, sortie.details,
                                              handoffs=sortie.handoffs, planned_end_s=sortie.planned_end_s,
                                              payload_kg=sortie.payload_kg)
        self.running[vehicle.vehicle_id] = running
        task = asyncio.create_task(MissionRunner(self, running, sortie).run(), name=f"mission-{mission.mission_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def adopt(self, running: RunningMission) -> asyncio.Task[None]:
        """Follow a mission the vehicle was already running when we (re)started: see `reconcile`."""
        vehicle = running.vehicle
        vehicle.mission_id = running.mission.mission_id
        vehicle.order_ids = tuple(running.order_ids)
        self.claimed.update(running.order_ids)
        self.running[vehicle.vehicle_id] = running
        running.departed.set()
        task = asyncio.create_task(MissionRunner(self, running, None).run(),
                                   name=f"mission-{running.mission.mission_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def refused(self, running: RunningMission, why: str) -> None:
        """The vehicle refused the mission before leaving: its orders go back, the vehicle rests a while."""
        self._avoid_for(running.order_ids, running.vehicle.vehicle_id)
        await self.lifecycle.refused(mission_id=running.mission.mission_id, order_ids=running.order_ids, why=why)
        vehicle = running.vehicle
        vehicle.out_of_service = f"refused mission: {why}"[:200]
        # A refusal is often transient (EKF settling, previous mission still closing): retry later.
        asyncio.get_running_loop().call_later(
            self.clock.wall_s(self.config.refused_pause_s), lambda: setattr(vehicle, "out_of_service", ""))

    async def withdrawn(self, running: RunningMission, why: str) -> None:
        """The mission is not started after all (its plan is stale): its orders go back to be planned again."""
        await self.lifecycle.refused(mission_id=running.mission.mission_id, order_ids=running.order_ids, why=why)

    async def settle(self, running: RunningMission, outcome: MissionOutcome, *, why: str = "") -> None:
        """The mission is over: records settled; a failed vehicle is not handed its parcels straight back."""
        aboard = running.aboard
        if outcome is not MissionOutcome.SUCCEEDED:
            self._avoid_for(aboard, running.vehicle.vehicle_id)
        await self.lifecycle.settle(mission_id=running.mission.mission_id, outcome=outcome, aboard=aboard, why=why)

    async def finished(self, running: RunningMission) -> None:
        """The runner is done: the vehicle is free again (a van unloads what it still carries)."""
        vehicle = running.vehicle
        self.running.pop(vehicle.vehicle_id, None)
        vehicle.mission_id = None
        vehicle.order_ids = ()
        self.claimed.difference_update(running.order_ids)
        if running.handoffs or running.handoff_tasks:
            await self.choreography.end(running)
        self._on_vehicle_free()

    def release_handoff(self, handoff: Handoff, *, vehicle_free: bool = False) -> None:
        """A carried vehicle's trip that will not happen: its orders are planned again. The vehicle stays with its
        van (it is aboard) until the van is back, unless `vehicle_free` (it never left the hub)."""
        self.claimed.difference_update(handoff.sortie.order_ids)
        if vehicle_free:
            self.riding.discard(handoff.vehicle_id)
        self._on_vehicle_free()

    def _avoid_for(self, order_ids: list[str], vehicle_id: str) -> None:
        until_s = self.clock.now() + self.config.avoid_after_failure_s
        for order_id in order_ids:
            self._avoid.setdefault(order_id, {})[vehicle_id] = until_s

    async def stop(self) -> None:
        """Cancel every runner (the service is stopping; the vehicles keep what they were doing)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ----- in flight (the monitors' and the re-router's interface) ------------------------------------
    def running_mission(self, vehicle_id: str) -> RunningMission | None:
        """The mission a vehicle is running, if any."""
        return self.running.get(vehicle_id)

    def van_launched(self, vehicle_id: str) -> bool:
        """The vehicle flies a mission a van launched it on (it ends beside the van), not one from the hub."""
        running = self.running.get(vehicle_id)
        return running is not None and running.launched_from is not None

    def planned_back_s(self, vehicle_id: str) -> float:
        """When the plan has a vehicle on a mission back (inf when it is on none, or the plan did not say)."""
        running = self.running.get(vehicle_id)
        return running.planned_end_s if running is not None else math.inf

    def return_point(self, vehicle: FleetVehicle) -> tuple[float, float]:
        """(lat, lon) a RETURN of the vehicle's mission flies to: where its van set it down, else its home (hub)."""
        running = self.running.get(vehicle.vehicle_id)
        if running is not None and running.launched_at is not None:
            return running.launched_at
        return vehicle.home_latitude_deg, vehicle.home_longitude_deg

    def pending_drop(self, vehicle_id: str) -> tuple[str, float, float] | None:
        """(order_id, lat, lon) of the next parcel a running vehicle has not handed over yet."""
        running = self.running.get(vehicle_id)
        if running is None:
            return None
        for step in running.mission.steps:
            if (step.kind is StepKind.DELIVER and step.order_id in running.order_ids
                    and step.order_id not in running.resolved and step.latitude_deg is not None
                    and step.longitude_deg is not None):
                return step.order_id, step.latitude_deg, step.longitude_deg
        return None

    async def replace_mission(self, vehicle: FleetVehicle, mission: Mission,
                              step_origin: tuple[int | None, ...] | None = None) -> None:
        """Send a new mission to a vehicle already on one; its parcels stay with the running record.

        `step_origin`: per step of `mission`, the step of the vehicle's first mission it stands for (a van's
        launch and recovery stops are waited for by those indices); None when the steps are not mapped.

        The old mission is marked superseded *before* the adapter switches (its CANCELED end must not
        settle the run), the new one is stored as running and the old one canceled (the dashboard
        draws the new route). Raises AdapterError when the vehicle refuses; the old mission then runs on.

        Calls for one vehicle go one after the other: two at once (a zone reaction and a geofence recall in one
        monitor pass, found on the safety days) both took the running mission as the one they replaced, so the first
        replacement was never marked replaced: it stayed 'running' in the store for good, and the adapter, whose
        second switch also took the original as the one replaced, never ended the first replacement's run.
        """
        async with self._replacing.setdefault(vehicle.vehicle_id, asyncio.Lock()):
            running = self.running.get(vehicle.vehicle_id)
            old = running.mission if running is not None else None
            if running is not None and old is not None:
                running.superseded_ids.add(old.mission_id)
            try:
                await vehicle.adapter.replace_mission(mission, geofence=self.geofence_for(vehicle))
            except BaseException:
                if running is not None and old is not None and running.mission is old:
                    running.superseded_ids.discard(old.mission_id)
                raise
            if running is None or old is None:
                return
            vehicle.mission_id = mission.mission_id
            running.mission = mission
            running.step_origin = step_origin
            await self.lifecycle.replaced(old_mission_id=old.mission_id, mission=mission,
                                          vehicle_id=vehicle.vehicle_id, mode=running.mode, order_ids=running.aboard)

    def abandon(self, vehicle_id: str, why: str) -> bool:
        """Give up a vehicle's running mission (lost for good): its parcels are replanned. False if none."""
        running = self.running.get(vehicle_id)
        if running is None or running.abandoned.is_set():
            return False
        logger.warning("%s: abandoning mission %s (%s)", vehicle_id, running.mission.mission_id, why)
        running.abandoned_why = why
        running.abandoned.set()
        return True


"""A van and the drones and robots it carries: load at the hub, launch at one stop, recover at the same or a
later one (or let a drone fly home to the hub on its own), unload when back.

One `fly` task per carried trip runs beside the van's mission. When the van reports the launch
stop, the choreography holds the van there (a pause: the hand-over at the door goes on, only the
drive on waits), sets the vehicle down, starts the vehicle's own mission and lets the van drive
on. When the van reports the recovery stop, it holds the van again until the vehicle is back
beside it — so the van waits only when the vehicle is not there yet — takes it aboard and lets
the van go. Holds are counted per van: two vehicles handled at one stop keep the van until both
are done. A vehicle that cannot be loaded or launched releases its orders to the next planning
cycle; one that cannot be recovered is left out of service where it stands.

Every step is an event in the outbox (`vehicle.loaded`, `vehicle.launched`, `vehicle.recovered`,
`vehicle.recovery_failed`, `vehicle.launch_given_up` (the vehicle had not set out within the van's hold at the
launch stop: its parcels are planned again), `vehicle.battery_swapped` (a charged pack from the van's spares),
`vehicle.unloaded`, `vehicle.returned_to_hub` (a drone the plan sent home from its last drop is back at the hub):
van, vehicle, stop, position), so the live stream (dashboard) and the webhooks see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pyproj import Geod

from .adapters.base import Carrier, HomeSetting, StepKind, VehicleKind, VehicleState
from .errors import AdapterError
from .fleet import FleetVehicle
from .mission_runner import RunningMission
from .sorties import AT_HUB_M, Handoff

if TYPE_CHECKING:
    from .mission_control import MissionControl

logger = logging.getLogger(__name__)

# A vehicle whose mission has ended may still be on its way to the van (an RTL or a recall that ends in the air, a
# robot's last metres) and a drone disarms a moment after landing: recovery is retried for the time, on the vehicles'
# clock, it needs to come the distance it stood from the van at its own speed, plus a settling time. (It was 20 tries
# 0.5 s of wall time apart: 10 s, 200 s of a day at 20x, which left drones still flying back out of service.)
RECOVER_SETTLE_S = 120.0
RECOVER_RETRY_S = 5.0
RECOVER_DETOUR = 1.5  # path over straight distance for a vehicle coming back (a robot on the walkways)
RECOVER_CHECK_S = 30.0  # how often a van held at a recovery stop looks whether its vehicle is still on the move
MOVING_M_S = 0.5  # a vehicle reporting this ground speed or more is on the move
_GEOD = Geod(ellps="WGS84")


class VanChoreography:
    """Load, launch, recover and unload for every van of a `MissionControl`."""

    def __init__(self, control: MissionControl) -> None:
        self.control = control
        self._holds: dict[str, int] = {}  # van -> choreography tasks holding it at its stop
        self._trips: dict[str, asyncio.Task[None]] = {}  # carried vehicle -> its own mission's runner, until recovered
        self._launching: dict[str, asyncio.Lock] = {}  # van -> held while one of its vehicles is being launched
        self._homebound: set[asyncio.Task[None]] = set()  # watchers of drones flying home to the hub (`_home`)

    def holding(self, van_id: str) -> bool:
        """The van is held at a stop (launching or recovering a vehicle): its route must not change now."""
        return self._holds.get(van_id, 0) > 0

    async def load(self, running: RunningMission) -> None:
        """Stow the van's drones and robots at the hub before it leaves; one that cannot be loaded stays home."""
        van = running.vehicle.adapter
        kept: list[Handoff] = []
        loaded: set[str] = set()
        failed: set[str] = set()
        for handoff in running.handoffs:  # a vehicle with several trips this van trip is loaded once
            try:
                if not isinstance(van, Carrier):
                    raise TypeError("its adapter has no load/launch/recover")
                if handoff.vehicle_id in failed:
                    raise AdapterError(running.vehicle.vehicle_id, f"load({handoff.vehicle_id!r})",
                                       "it could not be loaded for an earlier trip")
                if handoff.vehicle_id not in loaded and handoff.vehicle_id not in van.carried:
                    await van.load(handoff.vehicle_id)
                    await self._tell("loaded", running, handoff.vehicle_id, {})
                loaded.add(handoff.vehicle_id)
            except (AdapterError, TypeError) as exc:
                logger.warning("%s: could not load %s: %s", running.vehicle.vehicle_id, handoff.vehicle_id, exc)
                failed.add(handoff.vehicle_id)
                self.control.release_handoff(handoff, vehicle_free=True)
            else:
                kept.append(handoff)
        running.handoffs = tuple(kept)

    async def fly(self, running: RunningMission, handoff: Handoff, after: asyncio.Task[None] | None = None) -> None:
        """One carried trip: launch at its stop, let the van drive on, recover at the stop the plan names.

        `after`: the same vehicle's previous trip of this van trip, which must be over (the vehicle back
        aboard, its pack swapped) before this one launches."""
        launched = False
        try:
            if after is not None:
                await asyncio.wait({after})
            launched = await self._launch(running, handoff)
            if launched and not handoff.to_hub:
                await self._recover_at_stop(running, handoff)
        finally:
            if not launched:
                self.control.release_handoff(handoff)

    async def _launch(self, running: RunningMission, handoff: Handoff) -> bool:
        """Wait for the launch stop, set the vehicle down and start its mission; False when it did not go."""
        van_vehicle = running.vehicle
        van = van_vehicle.adapter
        control = self.control
        if not isinstance(van, Carrier) or not await self._until_reached(running, handoff.launch_step_index):
            return False
        # one launch at a time per van: vehicles set down at one stop start their missions one after the other
        async with self._held(van_vehicle), self._launching.setdefault(van_vehicle.vehicle_id, asyncio.Lock()):
            try:
                await van.launch(handoff.vehicle_id)
            except AdapterError as exc:
                logger.warning("%s: launch of %s failed: %s", van_vehicle.vehicle_id, handoff.vehicle_id, exc)
                return False
            running.launched.add(handoff.vehicle_id)
            position = _position(van_vehicle)
            logger.info("%s launched %s at its stop of %s for %s", van_vehicle.vehicle_id, handoff.vehicle_id,
                        handoff.launch_order_id, ", ".join(handoff.sortie.order_ids))
            meet_at = _meeting_point(handoff, position)
            await self._tell("launched", running, handoff.vehicle_id, {
                **_stop("launch", handoff.launch_order_id, handoff.launch_step_index, position),
                "recovery_stop_order_id": handoff.recovery_order_id, "planned_wait_s": round(handoff.planned_wait_s, 1),
                "recovery_latitude_deg": meet_at[0], "recovery_longitude_deg": meet_at[1],
                "mission_id": handoff.sortie.mission.mission_id, "order_ids": list(handoff.sortie.order_ids)})
            details = {"launched_from": van_vehicle.vehicle_id, "launch_latitude_deg": position[0],
                       "launch_longitude_deg": position[1], "launch_stop_order_id": handoff.launch_order_id,
                       "recovery_stop_order_id": handoff.recovery_order_id}
            task = await control.start(dataclasses.replace(handoff.sortie, details=details))
            if task is None or not await self._departed(running, handoff, task):
                # its orders moved meanwhile, it refused its mission or it did not set out within the van's hold:
                # straight back aboard (the van is held)
                control.release_handoff(handoff)
                await self._recover(running, handoff, at_launch_stop=True, waited_for_vehicle=False)
                return True
            if handoff.to_hub:
                # not the van's to take back: free for the hub's work once its mission is over (it lands there)
                self.control.riding.discard(handoff.vehicle_id)
                watcher = asyncio.create_task(self._home(running, handoff, task),
                                              name=f"home-{handoff.sortie.mission.mission_id}")
                self._homebound.add(watcher)
                watcher.add_done_callback(self._homebound.discard)
            else:
                self._trips[handoff.vehicle_id] = task
        if handoff.to_hub or handoff.recovery_step_index != handoff.launch_step_index:
            await self._home_at_recovery(handoff, meet_at)
        return True

    async def _home(self, van_running: RunningMission, handoff: Handoff, task: asyncio.Task[None]) -> None:
        """A drone flying home to the hub from its last drop: `vehicle.returned_to_hub` once its mission is over and
        it stands at the hub (its own mission's timeout bounds the wait; the van's end does not cancel it)."""
        await asyncio.wait({task})
        vehicle = self.control.fleet.get(handoff.vehicle_id)
        state = vehicle.state()
        if state is None or not state.position_valid or _from_home_m(vehicle, state) > AT_HUB_M:
            logger.warning("%s: mission of %s (launched from %s) is over away from the hub", handoff.vehicle_id,
                           handoff.sortie.mission.mission_id, van_running.vehicle.vehicle_id)
            return
        logger.info("%s is back at the hub from its trip launched by %s", handoff.vehicle_id,
                    van_running.vehicle.vehicle_id)
        await self._tell("returned_to_hub", van_running, handoff.vehicle_id, {
            "launch_stop_order_id": handoff.launch_order_id, "mission_id": handoff.sortie.mission.mission_id,
            "latitude_deg": state.latitude_deg, "longitude_deg": state.longitude_deg})

    async def _home_at_recovery(self, handoff: Handoff, meet_at: tuple[float | None, float | None]) -> None:
        """Arming made the launch stop the drone's home, and the van leaves it: an RTL the drone falls back on
        (a recall it refused, its own battery or GCS failsafe) must fly to where the van will be."""
        vehicle = self.control.fleet.get(handoff.vehicle_id)
        adapter = vehicle.adapter
        latitude_deg, longitude_deg = meet_at
        if vehicle.kind is not VehicleKind.DRONE or not isinstance(adapter, HomeSetting) or latitude_deg is None \
                or longitude_deg is None:
            return
        try:
            await adapter.set_home(latitude_deg, longitude_deg)
        except AdapterError as exc:
            logger.warning("%s: home not moved to the recovery stop of %s (an RTL would fly to the launch stop): "
                           "%s", handoff.vehicle_id, handoff.recovery_order_id, exc)

    async def _departed(self, van_running: RunningMission, handoff: Handoff, task: asyncio.Task[None]) -> bool:
        """Wait (the van held) until the launched vehicle has set out on its mission; False when its runner ended
        first (the vehicle refused the mission: it is still beside the van) or when it has not set out within the
        van's hold (`launch_hold_s`): its start is then given up, so the van does not stand there until a slow
        upload or take-off fails."""
        vehicle_id = handoff.vehicle_id
        running = self.control.running_mission(vehicle_id)
        if running is None:
            return not task.done()
        hold_s = launch_hold_s(van_running, handoff, self.control.config.launch_hold_margin_s)
        departed = asyncio.ensure_future(running.departed.wait())
        try:
            await asyncio.wait({departed, task}, return_when=asyncio.FIRST_COMPLETED,
                               timeout=self.control.clock.wall_s(hold_s))
        finally:
            departed.cancel()
        if running.departed.is_set() or task.done():
            return running.departed.is_set()
        why = (f"had not set out {hold_s:.0f} s after its launch (planned launch time plus "
               f"{self.control.config.launch_hold_margin_s:.0f} s): launch given up, the van drives on")
        logger.warning("%s: %s %s", van_running.vehicle.vehicle_id, vehicle_id, why)
        self.control.abandon(vehicle_id, why)
        await asyncio.wait({task}, timeout=self.control.clock.wall_s(self.control.config.mission_timeout_s))
        await self._tell("launch_given_up", van_running, vehicle_id, {
            "launch_stop_order_id": handoff.launch_order_id, "launch_stop_step_index": handoff.launch_step_index,
            "mission_id": handoff.sortie.mission.mission_id, "order_ids": list(handoff.sortie.order_ids),
            "hold_s": round(hold_s, 1), "why": why})
        return running.departed.is_set()

    async def _recover_at_stop(self, running: RunningMission, handoff: Handoff) -> None:
        """Wait for the recovery stop, hold the van until the vehicle is back beside it, take it aboard."""
        van_vehicle = running.vehicle
        task = self._trips.pop(handoff.vehicle_id, None)
        if task is None:
            return  # already recovered (its trip never started)
        if not await self._until_reached(running, handoff.recovery_step_index):
            await self._left_behind(running, handoff, "the van's mission ended before its recovery stop")
            return
        async with self._held(van_vehicle):
            back = task.done()
            if not back and not await self._came_back(running, handoff, task):
                return
            await self._recover(running, handoff, at_launch_stop=False, waited_for_vehicle=not back)

    async def _came_back(self, running: RunningMission, handoff: Handoff, task: asyncio.Task[None]) -> bool:
        """The van is at the recovery stop first: it waits (the plan said so when planned_wait_s > 0) for the
        vehicle's trip to end, for the plan's wait plus the margin, or the time the vehicle needs to come from
        where it is if that is longer (`recovery_hold_s`); past that, for as long as the vehicle is still on the
        move (its way back from where it then is, again and again: a drone recalled for its battery flies to the
        van). A vehicle not back and no longer moving (stuck, landed elsewhere, holding, its mission never ending)
        is left where it is, out of service, and the van drives on with its own parcels: before, it stood there up
        to the 3 h mission timeout (a 4 h Andorra day: a van with 13 parcels aboard held 2.5 h at one stop)."""
        clock = self.control.clock
        vehicle = self.control.fleet.get(handoff.vehicle_id)
        margin_s = self.control.config.launch_hold_margin_s
        arrived_s = clock.now()
        deadline_s = arrived_s + recovery_hold_s(handoff, margin_s, recovery_patience_s(running.vehicle, vehicle))
        while not task.done():
            now_s = clock.now()
            if now_s >= deadline_s:
                if not _on_the_move(vehicle):
                    break
                deadline_s = now_s + recovery_patience_s(running.vehicle, vehicle)
            await asyncio.wait({task}, timeout=clock.wall_s(min(deadline_s - now_s, RECOVER_CHECK_S)))
        if task.done():
            return True
        why = (f"not back at the recovery stop {clock.now() - arrived_s:.0f} s after the van (planned wait "
               f"{handoff.planned_wait_s:.0f} s plus {margin_s:.0f} s) and not on its way: the van drives on")
        await self._left_behind(running, handoff, why)
        return False

    async def _recover(
        self, running: RunningMission, handoff: Handoff, *, at_launch_stop: bool, waited_for_vehicle: bool
    ) -> None:
        """Take the landed/stopped vehicle back aboard (a drone disarms shortly after landing: retried a while).

        `at_launch_stop`: its trip did not start (refused, orders gone), so it is taken back where it was set down."""
        stop_order_id, stop_step_index = ((handoff.launch_order_id, handoff.launch_step_index) if at_launch_stop
                                          else (handoff.recovery_order_id, handoff.recovery_step_index))
        van_vehicle = running.vehicle
        van = van_vehicle.adapter
        if not isinstance(van, Carrier):
            return
        clock = self.control.clock
        deadline_s = clock.now() + recovery_patience_s(van_vehicle, self.control.fleet.get(handoff.vehicle_id))
        while True:
            try:
                await van.recover(handoff.vehicle_id)
            except AdapterError as exc:
                if clock.now() >= deadline_s:
                    await self._left_behind(running, handoff, str(exc))
                    return
                await clock.sleep(RECOVER_RETRY_S)
            else:
                logger.info("%s recovered %s at its stop of %s%s", van_vehicle.vehicle_id, handoff.vehicle_id,
                            stop_order_id, " (its trip did not start)" if at_launch_stop else "")
                await self._tell("recovered", running, handoff.vehicle_id, {
                    **_stop("recovery", stop_order_id, stop_step_index, _position(van_vehicle)),
                    "launch_stop_order_id": handoff.launch_order_id,
                    "later_stop": stop_step_index != handoff.launch_step_index, "trip_flown": not at_launch_stop,
                    "van_waited": waited_for_vehicle, "planned_wait_s": round(handoff.planned_wait_s, 1),
                    "mission_id": handoff.sortie.mission.mission_id})
                return

    async def swapped(self, running: RunningMission, vehicle_id: str) -> None:
        """The van put a charged pack in a drone it took back aboard (its telemetry shows the new charge)."""
        logger.info("%s swapped the pack of %s aboard", running.vehicle.vehicle_id, vehicle_id)
        await self._tell("battery_swapped", running, vehicle_id, {})

    async def _left_behind(self, running: RunningMission, handoff: Handoff, why: str) -> None:
        van_id = running.vehicle.vehicle_id
        logger.error("%s: could not recover %s: %s", van_id, handoff.vehicle_id, why)
        self.control.fleet.get(handoff.vehicle_id).out_of_service = f"left at a van stop: {why}"[:200]
        await self._tell("recovery_failed", running, handoff.vehicle_id, {
            "recovery_stop_order_id": handoff.recovery_order_id, "why": why[:200]})

    async def end(self, running: RunningMission) -> None:
        """Van back (or its mission over): carried vehicles unloaded, the choreography's tasks ended."""
        van = running.vehicle.adapter
        for task in running.handoff_tasks:
            task.cancel()  # still waiting for a stop the van will not reach: `fly` releases unlaunched trips
        for task in running.handoff_tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        vehicle_ids = {h.vehicle_id for h in running.handoffs} | running.launched
        if isinstance(van, Carrier):
            for vehicle_id in sorted(vehicle_ids & set(van.carried)):
                try:
                    await van.unload(vehicle_id)
                except AdapterError as exc:
                    logger.warning("%s: could not unload %s: %s", running.vehicle.vehicle_id, vehicle_id, exc)
                    stuck = self.control.fleet.get(vehicle_id)
                    stuck.out_of_service = f"stuck in {running.vehicle.vehicle_id}: {exc}"[:200]
                else:
                    await self._tell("unloaded", running, vehicle_id, {})
        running.handoffs = ()
        self.control.riding.difference_update(vehicle_ids)

    # ----- helpers ---------------------------------------------------------------------------------------
    async def _until_reached(self, running: RunningMission, step_index: int) -> bool:
        """Wait until the van reports `step_index`; False when its mission ends first."""
        reached = asyncio.ensure_future(running.reached(step_index).wait())
        ended = asyncio.ensure_future(running.ended.wait())
        try:
            await asyncio.wait({reached, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reached.cancel()
            ended.cancel()
        return running.reached(step_index).is_set()

    @contextlib.asynccontextmanager
    async def _held(self, van_vehicle: FleetVehicle) -> AsyncIterator[None]:
        """Keep the van at its stop (paused) while the block runs; the last hold to end lets it drive on."""
        van_id = van_vehicle.vehicle_id
        self._holds[van_id] = self._holds.get(van_id, 0) + 1
        try:
            if self._holds[van_id] == 1:
                with contextlib.suppress(AdapterError):  # a van that cannot be held: launch/recover say why
                    await van_vehicle.adapter.pause()
            yield
        finally:
            self._holds[van_id] -= 1
            if self._holds[van_id] == 0:
                del self._holds[van_id]
                with contextlib.suppress(AdapterError):
                    await van_vehicle.adapter.resume()

    async def _tell(self, what: str, running: RunningMission, vehicle_id: str, data: dict[str, Any]) -> None:
        """Put a carrying step on the event stream and the webhooks (a failed write is logged, not fatal)."""
        try:
            await self.control.lifecycle.carrying_event(
                what, van_id=running.vehicle.vehicle_id, vehicle_id=vehicle_id,
                data={"van_mission_id": running.mission.mission_id, **data})
        except Exception:
            logger.exception("%s: could not record %s of %s", running.vehicle.vehicle_id, what, vehicle_id)


def launch_hold_s(van_running: RunningMission, handoff: Handoff, margin_s: float) -> float:
    """How long the van may stand at a launch stop for its vehicle to set out: the plan's launch time (the WAIT
    after the launch stop in the van's mission) plus `margin_s`."""
    steps = van_running.mission.steps
    after = handoff.launch_step_index + 1
    planned_s = 0.0
    if after < len(steps) and steps[after].kind is StepKind.WAIT:
        planned_s = float(steps[after].duration_s or 0.0)
    return planned_s + margin_s


def recovery_hold_s(handoff: Handoff, margin_s: float, way_back_s: float) -> float:
    """How long the van may stand at a recovery stop for its vehicle: the plan's wait there plus `margin_s`, or the
    vehicle's way back from where it is (`recovery_patience_s`) when that is longer."""
    return max(handoff.planned_wait_s + margin_s, way_back_s)


def recovery_patience_s(van: FleetVehicle, vehicle: FleetVehicle) -> float:
    """How long (clock s) the van keeps trying to take `vehicle` aboard: its way from where it reports itself to the
    van at its own speed, plus `RECOVER_SETTLE_S` (landing, disarming, the last telemetry)."""
    here, there = van.state(), vehicle.state()
    if here is None or there is None or not there.position_valid:
        return RECOVER_SETTLE_S
    _, _, away_m = _GEOD.inv(here.longitude_deg, here.latitude_deg, there.longitude_deg, there.latitude_deg)
    return RECOVER_SETTLE_S + float(away_m) * RECOVER_DETOUR / max(0.5, vehicle.profile.speed_m_s)


def _from_home_m(vehicle: FleetVehicle, state: VehicleState) -> float:
    """How far (m) the vehicle reports itself from its home (the hub)."""
    _, _, away_m = _GEOD.inv(vehicle.home_longitude_deg, vehicle.home_latitude_deg, state.longitude_deg,
                             state.latitude_deg)
    return float(away_m)


def _on_the_move(vehicle: FleetVehicle) -> bool:
    """The vehicle reports itself moving (a drone armed and flying along, a robot driving)."""
    state = vehicle.state()
    if state is None or not state.position_valid:
        return False
    if vehicle.kind is VehicleKind.DRONE and not state.armed:
        return False
    return state.ground_speed_m_s >= MOVING_M_S


def _position(vehicle: FleetVehicle) -> tuple[float | None, float | None]:
    state = vehicle.state()
    return (state.latitude_deg, state.longitude_deg) if state is not None else (None, None)


def _meeting_point(handoff: Handoff, launch_at: tuple[float | None, float | None]) -> tuple[float | None, float | None]:
    """Where the plan has the van take the vehicle back: its mission's last target (a drone recovered at the launch
    stop returns to where it was set down)."""
    last = handoff.sortie.mission.steps[-1] if handoff.sortie.mission.steps else None
    if last is not None and last.latitude_deg is not None and last.longitude_deg is not None:
        return last.latitude_deg, last.longitude_deg
    return launch_at


def _stop(role: str, order_id: str, step_index: int, position: tuple[float | None, float | None]) -> dict[str, Any]:
    """Where it happened: the van's stop (the parcel it hands over there, its mission step) and position."""
    return {f"{role}_stop_order_id": order_id, f"{role}_stop_step_index": step_index,
            "latitude_deg": position[0], "longitude_deg": position[1]}

"""Following one vehicle mission from start to end: the runner the mission control starts per sortie.

It starts the mission through the vehicle's adapter (a van first loads the drones it carries),
records the departure, turns the vehicle's own progress events into hand-overs at the door, waits
for the end (following in-flight replacements), and settles what is still aboard. A van's progress
(the step it has reached) is what the van choreography waits for to launch and recover the
vehicles it carries; one choreography task per carried trip runs beside the van's mission.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .adapters.base import DropConfirmation, Mission, MissionEvent, MissionOutcome, VehicleKind
from .domain.orders import DeliveryMode
from .errors import AdapterError
from .fleet import FleetVehicle
from .learning.eta_service import leg_plans
from .missions import delivery_steps
from .sorties import Handoff, Sortie

if TYPE_CHECKING:
    from .mission_control import MissionControl

logger = logging.getLogger(__name__)

HANDOVER_EVENTS = frozenset({"payload_released", "compartment_opened", "parcel_handed_over", "delivered"})
HANDOVER_RECORD_WALL_S = 60.0  # a hand-over's recipient check and write, at most, before the mission is settled
LEG_EVENTS = frozenset({"goal_accepted", "goal_adopted"})  # a robot's leg sent as a NavigateToPose goal
# Events that mean the vehicle got to their step. Others carry the step it is on or heading for: a van held at a
# stop after its hand-over reports the next stop's index with a drone recovered there, and taking that for arrival
# launched the drone's next trip, planned from the next stop, where the van still stood (a drone flown from the
# wrong stop into a hillside on the full Andorra day).
PROGRESS_EVENTS = frozenset({"step_reached"}) | HANDOVER_EVENTS


@dataclass
class RunningMission:
    """A mission in flight and the orders it still carries."""

    vehicle: FleetVehicle
    mission: Mission
    mode: DeliveryMode
    order_ids: list[str]
    resolved: set[str] = field(default_factory=set)
    superseded_ids: set[str] = field(default_factory=set)
    departed: asyncio.Event = field(default_factory=asyncio.Event)  # out_for_delivery is in the store
    abandoned: asyncio.Event = field(default_factory=asyncio.Event)  # the vehicle is given up (lost link)
    abandoned_why: str = ""
    handoffs: tuple[Handoff, ...] = ()  # van: the trips of the vehicles it carries
    launched_from: str | None = None  # the van that set this drone or robot down for this mission; None: the hub
    launched_at: tuple[float, float] | None = None  # (lat, lon) where that van set it down
    payload_kg: Mapping[str, float] = field(default_factory=dict)  # order -> weight, as planned (the battery check)
    planned_end_s: float = math.inf  # when the plan has the vehicle back (its RETURN's end)
    handoff_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    launched: set[str] = field(default_factory=set)  # vehicles this van has set down on the way
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # the vehicle's mission is over (any outcome)
    furthest_step: int = -1  # the furthest step of the first mission the vehicle has reported reaching
    # after a traffic re-route: per step of `mission`, the step of the first mission it stands for (None: a via
    # point); None while the vehicle runs its first mission. Handoff step indices are those of the first mission.
    step_origin: tuple[int | None, ...] | None = None
    # adopted after a restart: orders whose release the old process recorded deciding (`releasing_step`); the
    # recipient took it then, so the parcel leaving the vehicle is a delivery, not a new presence question
    release_decided: set[str] = field(default_factory=set)
    _reached: dict[int, asyncio.Event] = field(default_factory=dict)

    @classmethod
    def from_details(cls, vehicle: FleetVehicle, mission: Mission, mode: DeliveryMode, order_ids: Sequence[str],
                     details: Mapping[str, object], **fields: Any) -> RunningMission:
        """A mission in flight whose van launch (`launched_from`, `launched_at`) is read from its details, as the
        sortie that starts it and the store that keeps it across a restart both record them."""
        return cls(vehicle, mission, mode, list(order_ids), launched_from=launching_van(details),
                   launched_at=launch_point(details), **fields)

    @property
    def aboard(self) -> list[str]:
        """Orders not handed over yet."""
        return [o for o in self.order_ids if o not in self.resolved]

    def reached(self, step_index: int) -> asyncio.Event:
        """Set once the vehicle has reached step `step_index` (or gone past it)."""
        event = self._reached.setdefault(step_index, asyncio.Event())
        if step_index <= self.furthest_step:
            event.set()
        return event

    def first_mission_step(self, step_index: int) -> int | None:
        """The step of the first mission that step `step_index` of the current one has got past or to: the step
        itself when kept, else the nearest kept step before a via point (None when there is none)."""
        if self.step_origin is None:
            return step_index
        for index in range(min(step_index, len(self.step_origin) - 1), -1, -1):
            if (origin := self.step_origin[index]) is not None:
                return origin
        return None

    def mark_current_reached(self, step_index: int) -> None:
        """The vehicle reports step `step_index` of its current mission (mapped to the first mission's steps)."""
        origin = self.first_mission_step(step_index)
        if origin is not None:
            self.mark_reached(origin)

    def mark_reached(self, step_index: int) -> None:
        """The vehicle reports step `step_index`: it and every step before it are reached."""
        self.furthest_step = max(self.furthest_step, step_index)
        for index, event in self._reached.items():
            if index <= step_index:
                event.set()



def launching_van(details: Mapping[str, object]) -> str | None:
    """The van a carried trip was launched from, as its mission's details record it (`launched_from`)."""
    van_id = details.get("launched_from")
    return van_id if isinstance(van_id, str) else None


def launch_point(details: Mapping[str, object]) -> tuple[float, float] | None:
    """Where a carried trip was launched (lat, lon), as its mission's details record it; None when not recorded."""
    latitude, longitude = details.get("launch_latitude_deg"), details.get("launch_longitude_deg")
    if isinstance(latitude, int | float) and isinstance(longitude, int | float):
        return float(latitude), float(longitude)
    return None

async def _first_of(*futures: asyncio.Future[Any]) -> None:
    """Wait for the first of `futures`; if this wait is cancelled (service shutdown), they are cancelled with it, so
    a vehicle call failing later (its adapter closed) is not left as an exception nobody retrieves."""
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        for future in futures:
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: it is moot now
            future.cancel()
        raise


class MissionRunner:
    """Runs one `RunningMission` to its end; created and owned by `MissionControl`."""

    def __init__(self, control: MissionControl, running: RunningMission, sortie: Sortie | None) -> None:
        """`sortie` None: the vehicle already runs the mission (adopted after a restart); it is only followed."""
        self.control = control
        self.running = running
        self.sortie = sortie
        self._handovers = 0  # hand-overs being recorded (a recipient check, a write)
        self._no_handover = asyncio.Event()
        self._no_handover.set()
        # order -> the recipient's answer asked while the drone held over the door (or recorded before a restart)
        self._answers: dict[str, bool] = dict.fromkeys(running.release_decided, True)

    async def run(self) -> None:
        """Start, follow and settle the mission; always leaves the vehicle free and the dispatcher woken."""
        control, running = self.control, self.running
        vehicle, mission = running.vehicle, running.mission
        events_task = asyncio.create_task(self._follow_events(), name=f"events-{mission.mission_id}")
        await asyncio.sleep(0)  # subscribe before the vehicle can report anything
        try:
            if self.sortie is not None and not await self._start(self.sortie):
                return
            outcome = await self._wait_until_done()
            running.ended.set()
            await self._handovers_recorded()
            await control.settle(running, outcome)
            if running.handoff_tasks:  # a van that ended its mission early: its drone's runner still settles
                await asyncio.wait(running.handoff_tasks,
                                   timeout=control.clock.wall_s(control.config.mission_timeout_s))
        except asyncio.CancelledError:
            raise
        except Exception:
            running.ended.set()
            logger.exception("%s: mission %s runner crashed", vehicle.vehicle_id, running.mission.mission_id)
            with contextlib.suppress(Exception):
                await control.settle(running, MissionOutcome.FAILED)
        finally:
            running.ended.set()
            events_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await events_task
            await control.finished(running)

    async def _start(self, sortie: Sortie) -> bool:
        """Start the mission on the vehicle and record the departure; False when the vehicle refused it."""
        control, running = self.control, self.running
        vehicle, mission = running.vehicle, running.mission
        drone = vehicle.kind is VehicleKind.DRONE
        if running.handoffs:
            await control.choreography.load(running)
        cancelled = await control.lifecycle.cancelled_among(running.order_ids)
        if cancelled:  # cancelled while loaded, before the vehicle left: it does not leave
            running.resolved.update(cancelled)
            logger.warning("%s: %s not started: order(s) %s cancelled while loaded", vehicle.vehicle_id,
                           mission.mission_id, ", ".join(cancelled))
            await control.settle(running, MissionOutcome.CANCELED,
                                 why=f"order(s) {', '.join(cancelled)} cancelled before departure")
            return False
        crossed = (await control.zones_crossed(vehicle, mission)
                   if drone and control.zones_crossed is not None else [])
        if crossed:  # published after the plan was made (the plan keeps clear of every zone it knew)
            why = f"zone(s) {', '.join(crossed)} published since the plan: planned again"
            logger.warning("%s: %s not started: %s", vehicle.vehicle_id, mission.mission_id, why)
            await control.withdrawn(running, why)
            return False
        geofence = control.geofence_for(vehicle) if drone else None  # the airspace as just refreshed
        starting = asyncio.ensure_future(vehicle.adapter.start_mission(mission, geofence=geofence))
        given_up = asyncio.ensure_future(running.abandoned.wait())
        await _first_of(starting, given_up)
        given_up.cancel()
        if not starting.done():  # given up while starting (a van that would not hold any longer): it stays put
            await self._stand_down(starting)
            return False
        try:
            starting.result()
        except AdapterError as exc:
            logger.warning("%s refused %s: %s", vehicle.vehicle_id, mission.mission_id, exc)
            await control.refused(running, str(exc))
            return False
        vehicle.order_ids = tuple(running.order_ids)
        state = vehicle.state()
        legs = leg_plans(mission, (state.latitude_deg, state.longitude_deg) if state is not None else None,
                         sortie.eta_s, control.clock.now())
        await control.lifecycle.depart(mission_id=mission.mission_id, vehicle_id=vehicle.vehicle_id,
                                       mode=running.mode, order_ids=running.order_ids, eta_s=sortie.eta_s,
                                       legs=legs)
        running.departed.set()
        if drone:
            await self._zones_since_start()
        previous: dict[str, asyncio.Task[None]] = {}  # a vehicle's trips of one van trip go one after the other
        for handoff in sorted(running.handoffs, key=lambda h: h.launch_step_index):
            task = asyncio.create_task(control.choreography.fly(running, handoff, previous.get(handoff.vehicle_id)),
                                       name=f"handoff-{handoff.vehicle_id}")
            previous[handoff.vehicle_id] = task
            running.handoff_tasks.append(task)
        await self._recall_if_cancelled()
        return True

    async def _stand_down(self, starting: asyncio.Future[None]) -> None:
        """A start given up before it ended: the upload or take-off is stopped, a vehicle that armed meanwhile
        lands where it is (beside its van), and its orders go back to be planned (none left the ground with it)."""
        running = self.running
        vehicle = running.vehicle
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError, AdapterError):
            await starting
        state = vehicle.state()
        if state is not None and state.armed:
            try:
                await vehicle.adapter.land()
            except AdapterError as exc:
                logger.error("%s: armed when its start was given up and not landed: %s", vehicle.vehicle_id, exc)
        why = running.abandoned_why or "given up before it set out"
        logger.warning("%s: %s not started: %s", vehicle.vehicle_id, running.mission.mission_id, why)
        await self.control.withdrawn(running, why)

    async def _zones_since_start(self) -> None:
        """A zone published while the start was under way (a long upload, a radio link that dropped and came
        back) is neither in the mission nor in the fence the drone now flies, and the monitors' zone reaction
        skipped the drone while it stood on the ground: it gets that reaction now that it flies."""
        control, running = self.control, self.running
        if control.zones_crossed is None or control.react_to_zones is None:
            return
        crossed = await control.zones_crossed(running.vehicle, running.mission)
        if crossed:
            logger.warning("%s: zone(s) %s published while %s was being started: re-routing",
                           running.vehicle.vehicle_id, ", ".join(crossed), running.mission.mission_id)
            control.react_to_zones(running.vehicle.vehicle_id, crossed)

    async def _recall_if_cancelled(self) -> None:
        """An order cancelled while it was loaded must not be dropped at the door: the vehicle is recalled.

        Its other parcels come back with it and go out again; when the vehicle refuses the recall,
        the log and the mission's record say why (the cancelled parcel is then brought back at the end).
        """
        running, control = self.running, self.control
        cancelled = await control.lifecycle.cancelled_among(running.order_ids)
        if not cancelled:
            return
        running.resolved.update(cancelled)  # not aboard for the settlement: nothing to bring back into the queue
        vehicle = running.vehicle
        why = f"order(s) {', '.join(cancelled)} cancelled while loaded: vehicle recalled"
        try:
            await vehicle.adapter.return_home()
        except AdapterError as exc:
            why = f"order(s) {', '.join(cancelled)} cancelled while loaded; recall refused: {exc}"
            logger.error("%s: %s", vehicle.vehicle_id, why)
        else:
            logger.warning("%s: %s", vehicle.vehicle_id, why)
        await control.lifecycle.note_mission(mission_id=running.mission.mission_id, details={"recall": why})

    async def _wait_until_done(self) -> MissionOutcome:
        """Wait for the mission's end, following re-routes (a monitor may replace the mission in flight)."""
        running, control = self.running, self.control
        adapter = running.vehicle.adapter
        deadline_s = control.clock.now() + control.config.mission_timeout_s
        while True:
            remaining_s = deadline_s - control.clock.now()
            if remaining_s <= 0:
                logger.error("%s: mission %s timed out", running.vehicle.vehicle_id, running.mission.mission_id)
                await self._bring_in()
                return MissionOutcome.FAILED
            waiting = asyncio.ensure_future(adapter.wait_mission(timeout_s=min(remaining_s, 600.0)))
            given_up = asyncio.ensure_future(running.abandoned.wait())
            await _first_of(waiting, given_up)
            given_up.cancel()
            if running.abandoned.is_set():
                waiting.cancel()
                return MissionOutcome.FAILED
            try:
                result = waiting.result()
            except AdapterError as exc:
                if "still running" in str(exc):
                    continue
                logger.warning("%s: %s", running.vehicle.vehicle_id, exc)
                return MissionOutcome.FAILED
            if result.mission_id in running.superseded_ids:
                await asyncio.sleep(0.05)  # the old mission ended because a re-route replaced it
                continue
            if result.mission_id != running.mission.mission_id:
                logger.warning("%s: ended mission %s is not the running %s", running.vehicle.vehicle_id,
                               result.mission_id, running.mission.mission_id)
            await self._resolve_completed_steps(result.steps_completed)
            return result.outcome

    async def _bring_in(self) -> None:
        """A timed-out vehicle comes back: a drone through the mission control's recall (over terrain a
        terrain-following path, where an RTL flies straight at a height above home), anything else by RTL."""
        running, control = self.running, self.control
        recall = control.recall_drone
        try:
            if recall is not None and running.vehicle.kind is VehicleKind.DRONE:
                await recall(running.vehicle)
            else:
                await running.vehicle.adapter.return_home()
        except AdapterError as exc:
            logger.error("%s: not brought in after the timeout: %s", running.vehicle.vehicle_id, exc)

    async def _follow_events(self) -> None:
        running = self.running
        async for event in running.vehicle.adapter.mission_events():
            if event.mission_id != running.mission.mission_id:
                continue
            if event.what in PROGRESS_EVENTS:  # a van at a launch or recovery stop wakes its choreography
                running.mark_current_reached(event.step_index)
            if event.what == "battery_swapped" and event.detail:  # a van gave a recovered drone a charged pack
                await self.control.choreography.swapped(running, event.detail)
            if event.what in LEG_EVENTS:  # after a restart, the evidence when the robot's own record expired
                await self._record(event.mission_id, {"leg_sent": event.step_index})
            if event.what == "at_drop":
                await running.departed.wait()
                await self._decide_drop(event)
                continue
            if event.what not in HANDOVER_EVENTS:
                continue
            order_id = delivery_steps(running.mission).get(event.step_index) or event.detail
            # A fast vehicle may report the drop before the departure is written; the queue keeps the event.
            await running.departed.wait()
            if order_id in running.order_ids and order_id not in running.resolved:
                await self._hand_over(order_id, event)

    async def _decide_drop(self, event: MissionEvent) -> None:
        """A drone hovers over a drop: the parcel leaves it only when the recipient (or a locker) takes it.

        An absent recipient is recorded (attempt_failed) before the drone is told to fly on with the parcel, so
        a crash in between never leaves 'delivered' for a parcel aboard. A drone that cannot be told either way
        is brought in with what it carries.
        """
        running = self.running
        adapter = running.vehicle.adapter
        order_id = delivery_steps(running.mission).get(event.step_index) or event.detail
        # a drone still holding at a door whose release was recorded before a restart never got the jump: the
        # recipient is asked anew (the parcel is still aboard), and that answer alone counts
        self._answers.pop(order_id, None)
        on_board = order_id in running.order_ids and order_id not in running.resolved
        release = on_board and await self.control.lifecycle.recipient_takes(order_id)
        if release:
            self._answers[order_id] = True
            # before the vehicle lets go: after a crash, only a drop with this record can have been released
            await self._record(event.mission_id, {"releasing_step": event.step_index})
        elif on_board:
            await self._hand_over(order_id, event, present=False)
        try:
            if not isinstance(adapter, DropConfirmation):
                raise TypeError(f"{running.vehicle.vehicle_id} reported a drop hold but takes no drop decision")
            await adapter.confirm_drop(event.mission_id, event.step_index, release=release)
        except (AdapterError, TypeError) as exc:
            logger.error("%s: drop of %s (release=%s) not confirmed: %s; brought in", running.vehicle.vehicle_id,
                         order_id, release, exc)
            self._answers.pop(order_id, None)
            await self._bring_in()

    async def _record(self, mission_id: str, details: dict[str, int]) -> None:
        try:
            await self.control.lifecycle.note_mission(mission_id=mission_id, details=details)
        except Exception:  # a lost record only makes a restart more cautious (needs_review), never wrong
            logger.exception("%s: could not record %s of %s", self.running.vehicle.vehicle_id, details, mission_id)

    async def _resolve_completed_steps(self, steps_completed: int) -> None:
        """A vehicle that reports its DELIVER steps done without a release event still handed them over."""
        running = self.running
        running.mark_current_reached(steps_completed - 1)
        for index, order_id in delivery_steps(running.mission).items():
            if index < steps_completed and order_id in running.order_ids and order_id not in running.resolved:
                await self._hand_over(order_id, None)

    async def _handovers_recorded(self) -> None:
        """Wait for a hand-over still being recorded when the mission ended (its parcel is no longer aboard, so
        the settlement would not bring it back, and the event follower is cancelled after it: left alone, the
        parcel stayed out for delivery for good, found by the safety days)."""
        try:
            await asyncio.wait_for(self._no_handover.wait(), HANDOVER_RECORD_WALL_S)
        except TimeoutError:
            logger.error("%s: a hand-over of mission %s was still being recorded after %.0f s",
                         self.running.vehicle.vehicle_id, self.running.mission.mission_id, HANDOVER_RECORD_WALL_S)

    async def _hand_over(self, order_id: str, event: MissionEvent | None, *, present: bool | None = None) -> None:
        running = self.running
        running.resolved.add(order_id)
        self._handovers += 1
        self._no_handover.clear()
        try:
            state = running.vehicle.state()
            latitude_deg = event.latitude_deg if event and event.latitude_deg is not None else (
                state.latitude_deg if state else None)
            longitude_deg = event.longitude_deg if event and event.longitude_deg is not None else (
                state.longitude_deg if state else None)
            await self.control.lifecycle.hand_over(order_id=order_id, vehicle_id=running.vehicle.vehicle_id,
                                                   latitude_deg=latitude_deg, longitude_deg=longitude_deg,
                                                   present=self._answers.pop(order_id, present))
        finally:
            self._handovers -= 1
            if not self._handovers:
                self._no_handover.set()
        await self.control.lifecycle.refresh_etas(order_ids=running.aboard)  # the mission progressed

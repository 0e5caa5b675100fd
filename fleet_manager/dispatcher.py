"""The dispatcher: open orders + available vehicles + airspace -> missions, and the order lifecycle.

Event-driven with a periodic re-plan. It tails the store's outbox (new/ready orders, customs
cleared, zones created/deleted) and wakes on vehicles becoming free and on failures; each cycle
it asks `FleetPlanner` (which calls `mission_planner.plan_fleet_result` / `replan`) for the trips
idle vehicles should start, stores each mission, moves its orders planned -> assigned ->
loaded -> out_for_delivery (actor 'dispatcher'), and starts the mission through the vehicle's
adapter. A runner per mission follows the adapter's progress events: at each DELIVER step it asks
whether the recipient is there and records delivered / delivered_to_locker / attempt_failed.
Parcels still aboard when a mission ends early go back to the hub and out again. A failed
attempt that the recipient does not answer in time is rescheduled once, then sent to the
nearest locker. It also executes operator commands (`VehicleCommander`).

All store calls run in worker threads (`asyncio.to_thread`) so a busy SQLite writer never
stalls the event loop that also talks to the vehicles.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from mission_planner.airspace import Airspace
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame

from .adapters.base import Carrier, Geofence, Mission, MissionEvent, MissionOutcome, StepKind, VehicleKind
from .domain.errors import Conflict, NotFound
from .domain.orders import DeliveryMode, Order, OrderStatus
from .errors import AdapterError
from .fleet import Fleet, FleetVehicle
from .handover import RecipientCheck
from .missions import delivery_steps, mission_steps_json
from .planning import FleetPlanner, FleetSlot, Handoff, Sortie
from .store import fleet as fleet_store
from .store import lockers as locker_store
from .store import orders as order_store
from .store import outbox
from .store import zones as zone_store
from .store.db import Database

logger = logging.getLogger(__name__)

ACTOR = "dispatcher"
HANDOVER_EVENTS = frozenset({"payload_released", "compartment_opened", "parcel_handed_over", "delivered"})
_WAKE_EVENTS = ("order.", "zone.")
T = TypeVar("T")
RECOVER_ATTEMPTS = 20  # the drone disarms a moment after its mission ends; retry recovery meanwhile
RECOVER_RETRY_WALL_S = 0.5


@dataclass(frozen=True)
class DispatcherConfig:
    """Timing and policy; durations are seconds of the dispatcher's clock."""

    hub_id: str
    replan_period_s: float = 120.0
    poll_period_wall_s: float = 0.25
    lookahead_s: float = 900.0  # plan orders whose window opens within this
    mission_timeout_s: float = 3 * 3600.0
    answer_grace_s: float = 600.0  # time the recipient has to answer a failed attempt
    retry_delay_s: float = 1800.0
    retry_window_s: float = 7200.0
    max_attempts: int = 2
    telemetry_period_wall_s: float = 1.0
    avoid_after_failure_s: float = 1800.0


@dataclass
class _Running:
    """A mission in flight and the orders it still carries."""

    vehicle: FleetVehicle
    mission: Mission
    mode: DeliveryMode
    order_ids: list[str]
    resolved: set[str] = field(default_factory=set)
    superseded_ids: set[str] = field(default_factory=set)
    departed: asyncio.Event = field(default_factory=asyncio.Event)  # out_for_delivery is in the store
    abandoned: asyncio.Event = field(default_factory=asyncio.Event)  # the vehicle is given up (lost link)
    handoffs: dict[int, Handoff] = field(default_factory=dict)  # van: WAIT step index -> drone it launches there
    handoff_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    launched: set[str] = field(default_factory=set)  # drones this van has set down on the way


class Dispatcher:
    """Plans, dispatches and follows missions for one hub's fleet; implements `VehicleCommander`."""

    def __init__(
        self,
        *,
        database: Database,
        fleet: Fleet,
        planner: FleetPlanner,
        clock: Clock,
        frame: LocalFrame,
        recipients: RecipientCheck,
        config: DispatcherConfig,
        base_airspace: Airspace | None = None,
    ) -> None:
        self.database = database
        self.fleet = fleet
        self.planner = planner
        self.clock = clock
        self.frame = frame
        self.recipients = recipients
        self.config = config
        self.base_airspace = base_airspace or Airspace(frame)
        self.airspace = self.base_airspace
        self.running: dict[str, _Running] = {}  # vehicle_id -> mission
        self.airspace_listeners: list[Callable[[Airspace, frozenset[str]], None]] = []
        self.cycles = 0
        self._wake = asyncio.Event()
        self._located: set[str] = set()  # vehicles whose position is known (a drone after its GPS fix)
        self._claimed: set[str] = set()
        self._after_seq = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_plan_s = -math.inf
        self._lockers: dict[str, tuple[float, float]] = {}
        self._avoid: dict[str, dict[str, float]] = {}  # order -> vehicle -> until (clock s), after a failed mission
        self._riding: set[str] = set()  # drones out with their van's sortie (aboard or launched from it)

    # ----- store helpers ---------------------------------------------------------------------------
    async def write(self, fn: Callable[[Session], T]) -> T:
        """Run `fn` in a write transaction in a worker thread."""

        def run() -> T:
            with self.database.transaction() as session:
                return fn(session)

        return await asyncio.to_thread(run)

    async def read(self, fn: Callable[[Session], T]) -> T:
        """Run `fn` in a read session in a worker thread."""

        def run() -> T:
            with self.database.read() as session:
                return fn(session)

        return await asyncio.to_thread(run)

    def wake(self) -> None:
        """Plan at the next opportunity (a vehicle freed, an order ready, a zone changed)."""
        self._wake.set()

    # ----- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Register the fleet in the store, read the airspace and the outbox position."""
        hub_id, now_s = self.config.hub_id, self.clock.now()

        def register(session: Session) -> int:
            for vehicle in self.fleet.vehicles(hub_id):
                fleet_store.upsert_vehicle(
                    session,
                    vehicle_id=vehicle.vehicle_id,
                    hub_id=hub_id,
                    kind=vehicle.kind,
                    at_s=now_s,
                    name=vehicle.vehicle_id,
                    adapter_url=str(getattr(vehicle.adapter, "url", "")),
                )
            order_store.requeue_orphaned_orders(session, hub_id=hub_id, actor=ACTOR, at_s=now_s)
            return outbox.last_seq(session)

        self._after_seq = await self.write(register)
        await self._refresh_airspace()
        lockers = await self.read(lambda s: locker_store.list_lockers(s, hub_id=hub_id))
        self._lockers = {locker.locker_id: (locker.latitude_deg, locker.longitude_deg) for locker in lockers}
        self.planner.set_lockers(self._lockers)

    async def run(self, _service: object = None) -> None:
        """Run until cancelled (usable as a `create_app(background=[...])` job)."""
        await self.start()
        telemetry = asyncio.create_task(self._record_telemetry(), name="dispatcher-telemetry")
        self.wake()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.config.poll_period_wall_s)
                await self._tail_outbox()
                now_s = self.clock.now()
                due = now_s - self._last_plan_s >= self.config.replan_period_s
                if self._wake.is_set() or due:
                    self._wake.clear()
                    self._last_plan_s = now_s
                    await self._handle_unanswered_attempts(now_s)
                    await self.cycle()
        finally:
            telemetry.cancel()
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _tail_outbox(self) -> None:
        hub_id = self.config.hub_id
        events = await self.read(lambda s: outbox.events_after(s, after_seq=self._after_seq, hub_ids=[hub_id]))
        zones_changed = False
        for event in events:
            self._after_seq = max(self._after_seq, event.seq)
            kind = event.type.removeprefix(outbox.EVENT_TYPE_PREFIX)
            if kind.startswith("zone."):
                zones_changed = True
            if kind.startswith(_WAKE_EVENTS):
                self._wake.set()
        if zones_changed:
            await self._refresh_airspace()

    async def _refresh_airspace(self) -> None:
        stored = await self.read(lambda s: zone_store.load_airspace(s, hub_id=self.config.hub_id, frame=self.frame))
        airspace = self.base_airspace
        for zone in stored.zones:
            airspace = airspace.with_zone(zone)
        new_ids = frozenset(z.zone_id for z in airspace.zones) - frozenset(z.zone_id for z in self.airspace.zones)
        self.airspace = airspace
        for listener in self.airspace_listeners:
            listener(airspace, new_ids)

    # ----- planning --------------------------------------------------------------------------------
    async def cycle(self) -> list[Sortie]:
        """One planning cycle: open orders x fleet -> plan (full or incremental) -> started missions."""
        self.cycles += 1
        now_s = self.clock.now()
        hub_id = self.config.hub_id
        orders = await self.read(lambda s: order_store.list_dispatchable_orders(s, hub_id=hub_id))
        open_orders = [
            self.planner.open_order(o, now_s=now_s, lookahead_s=self.config.lookahead_s,
                                    avoid_vehicle_ids=self._avoided_by(o.order_id, now_s))
            for o in orders if self._plannable(o, now_s)
        ]
        slots = self._slots()
        if not open_orders or not any(slot.idle for slot in slots):
            return []
        # The solver runs for its time budget: keep the event loop (vehicle links) responsive meanwhile.
        plan = functools.partial(self.planner.plan, now_s=now_s, airspace=self.airspace, slots=slots,
                                 orders=open_orders)
        try:
            sorties = await asyncio.to_thread(plan)
        except Exception:  # a planner bug must not stop dispatching: start over from a full plan next cycle
            logger.exception("planning cycle %d failed", self.cycles)
            self.planner.invalidate()
            return []
        for sortie in sorties:
            await self._dispatch(sortie)
        return sorties

    def _slots(self) -> list[FleetSlot]:
        """The vehicles the planner may give trips: the idle ones (a busy vehicle gets work once it is back)."""
        free = [vehicle for vehicle in self.fleet.vehicles(self.config.hub_id)
                if vehicle.vehicle_id not in self.running and vehicle.vehicle_id not in self._riding
                and vehicle.is_available()]
        free_ids = {vehicle.vehicle_id for vehicle in free}
        # A carried drone is planned only with its van (the planner launches it from the van's stops).
        return [FleetSlot(vehicle, state=vehicle.state()) for vehicle in free
                if vehicle.carried_by is None or vehicle.carried_by in free_ids]

    def _avoided_by(self, order_id: str, now_s: float) -> frozenset[str]:
        """Vehicles that failed this order recently (not given it again until the avoidance ends)."""
        return frozenset(v for v, until_s in self._avoid.get(order_id, {}).items() if until_s > now_s)

    def _plannable(self, order: Order, now_s: float) -> bool:
        if order.order_id in self._claimed:
            return False
        return order.window_start_s is None or order.window_start_s - self.config.lookahead_s <= now_s

    async def _dispatch(self, sortie: Sortie) -> asyncio.Task[None] | None:
        vehicle = self.fleet.get(sortie.vehicle_id)
        mission = sortie.mission
        now_s = self.clock.now()
        hub_id = self.config.hub_id
        self._claimed.update(sortie.all_order_ids)
        self._riding.update(h.drone_id for h in sortie.handoffs)
        vehicle.mission_id = mission.mission_id

        def prepare(session: Session) -> list[str]:
            fleet_store.create_mission(
                session,
                mission_id=mission.mission_id,
                hub_id=hub_id,
                vehicle_id=vehicle.vehicle_id,
                order_ids=sortie.order_ids,
                steps=mission_steps_json(mission),
                at_s=now_s,
                details={"mode": sortie.mode.value, "planned_energy_wh": round(sortie.planned_energy_wh, 1),
                         **sortie.details},
            )
            loaded = []
            for order_id in sortie.order_ids:
                order = order_store.get_order(session, order_id=order_id)
                if order.status is OrderStatus.DIVERTED_TO_LOCKER:
                    loaded.append(order_id)  # stays diverted_to_locker until it is in the compartment
                    continue
                for target in (OrderStatus.PLANNED, OrderStatus.ASSIGNED, OrderStatus.LOADED):
                    order_store.transition_order(
                        session,
                        order_id=order_id,
                        to_status=target,
                        actor=ACTOR,
                        reason=f"{sortie.mode.value} mission {mission.mission_id}",
                        at_s=now_s,
                        vehicle_id=vehicle.vehicle_id,
                        mission_id=mission.mission_id,
                    )
                loaded.append(order_id)
            return loaded

        try:
            loaded = await self.write(prepare)
        except (Conflict, NotFound) as exc:
            logger.warning("%s: could not prepare %s: %s", vehicle.vehicle_id, mission.mission_id, exc)
            vehicle.mission_id = None
            self._claimed.difference_update(sortie.all_order_ids)
            self._riding.difference_update(h.drone_id for h in sortie.handoffs)
            return None
        running = _Running(vehicle, mission, sortie.mode, list(loaded),
                           handoffs={h.wait_step_index: h for h in sortie.handoffs})
        self.running[vehicle.vehicle_id] = running
        task = asyncio.create_task(self._run_mission(running, sortie), name=f"mission-{mission.mission_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ----- following a mission ---------------------------------------------------------------------
    async def _run_mission(self, running: _Running, sortie: Sortie) -> None:
        vehicle, mission = running.vehicle, running.mission
        adapter = vehicle.adapter
        events_task = asyncio.create_task(self._follow_events(running), name=f"events-{mission.mission_id}")
        await asyncio.sleep(0)  # subscribe before the vehicle can report anything
        try:
            geofence = self._geofence(vehicle) if vehicle.kind is VehicleKind.DRONE else None
            if running.handoffs:
                await self._load_drones(running)
            try:
                await adapter.start_mission(mission, geofence=geofence)
            except AdapterError as exc:
                logger.warning("%s refused %s: %s", vehicle.vehicle_id, mission.mission_id, exc)
                for order_id in running.order_ids:
                    until_s = self.clock.now() + self.config.avoid_after_failure_s
                    self._avoid.setdefault(order_id, {})[vehicle.vehicle_id] = until_s
                await self._abort_before_departure(running, str(exc))
                return
            await self._depart(running, sortie)
            outcome = await self._wait_until_done(running)
            await self._settle(running, outcome)
            if running.handoff_tasks:  # a van that ended its mission early: its drone's runner still settles
                await asyncio.wait(running.handoff_tasks, timeout=self.clock.wall_s(self.config.mission_timeout_s))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s: mission %s runner crashed", vehicle.vehicle_id, mission.mission_id)
            with contextlib.suppress(Exception):
                await self._settle(running, MissionOutcome.FAILED)
        finally:
            events_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await events_task
            self.running.pop(vehicle.vehicle_id, None)
            vehicle.mission_id = None
            vehicle.order_ids = ()
            self._claimed.difference_update(running.order_ids)
            if running.handoffs or running.handoff_tasks:
                await self._end_handoffs(running)
            self.wake()

    async def _wait_until_done(self, running: _Running) -> MissionOutcome:
        """Wait for the mission's end, following re-routes (a monitor may replace the mission in flight)."""
        deadline_s = self.clock.now() + self.config.mission_timeout_s
        while True:
            remaining_s = deadline_s - self.clock.now()
            if remaining_s <= 0:
                logger.error("%s: mission %s timed out", running.vehicle.vehicle_id, running.mission.mission_id)
                with contextlib.suppress(AdapterError):
                    await running.vehicle.adapter.return_home()
                return MissionOutcome.FAILED
            waiting = asyncio.ensure_future(running.vehicle.adapter.wait_mission(timeout_s=min(remaining_s, 600.0)))
            given_up = asyncio.ensure_future(running.abandoned.wait())
            await asyncio.wait({waiting, given_up}, return_when=asyncio.FIRST_COMPLETED)
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
            await self._resolve_completed_steps(running, result.steps_completed)
            return result.outcome

    async def _follow_events(self, running: _Running) -> None:
        async for event in running.vehicle.adapter.mission_events():
            if event.mission_id != running.mission.mission_id:
                continue
            # The van is at a launch stop: handing over its last parcel there (or already waiting).
            for wait_index in (event.step_index, event.step_index + 1):
                handoff = running.handoffs.pop(wait_index, None)
                if handoff is not None:
                    running.handoff_tasks.append(asyncio.create_task(
                        self._launch_and_recover(running, handoff), name=f"handoff-{handoff.drone_id}"))
            if event.what not in HANDOVER_EVENTS:
                continue
            order_id = delivery_steps(running.mission).get(event.step_index) or event.detail
            # A fast vehicle may report the drop before the departure is written; the queue keeps the event.
            await running.departed.wait()
            if order_id in running.order_ids and order_id not in running.resolved:
                await self._handover(running, order_id, event)

    # ----- van handoff ------------------------------------------------------------------------------
    async def _load_drones(self, running: _Running) -> None:
        """Stow the van's drones at the hub before it leaves; a drone that cannot be loaded stays home."""
        van = running.vehicle.adapter
        for index, handoff in list(running.handoffs.items()):
            try:
                if isinstance(van, Carrier) and handoff.drone_id not in van.carried:
                    await van.load(handoff.drone_id)
                elif not isinstance(van, Carrier):
                    raise TypeError("its adapter has no load/launch/recover")
            except (AdapterError, TypeError) as exc:
                logger.warning("%s: could not load %s: %s", running.vehicle.vehicle_id, handoff.drone_id, exc)
                del running.handoffs[index]
                self._release_handoff(handoff)

    def _release_handoff(self, handoff: Handoff) -> None:
        """A drone trip that will not happen: its orders are planned again, the drone is free."""
        self._claimed.difference_update(handoff.sortie.order_ids)
        self._riding.discard(handoff.drone_id)
        self.wake()

    async def _launch_and_recover(self, running: _Running, handoff: Handoff) -> None:
        """At the launch stop: hold the van, launch the drone on its trip, take it back aboard, drive on."""
        van_vehicle = running.vehicle
        van = van_vehicle.adapter
        drone = self.fleet.get(handoff.drone_id)
        if not isinstance(van, Carrier):
            self._release_handoff(handoff)
            return
        try:
            await van.pause()
            await van.launch(handoff.drone_id)
        except AdapterError as exc:
            logger.warning("%s: launch of %s failed: %s", van_vehicle.vehicle_id, handoff.drone_id, exc)
            self._release_handoff(handoff)
            with contextlib.suppress(AdapterError):
                await van.resume()
            return
        running.launched.add(handoff.drone_id)
        logger.info("%s launched %s for %s", van_vehicle.vehicle_id, handoff.drone_id,
                    ", ".join(handoff.sortie.order_ids))
        state = van_vehicle.state()
        launched_at = {"launched_from": van_vehicle.vehicle_id,
                       "launch_latitude_deg": state.latitude_deg if state else None,
                       "launch_longitude_deg": state.longitude_deg if state else None}
        task = await self._dispatch(dataclasses.replace(handoff.sortie, details=launched_at))
        if task is None:
            self._release_handoff(handoff)
        else:
            await asyncio.wait({task}, timeout=self.clock.wall_s(self.config.mission_timeout_s))
        await self._recover(van_vehicle, van, drone)
        with contextlib.suppress(AdapterError):
            await van.resume()

    async def _recover(self, van_vehicle: FleetVehicle, van: Carrier, drone: FleetVehicle) -> None:
        """Take the landed drone back aboard (it disarms shortly after landing: retried a while)."""
        for attempt in range(RECOVER_ATTEMPTS):
            try:
                await van.recover(drone.vehicle_id)
            except AdapterError as exc:
                if attempt == RECOVER_ATTEMPTS - 1:
                    logger.error("%s: could not recover %s: %s", van_vehicle.vehicle_id, drone.vehicle_id, exc)
                    drone.out_of_service = f"left at a van stop: {exc}"[:200]
                    return
                await asyncio.sleep(RECOVER_RETRY_WALL_S)
            else:
                logger.info("%s recovered %s", van_vehicle.vehicle_id, drone.vehicle_id)
                return

    async def _end_handoffs(self, running: _Running) -> None:
        """Van back (or its mission over): trips never launched are released, carried drones unloaded."""
        van = running.vehicle.adapter
        unlaunched = list(running.handoffs.values())
        drone_ids = {h.drone_id for h in unlaunched} | running.launched
        running.handoffs.clear()
        if isinstance(van, Carrier):
            for drone_id in sorted(drone_ids & set(van.carried)):
                try:
                    await van.unload(drone_id)
                except AdapterError as exc:
                    logger.warning("%s: could not unload %s: %s", running.vehicle.vehicle_id, drone_id, exc)
                    self.fleet.get(drone_id).out_of_service = f"stuck in {running.vehicle.vehicle_id}: {exc}"[:200]
        for handoff in unlaunched:
            self._release_handoff(handoff)
        self._riding.difference_update(drone_ids)

    async def _resolve_completed_steps(self, running: _Running, steps_completed: int) -> None:
        """A vehicle that reports its DELIVER steps done without a release event still handed them over."""
        for index, order_id in delivery_steps(running.mission).items():
            if index < steps_completed and order_id in running.order_ids and order_id not in running.resolved:
                await self._handover(running, order_id, None)

    async def _depart(self, running: _Running, sortie: Sortie) -> None:
        now_s = self.clock.now()
        vehicle = running.vehicle
        vehicle.order_ids = tuple(running.order_ids)

        def depart(session: Session) -> None:
            fleet_store.update_mission(
                session, mission_id=running.mission.mission_id, status=fleet_store.MissionStatus.RUNNING, at_s=now_s
            )
            for order_id in running.order_ids:
                order = order_store.get_order(session, order_id=order_id)
                if order.status is not OrderStatus.LOADED:
                    continue
                order_store.transition_order(
                    session,
                    order_id=order_id,
                    to_status=OrderStatus.OUT_FOR_DELIVERY,
                    actor=ACTOR,
                    reason=f"{vehicle.vehicle_id} departed",
                    at_s=now_s,
                    mode=running.mode,
                    vehicle_id=vehicle.vehicle_id,
                    mission_id=running.mission.mission_id,
                    details={"eta_s": sortie.eta_s.get(order_id), "mode": running.mode.value},
                )

        await self.write(depart)
        running.departed.set()

    async def _abort_before_departure(self, running: _Running, why: str) -> None:
        now_s = self.clock.now()

        def unload(session: Session) -> None:
            fleet_store.update_mission(
                session,
                mission_id=running.mission.mission_id,
                status=fleet_store.MissionStatus.FAILED,
                at_s=now_s,
                details={"error": why},
            )
            for order_id in running.order_ids:
                order = order_store.get_order(session, order_id=order_id)
                if order.status is OrderStatus.LOADED:
                    order_store.transition_order(
                        session, order_id=order_id, to_status=OrderStatus.READY, actor=ACTOR,
                        reason=f"vehicle refused the mission: {why}", at_s=now_s,
                    )

        await self.write(unload)
        running.vehicle.out_of_service = f"refused mission: {why}"[:200]
        # A refusal is often transient (EKF settling, previous mission still closing): retry later.
        asyncio.get_running_loop().call_later(
            self.clock.wall_s(300.0), lambda: setattr(running.vehicle, "out_of_service", "")
        )

    async def _handover(self, running: _Running, order_id: str, event: MissionEvent | None) -> None:
        running.resolved.add(order_id)
        now_s = self.clock.now()
        vehicle = running.vehicle
        state = vehicle.state()
        latitude_deg = event.latitude_deg if event and event.latitude_deg is not None else (
            state.latitude_deg if state else None)
        longitude_deg = event.longitude_deg if event and event.longitude_deg is not None else (
            state.longitude_deg if state else None)
        order = await self.read(lambda s: order_store.get_order(s, order_id=order_id))
        if order.status is OrderStatus.DIVERTED_TO_LOCKER:
            target, reason = OrderStatus.DELIVERED_TO_LOCKER, f"placed in locker {order.locker_id}"
        elif order.status in (OrderStatus.OUT_FOR_DELIVERY, OrderStatus.HANDED_OFF):
            present = order.leave_at_door or await self.recipients.is_present(order)
            target = OrderStatus.DELIVERED if present else OrderStatus.ATTEMPT_FAILED
            reason = "handed to the recipient" if present else "recipient not at home"
            if order.leave_at_door:
                reason = "left at the door as the recipient asked"
        else:
            logger.warning("%s: order %s is %s at hand-over", vehicle.vehicle_id, order_id, order.status.value)
            return
        details = {"latitude_deg": latitude_deg, "longitude_deg": longitude_deg, "vehicle_id": vehicle.vehicle_id,
                   "reason": reason}
        try:
            await self.write(
                lambda s: order_store.transition_order(
                    s, order_id=order_id, to_status=target, actor=ACTOR, reason=reason, at_s=now_s, details=details,
                    vehicle_id=vehicle.vehicle_id,
                )
            )
        except Conflict as exc:
            logger.warning("%s: hand-over of %s not recorded: %s", vehicle.vehicle_id, order_id, exc)

    async def _settle(self, running: _Running, outcome: MissionOutcome) -> None:
        """Mission over: parcels still aboard go back to the hub and out again; the mission gets its status."""
        now_s = self.clock.now()
        aboard = [o for o in running.order_ids if o not in running.resolved]
        if outcome is not MissionOutcome.SUCCEEDED:
            # Do not hand the same parcel straight back to the vehicle that just failed it.
            until_s = now_s + self.config.avoid_after_failure_s
            for order_id in aboard:
                self._avoid.setdefault(order_id, {})[running.vehicle.vehicle_id] = until_s
        status = {
            MissionOutcome.SUCCEEDED: fleet_store.MissionStatus.SUCCEEDED,
            MissionOutcome.CANCELED: fleet_store.MissionStatus.CANCELED,
        }.get(outcome, fleet_store.MissionStatus.FAILED)

        def settle(session: Session) -> None:
            fleet_store.update_mission(
                session, mission_id=running.mission.mission_id, status=status, at_s=now_s,
                details={"outcome": outcome.value, "parcels_brought_back": aboard},
            )
            for order_id in aboard:
                order = order_store.get_order(session, order_id=order_id)
                if order.status in (OrderStatus.OUT_FOR_DELIVERY, OrderStatus.HANDED_OFF):
                    order_store.transition_order(
                        session, order_id=order_id, to_status=OrderStatus.RETURNED_TO_HUB, actor=ACTOR,
                        reason=f"mission {outcome.value}; parcel brought back", at_s=now_s,
                    )
                    order_store.transition_order(
                        session, order_id=order_id, to_status=OrderStatus.READY, actor=ACTOR,
                        reason="goes out again", at_s=now_s,
                    )
                elif order.status is OrderStatus.DIVERTED_TO_LOCKER:
                    pass  # never left the locker queue; the next cycle plans it again
                elif order.status is OrderStatus.LOADED:
                    order_store.transition_order(
                        session, order_id=order_id, to_status=OrderStatus.READY, actor=ACTOR,
                        reason="mission ended before departure", at_s=now_s,
                    )

        await self.write(settle)

    async def _handle_unanswered_attempts(self, now_s: float) -> None:
        """Failed attempts the recipient left unanswered: reschedule once, then the nearest locker."""
        hub_id = self.config.hub_id
        config = self.config

        def decide(session: Session) -> None:
            page = order_store.list_orders(session, hub_ids=[hub_id], statuses=[OrderStatus.ATTEMPT_FAILED], limit=200)
            for order in page.orders:
                if now_s - order.updated_at_s < config.answer_grace_s or order.vehicle_id in self.running:
                    continue
                if order.attempts < config.max_attempts:
                    order_store.reschedule_order(
                        session, order_id=order.order_id, window_start_s=now_s + config.retry_delay_s,
                        window_end_s=now_s + config.retry_delay_s + config.retry_window_s, actor=ACTOR, at_s=now_s,
                    )
                else:
                    order_store.transition_order(
                        session, order_id=order.order_id, to_status=OrderStatus.DIVERTED_TO_LOCKER, actor=ACTOR,
                        reason=f"{order.attempts} failed attempts: nearest locker", at_s=now_s,
                    )

        try:
            await self.write(decide)
        except (Conflict, NotFound) as exc:
            logger.warning("unanswered attempts: %s", exc)

    # ----- operator commands (VehicleCommander) ----------------------------------------------------
    async def execute(self, command: fleet_store.VehicleCommand) -> None:
        """Pause / resume / return / land a vehicle through its adapter (AdapterError when it refuses)."""
        vehicle = self.fleet.get(command.vehicle_id)
        adapter = vehicle.adapter
        kind = fleet_store.CommandKind(command.command)
        if kind is fleet_store.CommandKind.PAUSE:
            await adapter.pause()
        elif kind is fleet_store.CommandKind.RESUME:
            await adapter.resume()
        elif kind is fleet_store.CommandKind.RETURN:
            await adapter.return_home()
        elif kind is fleet_store.CommandKind.LAND:
            await adapter.land()
        logger.info("%s: operator %s (%s)", vehicle.vehicle_id, kind.value, command.reason or "no reason given")

    # ----- in-flight re-routing (used by the monitors) ---------------------------------------------
    async def replace_mission(self, vehicle: FleetVehicle, mission: Mission) -> None:
        """Send a new mission to a vehicle already on one; its parcels stay with the running record.

        The old mission is marked superseded *before* the adapter switches (its CANCELED end must not
        settle the run), the new one is stored as running and the old one canceled (the dashboard
        draws the new route). Raises AdapterError when the vehicle refuses; the old mission then runs on.
        """
        running = self.running.get(vehicle.vehicle_id)
        old = running.mission if running is not None else None
        if running is not None and old is not None:
            running.superseded_ids.add(old.mission_id)
        try:
            await vehicle.adapter.replace_mission(mission, geofence=self._geofence(vehicle))
        except BaseException:
            if running is not None and old is not None and running.mission is old:
                running.superseded_ids.discard(old.mission_id)
            raise
        if running is None or old is None:
            return
        vehicle.mission_id = mission.mission_id
        running.mission = mission
        now_s = self.clock.now()
        hub_id = self.config.hub_id
        order_ids = [o for o in running.order_ids if o not in running.resolved]

        def record(session: Session) -> None:
            fleet_store.create_mission(
                session, mission_id=mission.mission_id, hub_id=hub_id, vehicle_id=vehicle.vehicle_id,
                order_ids=order_ids, steps=mission_steps_json(mission), at_s=now_s,
                details={"mode": running.mode.value, "replaces": old.mission_id},
            )
            fleet_store.update_mission(session, mission_id=mission.mission_id,
                                       status=fleet_store.MissionStatus.RUNNING, at_s=now_s)
            fleet_store.update_mission(session, mission_id=old.mission_id, status=fleet_store.MissionStatus.CANCELED,
                                       at_s=now_s, details={"replaced_by": mission.mission_id})

        try:
            await self.write(record)
        except (Conflict, NotFound) as exc:
            logger.warning("%s: could not record re-route %s: %s", vehicle.vehicle_id, mission.mission_id, exc)

    def abandon(self, vehicle_id: str, why: str) -> bool:
        """Give up a vehicle's running mission (lost for good): its parcels are replanned. False if none."""
        running = self.running.get(vehicle_id)
        if running is None or running.abandoned.is_set():
            return False
        logger.warning("%s: abandoning mission %s (%s)", vehicle_id, running.mission.mission_id, why)
        running.abandoned.set()
        return True

    def _geofence(self, vehicle: FleetVehicle) -> Geofence:
        fence_airspace = self.planner.fence_airspace(self.airspace, vehicle.profile.cruise_altitude_m, self.clock.now())
        return Geofence.from_airspace(fence_airspace)

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

    # ----- telemetry to the store (the API and dashboard read it there) ----------------------------
    async def _record_telemetry(self) -> None:
        while True:
            await asyncio.sleep(self.config.telemetry_period_wall_s)
            states = [(v.vehicle_id, v.state(), v) for v in self.fleet.vehicles(self.config.hub_id)]
            located = {vehicle_id for vehicle_id, state, _ in states if state is not None and state.position_valid}
            if located - self._located:
                self.wake()  # "vehicle available": a vehicle that could not be planned (no position) now can
            self._located = located

            def record(session: Session, states: list[tuple[str, Any, FleetVehicle]]) -> None:
                for vehicle_id, state, vehicle in states:
                    if state is None:
                        continue
                    data = _state_json(state)
                    data.update({"mission_id": vehicle.mission_id, "order_ids": list(vehicle.order_ids),
                                 "out_of_service": vehicle.out_of_service})
                    fleet_store.update_vehicle_state(session, vehicle_id=vehicle_id, state=data, stamp_s=state.stamp_s)

            try:
                await self.write(functools.partial(record, states=states))
            except Exception:
                logger.exception("recording telemetry failed")


def _state_json(state: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in state.__dict__.items():
        data[key] = value.value if hasattr(value, "value") else value
    return data

"""The dispatcher: the planning cycle of one hub (open orders + idle vehicles + airspace -> sorties).

Event-driven with a periodic re-plan. It tails the store's outbox and plans when an order
becomes plannable, a zone or locker changes, a vehicle comes free or gets its position, and at
least every `replan_period_s`. Each cycle asks `FleetPlanner` (which calls `mission_planner`)
for the trips idle vehicles should start now and hands each to the `MissionControl`, which
loads the orders and follows the mission. Failed attempts the recipient left unanswered are
followed up (`OrderLifecycle`) before each cycle. Everything else lives with its owner:

    order records ........ order_lifecycle.OrderLifecycle
    missions in flight ... mission_control.MissionControl (+ mission_runner, van_choreography)
    airspace in force .... live_airspace.LiveAirspace
    telemetry to store ... telemetry_recorder.TelemetryRecorder
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from mission_planner.clock import Clock
from mission_planner.fleet import HUB_RELOAD_S, OrderSpec
from mission_planner.wind_flight import wind_vector_m_s

from .adapters.base import VehicleKind
from .customs_forecast import CustomsForecaster
from .domain.errors import Conflict
from .domain.orders import Order, OrderStatus
from .fleet import Fleet
from .live_airspace import LiveAirspace
from .mission_control import MissionControl
from .order_lifecycle import OrderLifecycle
from .planning import FleetPlanner
from .reconcile import ReconciliationReport, reconcile_in_flight
from .sorties import FleetSlot, Sortie, at_hub
from .store import fleet as fleet_store
from .store import lockers as locker_store
from .store import order_queries, outbox, planning_notes
from .store import traffic as traffic_store
from .store.db import Database

logger = logging.getLogger(__name__)

# planner reasons that hold whatever vehicles are free (the transient ones, "left out...", stay as they are)
_FLEET_INDEPENDENT = (planning_notes.TRANSIENT_PREFIX, "customs not cleared", "delivery window already closed")
_WAKE_EVENTS = ("order.", "zone.", locker_store.LOCKER_REGISTERED, traffic_store.TRAFFIC_REPORTED)


@dataclass(frozen=True)
class DispatcherConfig:
    """When to plan; durations are seconds of the dispatcher's clock."""

    hub_id: str
    replan_period_s: float = 120.0
    poll_period_wall_s: float = 0.25
    lookahead_s: float = 900.0  # plan orders whose window opens within this (and deliver this early at most)
    # Parcels at customs forecast to clear within this are planned in (never started before they clear);
    # a forecast this long overdue is no longer trusted.
    preplan_customs_within_s: float = 600.0
    preplan_customs_grace_s: float = 300.0


class Dispatcher:
    """Plans one hub's fleet and starts the trips that are due."""

    def __init__(
        self, *, database: Database, fleet: Fleet, planner: FleetPlanner, missions: MissionControl,
        lifecycle: OrderLifecycle, airspace: LiveAirspace, clock: Clock, config: DispatcherConfig,
        customs: CustomsForecaster | None = None,
    ) -> None:
        self.database = database
        self.customs = customs  # forecasts clearance of parcels at customs before each cycle
        self.fleet = fleet
        self.planner = planner
        self.missions = missions
        self.lifecycle = lifecycle
        self.airspace = airspace
        self.clock = clock
        self.config = config
        self.cycles = 0
        self._wake = asyncio.Event()
        self._after_seq = 0
        self._last_plan_s = -math.inf
        self.reconciliation: ReconciliationReport | None = None  # what the last reconciliation found in flight
        self.failed_passes = 0
        self._reconcile_again = False

    def wake(self) -> None:
        """Plan at the next opportunity (a vehicle freed or located, an order ready, a zone changed)."""
        self._wake.set()

    async def start(self) -> None:
        """Register the fleet, reconcile missions a crash left in flight, re-queue orphaned orders, read the rest."""
        hub_id, now_s = self.config.hub_id, self.clock.now()

        def register(session: Session) -> int:
            for vehicle in self.fleet.vehicles(hub_id):
                try:
                    fleet_store.upsert_vehicle(session, vehicle_id=vehicle.vehicle_id, hub_id=hub_id,
                                               kind=vehicle.kind, at_s=now_s, name=vehicle.vehicle_id,
                                               adapter_url=vehicle.adapter_url)
                except Conflict as exc:  # registered as another kind or hub: that vehicle waits, the rest work
                    vehicle.out_of_service = f"store disagrees: {exc}"[:300]
                    logger.error("%s: not dispatched: %s", vehicle.vehicle_id, exc)
            return outbox.last_seq(session)

        self._after_seq = await self.database.write_async(register)
        # Missions a crash left in flight first: their vehicles are busy (or held) before anything is planned.
        await self.reconcile()
        await self.lifecycle.requeue_orphans()
        await self.airspace.refresh()
        await self._refresh_lockers()
        await self._refresh_traffic()

    async def run(self, _service: object = None) -> None:
        """Run until cancelled (a background job of the Fleet API app)."""
        await self.start()
        self.wake()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.config.poll_period_wall_s)
                try:
                    await self._pass()
                except Exception:  # one bad pass (a store hiccup, a bad record) must not stop dispatching
                    self.failed_passes += 1
                    logger.exception("dispatcher pass failed; next pass in %.2f s", self.config.poll_period_wall_s)
        except asyncio.CancelledError:
            # The service stops: runners end, the vehicles keep flying (the next start adopts them). A crash
            # instead leaves the runners following their missions; the restarted job reconciles around them.
            await self.missions.stop()
            raise

    async def _pass(self) -> None:
        """Tail the outbox; plan when woken or when the re-plan period has passed; reconcile when asked."""
        if self._reconcile_again:
            self._reconcile_again = False
            await self.reconcile()
        await self._tail_outbox()
        now_s = self.clock.now()
        if self._wake.is_set() or now_s - self._last_plan_s >= self.config.replan_period_s:
            self._wake.clear()
            self._last_plan_s = now_s
            busy = frozenset(self.missions.running)
            await self.lifecycle.follow_up_failed_attempts(busy_vehicle_ids=busy,
                                                           on_missions=frozenset(self.missions.claimed))
            if self.customs is not None:
                await self.customs.forecast_new()
            await self.cycle()

    def vehicle_connected(self) -> None:
        """A vehicle's link came up after start-up: match its missions in flight, then plan."""
        self._reconcile_again = True
        self.wake()

    async def reconcile(self) -> ReconciliationReport:
        """Missions the store has in flight and nobody follows: adopted, settled or re-queued (see `reconcile`)."""
        report = await reconcile_in_flight(database=self.database, hub_id=self.config.hub_id, fleet=self.fleet,
                                           missions=self.missions, lifecycle=self.lifecycle)
        self.reconciliation = report
        return report

    async def _tail_outbox(self) -> None:
        hub_id = self.config.hub_id
        events = await self.database.read_async(
            lambda s: outbox.events_after(s, after_seq=self._after_seq, hub_ids=[hub_id]))
        kinds = set()
        for event in events:
            self._after_seq = max(self._after_seq, event.seq)
            kind = event.type.removeprefix(outbox.EVENT_TYPE_PREFIX)
            kinds.add(kind)
            if kind.startswith(_WAKE_EVENTS):
                self._wake.set()
        if any(kind.startswith("zone.") for kind in kinds):
            await self.airspace.refresh()
        if locker_store.LOCKER_REGISTERED in kinds:
            await self._refresh_lockers()
        if traffic_store.TRAFFIC_REPORTED in kinds:
            await self._refresh_traffic()

    async def _refresh_traffic(self) -> None:
        """Reported congestion and incidents, as the planner routes vans through them."""
        hub_id, now_s = self.config.hub_id, self.clock.now()
        reports = await self.database.read_async(
            lambda s: traffic_store.list_reports(s, hub_id=hub_id, not_over_at_s=now_s))
        self.planner.set_traffic(reports=reports)

    async def _refresh_lockers(self) -> None:
        """The hub's lockers as the planner sees them (a locker registered while we run is used at once)."""
        hub_id = self.config.hub_id
        lockers = await self.database.read_async(lambda s: locker_store.list_lockers(s, hub_id=hub_id))
        self.planner.set_lockers({locker.locker_id: (locker.latitude_deg, locker.longitude_deg) for locker in lockers})

    async def cycle(self) -> list[Sortie]:
        """One planning cycle: open orders x idle fleet -> plan (full or incremental) -> started missions."""
        self.cycles += 1
        now_s = self.clock.now()
        orders = await self.database.read_async(
            lambda s: order_queries.list_dispatchable_orders(s, hub_id=self.config.hub_id))
        open_orders = [
            self.planner.open_order(o, now_s=now_s, lookahead_s=self.config.lookahead_s,
                                    avoid_vehicle_ids=self.missions.avoided_by(o.order_id, now_s))
            for o in orders if self._plannable(o, now_s)
        ]
        preplanned = await self._soon_cleared(now_s)
        open_orders += preplanned
        preplanned_ids = {spec.order_id for spec in preplanned}
        slots = self._slots()
        if not open_orders or not any(slot.idle for slot in slots):
            return []
        # The solver runs for its time budget: keep the event loop (vehicle links) responsive meanwhile.
        plan = functools.partial(self.planner.plan, now_s=now_s, airspace=self.airspace.current, slots=slots,
                                 orders=open_orders, wind_m_s=self._wind_m_s())
        try:
            sorties = await asyncio.to_thread(plan)
        except Exception:  # a planner bug must not stop dispatching: start over from a full plan next cycle
            logger.exception("planning cycle %d failed", self.cycles)
            self.planner.invalidate()
            return []
        await self._note_unplannable([o.order_id for o in open_orders if o.order_id not in preplanned_ids], slots)
        # A trip with a parcel still at customs waits (its vehicle stays idle) until the parcel clears.
        sorties = [s for s in sorties if not preplanned_ids.intersection(s.all_order_ids)]
        for sortie in sorties:
            await self.missions.start(sortie)
        return sorties

    async def _soon_cleared(self, now_s: float) -> list[OrderSpec]:
        """Parcels at customs whose forecast clearance is near: planned in, no earlier than they clear.

        Only with a customs model (the forecaster); a forecast overdue by more than the grace is dropped, so a
        parcel customs holds on does not keep a vehicle waiting.
        """
        if self.customs is None or self.config.preplan_customs_within_s <= 0:
            return []
        config = self.config
        waiting = await self.database.read_async(lambda s: order_queries.list_orders(
            s, hub_ids=[config.hub_id], statuses=[OrderStatus.AWAITING_CUSTOMS], limit=500).orders)
        specs = []
        for order in waiting:
            cleared_at_s = order.customs_forecast.get("expected_cleared_at_s")
            if cleared_at_s is None or order.order_id in self.missions.claimed:
                continue
            earliest_s, latest_s = now_s - config.preplan_customs_grace_s, now_s + config.preplan_customs_within_s
            if not earliest_s <= float(cleared_at_s) <= latest_s:
                continue
            spec = self.planner.open_order(order, now_s=now_s, lookahead_s=config.lookahead_s)
            specs.append(replace(spec, earliest_s=max(spec.earliest_s, float(cleared_at_s))))
        return specs

    async def _note_unplannable(self, order_ids: list[str], slots: list[FleetSlot]) -> None:
        """Keep why the plan in force leaves orders out (API, dashboard; a webhook for a hard reason).

        The plan had the idle vehicles only: while others are out on trips, a refusal that depends on the vehicles
        ("no vehicle can carry it there", "cold chain: no vehicle ... has an insulated box") may only mean the one
        that can is busy, so it is kept as a transient "left out while ..." (no webhook) until the whole
        available fleet has been asked. Out-of-service vehicles do not count: they take nothing.
        """
        result = self.planner.plan_in_force()
        if result is None:
            return
        reasons = dict(result.plan.unplanned)
        planned_with = {slot.vehicle.vehicle_id for slot in slots}
        away = sorted(v.vehicle_id for v in self.fleet.vehicles(self.config.hub_id)
                      if v.vehicle_id not in planned_with and v.is_available())
        if away:
            out = f"{', '.join(away)} {'is' if len(away) == 1 else 'are'} out"
            reasons = {order_id: reason if reason.startswith(_FLEET_INDEPENDENT)
                       else f"{planning_notes.TRANSIENT_PREFIX} while {out}: {reason}"
                       for order_id, reason in reasons.items()}
        hub_id, now_s = self.config.hub_id, self.clock.now()
        refused = await self.database.write_async(lambda s: planning_notes.record_unplannable(
            s, hub_id=hub_id, order_ids=order_ids, reasons=reasons, at_s=now_s))
        for order_id in refused:
            logger.info("order %s cannot be planned: %s", order_id, reasons[order_id])

    def _slots(self) -> list[FleetSlot]:
        """The vehicles the planner may give trips: the idle ones (a busy vehicle gets work once it is back)."""
        free = [vehicle for vehicle in self.fleet.vehicles(self.config.hub_id)
                if not self.missions.is_busy(vehicle.vehicle_id) and vehicle.is_available()]
        free_ids = {vehicle.vehicle_id for vehicle in free}
        # A carried drone is planned with its van (the planner launches it from the van's stops) while the van is
        # free; one its van left at the hub flies from the hub until the van is back.
        slots, now_s = [], self.clock.now()
        for vehicle in free:
            state = vehicle.state()
            if vehicle.carried_by is None or vehicle.carried_by in free_ids:
                slots.append(FleetSlot(vehicle, state=state))
            elif state is not None and at_hub(vehicle, state, self.planner.frame):
                back_by_s = self.missions.planned_back_s(vehicle.carried_by)
                if back_by_s - now_s > HUB_RELOAD_S:  # else its van is due back before even a battery swap is done
                    slots.append(FleetSlot(vehicle, state=state, from_hub=True, back_by_s=back_by_s))
        return slots

    def _wind_m_s(self) -> tuple[float, float]:
        """The strongest wind the hub's drones report (MAVLink WIND: the autopilot's estimate), as (east, north) m/s;
        still air when none reports one. The strongest, since the live battery check of each drone uses its own."""
        winds = [wind_vector_m_s(state.wind_speed_m_s, state.wind_from_deg)
                 for vehicle in self.fleet.vehicles(self.config.hub_id)
                 if vehicle.kind is VehicleKind.DRONE and (state := vehicle.state()) is not None]
        return max(winds, key=lambda w: math.hypot(*w), default=(0.0, 0.0))

    def _plannable(self, order: Order, now_s: float) -> bool:
        if order.order_id in self.missions.claimed:
            return False
        return order.window_start_s is None or order.window_start_s - self.config.lookahead_s <= now_s


"""The order lifecycle on the vehicle side: every status change a mission causes, each one transaction.

Loading a mission (planned -> assigned -> loaded), departure (out_for_delivery), hand-over at the
door (delivered, delivered_to_locker or attempt_failed), a refusal before departure, the end of
a mission (parcels still aboard go back to the hub and out again), and the failed-attempt policy:
an attempt the recipient leaves unanswered is rescheduled once, then diverted to the nearest
locker with a pickup code valid for `locker_code_ttl_s`. The actor of every change is
'dispatcher'; the state machine itself lives in `domain.state_machine` and the store.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from mission_planner.clock import Clock

from .adapters.base import Mission, MissionOutcome
from .domain.errors import Conflict, NotFound
from .domain.orders import DeliveryMode, OrderStatus
from .handover import RecipientCheck
from .learning import leg_facts as facts
from .learning.eta_service import Departure, EtaService
from .missions import mission_steps_json
from .store import fleet as fleet_store
from .store import lockers as locker_store
from .store import order_queries, outbox
from .store import orders as order_store
from .store.db import Database

logger = logging.getLogger(__name__)

ACTOR = "dispatcher"
_MISSION_STATUS = {
    MissionOutcome.SUCCEEDED: fleet_store.MissionStatus.SUCCEEDED,
    MissionOutcome.CANCELED: fleet_store.MissionStatus.CANCELED,
}


@dataclass(frozen=True)
class AttemptPolicy:
    """What happens after a failed delivery attempt; durations are seconds of the fleet clock."""

    answer_grace_s: float = 600.0  # time the recipient has to answer a failed attempt
    retry_delay_s: float = 1800.0
    retry_window_s: float = 7200.0
    max_attempts: int = 2
    locker_code_ttl_s: float = 7 * 24 * 3600.0  # FINALMILE_LOCKER_CODE_TTL_S


class OrderLifecycle:
    """Order and mission records for one hub's missions; each method is one transaction."""

    def __init__(
        self, *, database: Database, clock: Clock, hub_id: str, recipients: RecipientCheck,
        policy: AttemptPolicy | None = None, eta: EtaService | None = None,
    ) -> None:
        self.database = database
        self.clock = clock
        self.hub_id = hub_id
        self.recipients = recipients
        self.policy = policy or AttemptPolicy()
        self.eta = eta or EtaService()

    async def requeue_orphans(self) -> list[str]:
        """After a restart: planned/assigned orders whose mission is gone or over go back to ready."""
        now_s = self.clock.now()
        return await self.database.write_async(
            lambda s: order_store.requeue_orphaned_orders(s, hub_id=self.hub_id, actor=ACTOR, at_s=now_s))

    async def load(
        self, *, mission: Mission, vehicle_id: str, mode: DeliveryMode, order_ids: Sequence[str],
        details: dict[str, Any],
    ) -> list[str]:
        """Store the mission and move its orders planned -> assigned -> loaded; returns the orders aboard.

        A parcel diverted to a locker stays diverted_to_locker until it is in the compartment.
        Raises Conflict / NotFound when an order moved meanwhile (nothing is written then).
        """
        now_s = self.clock.now()

        def load(session: Session) -> list[str]:
            fleet_store.create_mission(
                session, mission_id=mission.mission_id, hub_id=self.hub_id, vehicle_id=vehicle_id,
                order_ids=order_ids, steps=mission_steps_json(mission), at_s=now_s, details=details,
            )
            loaded = []
            for order_id in order_ids:
                order = order_store.get_order(session, order_id=order_id)
                if order.status is not OrderStatus.DIVERTED_TO_LOCKER:
                    for target in (OrderStatus.PLANNED, OrderStatus.ASSIGNED, OrderStatus.LOADED):
                        order_store.transition_order(
                            session, order_id=order_id, to_status=target, actor=ACTOR,
                            reason=f"{mode.value} mission {mission.mission_id}", at_s=now_s,
                            vehicle_id=vehicle_id, mission_id=mission.mission_id,
                        )
                loaded.append(order_id)
            return loaded

        return await self.database.write_async(load)

    async def depart(
        self, *, mission_id: str, vehicle_id: str, mode: DeliveryMode, order_ids: Sequence[str],
        eta_s: dict[str, float], legs: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        """The vehicle has begun its mission: the mission runs, its loaded orders are out for delivery.

        Each parcel's ETA window comes from the hub's `EtaService` (a trained model, else the planner's
        ETA ± the fixed margin); `legs` are the planned facts of each parcel's leg (`eta_service.leg_plans`).
        """
        now_s = self.clock.now()
        legs = legs or {}

        def depart(session: Session) -> None:
            fleet_store.update_mission(session, mission_id=mission_id, status=fleet_store.MissionStatus.RUNNING,
                                       at_s=now_s)
            in_flight = order_store.count_on_the_way(session, hub_id=self.hub_id)
            for order_id in order_ids:
                order = order_store.get_order(session, order_id=order_id)
                if order.status is not OrderStatus.LOADED:
                    continue
                leg = dict(legs.get(order_id, {}))
                departure = Departure(order_id=order_id, mode=mode.value, depart_at_s=now_s,
                                      planned_eta_s=eta_s.get(order_id), leg=leg, weight_kg=order.weight_kg,
                                      legs_in_flight=in_flight)
                window = self.eta.window(departure, now_s)
                details: dict[str, Any] = {"eta_s": eta_s.get(order_id), "mode": mode.value, **leg}
                if window is not None and self.eta.predicts:
                    details.update(eta_earliest_s=window["earliest_s"], eta_latest_s=window["latest_s"],
                                   eta_source=window["source"])
                order_store.transition_order(
                    session, order_id=order_id, to_status=OrderStatus.OUT_FOR_DELIVERY, actor=ACTOR,
                    reason=f"{vehicle_id} departed", at_s=now_s, mode=mode, vehicle_id=vehicle_id,
                    mission_id=mission_id, details=details,
                )
                if window is not None:
                    self._keep_eta(session, departure, window, now_s)

        await self.database.write_async(depart)

    async def refresh_etas(self, *, order_ids: Sequence[str]) -> None:
        """The mission progressed (a hand-over): the windows of the parcels still aboard are predicted again."""
        if not self.eta.predicts or not order_ids:
            return
        now_s = self.clock.now()

        def refresh(session: Session) -> None:
            in_flight = order_store.count_on_the_way(session, hub_id=self.hub_id)
            for order_id in order_ids:
                order = order_store.get_order(session, order_id=order_id)
                kept = order.eta
                if order.status is not OrderStatus.OUT_FOR_DELIVERY or "depart_at_s" not in kept:
                    continue
                departure = Departure(order_id=order_id, mode=str(kept.get("mode", "")),
                                      depart_at_s=float(kept["depart_at_s"]), planned_eta_s=kept.get("planned_eta_s"),
                                      leg=dict(kept.get("leg", {})), weight_kg=order.weight_kg,
                                      legs_in_flight=in_flight)
                window = self.eta.window(departure, now_s)
                if window is not None:
                    self._keep_eta(session, departure, {**window, "arriving_soon_sent": kept.get("arriving_soon_sent",
                                                                                                 False)}, now_s)

        await self.database.write_async(refresh)

    async def rerouted_etas(self, *, drive_to_stop_s: Mapping[str, tuple[float, float]]) -> dict[str, dict[str, Any]]:
        """A traffic re-route changed the van's way to these parcels: each one's planned ETA moves by the extra drive
        time over free flow the plan assumed (never earlier than the drive to its stop from now) and its window is
        predicted again (model, else the fixed margin). `drive_to_stop_s`: order -> (drive s on the new route,
        extra s over free flow). Returns the new windows (epoch s) per order still out for delivery."""
        if not drive_to_stop_s:
            return {}
        now_s = self.clock.now()

        def refresh(session: Session) -> dict[str, dict[str, Any]]:
            in_flight = order_store.count_on_the_way(session, hub_id=self.hub_id)
            windows: dict[str, dict[str, Any]] = {}
            for order_id, (drive_s, extra_s) in drive_to_stop_s.items():
                order = order_store.get_order(session, order_id=order_id)
                kept = order.eta
                if order.status is not OrderStatus.OUT_FOR_DELIVERY or kept.get("planned_eta_s") is None:
                    continue
                planned_eta_s = max(float(kept["planned_eta_s"]) + extra_s, now_s + drive_s)
                depart_at_s = float(kept.get("depart_at_s", now_s))
                leg = {**dict(kept.get("leg", {})), facts.PLANNED_DURATION_KEY: round(planned_eta_s - depart_at_s, 1)}
                departure = Departure(order_id=order_id, mode=str(kept.get("mode", "")), depart_at_s=depart_at_s,
                                      planned_eta_s=planned_eta_s, leg=leg, weight_kg=order.weight_kg,
                                      legs_in_flight=in_flight)
                window = self.eta.window(departure, now_s)
                if window is None:
                    continue
                self._keep_eta(session, departure, {**window, "arriving_soon_sent": kept.get("arriving_soon_sent",
                                                                                             False)}, now_s)
                windows[order_id] = {k: window[k] for k in ("earliest_s", "expected_s", "latest_s", "source")}
            return windows

        return await self.database.write_async(refresh)

    def _keep_eta(self, session: Session, departure: Departure, window: dict[str, Any], now_s: float) -> None:
        """Store the window (with what a refresh needs) and announce 'arriving soon' once when it is close."""
        stored = {**window, "depart_at_s": departure.depart_at_s, "planned_eta_s": departure.planned_eta_s,
                  "mode": departure.mode, "leg": dict(departure.leg)}
        minutes = self.eta.arriving_soon(stored, now_s)
        if minutes is not None:
            order_store.notify_arriving_soon(session, order_id=departure.order_id, minutes=minutes, at_s=now_s,
                                             window=(window["earliest_s"], window["latest_s"]))
            stored["arriving_soon_sent"] = True
        order_store.set_eta(session, order_id=departure.order_id, eta=stored)

    async def cancelled_among(self, order_ids: Sequence[str]) -> list[str]:
        """The orders of `order_ids` that have been cancelled."""
        def read(session: Session) -> list[str]:
            return [o for o in order_ids
                    if order_store.get_order(session, order_id=o).status is OrderStatus.CANCELLED]

        return await self.database.read_async(read)

    async def note_mission(self, *, mission_id: str, details: dict[str, Any]) -> None:
        """Add details to a running mission's record (its status unchanged)."""
        now_s = self.clock.now()

        def note(session: Session) -> None:
            record = fleet_store.get_mission(session, mission_id=mission_id)
            fleet_store.update_mission(session, mission_id=mission_id, status=record.status, at_s=now_s,
                                       details=details)

        await self.database.write_async(note)

    async def refused(self, *, mission_id: str, order_ids: Sequence[str], why: str) -> None:
        """The vehicle refused the mission before leaving: the mission failed, its parcels are ready again."""
        now_s = self.clock.now()

        def unload(session: Session) -> None:
            fleet_store.update_mission(session, mission_id=mission_id, status=fleet_store.MissionStatus.FAILED,
                                       at_s=now_s, details={"error": why})
            for order_id in order_ids:
                if order_store.get_order(session, order_id=order_id).status is OrderStatus.LOADED:
                    order_store.transition_order(
                        session, order_id=order_id, to_status=OrderStatus.READY, actor=ACTOR,
                        reason=f"vehicle refused the mission: {why}", at_s=now_s,
                    )

        await self.database.write_async(unload)

    async def needs_review(self, *, order_ids: Sequence[str], vehicle_id: str, why: str) -> None:
        """Parcels nobody can place (handed over or still aboard?): an operator confirms; the webhook says why."""
        now_s = self.clock.now()

        def review(session: Session) -> None:
            for order_id in order_ids:
                order_store.transition_order(session, order_id=order_id, to_status=OrderStatus.NEEDS_REVIEW,
                                             actor=ACTOR, reason=why, at_s=now_s, details={"vehicle_id": vehicle_id})

        await self.database.write_async(review)

    async def recipient_takes(self, order_id: str) -> bool:
        """At the drop point, before anything leaves the vehicle: may the parcel be let go here?

        A locker takes it; a leave-at-door order needs nobody; otherwise the recipient-presence service
        answers. An order no longer on its way (cancelled meanwhile, say) is never released.
        """
        order = await self.database.read_async(lambda s: order_store.get_order(s, order_id=order_id))
        if order.status is OrderStatus.DIVERTED_TO_LOCKER:
            return True
        if order.status not in (OrderStatus.OUT_FOR_DELIVERY, OrderStatus.HANDED_OFF):
            return False
        return order.leave_at_door or await self.recipients.is_present(order)

    async def hand_over(
        self, *, order_id: str, vehicle_id: str, latitude_deg: float | None, longitude_deg: float | None,
        present: bool | None = None,
    ) -> OrderStatus | None:
        """The parcel is at the door (or in the locker): delivered, delivered_to_locker or attempt_failed.

        `present`: the recipient's answer when it was asked before the release (`recipient_takes`); None asks
        the recipient-presence service now, unless the recipient asked to leave it at the door.
        Returns the new status, None when the order was in no state to be handed over.
        """
        now_s = self.clock.now()
        order = await self.database.read_async(lambda s: order_store.get_order(s, order_id=order_id))
        if order.status is OrderStatus.DIVERTED_TO_LOCKER:
            target, reason = OrderStatus.DELIVERED_TO_LOCKER, f"placed in locker {order.locker_id}"
        elif order.status in (OrderStatus.OUT_FOR_DELIVERY, OrderStatus.HANDED_OFF):
            present = order.leave_at_door or (present if present is not None else await self.recipients.is_present(
                order))
            target = OrderStatus.DELIVERED if present else OrderStatus.ATTEMPT_FAILED
            reason = "handed to the recipient" if present else "recipient not at home"
            if order.leave_at_door:
                reason = "left at the door as the recipient asked"
        else:
            logger.warning("%s: order %s is %s at hand-over", vehicle_id, order_id, order.status.value)
            return None
        details = {"latitude_deg": latitude_deg, "longitude_deg": longitude_deg, "vehicle_id": vehicle_id,
                   "reason": reason}
        try:
            await self.database.write_async(lambda s: order_store.transition_order(
                s, order_id=order_id, to_status=target, actor=ACTOR, reason=reason, at_s=now_s, details=details,
                vehicle_id=vehicle_id,
            ))
        except Conflict as exc:
            logger.warning("%s: hand-over of %s not recorded: %s", vehicle_id, order_id, exc)
            return None
        return target

    async def carrying_event(self, what: str, *, van_id: str, vehicle_id: str, data: dict[str, Any]) -> None:
        """A van's step with a vehicle it carries (`loaded`, `launched`, `launch_given_up`, `recovered`,
        `recovery_failed`, `unloaded`) as event `vehicle.<what>` on the stream and the webhooks."""
        now_s = self.clock.now()
        body = {"van_id": van_id, "vehicle_id": vehicle_id, "at_s": now_s, **data}
        await self.database.write_async(lambda s: outbox.append_event(
            s, hub_id=self.hub_id, event_type=f"vehicle.{what}", subject=f"vehicles/{vehicle_id}", data=body,
            at_s=now_s))

    async def settle(self, *, mission_id: str, outcome: MissionOutcome, aboard: Sequence[str], why: str = "") -> None:
        """Mission over: parcels still aboard go back to the hub and out again; the mission gets its status."""
        now_s = self.clock.now()
        status = _MISSION_STATUS.get(outcome, fleet_store.MissionStatus.FAILED)
        details: dict[str, Any] = {"outcome": outcome.value, "parcels_brought_back": list(aboard)}
        if why:
            details["reason"] = why

        def settle(session: Session) -> None:
            fleet_store.update_mission(session, mission_id=mission_id, status=status, at_s=now_s, details=details)
            for order_id in aboard:
                order = order_store.get_order(session, order_id=order_id)
                if order.status in (OrderStatus.OUT_FOR_DELIVERY, OrderStatus.HANDED_OFF):
                    order_store.transition_order(
                        session, order_id=order_id, to_status=OrderStatus.RETURNED_TO_HUB, actor=ACTOR,
                        reason=f"mission {outcome.value}; parcel brought back" + (f" ({why})" if why else ""),
                        at_s=now_s,
                    )
                    order_store.transition_order(session, order_id=order_id, to_status=OrderStatus.READY,
                                                 actor=ACTOR, reason="goes out again", at_s=now_s)
                elif order.status is OrderStatus.LOADED:
                    order_store.transition_order(session, order_id=order_id, to_status=OrderStatus.READY,
                                                 actor=ACTOR, reason="mission ended before departure", at_s=now_s)
                # diverted_to_locker: never left the locker queue; the next cycle plans it again

        await self.database.write_async(settle)

    async def replaced(
        self, *, old_mission_id: str, mission: Mission, vehicle_id: str, mode: DeliveryMode, order_ids: Sequence[str]
    ) -> None:
        """A re-route replaced a running mission: the new one is stored as running, the old one canceled."""
        now_s = self.clock.now()

        def record(session: Session) -> None:
            fleet_store.create_mission(
                session, mission_id=mission.mission_id, hub_id=self.hub_id, vehicle_id=vehicle_id,
                order_ids=order_ids, steps=mission_steps_json(mission), at_s=now_s,
                details={"mode": mode.value, "replaces": old_mission_id, "cruise_speed_m_s": mission.cruise_speed_m_s},
            )
            fleet_store.update_mission(session, mission_id=mission.mission_id,
                                       status=fleet_store.MissionStatus.RUNNING, at_s=now_s)
            fleet_store.update_mission(session, mission_id=old_mission_id, status=fleet_store.MissionStatus.CANCELED,
                                       at_s=now_s, details={"replaced_by": mission.mission_id})

        try:
            await self.database.write_async(record)
        except (Conflict, NotFound) as exc:
            logger.warning("%s: could not record re-route %s: %s", vehicle_id, mission.mission_id, exc)

    async def follow_up_failed_attempts(self, *, busy_vehicle_ids: frozenset[str], now_s: float | None = None,
                                        on_missions: frozenset[str] | None = None) -> None:
        """Failed attempts the recipient left unanswered: reschedule once, then the nearest locker.

        A parcel still on the mission that failed it waits for that mission's end: `on_missions` are the orders of
        the missions under way (when given), else every order whose vehicle is in `busy_vehicle_ids` waits (which
        also held back a parcel long unloaded while its vehicle flew its next mission: found stuck on the safety
        days). Each order is its own transaction, so one that cannot be diverted (every locker full) does not hold
        the others back.
        """
        now_s = self.clock.now() if now_s is None else now_s
        policy = self.policy
        page = await self.database.read_async(lambda s: order_queries.list_orders(
            s, hub_ids=[self.hub_id], statuses=[OrderStatus.ATTEMPT_FAILED], limit=200))
        for order in page.orders:
            aboard = order.order_id in on_missions if on_missions is not None else order.vehicle_id in busy_vehicle_ids
            if now_s - order.updated_at_s < policy.answer_grace_s or aboard:
                continue
            decide = functools.partial(self._reschedule if order.attempts < policy.max_attempts else self._divert,
                                       order_id=order.order_id, attempts=order.attempts, now_s=now_s)
            try:
                await self.database.write_async(decide)
            except (Conflict, NotFound) as exc:
                logger.warning("failed attempt of %s: %s", order.order_id, exc)

    def _reschedule(self, session: Session, *, order_id: str, attempts: int, now_s: float) -> None:
        """Another attempt later (the recipient did not answer)."""
        policy = self.policy
        order_store.reschedule_order(
            session, order_id=order_id, window_start_s=now_s + policy.retry_delay_s,
            window_end_s=now_s + policy.retry_delay_s + policy.retry_window_s, actor=ACTOR, at_s=now_s,
        )

    def _divert(self, session: Session, *, order_id: str, attempts: int, now_s: float) -> None:
        """Too many failed attempts: the nearest locker, with a pickup code valid for the configured TTL.

        A cold-chain parcel goes only to a conditioned locker; with none free it stays in the hub's cold store.
        """
        order = order_store.get_order(session, order_id=order_id)
        if order.is_cold_chain:
            try:
                locker_store.choose_locker(session, hub_id=order.hub_id, latitude_deg=order.destination.latitude_deg,
                                           longitude_deg=order.destination.longitude_deg, at_s=now_s, locker_id=None,
                                           conditioned_only=True)
            except Conflict as exc:
                order_store.transition_order(
                    session, order_id=order_id, to_status=OrderStatus.RETURNED_TO_HUB, actor=ACTOR, at_s=now_s,
                    reason=f"{attempts} failed attempts; cold-chain parcel kept in the hub's cold store ({exc})")
                return
        order_store.transition_order(
            session, order_id=order_id, to_status=OrderStatus.DIVERTED_TO_LOCKER, actor=ACTOR,
            reason=f"{attempts} failed attempts: nearest locker", at_s=now_s,
            code_ttl_s=self.policy.locker_code_ttl_s,
        )

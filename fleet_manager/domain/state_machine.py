"""The order state machine: every legal status change, in one table.

The issue's main line is received → awaiting_customs → ready → planned → assigned → loaded →
out_for_delivery → handed_off → delivered, with attempt_failed → rescheduled | diverted_to_locker
→ delivered_to_locker, returned_to_hub and cancelled. Extra edges chosen here (each has a `why`):

- received → ready when the parcel arrives already cleared; nothing reaches `ready` uncleared.
- cancel from every state before the parcel is on a vehicle (received … loaded, rescheduled,
  returned_to_hub, diverted_to_locker before it is in the locker).
- planned/assigned/loaded → ready: the dispatcher drops a plan (re-plan, vehicle failed before
  departure, parcel unloaded).
- out_for_delivery/handed_off → returned_to_hub: a vehicle aborts mid-mission and brings it back.
- rescheduled → planned (the dispatcher plans the new window); returned_to_hub → ready | rescheduled
  | diverted_to_locker so a returned parcel can go out again.
- ready/planned → diverted_to_locker: a recipient asks for a locker before the parcel leaves.
- delivered_to_locker → picked_up (the recipient used the one-time code) | returned_to_hub
  (never collected).

- received → address_review when a typed address did not resolve with confidence; address_review →
  ready | awaiting_customs once an operator picks the building (never dispatched on a guess) | cancelled.
- on_hold from every state where the parcel is still at the hub (a cold-chain excursion before
  departure); on_hold → ready | awaiting_customs when an operator releases it | cancelled.

Terminal: delivered, picked_up, cancelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import IllegalTransition
from .orders import DeliveryMode, OrderStatus

S = OrderStatus


@dataclass(frozen=True)
class Transition:
    """One legal edge of the order state machine."""

    source: OrderStatus
    target: OrderStatus
    why: str


TRANSITIONS: tuple[Transition, ...] = (
    Transition(S.RECEIVED, S.AWAITING_CUSTOMS, "parcel waits for customs clearance"),
    Transition(S.RECEIVED, S.READY, "parcel arrived already cleared"),
    Transition(S.RECEIVED, S.CANCELLED, "backend cancelled"),
    Transition(S.AWAITING_CUSTOMS, S.READY, "customs cleared"),
    Transition(S.AWAITING_CUSTOMS, S.CANCELLED, "backend cancelled / customs refused"),
    Transition(S.READY, S.PLANNED, "dispatcher put it in a plan"),
    Transition(S.READY, S.DIVERTED_TO_LOCKER, "recipient asked for a locker before dispatch"),
    Transition(S.READY, S.CANCELLED, "backend cancelled"),
    Transition(S.PLANNED, S.ASSIGNED, "dispatcher gave it to a vehicle"),
    Transition(S.PLANNED, S.READY, "plan dropped (re-plan)"),
    Transition(S.PLANNED, S.DIVERTED_TO_LOCKER, "recipient asked for a locker before dispatch"),
    Transition(S.PLANNED, S.CANCELLED, "backend cancelled"),
    Transition(S.ASSIGNED, S.LOADED, "parcel loaded on the vehicle"),
    Transition(S.ASSIGNED, S.READY, "vehicle unavailable before loading"),
    Transition(S.ASSIGNED, S.CANCELLED, "backend cancelled"),
    Transition(S.LOADED, S.OUT_FOR_DELIVERY, "vehicle departed"),
    Transition(S.LOADED, S.READY, "parcel unloaded at the hub"),
    Transition(S.LOADED, S.CANCELLED, "backend cancelled before departure"),
    Transition(S.OUT_FOR_DELIVERY, S.HANDED_OFF, "van launched a drone/robot with the parcel"),
    Transition(S.OUT_FOR_DELIVERY, S.DELIVERED, "handed to the recipient"),
    Transition(S.OUT_FOR_DELIVERY, S.ATTEMPT_FAILED, "recipient absent / drop refused"),
    Transition(S.OUT_FOR_DELIVERY, S.RETURNED_TO_HUB, "mission aborted, parcel brought back"),
    Transition(S.HANDED_OFF, S.DELIVERED, "handed to the recipient"),
    Transition(S.HANDED_OFF, S.ATTEMPT_FAILED, "recipient absent / drop refused"),
    Transition(S.HANDED_OFF, S.RETURNED_TO_HUB, "mission aborted, parcel brought back"),
    Transition(S.OUT_FOR_DELIVERY, S.NEEDS_REVIEW, "after a restart nobody can tell whether it was handed over"),
    Transition(S.HANDED_OFF, S.NEEDS_REVIEW, "after a restart nobody can tell whether it was handed over"),
    Transition(S.NEEDS_REVIEW, S.DELIVERED, "operator confirmed the hand-over"),
    Transition(S.NEEDS_REVIEW, S.RETURNED_TO_HUB, "operator confirmed the parcel is back at the hub"),
    Transition(S.ATTEMPT_FAILED, S.RESCHEDULED, "new delivery window"),
    Transition(S.ATTEMPT_FAILED, S.DIVERTED_TO_LOCKER, "sent to a parcel locker"),
    Transition(S.ATTEMPT_FAILED, S.RETURNED_TO_HUB, "brought back to the hub"),
    Transition(S.RESCHEDULED, S.PLANNED, "dispatcher planned the new window"),
    Transition(S.RESCHEDULED, S.DIVERTED_TO_LOCKER, "recipient chose a locker instead"),
    Transition(S.RESCHEDULED, S.CANCELLED, "backend cancelled"),
    Transition(S.DIVERTED_TO_LOCKER, S.DELIVERED_TO_LOCKER, "parcel placed in the locker compartment"),
    Transition(S.DIVERTED_TO_LOCKER, S.RETURNED_TO_HUB, "locker trip aborted"),
    Transition(S.DIVERTED_TO_LOCKER, S.CANCELLED, "backend cancelled before the locker drop"),
    Transition(S.DELIVERED_TO_LOCKER, S.PICKED_UP, "recipient opened the compartment with the code"),
    Transition(S.DELIVERED_TO_LOCKER, S.RETURNED_TO_HUB, "not collected in time"),
    Transition(S.RETURNED_TO_HUB, S.READY, "goes out again"),
    Transition(S.RETURNED_TO_HUB, S.RESCHEDULED, "new delivery window"),
    Transition(S.RETURNED_TO_HUB, S.DIVERTED_TO_LOCKER, "sent to a parcel locker"),
    Transition(S.RETURNED_TO_HUB, S.CANCELLED, "returned to sender"),
    Transition(S.RECEIVED, S.ADDRESS_REVIEW, "typed address needs an operator to pick the building"),
    Transition(S.ADDRESS_REVIEW, S.READY, "operator confirmed the address"),
    Transition(S.ADDRESS_REVIEW, S.AWAITING_CUSTOMS, "operator confirmed the address; waits for customs"),
    Transition(S.ADDRESS_REVIEW, S.CANCELLED, "backend cancelled / address cannot be delivered"),
    *(Transition(source, S.ON_HOLD, "condition excursion while the parcel is at the hub")
      for source in (S.ADDRESS_REVIEW, S.AWAITING_CUSTOMS, S.READY, S.PLANNED, S.ASSIGNED, S.LOADED, S.RESCHEDULED,
                     S.DIVERTED_TO_LOCKER, S.RETURNED_TO_HUB)),
    Transition(S.ON_HOLD, S.READY, "operator released the parcel"),
    Transition(S.ON_HOLD, S.AWAITING_CUSTOMS, "operator released the parcel; waits for customs"),
    Transition(S.ON_HOLD, S.CANCELLED, "parcel written off / returned to sender"),
)

_EDGES: Mapping[tuple[OrderStatus, OrderStatus], Transition] = {(t.source, t.target): t for t in TRANSITIONS}

#: Statuses a parcel can only be in after customs cleared it.
CLEARED_ONLY: frozenset[OrderStatus] = frozenset(S) - {S.RECEIVED, S.AWAITING_CUSTOMS, S.CANCELLED,
                                                      S.ADDRESS_REVIEW, S.ON_HOLD}
#: Statuses the dispatcher may pick orders from.
DISPATCHABLE: frozenset[OrderStatus] = frozenset({S.READY, S.RESCHEDULED, S.DIVERTED_TO_LOCKER})
#: Statuses that need a delivery mode (the vehicle kind on the last leg).
NEEDS_MODE: frozenset[OrderStatus] = frozenset({S.OUT_FOR_DELIVERY, S.HANDED_OFF})
#: Statuses where the parcel is still at the hub (a condition excursion holds it there).
AT_HUB: frozenset[OrderStatus] = frozenset(t.source for t in TRANSITIONS if t.target is S.ON_HOLD)
#: Statuses with no way out.
TERMINAL: frozenset[OrderStatus] = frozenset(s for s in S if not any(t.source is s for t in TRANSITIONS))
#: Statuses an order can be cancelled from.
CANCELLABLE: frozenset[OrderStatus] = frozenset(t.source for t in TRANSITIONS if t.target is S.CANCELLED)


def allowed_targets(source: OrderStatus) -> frozenset[OrderStatus]:
    """Every status reachable from `source` in one step."""
    return frozenset(t.target for t in TRANSITIONS if t.source is source)


def check_transition(
    order_id: str,
    source: OrderStatus,
    target: OrderStatus,
    *,
    customs_cleared: bool,
    mode: DeliveryMode | None = None,
) -> Transition:
    """Return the edge for source -> target, or raise IllegalTransition saying why not."""
    edge = _EDGES.get((source, target))
    if edge is None:
        allowed = ", ".join(sorted(s.value for s in allowed_targets(source))) or "none (terminal)"
        raise IllegalTransition(order_id, source.value, target.value, f"allowed from {source.value}: {allowed}")
    if target in CLEARED_ONLY and not customs_cleared:
        raise IllegalTransition(order_id, source.value, target.value, "parcel has not cleared customs")
    if target in NEEDS_MODE and mode is None:
        raise IllegalTransition(order_id, source.value, target.value, "a delivery mode (drone|robot|van) is required")
    if target is S.HANDED_OFF and mode is DeliveryMode.VAN:
        raise IllegalTransition(order_id, source.value, target.value, "a hand-off goes from a van to a drone or robot")
    return edge

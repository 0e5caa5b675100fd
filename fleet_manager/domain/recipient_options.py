"""What a recipient may still ask for an order: reschedule, redirect to a locker, leave at the door.

Pure rules shared by the store (which enforces them under the order's row lock) and the tracking page
(which shows only the choices that are open, and says why the others are not). Each `*_refusal`
returns "" when the action is open, else one sentence a recipient can read.

- reschedule: until the parcel is loaded on a vehicle; again after a failed attempt or a return to the
  hub. Not once it is with a locker (the pickup code is the recipient's new window).
- redirect to a locker: where the state machine has the edge (before dispatch, after a failed attempt,
  after a return to the hub); never while a vehicle carries the parcel (its mission would have to change).
- leave at the door: where the order allows it, until the parcel is handed over or sent to a locker.
"""

from __future__ import annotations

from .orders import Order, OrderStatus
from .state_machine import TERMINAL, allowed_targets

S = OrderStatus

#: A vehicle has (or is about to have) the parcel aboard: its plan no longer changes for the recipient.
ON_A_VEHICLE: frozenset[OrderStatus] = frozenset({S.LOADED, S.OUT_FOR_DELIVERY, S.HANDED_OFF})
#: The parcel is, or is going, in a locker.
AT_A_LOCKER: frozenset[OrderStatus] = frozenset({S.DIVERTED_TO_LOCKER, S.DELIVERED_TO_LOCKER})


def _closed(status: OrderStatus) -> str:
    """Why nothing can change any more ('' when the order is still open)."""
    if status is S.CANCELLED:
        return "the order was cancelled"
    if status in TERMINAL:
        return "the parcel has already been delivered"
    return ""


def _refusal(status: OrderStatus, *, on_a_vehicle: str, at_a_locker: str) -> str:
    """The reason shared by the choices that change where or when the parcel goes ('' when still open)."""
    if _closed(status):
        return _closed(status)
    if status in ON_A_VEHICLE:
        return on_a_vehicle
    if status in AT_A_LOCKER:
        return at_a_locker
    return ""


def reschedule_refusal(status: OrderStatus) -> str:
    """Why the delivery window can no longer be changed ('' when it can)."""
    return _refusal(status, on_a_vehicle="the parcel is already on a vehicle on its way; a new window can be "
                    "picked if this attempt fails",
                    at_a_locker="the parcel goes to a parcel locker; collect it there with the code you were sent")


def redirect_refusal(order: Order) -> str:
    """Why the parcel can no longer be sent to a locker ('' when it can)."""
    refusal = _refusal(order.status, on_a_vehicle="the parcel is already on a vehicle on its way; a locker can be "
                       "chosen if this attempt fails", at_a_locker="the parcel already goes to a parcel locker")
    if refusal:
        return refusal
    if S.DIVERTED_TO_LOCKER not in allowed_targets(order.status) or not order.customs_cleared:
        return "the parcel is not ready for dispatch yet (customs or address check); try again later"
    return ""


def leave_at_door_refusal(order: Order) -> str:
    """Why leaving the parcel at the door is not possible ('' when it is)."""
    if not order.allow_leave_at_door:
        return "the sender does not allow leaving this parcel at the door"
    if _closed(order.status):
        return _closed(order.status)
    if order.status in AT_A_LOCKER:
        return "the parcel goes to a parcel locker"
    return ""

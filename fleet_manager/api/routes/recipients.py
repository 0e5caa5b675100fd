"""The recipient's answers, relayed by the backend: reschedule, redirect to a locker, leave at the door.

Each order takes at most FINALMILE_RECIPIENT_ACTIONS_PER_MINUTE of them a minute (429 with Retry-After).
"""

from __future__ import annotations

from fastapi import APIRouter

from fleet_manager.store import orders as order_store

from ..deps import Backend, ServiceDep
from ..limits import PathId
from ..schemas import LeaveAtDoorIn, OrderOut, RedirectIn, RescheduleIn

router = APIRouter(prefix="/orders", tags=["recipient actions"])


@router.post("/{order_id}/reschedule")
def reschedule(order_id: PathId, body: RescheduleIn, service: ServiceDep, caller: Backend) -> OrderOut:
    """Deliver in a new window (after a failed attempt, or before the parcel is loaded)."""
    service.recipient_limiter.check(order_id)
    with service.write() as session:
        order = order_store.reschedule_order(
            session,
            order_id=order_id,
            window_start_s=body.window_start.timestamp(),
            window_end_s=body.window_end.timestamp(),
            actor=caller.actor,
            at_s=service.now(),
        )
    return OrderOut.of(order)


@router.post("/{order_id}/redirect-to-locker")
def redirect_to_locker(
    order_id: PathId, service: ServiceDep, caller: Backend, body: RedirectIn | None = None
) -> OrderOut:
    """Send the parcel to a locker (given or nearest with room); the code goes out in the notification."""
    service.recipient_limiter.check(order_id)
    with service.write() as session:
        order = order_store.redirect_to_locker(
            session,
            order_id=order_id,
            locker_id=body.locker_id if body else None,
            actor=caller.actor,
            at_s=service.now(),
            code_ttl_s=service.settings.locker_code_ttl_s,
        )
    return OrderOut.of(order)


@router.post("/{order_id}/leave-at-door")
def leave_at_door(
    order_id: PathId, service: ServiceDep, caller: Backend, body: LeaveAtDoorIn | None = None
) -> OrderOut:
    """Allow (or withdraw) leaving the parcel at the door, where the order permits it (409 otherwise)."""
    service.recipient_limiter.check(order_id)
    with service.write() as session:
        order = order_store.set_leave_at_door(
            session,
            order_id=order_id,
            leave_at_door=body.leave_at_door if body else True,
            actor=caller.actor,
            at_s=service.now(),
        )
    return OrderOut.of(order)

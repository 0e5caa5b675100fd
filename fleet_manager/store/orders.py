"""Order queries and every order write: create, status transitions (with audit, outbox, notifications),
customs clearance, cancellation and the recipient's answers. Callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet_manager.domain import notifications, recipient_options
from fleet_manager.domain.errors import Conflict, NotFound
from fleet_manager.domain.orders import Address, DeliveryMode, Order, OrderStatus, Recipient
from fleet_manager.domain.state_machine import check_transition

from . import lockers as locker_store
from . import tracking
from .models import MissionRow, NotificationRow, OrderEventRow, OrderRow
from .outbox import SECRET_FIELDS, append_event

STATUS_CHANGED = "order.status_changed"
ORDER_UPDATED = "order.updated"


@dataclass(frozen=True)
class NewOrder:
    """What the backend sends to create an order."""

    hub_id: str
    recipient: Recipient
    destination: Address
    weight_kg: float
    customs_cleared: bool = False
    reference: str = ""
    window_start_s: float | None = None
    window_end_s: float | None = None
    allow_leave_at_door: bool = False
    metadata: Mapping[str, Any] | None = None
    handling: Mapping[str, Any] | None = None  # domain.handling.Handling.to_json()
    address_resolution: Mapping[str, Any] | None = None  # the typed address and its resolution (see address_reviews)
    needs_address_review: bool = False  # start in address_review: an operator picks the building first


@dataclass(frozen=True)
class OrderPage:
    """A page of orders and the cursor of the next page (None at the end)."""

    orders: list[Order]
    next_cursor: str | None


def to_order(row: OrderRow) -> Order:
    """Row -> immutable domain record."""
    return Order(
        order_id=row.order_id,
        hub_id=row.hub_id,
        status=OrderStatus(row.status),
        reference=row.reference,
        recipient=Recipient(row.recipient_name, row.recipient_phone, row.recipient_email),
        destination=Address(row.latitude_deg, row.longitude_deg, row.street, row.city, row.postcode),
        weight_kg=row.weight_kg,
        customs_cleared=row.customs_cleared,
        created_at_s=row.created_at_s,
        updated_at_s=row.updated_at_s,
        version=row.version,
        window_start_s=row.window_start_s,
        window_end_s=row.window_end_s,
        allow_leave_at_door=row.allow_leave_at_door,
        leave_at_door=row.leave_at_door,
        mode=DeliveryMode(row.mode) if row.mode else None,
        vehicle_id=row.vehicle_id,
        mission_id=row.mission_id,
        locker_id=row.locker_id,
        attempts=row.attempts,
        metadata=dict(row.extra or {}),
        handling=dict(row.handling or {}),
        address_resolution=dict(row.address_resolution or {}),
        unplannable_reason=row.unplannable_reason or "",
        eta=dict(row.eta or {}),
        customs_forecast=dict(row.customs_forecast or {}),
    )


def _order_data(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "hub_id": order.hub_id,
        "reference": order.reference,
        "status": order.status.value,
        "mode": order.mode.value if order.mode else None,
        "vehicle_id": order.vehicle_id,
        "mission_id": order.mission_id,
        "locker_id": order.locker_id,
        "attempts": order.attempts,
        "version": order.version,
    }


def _locked_row(session: Session, order_id: str, hub_id: str | None = None) -> OrderRow:
    query = select(OrderRow).where(OrderRow.order_id == order_id).with_for_update()
    row = session.scalar(query)
    if row is None or (hub_id is not None and row.hub_id != hub_id):
        raise NotFound(f"order {order_id!r} not found" + (f" in hub {hub_id!r}" if hub_id else ""))
    return row


def get_order(session: Session, *, order_id: str, hub_id: str | None = None) -> Order:
    """One order; NotFound when missing (or in another hub)."""
    row = session.get(OrderRow, order_id)
    if row is None or (hub_id is not None and row.hub_id != hub_id):
        raise NotFound(f"order {order_id!r} not found" + (f" in hub {hub_id!r}" if hub_id else ""))
    return to_order(row)


def _record_change(
    session: Session,
    row: OrderRow,
    *,
    from_status: OrderStatus | None,
    actor: str,
    reason: str,
    at_s: float,
    details: Mapping[str, Any],
) -> str:
    """Audit row + outbox event for the status the row now has (same id for both)."""
    event_id = str(uuid.uuid4())
    session.add(
        OrderEventRow(
            event_id=event_id,
            order_id=row.order_id,
            hub_id=row.hub_id,
            from_status=from_status.value if from_status else None,
            to_status=row.status,
            at_s=at_s,
            actor=actor,
            reason=reason,
            details=dict(details),
        )
    )
    data = {
        **_order_data(to_order(row)),
        "from_status": from_status.value if from_status else None,
        "to_status": row.status,
        "actor": actor,
        "reason": reason,
        "at_s": at_s,
        "details": dict(details),
    }
    append_event(
        session,
        hub_id=row.hub_id,
        event_type=STATUS_CHANGED,
        subject=f"orders/{row.order_id}",
        data=data,
        at_s=at_s,
        event_id=event_id,
    )
    return event_id


def _notify(session: Session, note: notifications.Notification, *, hub_id: str, at_s: float) -> str:
    event_id = str(uuid.uuid4())
    if note.kind is notifications.NotificationKind.OUT_FOR_DELIVERY:
        note = tracking.with_tracking_link(session, note, hub_id=hub_id, at_s=at_s)
    stored = {k: v for k, v in note.payload.items() if k not in SECRET_FIELDS}  # the code, the tracking link
    session.add(
        NotificationRow(
            notification_id=event_id,
            order_id=note.order_id,
            hub_id=hub_id,
            kind=note.kind.value,
            payload=stored,
            created_at_s=at_s,
        )
    )
    append_event(
        session,
        hub_id=hub_id,
        event_type=f"notification.{note.kind.value}",
        subject=f"orders/{note.order_id}",
        data={"order_id": note.order_id, "kind": note.kind.value, **note.payload},
        at_s=at_s,
        event_id=event_id,
    )
    return event_id


def create_order(
    session: Session,
    *,
    new: NewOrder,
    actor: str,
    at_s: float,
    idempotency: tuple[str, str, str] | None = None,
    order_id: str | None = None,
) -> tuple[Order, bool]:
    """Create an order (received, then awaiting_customs or ready); returns (order, created).

    `idempotency` is (scope, key, request hash): a repeated key returns the existing order with
    created=False; the same key with another body raises IdempotencyMismatch.
    (One item of `order_create.create_orders`, which writes many in a few statements.)
    """
    from .order_create import create_orders

    result = create_orders(session, items=[(new, idempotency, order_id)], actor=actor, at_s=at_s)[0]
    if result.error is not None:
        raise result.error
    if result.order is None:
        raise NotFound(f"the order of Idempotency-Key {idempotency[1] if idempotency else ''!r} is gone")
    return result.order, result.created


def new_order_values(new: NewOrder, *, order_id: str, at_s: float) -> dict[str, Any]:
    """The column values of a new order as received (status received, version 1): every column of `OrderRow`."""
    return dict(
        order_id=order_id,
        hub_id=new.hub_id,
        reference=new.reference,
        status=OrderStatus.RECEIVED.value,
        recipient_name=new.recipient.name,
        recipient_phone=new.recipient.phone,
        recipient_email=new.recipient.email,
        latitude_deg=new.destination.latitude_deg,
        longitude_deg=new.destination.longitude_deg,
        street=new.destination.street,
        city=new.destination.city,
        postcode=new.destination.postcode,
        weight_kg=new.weight_kg,
        customs_cleared=new.customs_cleared,
        window_start_s=new.window_start_s,
        window_end_s=new.window_end_s,
        allow_leave_at_door=new.allow_leave_at_door,
        leave_at_door=False,
        mode=None,
        vehicle_id=None,
        mission_id=None,
        locker_id=None,
        attempts=0,
        extra=dict(new.metadata or {}),
        created_at_s=at_s,
        updated_at_s=at_s,
        version=1,
        handling=dict(new.handling or {}),
        address_resolution=dict(new.address_resolution or {}),
        unplannable_reason="",
        eta={},
        customs_forecast={},
    )


def order_data(order: Order) -> dict[str, Any]:
    """The order part of a status-change event's data."""
    return _order_data(order)


def _apply(
    session: Session,
    row: OrderRow,
    target: OrderStatus,
    *,
    actor: str,
    reason: str,
    at_s: float,
    mode: DeliveryMode | None = None,
    vehicle_id: str | None = None,
    mission_id: str | None = None,
    locker_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    code_ttl_s: float = 7 * 24 * 3600.0,
) -> Order:
    """Check and apply one transition to a locked row, with audit, outbox event and notification."""
    source = OrderStatus(row.status)
    effective_mode = mode or (DeliveryMode(row.mode) if row.mode else None)
    check_transition(row.order_id, source, target, customs_cleared=row.customs_cleared, mode=effective_mode)
    details = dict(details or {})
    row.status = target.value
    row.updated_at_s = at_s
    row.version += 1
    if mode is not None:
        row.mode = mode.value
    if vehicle_id is not None:
        row.vehicle_id = vehicle_id
    if mission_id is not None:
        row.mission_id = mission_id
    if target is OrderStatus.ATTEMPT_FAILED:
        row.attempts += 1
    if target in (OrderStatus.READY, OrderStatus.RESCHEDULED, OrderStatus.RETURNED_TO_HUB, OrderStatus.ON_HOLD):
        row.vehicle_id, row.mission_id = None, None  # the old plan no longer holds this parcel
    pickup_code: str | None = None
    compartment: str | None = None
    locker = None
    if target is OrderStatus.DIVERTED_TO_LOCKER:
        locker = locker_store.choose_locker(
            session,
            hub_id=row.hub_id,
            latitude_deg=row.latitude_deg,
            longitude_deg=row.longitude_deg,
            at_s=at_s,
            locker_id=locker_id,
            conditioned_only=bool((row.handling or {}).get("cold_chain")),  # a cold-chain parcel: never a plain one
        )
        row.locker_id = locker.locker_id
        pickup_code, compartment = locker_store.issue_pickup_code(
            session, order_id=row.order_id, hub_id=row.hub_id, locker=locker, at_s=at_s, ttl_s=code_ttl_s
        )
        details.update(locker_id=locker.locker_id, compartment=compartment)
    if mode is not None:
        details.setdefault("mode", mode.value)
    session.flush()
    _record_change(session, row, from_status=source, actor=actor, reason=reason, at_s=at_s, details=details)
    order = to_order(row)
    note = notifications.for_transition(
        order,
        target,
        at_s,
        {**details, "reason": reason},
        locker=locker.info() if locker else None,
        pickup_code=pickup_code,
        compartment=compartment,
    )
    if note is not None:
        _notify(session, note, hub_id=row.hub_id, at_s=at_s)
    return order


def transition_order(
    session: Session,
    *,
    order_id: str,
    to_status: OrderStatus,
    actor: str,
    reason: str,
    at_s: float,
    hub_id: str | None = None,
    mode: DeliveryMode | None = None,
    vehicle_id: str | None = None,
    mission_id: str | None = None,
    locker_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    expected_version: int | None = None,
    code_ttl_s: float = 7 * 24 * 3600.0,
) -> Order:
    """Move an order to `to_status` through the state machine (IllegalTransition otherwise).

    Writes the audit row, the outbox event and any recipient notification in the caller's
    transaction. `details` carries what the notification needs (eta_s or eta_earliest_s/eta_latest_s
    for out_for_delivery; latitude_deg/longitude_deg/vehicle_id/photo_id as proof for delivered).
    A diversion to a locker takes `locker_id` or picks the nearest one with a free compartment, and
    issues the one-time pickup code. `expected_version` guards against acting on a stale read.
    """
    row = _locked_row(session, order_id, hub_id)
    if expected_version is not None and row.version != expected_version:
        raise Conflict(f"order {order_id!r} changed (version {row.version}, expected {expected_version})")
    return _apply(
        session,
        row,
        to_status,
        actor=actor,
        reason=reason,
        at_s=at_s,
        mode=mode,
        vehicle_id=vehicle_id,
        mission_id=mission_id,
        locker_id=locker_id,
        details=details,
        code_ttl_s=code_ttl_s,
    )


def mark_customs_cleared(
    session: Session, *, order_id: str, actor: str, at_s: float, hub_id: str | None = None
) -> Order:
    """Record customs clearance; an order waiting for it becomes ready. Repeating it changes nothing."""
    row = _locked_row(session, order_id, hub_id)
    if row.customs_cleared:
        return to_order(row)
    if OrderStatus(row.status) is OrderStatus.CANCELLED:
        raise Conflict(f"order {order_id!r} is cancelled")
    row.customs_cleared = True
    if OrderStatus(row.status) is OrderStatus.AWAITING_CUSTOMS:
        return _apply(session, row, OrderStatus.READY, actor=actor, reason="customs cleared", at_s=at_s)
    row.updated_at_s = at_s
    row.version += 1
    return to_order(row)


def cancel_order(
    session: Session, *, order_id: str, actor: str, reason: str, at_s: float, hub_id: str | None = None
) -> Order:
    """Cancel an order that is not yet on its way (IllegalTransition once it is)."""
    row = _locked_row(session, order_id, hub_id)
    return _apply(session, row, OrderStatus.CANCELLED, actor=actor, reason=reason or "cancelled", at_s=at_s)


def _updated(session: Session, row: OrderRow, *, actor: str, at_s: float, changes: Mapping[str, Any]) -> Order:
    row.updated_at_s = at_s
    row.version += 1
    session.flush()
    order = to_order(row)
    append_event(
        session,
        hub_id=row.hub_id,
        event_type=ORDER_UPDATED,
        subject=f"orders/{row.order_id}",
        data={**_order_data(order), "actor": actor, "changes": dict(changes), "at_s": at_s},
        at_s=at_s,
    )
    return order


def reschedule_order(
    session: Session,
    *,
    order_id: str,
    window_start_s: float,
    window_end_s: float,
    actor: str,
    at_s: float,
    hub_id: str | None = None,
) -> Order:
    """The recipient picks a new delivery window.

    After a failed attempt (or a return to the hub) the order becomes `rescheduled`; a planned or
    assigned order goes back to `ready` so the dispatcher plans the new window; an order not yet
    planned just gets the window. Once the parcel is loaded it is too late (Conflict).
    """
    if window_end_s <= window_start_s:
        raise Conflict(f"window_end ({window_end_s}) must be after window_start ({window_start_s})")
    if window_end_s <= at_s:
        raise Conflict("the new delivery window is already over")
    row = _locked_row(session, order_id, hub_id)
    status = OrderStatus(row.status)
    refusal = recipient_options.reschedule_refusal(status)
    if refusal:
        raise Conflict(f"order {order_id!r} is {status.value}: too late to reschedule ({refusal})")
    row.window_start_s, row.window_end_s = window_start_s, window_end_s
    details = {"window_start_s": window_start_s, "window_end_s": window_end_s}
    if status in (OrderStatus.ATTEMPT_FAILED, OrderStatus.RETURNED_TO_HUB):
        return _apply(
            session,
            row,
            OrderStatus.RESCHEDULED,
            actor=actor,
            reason="recipient rescheduled",
            at_s=at_s,
            details=details,
        )
    if status in (OrderStatus.PLANNED, OrderStatus.ASSIGNED):
        return _apply(
            session, row, OrderStatus.READY, actor=actor, reason="recipient rescheduled", at_s=at_s, details=details
        )
    return _updated(session, row, actor=actor, at_s=at_s, changes=details)


def redirect_to_locker(
    session: Session,
    *,
    order_id: str,
    actor: str,
    at_s: float,
    locker_id: str | None = None,
    hub_id: str | None = None,
    code_ttl_s: float = 7 * 24 * 3600.0,
) -> Order:
    """The recipient asks for a parcel locker (the given one, or the nearest with room)."""
    row = _locked_row(session, order_id, hub_id)
    return _apply(
        session,
        row,
        OrderStatus.DIVERTED_TO_LOCKER,
        actor=actor,
        reason="recipient chose a locker",
        at_s=at_s,
        locker_id=locker_id,
        code_ttl_s=code_ttl_s,
    )


def set_leave_at_door(
    session: Session, *, order_id: str, leave_at_door: bool, actor: str, at_s: float, hub_id: str | None = None
) -> Order:
    """The recipient allows (or withdraws) leaving the parcel at the door, where the order permits it."""
    row = _locked_row(session, order_id, hub_id)
    refusal = recipient_options.leave_at_door_refusal(to_order(row))
    if refusal:
        raise Conflict(f"order {order_id!r} is {row.status}: leave-at-door does not apply ({refusal})")
    row.leave_at_door = leave_at_door
    return _updated(session, row, actor=actor, at_s=at_s, changes={"leave_at_door": leave_at_door})


def notify_arriving_soon(
    session: Session, *, order_id: str, minutes: float, at_s: float, window: tuple[float, float] | None = None
) -> str:
    """'Arriving in N minutes' (with the predicted window, when given) for an order on its way; returns the event id."""
    row = _locked_row(session, order_id)
    if OrderStatus(row.status) not in _ON_THE_WAY:
        raise Conflict(f"order {order_id!r} is {row.status}, not on its way")
    note = notifications.arriving_soon(to_order(row), at_s, minutes, window)
    return _notify(session, note, hub_id=row.hub_id, at_s=at_s)


_ON_THE_WAY = (OrderStatus.OUT_FOR_DELIVERY, OrderStatus.HANDED_OFF)


def set_eta(session: Session, *, order_id: str, eta: Mapping[str, Any]) -> None:
    """Store an order's predicted hand-over window (no event: the notifications carry what the recipient sees)."""
    row = _locked_row(session, order_id)
    row.eta = dict(eta)


def set_customs_forecast(session: Session, *, order_id: str, forecast: Mapping[str, Any]) -> None:
    """Store an order's predicted customs clearance."""
    row = _locked_row(session, order_id)
    row.customs_forecast = dict(forecast)


def count_on_the_way(session: Session, *, hub_id: str) -> int:
    """Parcels of the hub out for delivery now (the live fleet state an ETA is predicted with)."""
    query = select(func.count()).select_from(OrderRow).where(
        OrderRow.hub_id == hub_id, OrderRow.status.in_([s.value for s in _ON_THE_WAY]))
    return int(session.scalar(query) or 0)


def list_notifications(session: Session, *, order_id: str) -> list[dict[str, Any]]:
    """The notifications of one order (payloads without the plain pickup code), oldest first."""
    query = select(NotificationRow).where(NotificationRow.order_id == order_id).order_by(NotificationRow.created_at_s)
    return [
        {
            "notification_id": r.notification_id,
            "kind": r.kind,
            "created_at_s": r.created_at_s,
            "payload": dict(r.payload),
        }
        for r in session.scalars(query)
    ]


def pickup_at_locker(
    session: Session, *, locker_id: str, order_id: str, code: str, at_s: float, max_wrong: int
) -> tuple[locker_store.PickupCheck, Order | None]:
    """A recipient enters a code at a locker. Right → picked_up; wrong → counted (and an event); locked at max_wrong.

    A right code for a parcel that is not in the locker yet raises Conflict and is not consumed.
    """
    check = locker_store.check_pickup_code(
        session, locker_id=locker_id, order_id=order_id, code=code, at_s=at_s, max_wrong=max_wrong
    )
    row = _locked_row(session, order_id)
    if check.accepted:
        if OrderStatus(row.status) is not OrderStatus.DELIVERED_TO_LOCKER:
            raise Conflict(f"order {order_id!r} is {row.status}: the parcel is not in the locker yet")
        order = _apply(
            session,
            row,
            OrderStatus.PICKED_UP,
            actor=f"locker:{locker_id}",
            reason="recipient collected the parcel",
            at_s=at_s,
            details={"compartment": check.compartment},
        )
        return check, order
    append_event(
        session,
        hub_id=row.hub_id,
        event_type="locker.compartment_locked" if check.locked else "locker.code_refused",
        subject=f"lockers/{locker_id}",
        data={
            "locker_id": locker_id,
            "order_id": order_id,
            "compartment": check.compartment,
            "attempts_left": check.attempts_left,
            "locked": check.locked,
        },
        at_s=at_s,
    )
    return check, None


def requeue_orphaned_orders(session: Session, *, hub_id: str, actor: str, at_s: float) -> list[str]:
    """After a restart: planned/assigned orders whose mission is gone or finished go back to ready."""
    live = {"pending", "running", "paused"}
    query = select(OrderRow).where(
        OrderRow.hub_id == hub_id, OrderRow.status.in_([OrderStatus.PLANNED.value, OrderStatus.ASSIGNED.value])
    )
    requeued = []
    for row in list(session.scalars(query.with_for_update())):
        mission = session.get(MissionRow, row.mission_id) if row.mission_id else None
        if mission is None or mission.status not in live:
            _apply(session, row, OrderStatus.READY, actor=actor, reason="plan lost at restart", at_s=at_s)
            requeued.append(row.order_id)
    return requeued

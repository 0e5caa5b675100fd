"""Orders: create (idempotent), read, list, cancel, customs clearance, audit events, status changes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError

from fleet_manager.domain.errors import NotFound
from fleet_manager.domain.orders import Address, OrderStatus, Recipient
from fleet_manager.hub_routing import HubUnresolved
from fleet_manager.store import order_queries
from fleet_manager.store import orders as order_store
from fleet_manager.store.order_create import create_orders
from fleet_manager.store.orders import NewOrder

from ..address_intake import TypedAddress, resolve_typed_address
from ..deps import Backend, BackendOrOperator, Operator, Reader, ServiceDep
from ..hub_scope import hubs_to_read
from ..limits import PathId
from ..schemas import (
    CancelIn,
    NotificationOut,
    OrderCreate,
    OrderEventOut,
    OrderList,
    OrderOut,
    StatusChangeIn,
    to_time,
)
from ..service import FleetService

router = APIRouter(prefix="/orders", tags=["orders"])


def route_order(service: FleetService, body: OrderCreate) -> str:
    """The order's hub by its hub_id or its destination (`fleet_manager.hub_routing`); a 422 naming the field."""
    given = body.destination
    try:
        return service.route_order(hub_id=body.hub_id, latitude_deg=given.latitude_deg if given else None,
                                   longitude_deg=given.longitude_deg if given else None)
    except HubUnresolved as exc:
        raise RequestValidationError([{"loc": ("body", exc.field), "msg": exc.message, "type": "hub_unresolved"}]
                                     ) from exc


def _new_order(body: OrderCreate, hub_id: str, typed: TypedAddress | None) -> NewOrder:
    if typed is not None:
        destination = typed.destination
    elif body.destination is not None:
        given = body.destination
        destination = Address(given.latitude_deg, given.longitude_deg, given.street, given.city, given.postcode)
    else:  # the schema asks for exactly one of them
        raise HTTPException(422, "give either destination (coordinates) or address (typed text)")
    return NewOrder(
        hub_id=hub_id,
        reference=body.reference,
        recipient=Recipient(body.recipient.name, body.recipient.phone, body.recipient.email),
        destination=destination,
        weight_kg=body.weight_kg,
        customs_cleared=body.customs_cleared,
        window_start_s=body.window_start.timestamp() if body.window_start else None,
        window_end_s=body.window_end.timestamp() if body.window_end else None,
        allow_leave_at_door=body.allow_leave_at_door,
        metadata=body.metadata,
        handling=body.handling.model_dump(exclude_none=True) if body.handling else None,
        address_resolution=typed.record if typed is not None else None,
        needs_address_review=typed is not None and typed.needs_review,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "replay of an earlier request with the same Idempotency-Key"},
        202: {"description": "accepted, but the typed address did not resolve with confidence: the order waits in "
                             "the review queue (state address_review) until an operator picks the building"},
        422: {"description": "invalid field (named), or with on_unresolved=reject an address that did not resolve"},
    },
)
def create_order(
    body: OrderCreate,
    response: Response,
    service: ServiceDep,
    caller: Backend,
    idempotency_key: Annotated[str, Header(min_length=1, max_length=200, description="unique per intended order")],
) -> OrderOut:
    """Create a delivery order, to coordinates or to a typed address (resolved to a building and its drop point).

    Retrying with the same Idempotency-Key returns the same order (200).
    """
    hub_id = route_order(service, body)
    request_hash = hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    idempotency = (caller.key_id, idempotency_key, request_hash)
    typed = resolve_typed_address(service, body, hub_id) if body.address is not None else None
    with service.write() as session:
        result = create_orders(
            session, items=[(_new_order(body, hub_id, typed), idempotency, None)], actor=caller.actor,
            at_s=service.now(),
        )[0]
    if result.error is not None:
        raise result.error
    order, created = result.order, result.created
    if order is None:
        raise NotFound(f"the order of Idempotency-Key {idempotency_key!r} is gone")
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    elif order.status is OrderStatus.ADDRESS_REVIEW:
        response.status_code = status.HTTP_202_ACCEPTED
    response.headers["Location"] = f"/v1/orders/{order.order_id}"
    return OrderOut.of(order)


@router.get("")
def list_orders(
    service: ServiceDep,
    _caller: Reader,
    status_filter: Annotated[list[OrderStatus] | None, Query(alias="status")] = None,
    hub_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[
        str | None, Query(max_length=64, description="RFC 3339 time: orders changed at or after it")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> OrderList:
    """Orders oldest first, filtered by status (repeatable), hub and last change; paged by cursor."""
    since_s = None
    if since is not None:
        try:
            parsed = dt.datetime.fromisoformat(since)
        except ValueError as exc:
            raise HTTPException(422, f"since {since!r} is not an RFC 3339 time") from exc
        since_s = (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()
    hub_ids = hubs_to_read(service, hub_id)
    with service.database.read() as session:
        page = order_queries.list_orders(
            session, hub_ids=hub_ids, statuses=status_filter, since_s=since_s, limit=limit, cursor=cursor
        )
    return OrderList(items=[OrderOut.of(o) for o in page.orders], next_cursor=page.next_cursor)


@router.get("/{order_id}")
def get_order(order_id: PathId, service: ServiceDep, _caller: Reader) -> OrderOut:
    """One order."""
    with service.database.read() as session:
        order = order_store.get_order(session, order_id=order_id)
    if order.hub_id not in service.hub_ids:
        raise NotFound(f"order {order_id!r} not found")
    return OrderOut.of(order)


@router.get("/{order_id}/events")
def order_events(order_id: PathId, service: ServiceDep, _caller: Reader) -> list[OrderEventOut]:
    """The audit trail: every status change with time, actor and reason."""
    with service.database.read() as session:
        events = order_queries.list_order_events(session, order_id=order_id)
    return [OrderEventOut.of(e) for e in events if e.hub_id in service.hub_ids]


@router.get("/{order_id}/notifications")
def order_notifications(order_id: PathId, service: ServiceDep, _caller: Reader) -> list[NotificationOut]:
    """Recipient notifications sent for this order (pickup codes are never shown here)."""
    with service.database.read() as session:
        order_store.get_order(session, order_id=order_id)
        notes = order_store.list_notifications(session, order_id=order_id)
    return [
        NotificationOut(
            notification_id=n["notification_id"],
            kind=n["kind"],
            created_at=to_time(n["created_at_s"]),  # type: ignore[arg-type]
            payload=n["payload"],
        )
        for n in notes
    ]


@router.post("/{order_id}/cancel")
def cancel_order(
    order_id: PathId, service: ServiceDep, caller: BackendOrOperator, body: CancelIn | None = None
) -> OrderOut:
    """Cancel an order that has not left on a vehicle (409 afterwards)."""
    with service.write() as session:
        order = order_store.cancel_order(
            session, order_id=order_id, actor=caller.actor, reason=body.reason if body else "", at_s=service.now()
        )
    return OrderOut.of(order)


@router.post("/{order_id}/customs-cleared")
def customs_cleared(order_id: PathId, service: ServiceDep, caller: Backend) -> OrderOut:
    """Customs released the parcel: it becomes ready for dispatch. Idempotent."""
    with service.write() as session:
        order = order_store.mark_customs_cleared(session, order_id=order_id, actor=caller.actor, at_s=service.now())
    return OrderOut.of(order)


@router.post("/{order_id}/status")
def change_status(order_id: PathId, body: StatusChangeIn, service: ServiceDep, caller: Operator) -> OrderOut:
    """Operator override or van-driver report of a status change; the state machine still applies (409)."""
    with service.write() as session:
        order = order_store.transition_order(
            session,
            order_id=order_id,
            to_status=body.to_status,
            actor=caller.actor,
            reason=body.reason,
            at_s=service.now(),
            mode=body.mode,
            vehicle_id=body.vehicle_id,
            mission_id=body.mission_id,
            locker_id=body.locker_id,
            details=body.details,
            code_ttl_s=service.settings.locker_code_ttl_s,
        )
    return OrderOut.of(order)

"""Parcels in `needs_review`: after a restart nobody could tell whether they were handed over; an operator decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fleet_manager.domain.errors import Conflict, NotFound
from fleet_manager.domain.orders import OrderStatus
from fleet_manager.store import order_queries
from fleet_manager.store import orders as order_store

from ..deps import Operator, Reader, ServiceDep
from ..schemas import DeliveryReviewIn, OrderOut

router = APIRouter(tags=["delivery reviews"])


@router.get("/delivery-reviews")
def list_delivery_reviews(
    service: ServiceDep, _caller: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 200
) -> list[OrderOut]:
    """Orders waiting for an operator to confirm whether their parcel was handed over (oldest first)."""
    with service.database.read() as session:
        page = order_queries.list_orders(session, hub_ids=service.hub_ids, statuses=[OrderStatus.NEEDS_REVIEW],
                                         limit=limit)
    return [OrderOut.of(order) for order in page.orders]


@router.post("/orders/{order_id}/delivery-review", responses={409: {"description": "the order is not in review"}})
def decide_delivery(order_id: str, body: DeliveryReviewIn, service: ServiceDep, caller: Operator) -> OrderOut:
    """Delivered (the recipient has it), or back at the hub (it goes out again); audited, sent as a webhook."""
    with service.database.read() as session:
        order = order_store.get_order(session, order_id=order_id)
    if order.hub_id not in service.hub_ids:
        raise NotFound(f"order {order_id!r} not found")
    if order.status is not OrderStatus.NEEDS_REVIEW:
        raise Conflict(f"order {order_id!r} is {order.status.value}, not needs_review")
    now_s = service.now()
    reason = f"operator review: {body.reason}"
    with service.write() as session:
        if body.delivered:
            decided = order_store.transition_order(session, order_id=order_id, to_status=OrderStatus.DELIVERED,
                                                   actor=caller.actor, reason=reason, at_s=now_s,
                                                   expected_version=order.version)
        else:
            order_store.transition_order(session, order_id=order_id, to_status=OrderStatus.RETURNED_TO_HUB,
                                         actor=caller.actor, reason=reason, at_s=now_s,
                                         expected_version=order.version)
            decided = order_store.transition_order(session, order_id=order_id, to_status=OrderStatus.READY,
                                                   actor=caller.actor, reason="goes out again", at_s=now_s)
    return OrderOut.of(decided)

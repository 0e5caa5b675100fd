"""The address review queue: orders whose typed address did not resolve with confidence, and the operator's answer.

An order enters `address_review` when it is created (`order_create.create_orders` with
`needs_address_review`), with an `order.address_review_required` event for the backend; the
dispatcher never sees it (not dispatchable). An operator's decision sets the destination, is
added to the order's address record and audited, and moves it on to ready (or awaiting customs),
with an `order.address_confirmed` event.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy.orm import Session

from fleet_manager.domain.errors import Conflict
from fleet_manager.domain.orders import Address, Order, OrderStatus

from . import order_queries
from .orders import _apply, _locked_row, _order_data, to_order
from .outbox import append_event

REVIEW_REQUIRED = "order.address_review_required"
ADDRESS_CONFIRMED = "order.address_confirmed"


def review_reason(resolution: Mapping[str, Any]) -> str:
    """Why a typed address waits for an operator, from its resolution record."""
    why = resolution.get("reason") or resolution.get("status") or "typed address not resolved"
    return f"typed address needs review: {why}"


def announce_review(session: Session, order: Order, resolution: Mapping[str, Any], *, at_s: float) -> None:
    """Tell the backend an order waits for an address review (`order.address_review_required`, same transaction)."""
    append_event(session, hub_id=order.hub_id, event_type=REVIEW_REQUIRED, subject=f"orders/{order.order_id}",
                 data={**_order_data(order), "text": resolution.get("text"),
                       "resolution_status": resolution.get("status"), "confidence": resolution.get("confidence"),
                       "reason": review_reason(resolution).removeprefix("typed address needs review: "),
                       "alternatives": resolution.get("alternatives", []), "at_s": at_s}, at_s=at_s)


def list_address_reviews(session: Session, *, hub_ids: Collection[str], limit: int = 200) -> list[Order]:
    """Orders waiting for an operator to pick their building, oldest first."""
    page = order_queries.list_orders(session, hub_ids=hub_ids, statuses=[OrderStatus.ADDRESS_REVIEW], limit=limit)
    return page.orders


def confirm_address(
    session: Session, *, order_id: str, destination: Address, decision: Mapping[str, Any], actor: str, at_s: float,
    hub_id: str | None = None,
) -> Order:
    """The operator's answer: the order gets `destination` and goes on (ready, or awaiting customs); audited.

    Conflict when the order is not waiting for a review (already confirmed, cancelled, ...).
    """
    row = _locked_row(session, order_id, hub_id)
    if OrderStatus(row.status) is not OrderStatus.ADDRESS_REVIEW:
        raise Conflict(f"order {order_id!r} is {row.status}, not waiting for an address review")
    row.latitude_deg, row.longitude_deg = destination.latitude_deg, destination.longitude_deg
    row.street, row.city, row.postcode = destination.street, destination.city, destination.postcode
    record = dict(row.address_resolution or {})
    record["decision"] = {**decision, "by": actor, "at_s": at_s}
    row.address_resolution = record
    target = OrderStatus.READY if row.customs_cleared else OrderStatus.AWAITING_CUSTOMS
    order = _apply(session, row, target, actor=actor, at_s=at_s, details=dict(decision),
                   reason=f"operator confirmed the address: {destination.street or 'point on the map'}")
    append_event(session, hub_id=row.hub_id, event_type=ADDRESS_CONFIRMED, subject=f"orders/{order_id}",
                 data={**_order_data(order), "decision": record["decision"], "latitude_deg": row.latitude_deg,
                       "longitude_deg": row.longitude_deg, "street": row.street, "at_s": at_s}, at_s=at_s)
    return to_order(row)

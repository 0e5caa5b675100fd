"""Why the planner could not plan an order: kept on the order (API, dashboard) and told to the backend.

The reason of the last planning cycle is stored on the order (cleared once it is planned); a hard
reason (not the transient "left out: no slot in this plan") raises an `order.unplannable` event
(webhook) when it first appears or changes, e.g. "cold chain: the fastest vehicle with an insulated
box needs 34 min from the hub's cold store to the door, over the 20 min it may spend out of
conditioning".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import OrderRow
from .outbox import append_event

ORDER_UNPLANNABLE = "order.unplannable"
TRANSIENT_PREFIX = "left out"  # no slot in this plan (vehicles busy): not worth telling anyone


def record_unplannable(
    session: Session, *, hub_id: str, order_ids: Collection[str], reasons: Mapping[str, str], at_s: float
) -> list[str]:
    """Store the reason of each of `order_ids` ("" when it was planned); returns the orders newly refused."""
    if not order_ids:
        return []
    rows = session.scalars(select(OrderRow).where(OrderRow.hub_id == hub_id, OrderRow.order_id.in_(list(order_ids))))
    refused = []
    for row in rows:
        reason = reasons.get(row.order_id, "")
        if (row.unplannable_reason or "") == reason:
            continue
        row.unplannable_reason = reason
        row.updated_at_s = at_s  # the order changed: readers following changes (`since`) see the reason
        if reason and not reason.startswith(TRANSIENT_PREFIX):
            refused.append(row.order_id)
            append_event(session, hub_id=hub_id, event_type=ORDER_UNPLANNABLE, subject=f"orders/{row.order_id}",
                         data={"order_id": row.order_id, "reference": row.reference, "status": row.status,
                               "reason": reason, "handling": dict(row.handling or {}), "at_s": at_s}, at_s=at_s)
    return refused

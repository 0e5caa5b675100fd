"""Reading orders: pages for the API, the dispatcher's open orders, and one order's audit trail."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from fleet_manager.domain.errors import Conflict
from fleet_manager.domain.orders import Order, OrderEvent, OrderStatus
from fleet_manager.domain.state_machine import DISPATCHABLE

from .models import OrderEventRow, OrderRow
from .orders import OrderPage, get_order, to_order


def _encode_cursor(created_at_s: float, order_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at_s, order_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        created_at_s, order_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return float(created_at_s), str(order_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise Conflict(f"cursor {cursor!r} is not a cursor this API returned") from exc


def list_orders(
    session: Session,
    *,
    hub_ids: Collection[str] | None = None,
    statuses: Collection[OrderStatus] | None = None,
    since_s: float | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> OrderPage:
    """Orders oldest first, filtered by hub, status and last change >= since_s; paged by an opaque cursor."""
    query = select(OrderRow)
    if hub_ids is not None:
        query = query.where(OrderRow.hub_id.in_(list(hub_ids)))
    if statuses:
        query = query.where(OrderRow.status.in_([s.value for s in statuses]))
    if since_s is not None:
        query = query.where(OrderRow.updated_at_s >= since_s)
    if cursor:
        after_s, after_id = _decode_cursor(cursor)
        query = query.where(
            or_(OrderRow.created_at_s > after_s, and_(OrderRow.created_at_s == after_s, OrderRow.order_id > after_id))
        )
    rows = list(session.scalars(query.order_by(OrderRow.created_at_s, OrderRow.order_id).limit(limit + 1)))
    next_cursor = _encode_cursor(rows[limit - 1].created_at_s, rows[limit - 1].order_id) if len(rows) > limit else None
    return OrderPage([to_order(r) for r in rows[:limit]], next_cursor)


def list_dispatchable_orders(session: Session, *, hub_id: str, limit: int = 5000) -> list[Order]:
    """Orders the dispatcher may plan: ready, rescheduled or bound for a locker, and always customs-cleared."""
    query = (
        select(OrderRow)
        .where(
            OrderRow.hub_id == hub_id,
            OrderRow.status.in_([s.value for s in DISPATCHABLE]),
            OrderRow.customs_cleared.is_(True),
        )
        .order_by(OrderRow.created_at_s, OrderRow.order_id)
        .limit(limit)
    )
    return [to_order(r) for r in session.scalars(query)]


def list_order_events(session: Session, *, order_id: str, hub_id: str | None = None) -> list[OrderEvent]:
    """The audit trail of one order, oldest first."""
    get_order(session, order_id=order_id, hub_id=hub_id)
    query = select(OrderEventRow).where(OrderEventRow.order_id == order_id).order_by(OrderEventRow.seq)
    return [
        OrderEvent(
            event_id=r.event_id,
            order_id=r.order_id,
            hub_id=r.hub_id,
            from_status=OrderStatus(r.from_status) if r.from_status else None,
            to_status=OrderStatus(r.to_status),
            at_s=r.at_s,
            actor=r.actor,
            reason=r.reason,
            details=dict(r.details or {}),
        )
        for r in session.scalars(query)
    ]

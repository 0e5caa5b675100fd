"""`POST /v1/orders:batch`: up to 1,000 orders in one transaction, with a result per order."""

from __future__ import annotations

import hashlib
import json

from fastapi import APIRouter

from fleet_manager.domain.errors import IdempotencyMismatch
from fleet_manager.domain.orders import OrderStatus
from fleet_manager.hub_routing import HubUnresolved
from fleet_manager.store.order_create import Item, create_orders

from ..address_intake import resolve_typed_address
from ..deps import Backend, ServiceDep
from ..errors import TYPE_PREFIX
from ..schemas import BatchItemOut, OrderBatchIn, OrderBatchOut
from .orders import _new_order

router = APIRouter(prefix="/orders", tags=["orders"])


def _problem(status: int, kind: str, detail: str) -> dict[str, object]:
    return {"type": TYPE_PREFIX + kind, "title": "Unprocessable Content", "status": status, "detail": detail}


@router.post(":batch")
def create_order_batch(body: OrderBatchIn, service: ServiceDep, caller: Backend) -> OrderBatchOut:
    """Create many orders at once (one transaction, a few statements): each item carries its own idempotency
    key and gets its own result, 201 created, 200 replayed (same key and body as before), or 422 with a problem
    (key reused with another body, hub not served). A request failing as a whole (bad JSON, an invalid item,
    more than 1,000 items) creates nothing and is a 422 naming the item (`body.orders.<index>...`)."""
    results: list[BatchItemOut | None] = [None] * len(body.orders)
    items: list[Item] = []
    positions: list[int] = []
    for index, entry in enumerate(body.orders):
        given = entry.order.destination
        try:
            hub_id = service.route_order(hub_id=entry.order.hub_id, latitude_deg=given.latitude_deg if given else None,
                                         longitude_deg=given.longitude_deg if given else None)
        except HubUnresolved as exc:
            detail = f"orders.{index}.order.{exc.field}: {exc.message}"
            results[index] = BatchItemOut(index=index, status=422, problem=_problem(422, "hub-not-served", detail))
            continue
        payload = json.dumps(entry.order.model_dump(mode="json"), sort_keys=True).encode()
        idempotency = (caller.key_id, entry.idempotency_key, hashlib.sha256(payload).hexdigest())
        typed = resolve_typed_address(service, entry.order, hub_id) if entry.order.address is not None else None
        items.append((_new_order(entry.order, hub_id, typed), idempotency, None))
        positions.append(index)
    with service.write() as session:
        created = create_orders(session, items=items, actor=caller.actor, at_s=service.now())
    for index, outcome in zip(positions, created, strict=True):
        if outcome.error is not None or outcome.order is None:
            kind = "idempotency-key-reused" if isinstance(outcome.error, IdempotencyMismatch) else "not-created"
            problem = _problem(422, kind, f"orders.{index}: {outcome.error}")
            results[index] = BatchItemOut(index=index, status=422, problem=problem)
        else:
            order = outcome.order
            status = 200 if not outcome.created else 202 if order.status is OrderStatus.ADDRESS_REVIEW else 201
            results[index] = BatchItemOut(
                index=index, status=status, order_id=order.order_id, order_status=order.status, version=order.version
            )
    done = [result for result in results if result is not None]
    return OrderBatchOut(
        created=sum(1 for r in done if r.status == 201),
        replayed=sum(1 for r in done if r.status == 200),
        refused=sum(1 for r in done if r.status >= 400),
        results=done,
    )

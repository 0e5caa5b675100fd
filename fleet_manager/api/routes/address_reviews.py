"""The address review queue: orders whose typed address did not resolve with confidence, and the operator's pick."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from fleet_manager.address_intake import destination_of, destination_of_target, resolution_record
from fleet_manager.domain.errors import NotFound
from fleet_manager.domain.orders import Address
from fleet_manager.errors import AddressQueryError
from fleet_manager.store import address_reviews
from fleet_manager.store import orders as order_store

from ..deps import Operator, Reader, ServiceDep
from ..schemas import AddressDecisionIn, AddressReviewOut, OrderOut, to_time
from ..service import FleetService

router = APIRouter(tags=["address reviews"])


@router.get("/address-reviews")
def list_address_reviews(
    service: ServiceDep, _caller: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 200
) -> list[AddressReviewOut]:
    """Orders waiting for an operator to pick their building (oldest first), with the resolver's alternatives."""
    with service.database.read() as session:
        orders = address_reviews.list_address_reviews(session, hub_ids=service.hub_ids, limit=limit)
    return [
        AddressReviewOut(
            order_id=o.order_id, reference=o.reference, created_at=to_time(o.created_at_s),  # type: ignore[arg-type]
            text=str(o.address_resolution.get("text", "")), status=str(o.address_resolution.get("status", "")),
            confidence=float(o.address_resolution.get("confidence") or 0.0),
            reason=str(o.address_resolution.get("reason", "")),
            alternatives=list(o.address_resolution.get("alternatives", [])),
        )
        for o in orders
    ]


@router.post("/orders/{order_id}/address", responses={409: {"description": "the order is not under review"}})
def decide_address(order_id: str, body: AddressDecisionIn, service: ServiceDep, caller: Operator) -> OrderOut:
    """An operator decides a review: a building (e.g. one of the alternatives), a point on the map, or corrected text.

    The order gets the drop point and moves on (ready, or awaiting customs); the decision is audited
    and sent to the backend (`order.address_confirmed`).
    """
    with service.database.read() as session:
        order = order_store.get_order(session, order_id=order_id)
    if order.hub_id not in service.hub_ids:
        raise NotFound(f"order {order_id!r} not found")
    destination, decision = _decision(service, order.hub_id, body, order.address_resolution.get("alternatives"))
    with service.write() as session:
        confirmed = address_reviews.confirm_address(session, order_id=order_id, destination=destination,
                                                    decision=decision, actor=caller.actor, at_s=service.now())
    return OrderOut.of(confirmed)


def _decision(
    service: FleetService, hub_id: str, body: AddressDecisionIn, alternatives: list[dict[str, Any]] | None
) -> tuple[Address, dict[str, Any]]:
    """The destination the operator's answer names, and the decision as audited."""
    reason = {"reason": body.reason} if body.reason else {}
    if body.latitude_deg is not None and body.longitude_deg is not None:
        point = Address(body.latitude_deg, body.longitude_deg, "point picked on the map")
        return point, {"how": "coordinates", "latitude_deg": body.latitude_deg, "longitude_deg": body.longitude_deg,
                       **reason}
    resolver = service.address_resolver(hub_id)
    if body.building_id is not None:
        found = destination_of_target(resolver.index, body.building_id, alternatives)
        if found is None:
            raise HTTPException(422, f"building_id {body.building_id!r} is not a building or address of this world's "
                                     "address index")
        destination, picked = found
        return destination, {"how": "building", **picked, **reason}
    text = body.text or ""
    try:
        resolution = resolver.resolve(text)
    except AddressQueryError as exc:
        raise HTTPException(422, f"text: {exc}") from exc
    destination_or_none = destination_of(resolution)
    if destination_or_none is None:
        raise HTTPException(422, f"text {text!r} did not resolve with confidence either ({resolution.status.value}, "
                                 f"{resolution.confidence:.2f}): pick a building_id or a point on the map")
    record = resolution_record(resolution, resolver=resolver, text=text, country=None, language=None,
                               at_s=service.now())
    return destination_or_none, {"how": "corrected_text", "text": text, "building_id": record["building_id"],
                                 "confidence": record["confidence"], **reason}

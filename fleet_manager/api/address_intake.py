"""A typed address in `POST /v1/orders`: resolve it with the hub's resolver and decide what the order becomes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from fleet_manager.address_intake import destination_of, resolution_record
from fleet_manager.domain.orders import Address
from fleet_manager.errors import AddressQueryError

from .schemas import OrderCreate
from .service import FleetService


@dataclass(frozen=True)
class TypedAddress:
    """The order's destination from a typed address: the drop point, or the hub while it waits for review."""

    destination: Address
    record: dict[str, Any]  # text, hints, resolution, index fingerprint
    needs_review: bool


def resolve_typed_address(service: FleetService, body: OrderCreate, hub_id: str) -> TypedAddress:
    """Resolve `body.address`; 422 naming the field when it cannot be read, or (on_unresolved=reject) not resolved."""
    typed = body.address
    if typed is None:
        raise HTTPException(422, "address: a typed address is required here")
    resolver = service.address_resolver(hub_id)
    try:
        resolution = resolver.resolve(typed.text, country=typed.country, language=typed.language)
    except AddressQueryError as exc:
        raise HTTPException(422, f"address.text: {exc}") from exc
    record = resolution_record(resolution, resolver=resolver, text=typed.text, country=typed.country,
                               language=typed.language, at_s=service.now())
    destination = destination_of(resolution)
    if destination is not None:
        return TypedAddress(destination, record, needs_review=False)
    if body.on_unresolved == "reject":
        alternatives = "; ".join(f"{a['address']} ({a['confidence']:.2f})" for a in record["alternatives"]) or "none"
        score = f"{resolution.status.value}, {resolution.confidence:.2f} < {resolver.review_below:g}"
        raise HTTPException(422, f"address.text {typed.text!r} did not resolve with confidence ({score}: "
                                 f"{resolution.reason}); alternatives: {alternatives}")
    # No drop point yet: the parcel stays at the hub until an operator picks the building.
    hub = Address(service.settings.hub_latitude_deg, service.settings.hub_longitude_deg, typed.text[:200])
    return TypedAddress(hub, record, needs_review=True)

"""Typed addresses on orders: the hub's resolver, what the order keeps, and an operator's decision.

One `AddressResolver` per hub world, built at start-up by the runtime (cache under
`FINALMILE_ADDRESS_CACHE_DIR`, review threshold `FINALMILE_ADDRESS_REVIEW_BELOW`). An order created
from a typed address keeps the text and the whole resolution (with the address index's
fingerprint, so a later index can be told apart); a confident resolution becomes the order's
destination (the drop point), anything else waits in `address_review` for an operator, whose
decision is added to the same record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .domain.orders import Address
from .world.address_resolver import AddressResolver, Resolution, ResolutionStatus
from .world.addresses import AddressIndex, BuildingPoint, DropPoint, address_index_for_world


def build_resolver(world: str, *, cache_dir: Path, review_below: float) -> AddressResolver:
    """The resolver of one world (its index from the disk cache, built from the world's OSM file on a miss)."""
    return AddressResolver(address_index_for_world(world, cache_dir=cache_dir), review_below=review_below)


def resolution_record(
    resolution: Resolution, *, resolver: AddressResolver, text: str, country: str | None, language: str | None,
    at_s: float,
) -> dict[str, Any]:
    """What the order keeps: the typed text and hints, the resolution, the index it came from."""
    return {
        **resolution.to_json(),
        "text": text,
        "country": country,
        "language": language,
        "index_fingerprint": resolver.index.fingerprint,
        "index_source": resolver.index.source,
        "review_below": resolver.review_below,
        "resolved_at_s": at_s,
    }


def destination_of(resolution: Resolution) -> Address | None:
    """The drop point of a confident resolution as the order's destination (None unless RESOLVED)."""
    best = resolution.best
    if resolution.status is not ResolutionStatus.RESOLVED or best is None:
        return None
    if isinstance(best.address, BuildingPoint):  # no number: the world's label names the building and street
        street = best.address.label
    else:
        street = f"{best.street.name_in(resolution.language)} {best.address.housenumber}"
    if resolution.unit:
        street = f"{street} {resolution.unit}"
    return Address(best.drop_point.latitude_deg, best.drop_point.longitude_deg, street[:200],
                   best.address.city[:100], best.address.postcode[:20])


def destination_of_target(
    index: AddressIndex, target_id: str, alternatives: list[dict[str, Any]] | None = None
) -> tuple[Address, dict[str, Any]] | None:
    """The drop point of a building (or of an address without one) the operator picked; None if unknown.

    A building with several addresses takes the one the review offered for it (`alternatives`), else its first.
    """
    offered = {str(a.get("address_id")) for a in alternatives or () if a.get("building_id") == target_id}
    matches = [a for a in index.addresses if a.target_id == target_id or a.address_id == target_id]
    matches.sort(key=lambda a: a.address_id not in offered)
    if matches:
        address = matches[0]
        street = index.street_by_id[address.street_id]
        return _picked(address.drop_point, f"{street.name} {address.housenumber}", address.city, address.postcode,
                       address.building_id or None, address.address_id)
    point = index.point_by_building.get(target_id)
    if point is not None:  # a building without a number: its derived drop point
        return _picked(point.drop_point, point.label, point.locality, point.postcode, point.building_id,
                       point.building_id)
    return None


def _picked(
    drop: DropPoint, street: str, city: str, postcode: str, building_id: str | None, address_id: str
) -> tuple[Address, dict[str, Any]]:
    destination = Address(drop.latitude_deg, drop.longitude_deg, street[:200], city[:100], postcode[:20])
    return destination, {"building_id": building_id, "address_id": address_id, "drop_point": drop.kind.value,
                         "latitude_deg": drop.latitude_deg, "longitude_deg": drop.longitude_deg}

"""Airspace zones as GeoJSON: create (validated, 422 naming the zone), list, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from fastapi.exceptions import RequestValidationError

from fleet_manager.store import zones as zone_store
from fleet_manager.zone_limits import cap_vertices

from ..deps import Operator, Reader, ServiceDep
from ..hub_scope import hub_for, hub_frame, hubs_to_read
from ..limits import PathId
from ..schemas import ZoneCreated, ZoneFeatureIn

router = APIRouter(prefix="/zones", tags=["airspace"])
HubQuery = Annotated[str | None, Query(max_length=64, description="the hub (default: see fleet_manager.api.hub_scope)")]


@router.get("")
def list_zones(service: ServiceDep, _caller: Reader, hub_id: HubQuery = None) -> dict[str, Any]:
    """The zones of `hub_id`, else of every hub served here, as a GeoJSON FeatureCollection (WGS84); each
    feature's `properties.hub_id` names its hub (two hubs may each have a zone of the same id)."""
    features: list[dict[str, Any]] = []
    with service.database.read() as session:
        for hub in hubs_to_read(service, hub_id):
            features.extend({**feature, "properties": {**(feature.get("properties") or {}), "hub_id": hub}}
                            for feature in zone_store.list_zone_features(session, hub_id=hub))
    return {"type": "FeatureCollection", "features": features}


@router.post("", status_code=status.HTTP_201_CREATED)
def create_zone(body: ZoneFeatureIn, service: ServiceDep, caller: Operator, hub_id: HubQuery = None) -> ZoneCreated:
    """Add a zone (e.g. a temporary no-fly zone) to `hub_id`, else to the hub whose area holds its first vertex.

    A ring with more than 500 vertices is simplified (an exclusion zone only grows, an operating area
    only shrinks) and the answer's `simplified` says from how many vertices to how many, and by how much.
    """
    # The first vertex places the zone; a geometry without one gets no place here and is refused, naming the
    # field, by the zone validation below (found by the API fuzz: an empty ring was a 500).
    rings = body.geometry.coordinates
    first = rings[0][0] if rings and rings[0] and len(rings[0][0]) >= 2 else None
    hub = hub_for(service, hub_id, latitude_deg=first[1] if first else None,
                  longitude_deg=first[0] if first else None)
    frame = hub_frame(service, hub)
    feature, simplification = cap_vertices(body.model_dump(mode="json", exclude_none=True), frame)
    with service.write() as session:
        zone = zone_store.create_zone(
            session,
            hub_id=hub,
            feature=feature,
            frame=frame,
            actor=caller.actor,
            at_s=service.now(),
        )
    return ZoneCreated(
        zone_id=zone.zone_id,
        kind=zone.kind.value,
        area_m2=round(zone.polygon.area, 1),
        vertices=len(zone.polygon.exterior.coords) - 1,
        simplified=simplification.as_dict() if simplification else None,
    )


@router.delete("/{zone_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_zone(zone_id: PathId, service: ServiceDep, caller: Operator, hub_id: HubQuery = None) -> Response:
    """Remove a zone of `hub_id`, else of the one served hub that has a zone of that id (422 when several do)."""
    with service.write() as session:
        if hub_id is None:
            holders = zone_store.hubs_with_zone(session, zone_id=zone_id, hub_ids=service.hub_ids)
            if len(holders) > 1:
                raise RequestValidationError([{"loc": ("query", "hub_id"), "type": "hub_unresolved",
                                               "msg": f"hubs {', '.join(holders)} each have a zone {zone_id!r}"}])
            hub = holders[0] if holders else service.settings.hub_id  # none: the store's 404 names the hub
        else:
            hub = hub_for(service, hub_id)
        zone_store.delete_zone(session, hub_id=hub, zone_id=zone_id, actor=caller.actor, at_s=service.now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)

"""Airspace zones as GeoJSON: create (validated, 422 naming the zone), list, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from fleet_manager.store import zones as zone_store
from fleet_manager.zone_limits import cap_vertices

from ..deps import Operator, Reader, ServiceDep
from ..limits import PathId
from ..schemas import ZoneCreated, ZoneFeatureIn

router = APIRouter(prefix="/zones", tags=["airspace"])


@router.get("")
def list_zones(service: ServiceDep, _caller: Reader) -> dict[str, Any]:
    """The hub's zones as a GeoJSON FeatureCollection (WGS84)."""
    with service.database.read() as session:
        features = zone_store.list_zone_features(session, hub_id=service.settings.hub_id)
    return {"type": "FeatureCollection", "features": features}


@router.post("", status_code=status.HTTP_201_CREATED)
def create_zone(body: ZoneFeatureIn, service: ServiceDep, caller: Operator) -> ZoneCreated:
    """Add a zone (e.g. a temporary no-fly zone); the dispatcher re-plans around it.

    A ring with more than 500 vertices is simplified (an exclusion zone only grows, an operating area
    only shrinks) and the answer's `simplified` says from how many vertices to how many, and by how much.
    """
    feature, simplification = cap_vertices(body.model_dump(mode="json", exclude_none=True), service.frame)
    with service.write() as session:
        zone = zone_store.create_zone(
            session,
            hub_id=service.settings.hub_id,
            feature=feature,
            frame=service.frame,
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
def delete_zone(zone_id: PathId, service: ServiceDep, caller: Operator) -> Response:
    """Remove a zone."""
    with service.write() as session:
        zone_store.delete_zone(
            session, hub_id=service.settings.hub_id, zone_id=zone_id, actor=caller.actor, at_s=service.now()
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)

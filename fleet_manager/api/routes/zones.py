"""Airspace zones as GeoJSON: create (validated, 422 naming the zone), list, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from fleet_manager.store import zones as zone_store

from ..deps import Operator, Reader, ServiceDep
from ..schemas import ZoneFeatureIn

router = APIRouter(prefix="/zones", tags=["airspace"])


@router.get("")
def list_zones(service: ServiceDep, _caller: Reader) -> dict[str, Any]:
    """The hub's zones as a GeoJSON FeatureCollection (WGS84)."""
    with service.database.read() as session:
        features = zone_store.list_zone_features(session, hub_id=service.settings.hub_id)
    return {"type": "FeatureCollection", "features": features}


@router.post("", status_code=status.HTTP_201_CREATED)
def create_zone(body: ZoneFeatureIn, service: ServiceDep, caller: Operator) -> dict[str, Any]:
    """Add a zone (e.g. a temporary no-fly zone); the dispatcher re-plans around it."""
    feature = body.model_dump(exclude_none=True)
    with service.write() as session:
        zone = zone_store.create_zone(
            session,
            hub_id=service.settings.hub_id,
            feature=feature,
            frame=service.frame,
            actor=caller.actor,
            at_s=service.now(),
        )
    return {"zone_id": zone.zone_id, "kind": zone.kind.value, "area_m2": round(zone.polygon.area, 1)}


@router.delete("/{zone_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_zone(zone_id: str, service: ServiceDep, caller: Operator) -> Response:
    """Remove a zone."""
    with service.write() as session:
        zone_store.delete_zone(
            session, hub_id=service.settings.hub_id, zone_id=zone_id, actor=caller.actor, at_s=service.now()
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)

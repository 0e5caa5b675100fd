"""Airspace zones per hub, stored as validated GeoJSON Features."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet_manager.domain.errors import Conflict, NotFound
from mission_planner.airspace import Airspace, Zone, zone_from_feature, zone_to_feature
from mission_planner.geodesy import LocalFrame

from .models import ZoneRow
from .outbox import append_event


def create_zone(
    session: Session, *, hub_id: str, feature: Mapping[str, Any], frame: LocalFrame, actor: str, at_s: float
) -> Zone:
    """Validate a GeoJSON Feature (AirspaceError naming the zone) and store it; Conflict on a duplicate id."""
    zone = zone_from_feature(feature, frame)
    if session.get(ZoneRow, (hub_id, zone.zone_id)) is not None:
        raise Conflict(f"zone {zone.zone_id!r} already exists in hub {hub_id!r}")
    normalized = zone_to_feature(zone, frame)
    session.add(
        ZoneRow(
            hub_id=hub_id,
            zone_id=zone.zone_id,
            kind=zone.kind.value,
            feature=normalized,
            created_at_s=at_s,
            created_by=actor,
        )
    )
    session.flush()
    append_event(
        session,
        hub_id=hub_id,
        event_type="zone.created",
        subject=f"zones/{zone.zone_id}",
        data={"zone_id": zone.zone_id, "kind": zone.kind.value, "feature": normalized, "actor": actor},
        at_s=at_s,
        webhook=False,
    )
    return zone


def delete_zone(session: Session, *, hub_id: str, zone_id: str, actor: str, at_s: float) -> None:
    """Remove a zone and emit `zone.deleted`; NotFound when absent."""
    row = session.get(ZoneRow, (hub_id, zone_id))
    if row is None:
        raise NotFound(f"zone {zone_id!r} not found in hub {hub_id!r}")
    session.delete(row)
    append_event(
        session,
        hub_id=hub_id,
        event_type="zone.deleted",
        subject=f"zones/{zone_id}",
        data={"zone_id": zone_id, "actor": actor},
        at_s=at_s,
        webhook=False,
    )


def hubs_with_zone(session: Session, *, zone_id: str, hub_ids: Sequence[str]) -> list[str]:
    """Which of `hub_ids` have a zone `zone_id` (ids are unique per hub only)."""
    query = select(ZoneRow.hub_id).where(ZoneRow.zone_id == zone_id, ZoneRow.hub_id.in_(list(hub_ids)))
    return sorted(session.scalars(query))


def list_zone_features(session: Session, *, hub_id: str) -> list[dict[str, Any]]:
    """The hub's zones as GeoJSON Features, by id."""
    query = select(ZoneRow).where(ZoneRow.hub_id == hub_id).order_by(ZoneRow.zone_id)
    return [dict(row.feature) for row in session.scalars(query)]


def load_airspace(session: Session, *, hub_id: str, frame: LocalFrame) -> Airspace:
    """The hub's stored zones as an `Airspace` in `frame` (what the dispatcher plans against)."""
    features = list_zone_features(session, hub_id=hub_id)
    return Airspace.from_geojson({"type": "FeatureCollection", "features": features}, frame)

"""Building points: the buildings of a world that have no street address, made findable by what a
person types for them — the building's names (every variant the extract has), the street it faces,
its village, its region (Andorra: parish) and the region's postcode.

Built from the world (its derived delivery points and labels, so the index and the world agree on
every drop point) plus the extract's building name tags, administrative boundaries and settlements;
cached with the address index (`addresses.address_index_for_world`). Nothing here reads queries.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from .address_text import fold, locale
from .addresses import AddressIndex, BuildingPoint, DropPoint, DropPointKind, Street
from .model import World

logger = logging.getLogger(__name__)

# The tags a building's name is written under: the list, plus what the extract has.
BUILDING_NAME_TAGS = (
    "name",
    "name:ca",
    "name:es",
    "name:fr",
    "name:en",
    "official_name",
    "short_name",
    "alt_name",
    "old_name",
)
_REGION_ADMIN_LEVELS = ("7", "8")  # Andorra's parishes are admin_level 7; municipalities elsewhere 8


@dataclass(frozen=True)
class _OsmExtras:
    names: dict[str, tuple[str, ...]]  # building_id -> names
    regions: list[tuple[str, BaseGeometry]]  # (name, WGS84 polygon)
    places: list[tuple[str, float, float]]  # (name, latitude_deg, longitude_deg)


def add_building_points(index: AddressIndex, world: World, pbf_path: Path) -> AddressIndex:
    """The index with a building point for every building of `world` that has a derived delivery point."""
    extras = _read_extras(pbf_path)
    addressed = {a.building_id for a in index.addresses if a.building_id}
    regions = locale().regions.get(index.country, ())
    mapped_regions = {name for name, _ in extras.regions}
    # A region the country has but the extract draws no boundary for (Andorra 2013: Canillo) holds
    # whatever lies outside every drawn one, if it is the only one missing.
    unmapped = [names[0] for _, names in regions if not any(_same(n, m) for n in names for m in mapped_regions)]
    fallback_region = unmapped[0] if len(unmapped) == 1 else ""
    place_region = {name: _region_at(extras, lat, lon) for name, lat, lon in extras.places}
    streets = dict(index.street_by_id)
    points: list[BuildingPoint] = []
    for building in world.buildings:
        derived = building.derived
        if derived is None or building.address or building.building_id in addressed:
            continue
        street_id = fold(derived.street) if derived.street else ""
        if street_id and street_id not in streets:
            streets[street_id] = Street(street_id, derived.street, (("name", derived.street),), ())
        region = (
            _region_at(extras, building.latitude_deg, building.longitude_deg)
            or place_region.get(derived.place, "")
            or fallback_region
        )
        kind = DropPointKind.CENTROID if "no street within" in derived.label else DropPointKind.STREET_SIDE
        names = extras.names.get(building.building_id) or ((building.name,) if building.name else ())
        points.append(
            BuildingPoint(
                building_id=building.building_id,
                names=names,
                street_id=street_id,
                locality=derived.place,
                parish=region,
                postcode=locale().region_postcode(index.country, region) if region else "",
                drop_point=DropPoint(derived.latitude_deg, derived.longitude_deg, kind),
                label=derived.label,
            )
        )
    logger.info("%s: %d building points (%d named)", world.name, len(points), sum(1 for p in points if p.names))
    return replace(
        index,
        streets=tuple(sorted(streets.values(), key=lambda s: s.street_id)),
        building_points=tuple(sorted(points, key=lambda p: p.building_id)),
    )


def _same(a: str, b: str) -> bool:
    return fold(a) == fold(b)


def _region_at(extras: _OsmExtras, latitude_deg: float, longitude_deg: float) -> str:
    point = Point(longitude_deg, latitude_deg)
    return next((name for name, polygon in extras.regions if polygon.contains(point)), "")


def _read_extras(pbf_path: Path) -> _OsmExtras:
    import pyrosm  # heavy import, only when the index is built

    osm = pyrosm.OSM(str(pbf_path))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Could not find any", category=UserWarning)
        buildings = osm.get_buildings()
        boundaries = osm.get_boundaries()
        places = osm.get_data_by_custom_criteria(
            custom_filter={"place": ["town", "village", "hamlet", "suburb", "neighbourhood"]},
            filter_type="keep", keep_nodes=True, keep_ways=False, keep_relations=False,
        )
    names: dict[str, tuple[str, ...]] = {}
    for record in [] if buildings is None else buildings.to_dict("records"):
        tags = _tags(record)
        found = tuple(dict.fromkeys(tags[t].strip() for t in BUILDING_NAME_TAGS if tags.get(t, "").strip()))
        if found:
            names[f"osm-{record.get('osm_type') or 'way'}-{record['id']}"] = found
    regions = [
        (_tags(r).get("name", ""), r["geometry"])
        for r in ([] if boundaries is None else boundaries.to_dict("records"))
        if _tags(r).get("admin_level") in _REGION_ADMIN_LEVELS and r.get("geometry") is not None
    ]
    settlements = [
        (_tags(r).get("name", ""), float(r["lat"]), float(r["lon"]))
        for r in ([] if places is None else places.to_dict("records"))
        if _tags(r).get("name")
    ]
    return _OsmExtras(names, [(n, g) for n, g in regions if n], settlements)


def _tags(record: dict[str, Any]) -> dict[str, str]:
    """pyrosm's tag columns and its JSON `tags` string as one dict of non-empty strings."""
    tags: dict[str, str] = {}
    raw = record.get("tags")
    if isinstance(raw, str) and raw:
        try:
            tags.update({str(k): str(v) for k, v in json.loads(raw).items() if v is not None})
        except json.JSONDecodeError:
            logger.debug("unreadable tags on %s; its extra names are skipped", record.get("id"))
    for key, value in record.items():
        if key in ("tags", "geometry") or value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        tags.setdefault(str(key), str(value))
    return tags

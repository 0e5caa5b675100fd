"""Reads the addresses of an OSM extract (pyrosm): streets and their name variants, `addr:*`
elements grouped into addresses, the building footprint each lies in, entrances, localities.

Used only when the address index is built (`addresses.build_address_index`); the result is cached.
"""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapely import STRtree
from shapely.geometry import LineString, MultiLineString, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points, unary_union

from mission_planner.geodesy import LocalFrame

from .address_text import HouseNumber, fold, locale, parse_housenumber
from .addresses import Address, DropPoint, DropPointKind, Entrance
from .model import Building, _OsmExtract

logger = logging.getLogger(__name__)

# The street name tags the issue asks for, plus the other names people use for a street.
NAME_TAGS = (
    "name",
    "name:fi",
    "name:sv",
    "name:ca",
    "name:es",
    "name:fr",
    "name:en",
    "name:de",
    "official_name",
    "short_name",
    "alt_name",
    "old_name",
)
NAME_TAG_PREFIXES = ("alt_name:", "old_name:")
_PLACE_KINDS = ("city", "town", "village", "hamlet", "suburb", "quarter", "neighbourhood", "borough")
_LOCALITY_NAME_TAGS = ("name", "name:fi", "name:sv", "name:ca", "name:es", "name:fr", "name:en", "official_name")
# Doors a courier does not use for a parcel; metro entrances are not a building's door at all.
_EXCLUDED_ENTRANCES = frozenset({"garage", "emergency", "exit", "no", "fire_exit"})
_ENTRANCE_PRIORITY = {"main": 0, "yes": 1, "staircase": 1, "home": 1, "residential": 1, "shop": 2}
_ON_OUTLINE_M = 1.5  # entrance nodes are outline vertices; allow for slightly misaligned mapping
_INSIDE_M = 1.0  # an address node on or inside a footprint
_NEAR_BUILDING_M = 10.0  # a shop's address node drawn on the pavement in front of its building
_SAME_ADDRESS_M = 300.0  # the same street and number farther apart than this are two places
_STREET_SIDE_MAX_M = 80.0  # farther from its street than this, a building's street side is a guess
_STEP_OUTSIDE_M = 1.5  # the street-side drop point is this far out from the wall, toward the street
_TRAILING_NUMBER = re.compile(r"\s+\d+\s*[A-Za-z]?$")
_STREET_IN_NUMBER = re.compile(r"^(\D*[^\W\d_]{3,}\D*?)\s+(\d.*)$")  # 'Keskuskatu 5' in addr:housenumber


@dataclass
class OsmAddresses:
    """What one extract holds, before it becomes an `AddressIndex`."""

    street_names: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # street_id -> names
    street_postcodes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    addresses: list[Address] = field(default_factory=list)
    entrances: list[Entrance] = field(default_factory=list)
    localities: list[str] = field(default_factory=list)
    country: str = ""
    building_count: int = 0


@dataclass
class _Element:
    """One OSM element with addr:* tags."""

    osm_id: str
    street: str
    housenumber: str
    house: HouseNumber
    postcode: str
    city: str
    country: str
    names: list[str]
    point: Point  # local frame
    building_id: str  # '' unless the element is itself a building footprint


def read_osm_addresses(pbf_path: Path) -> OsmAddresses:
    """Everything the address index needs from one .pbf."""
    import pyrosm  # heavy import, only when an index is built

    osm = pyrosm.OSM(str(pbf_path))
    ways = osm.get_network(network_type="all")
    if ways is None or ways.empty:
        west, south, east, north = (0.0, 0.0, 0.0, 0.0)
    else:
        west, south, east, north = (float(v) for v in ways.total_bounds)
    frame = LocalFrame.at((south + north) / 2, (west + east) / 2)
    found = OsmAddresses()
    street_lines = _read_streets(ways, frame, found)
    buildings = _OsmExtract(str(pbf_path), frame).buildings(default_height_m=12.0, storey_height_m=3.2)
    found.building_count = len(buildings)
    linker = _BuildingLinker(buildings)
    elements = _read_elements(osm, frame, found, linker)
    found.entrances = _read_entrances(osm, frame, linker)
    found.localities = _read_localities(osm, elements)
    found.country = _country(osm, elements)
    _group_addresses(elements, found, linker, street_lines, frame)
    logger.info(
        "%s: %d streets, %d address elements -> %d addresses, %d entrances, %d buildings",
        pbf_path.name,
        len(found.street_names),
        len(elements),
        len(found.addresses),
        len(found.entrances),
        len(buildings),
    )
    return found


def _quiet(query: Callable[..., Any]) -> Callable[..., Any]:
    """A pyrosm query without its warning when an extract has none of something (no entrances): not a fault."""

    def run(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Could not find any", category=UserWarning)
            return query(*args, **kwargs)

    return run


def _tags(record: dict[str, Any]) -> dict[str, str]:
    """pyrosm keeps some tags as columns and the rest as a JSON string in `tags`: one dict of both."""
    tags: dict[str, str] = {}
    raw = record.get("tags")
    if isinstance(raw, str) and raw:
        tags.update({str(k): str(v) for k, v in json.loads(raw).items()})
    elif isinstance(raw, dict):
        tags.update({str(k): str(v) for k, v in raw.items()})
    for key, value in record.items():
        if key in ("tags", "geometry") or value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        tags.setdefault(str(key), str(value))
    return tags


def _name_variants(tags: dict[str, str]) -> list[tuple[str, str]]:
    variants: list[tuple[str, str]] = []
    keys = list(NAME_TAGS) + sorted(k for k in tags if k.startswith(NAME_TAG_PREFIXES))
    for key in keys:
        for value in tags.get(key, "").split(";"):  # "alt_name=A;B" holds two names
            value = value.strip()
            if value and fold(value) and (key, value) not in variants:
                variants.append((key, value))
    return variants


def _read_streets(ways: Any, frame: LocalFrame, found: OsmAddresses) -> dict[str, list[LineString]]:
    """Street names (every variant) by street id, and each street's lines in the local frame."""
    lines: dict[str, list[LineString]] = defaultdict(list)
    if ways is None:
        return lines
    for record in ways.to_dict("records"):
        variants = _name_variants(_tags(record))
        if not variants:
            continue
        # A way on the line between two streets has both in `name` ("A; B"): it belongs to each.
        primary_tag = variants[0][0]
        primaries = [value for tag, value in variants if tag == primary_tag]
        others = [(tag, value) for tag, value in variants if tag != primary_tag]
        geometry: BaseGeometry | None = record.get("geometry")
        way_lines = _local_lines(geometry, frame)
        for primary in primaries:
            street_id = fold(primary)
            known = found.street_names.setdefault(street_id, [])
            known.extend(v for v in [(primary_tag, primary), *others] if v not in known)
            lines[street_id].extend(way_lines)
    return lines


def _local_lines(geometry: BaseGeometry | None, frame: LocalFrame) -> list[LineString]:
    if geometry is None or geometry.is_empty:
        return []
    parts = geometry.geoms if isinstance(geometry, MultiLineString) else [geometry]
    result = []
    for part in parts:
        coords = [frame.to_local(lat, lon) for lon, lat, *_ in part.coords]
        if len(coords) >= 2:
            result.append(LineString(coords))
    return result


class _BuildingLinker:
    """Finds the building footprint an address node or entrance belongs to."""

    def __init__(self, buildings: tuple[Building, ...]) -> None:
        self.buildings = buildings
        self.by_id = {b.building_id: b for b in buildings}
        self._tree = STRtree([b.footprint for b in buildings])

    def containing(self, point: Point, tolerance_m: float) -> Building | None:
        """The smallest footprint the point is in or within `tolerance_m` of."""
        hits = self._tree.query(point, predicate="dwithin", distance=tolerance_m)
        if len(hits) == 0:
            return None
        return min((self.buildings[int(i)] for i in hits), key=lambda b: (b.footprint.area, b.building_id))

    def nearby(self, point: Point, street_id: str, house: HouseNumber) -> Building | None:
        """A footprint within a few metres whose own address (if it has one) is this one."""
        hits = self._tree.query(point, predicate="dwithin", distance=_NEAR_BUILDING_M)
        ranked = sorted((self.buildings[int(i)] for i in hits), key=lambda b: b.footprint.distance(point))
        for building in ranked:
            own = parse_housenumber(building.housenumber) if building.street else None
            if own is None or (fold(building.street) == street_id and own.covers(house)):
                return building
        return None


def _read_elements(osm: Any, frame: LocalFrame, found: OsmAddresses, linker: _BuildingLinker) -> list[_Element]:
    gdf = _quiet(osm.get_data_by_custom_criteria)(
        custom_filter={"addr:housenumber": True},
        filter_type="keep",
        keep_nodes=True,
        keep_ways=True,
        keep_relations=True,
    )
    if gdf is None:
        return []
    variant_to_street = {
        fold(value): street_id for street_id, names in found.street_names.items() for _, value in names
    }
    elements = []
    for record in gdf.to_dict("records"):
        tags = _tags(record)
        geometry: BaseGeometry | None = record.get("geometry")
        if geometry is None or geometry.is_empty:
            continue
        osm_type = str(record.get("osm_type") or "node")
        osm_id = f"osm-{osm_type}-{record['id']}"
        point = geometry if geometry.geom_type == "Point" else geometry.representative_point()
        local = Point(frame.to_local(point.y, point.x))
        names = [tags[k] for k in ("addr:housename", "name", "name:fi", "name:sv", "name:en") if tags.get(k)]
        street_raw = tags.get("addr:street") or tags.get("addr:place") or ""
        for street_text, housenumber in _street_numbers(
            street_raw, tags.get("addr:housenumber", ""), variant_to_street
        ):
            house = parse_housenumber(housenumber)
            if not street_text or house is None:
                continue  # an address with no street or number cannot be typed, so it cannot be found
            street_id = variant_to_street.get(fold(street_text))
            if street_id is None:  # a square or a street outside the extract: known by its address only
                street_id = fold(street_text)
                found.street_names[street_id] = [("name", street_text)]
                variant_to_street[street_id] = street_id
            elements.append(
                _Element(
                    osm_id=osm_id,
                    street=street_id,
                    housenumber=housenumber.split(",")[0].strip(),
                    house=house,
                    postcode=tags.get("addr:postcode", "").strip(),
                    city=tags.get("addr:city", "").strip(),
                    country=tags.get("addr:country", "").strip().upper(),
                    names=names,
                    point=local,
                    building_id=osm_id if osm_id in linker.by_id else "",
                )
            )
    return elements


def _street_numbers(street_raw: str, housenumber: str, variant_to_street: dict[str, str]) -> list[tuple[str, str]]:
    """The (street, house number) pairs one element's tags give.

    Usually one; a corner mall mapped as addr:street='Pohjoisesplanadi 33' and
    addr:housenumber='Keskuskatu 5' has two addresses, and both are typed by customers.
    """
    street = _clean_street(street_raw, variant_to_street)
    named = _STREET_IN_NUMBER.match(housenumber.strip())
    if named is None:
        return [(street, housenumber)]
    pairs = [(named.group(1).strip(), named.group(2))]
    trailing = _TRAILING_NUMBER.search(street_raw.split(",")[-1])
    if trailing is not None:
        pairs.append((street, trailing.group(0).strip()))
    return pairs


def _clean_street(text: str, variant_to_street: dict[str, str]) -> str:
    """'Asemahalli, Kaivokatu' -> 'Kaivokatu'; 'Pohjoisesplanadi 33' -> 'Pohjoisesplanadi'."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        return ""
    known = [part for part in parts if fold(part) in variant_to_street]
    chosen = known[0] if known else parts[-1]
    return _TRAILING_NUMBER.sub("", chosen).strip()


def _read_entrances(osm: Any, frame: LocalFrame, linker: _BuildingLinker) -> list[Entrance]:
    gdf = _quiet(osm.get_data_by_custom_criteria)(
        custom_filter={"entrance": True}, filter_type="keep", keep_nodes=True, keep_ways=False, keep_relations=False
    )
    if gdf is None:
        return []
    entrances = []
    for record in gdf.to_dict("records"):
        tags = _tags(record)
        kind = tags.get("entrance", "yes")
        if kind in _EXCLUDED_ENTRANCES or tags.get("railway") == "subway_entrance":
            continue
        latitude_deg, longitude_deg = float(record["lat"]), float(record["lon"])
        building = linker.containing(Point(frame.to_local(latitude_deg, longitude_deg)), _ON_OUTLINE_M)
        if building is None:
            continue  # a gate in a fence or a courtyard door: not the door of a delivery building
        entrances.append(
            Entrance(
                entrance_id=f"osm-node-{record['id']}",
                building_id=building.building_id,
                kind=kind,
                ref=tags.get("ref", "").strip(),
                latitude_deg=latitude_deg,
                longitude_deg=longitude_deg,
            )
        )
    return entrances


def _read_localities(osm: Any, elements: list[_Element]) -> list[str]:
    names = {element.city for element in elements if element.city}
    places = _quiet(osm.get_data_by_custom_criteria)(
        custom_filter={"place": list(_PLACE_KINDS)},
        filter_type="keep",
        keep_nodes=True,
        keep_ways=True,
        keep_relations=True,
    )
    for frame_ in (places, _quiet(osm.get_boundaries)()):
        if frame_ is None:
            continue
        for record in frame_.to_dict("records"):
            tags = _tags(record)
            if tags.get("admin_level") == "2":
                continue  # the country is not a locality
            names.update(tags[k] for k in _LOCALITY_NAME_TAGS if tags.get(k))
    return sorted(name for name in names if any(char.isalpha() for char in name))


def _country(osm: Any, elements: list[_Element]) -> str:
    """addr:country where mapped, else the country whose place node or boundary the extract holds."""
    mapped = Counter(element.country for element in elements if element.country)
    if mapped:
        return mapped.most_common(1)[0][0]
    words = locale()
    countries = _quiet(osm.get_data_by_custom_criteria)(
        custom_filter={"place": ["country"]}, filter_type="keep", keep_nodes=True, keep_ways=False, keep_relations=True
    )
    if countries is not None:
        for record in countries.to_dict("records"):
            iso = words.country_of(_tags(record).get("name", ""))
            if iso:
                return iso
    return ""


def _group_addresses(
    elements: list[_Element],
    found: OsmAddresses,
    linker: _BuildingLinker,
    street_lines: dict[str, list[LineString]],
    frame: LocalFrame,
) -> None:
    """One Address per street, number and place; the building and drop point each gets."""
    by_key: dict[tuple[str, str], list[_Element]] = defaultdict(list)
    for element in elements:
        by_key[(element.street, element.house.key)].append(element)
    entrances_by_building: dict[str, list[Entrance]] = defaultdict(list)
    for entrance in found.entrances:
        entrances_by_building[entrance.building_id].append(entrance)
    for (street_id, house_key), group in sorted(by_key.items()):
        for number, cluster in enumerate(_clusters(group)):
            address_id = f"{street_id}|{house_key}" + (f"|{number}" if number else "")
            address = _address(address_id, street_id, cluster, linker, entrances_by_building, street_lines, frame)
            found.addresses.append(address)
            if address.postcode:
                found.street_postcodes[street_id].add(address.postcode)


def _clusters(group: list[_Element]) -> list[list[_Element]]:
    """Split elements of one street and number that lie far apart (two towns' 'Carrer Major 1')."""
    clusters: list[list[_Element]] = []
    for element in sorted(group, key=lambda e: (not e.building_id, e.osm_id)):
        for cluster in clusters:
            if cluster[0].point.distance(element.point) <= _SAME_ADDRESS_M:
                cluster.append(element)
                break
        else:
            clusters.append([element])
    return clusters


def _address(
    address_id: str,
    street_id: str,
    cluster: list[_Element],
    linker: _BuildingLinker,
    entrances_by_building: dict[str, list[Entrance]],
    street_lines: dict[str, list[LineString]],
    frame: LocalFrame,
) -> Address:
    house = cluster[0].house
    building = _building_of(cluster, linker, street_id, house)
    osm_ids = tuple(sorted(e.osm_id for e in cluster))
    names = tuple(dict.fromkeys(name for e in cluster for name in e.names))
    postcodes = Counter(e.postcode for e in cluster if e.postcode)
    cities = Counter(e.city for e in cluster if e.city)
    housenumbers = Counter(e.housenumber for e in cluster)
    if building is not None:
        centroid_latitude_deg, centroid_longitude_deg = building.latitude_deg, building.longitude_deg
        entrances = entrances_by_building.get(building.building_id, [])
        drop = _drop_point(building, house, osm_ids, entrances, street_lines.get(street_id, []), frame)
    else:
        # The element nearest the others' mean stands for them all (one node per shop at the address).
        mean_x = sum(e.point.x for e in cluster) / len(cluster)
        mean_y = sum(e.point.y for e in cluster) / len(cluster)
        middle = min(cluster, key=lambda e: (e.point.x - mean_x) ** 2 + (e.point.y - mean_y) ** 2)
        centroid_latitude_deg, centroid_longitude_deg = frame.to_wgs84(middle.point.x, middle.point.y)
        drop = DropPoint(centroid_latitude_deg, centroid_longitude_deg, DropPointKind.ADDRESS_POINT)
    return Address(
        address_id=address_id,
        street_id=street_id,
        housenumber=housenumbers.most_common(1)[0][0],
        house=house,
        postcode=postcodes.most_common(1)[0][0] if postcodes else "",
        city=cities.most_common(1)[0][0] if cities else "",
        building_id=building.building_id if building is not None else "",
        centroid_latitude_deg=centroid_latitude_deg,
        centroid_longitude_deg=centroid_longitude_deg,
        drop_point=drop,
        names=names,
        osm_ids=osm_ids,
    )


def _building_of(
    cluster: list[_Element], linker: _BuildingLinker, street_id: str, house: HouseNumber
) -> Building | None:
    """The footprint mapped with the address, else the one most of its nodes lie in (or next to)."""
    for element in cluster:
        if element.building_id:
            return linker.by_id[element.building_id]
    votes: Counter[str] = Counter()
    for element in cluster:
        building = linker.containing(element.point, _INSIDE_M) or linker.nearby(element.point, street_id, house)
        if building is not None:
            votes[building.building_id] += 1
    if not votes:
        return None
    best = max(votes.items(), key=lambda item: (item[1], item[0]))[0]
    return linker.by_id[best]


def _drop_point(
    building: Building,
    house: HouseNumber,
    osm_ids: tuple[str, ...],
    entrances: list[Entrance],
    lines: list[LineString],
    frame: LocalFrame,
) -> DropPoint:
    street = unary_union(lines) if lines else None
    if entrances:

        def rank(entrance: Entrance) -> tuple[int, int, float, str]:
            tagged_here = entrance.entrance_id in osm_ids
            staircase = bool(house.letter) and entrance.ref.lower() == house.letter
            x_m, y_m = frame.to_local(entrance.latitude_deg, entrance.longitude_deg)
            distance_m = street.distance(Point(x_m, y_m)) if street is not None else 0.0
            first = 0 if (tagged_here or staircase) else 1
            return (first, _ENTRANCE_PRIORITY.get(entrance.kind, 3), distance_m, entrance.entrance_id)

        door = min(entrances, key=rank)
        return DropPoint(door.latitude_deg, door.longitude_deg, DropPointKind.ENTRANCE, door.entrance_id)
    footprint: Polygon = building.footprint
    if street is not None:
        on_wall, on_street = nearest_points(footprint.exterior, street)
        distance_m = on_wall.distance(on_street)
        if distance_m <= _STREET_SIDE_MAX_M:
            step_m = min(_STEP_OUTSIDE_M, distance_m / 2)
            fraction = step_m / distance_m if distance_m > 0 else 0.0
            x_m = on_wall.x + (on_street.x - on_wall.x) * fraction
            y_m = on_wall.y + (on_street.y - on_wall.y) * fraction
            latitude_deg, longitude_deg = frame.to_wgs84(x_m, y_m)
            return DropPoint(latitude_deg, longitude_deg, DropPointKind.STREET_SIDE)
    return DropPoint(building.latitude_deg, building.longitude_deg, DropPointKind.CENTROID)

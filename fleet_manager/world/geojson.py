"""A world as GeoJSON for maps: streets, walkways, building footprints, hub, lockers, bounds (WGS84).

The dashboard draws the world from this instead of a tile server, so the operator sees exactly the
streets, footpaths and buildings the planner and simulators use.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from .model import Building, Site, World

# 1e-6 degrees is ~0.1 m here: finer than any OSM footprint, and it keeps the payload small.
_DECIMALS = 6


def _lon_lat(longitude_deg: float, latitude_deg: float) -> list[float]:
    return [round(longitude_deg, _DECIMALS), round(latitude_deg, _DECIMALS)]


def _edges_multiline(graph: nx.Graph) -> dict[str, Any]:
    """All edges of a graph as one MultiLineString; both directions of a two-way street are drawn once."""
    nodes = graph.nodes
    seen: set[tuple[int, int]] = set()
    lines = []
    for u, v in graph.edges():
        key = (u, v) if u <= v else (v, u)
        if key in seen:
            continue
        seen.add(key)
        lines.append(
            [
                _lon_lat(nodes[u]["longitude_deg"], nodes[u]["latitude_deg"]),
                _lon_lat(nodes[v]["longitude_deg"], nodes[v]["latitude_deg"]),
            ]
        )
    return {"type": "MultiLineString", "coordinates": lines}


def _building_feature(building: Building, world: World) -> dict[str, Any]:
    rings = [building.footprint.exterior, *building.footprint.interiors]
    coordinates = []
    for ring in rings:
        points = []
        for x_m, y_m in ring.coords:
            latitude_deg, longitude_deg = world.frame.to_wgs84(x_m, y_m)
            points.append(_lon_lat(longitude_deg, latitude_deg))
        coordinates.append(points)
    return {
        "type": "Feature",
        "id": building.building_id,
        "properties": {
            "building_id": building.building_id,
            "name": building.name,
            "address": building.address,
            "delivery_label": building.delivery_point.label if building.delivery_point else "",
            "height_m": round(building.height_m, 1),
        },
        "geometry": {"type": "Polygon", "coordinates": coordinates},
    }


def _site(site: Site) -> dict[str, Any]:
    return {
        "site_id": site.site_id,
        "name": site.name,
        "latitude_deg": site.latitude_deg,
        "longitude_deg": site.longitude_deg,
        "reason": site.reason,
    }


def _world_zones(world: World) -> dict[str, Any]:
    collection = world.airspace.to_geojson()
    for feature in collection["features"]:
        feature["properties"] = {**feature.get("properties", {}), "source": "world"}
    return collection


def world_geojson(world: World) -> dict[str, Any]:
    """Everything a map needs to draw the world, in WGS84 (GeoJSON order: longitude, latitude)."""
    latitudes = [d["latitude_deg"] for _, d in world.street_graph.nodes(data=True)]
    longitudes = [d["longitude_deg"] for _, d in world.street_graph.nodes(data=True)]
    for building in world.buildings:
        for x_m, y_m in building.footprint.exterior.coords:
            latitude_deg, longitude_deg = world.frame.to_wgs84(x_m, y_m)
            latitudes.append(latitude_deg)
            longitudes.append(longitude_deg)
    return {
        "name": world.name,
        "description": world.description,
        "origin": {
            "latitude_deg": world.frame.origin_latitude_deg,
            "longitude_deg": world.frame.origin_longitude_deg,
        },
        "bounds": {
            "south_deg": min(latitudes),
            "west_deg": min(longitudes),
            "north_deg": max(latitudes),
            "east_deg": max(longitudes),
        },
        "hub": _site(world.hub),
        "lockers": [_site(locker) for locker in world.lockers],
        "streets": {
            "type": "Feature",
            "properties": {"layer": "streets"},
            "geometry": _edges_multiline(world.street_graph),
        },
        "walkways": {
            "type": "Feature",
            "properties": {"layer": "walkways"},
            "geometry": _edges_multiline(world.walk_graph),
        },
        "buildings": {
            "type": "FeatureCollection",
            "features": [_building_feature(building, world) for building in world.buildings],
        },
        # The world's standing airspace (operators add temporary zones through /v1/zones).
        "zones": _world_zones(world),
        "attribution": "Map data © OpenStreetMap contributors (ODbL 1.0)",
    }

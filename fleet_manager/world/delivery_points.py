"""Delivery points for buildings that have no street address (most of the Andorra extract).

A courier, a robot or a drone needs a point to go to and a label a person can read. For a
building without ``addr:street`` the point is where its outline comes closest to the nearest
named street or path within `street_radius_m` (the side the building is reached from), and the
label names the building (when OSM does), that street with "(no number)", and the nearest
settlement (OSM ``place`` = town, village, hamlet, suburb or neighbourhood), e.g.
``"Avinguda Meritxell (no number), Andorra la Vella"``. With no named way within reach the
point faces the nearest unnamed way; with no way at all it is the footprint's centroid (a drone
can still drop there) and the label says ``"no street within 150 m"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.ops import nearest_points

from mission_planner.geodesy import LocalFrame


@dataclass(frozen=True)
class DeliveryPoint:
    """Where a parcel for a building is handed over, and the label that names it."""

    label: str
    latitude_deg: float
    longitude_deg: float
    x_m: float
    y_m: float
    street: str = ""  # the named street the point faces ('' when none within reach)
    place: str = ""  # the nearest settlement's name ('' when the world has none)


@dataclass(frozen=True)
class Place:
    """A named settlement from OSM (``place`` tag), in the local frame."""

    name: str
    kind: str
    x_m: float
    y_m: float


def _edge_lines(graphs: Iterable[nx.Graph]) -> tuple[list[str], np.ndarray]:
    """(name, line) of every edge of the graphs, both directions of a street once."""
    names: list[str] = []
    lines = []
    seen: set[tuple[int, int]] = set()
    for graph in graphs:
        nodes = graph.nodes
        for u, v, data in graph.edges(data=True):
            key = (u, v) if u <= v else (v, u)
            if key in seen:
                continue
            seen.add(key)
            names.append(str(data.get("name") or ""))
            lines.append(((nodes[u]["x_m"], nodes[u]["y_m"]), (nodes[v]["x_m"], nodes[v]["y_m"])))
    return names, shapely.linestrings(np.asarray(lines, dtype=float).reshape(-1, 2, 2))


def derive_delivery_points(
    footprints: Sequence[tuple[Polygon, str]],
    graphs: Sequence[nx.Graph],
    places: Sequence[Place],
    frame: LocalFrame,
    *,
    street_radius_m: float = 150.0,
) -> list[DeliveryPoint]:
    """A delivery point per (footprint, building name), in order (see the module docstring)."""
    names, lines = _edge_lines(graphs)
    named = np.array([bool(n) for n in names], dtype=bool)
    named_tree = shapely.STRtree(lines[named]) if named.any() else None
    any_tree = shapely.STRtree(lines) if len(lines) else None
    named_names = [n for n in names if n]
    place_xy = np.array([(p.x_m, p.y_m) for p in places], dtype=float).reshape(-1, 2)
    result = []
    for footprint, building_name in footprints:
        street = ""
        target = None
        if named_tree is not None:
            hit = named_tree.query_nearest(footprint, max_distance=street_radius_m)
            if len(hit):
                street = named_names[int(hit[0])]
                target = named_tree.geometries[int(hit[0])]
        if target is None and any_tree is not None:
            hit = any_tree.query_nearest(footprint, max_distance=street_radius_m)
            if len(hit):
                target = any_tree.geometries[int(hit[0])]
        if target is not None:
            point = nearest_points(footprint.exterior, target)[0]
            x_m, y_m = float(point.x), float(point.y)
        else:
            x_m, y_m = float(footprint.centroid.x), float(footprint.centroid.y)
        parts = [building_name] if building_name else []
        place = ""
        if street:
            parts.append(f"{street} (no number)")
        elif target is None:
            parts.append(f"no street within {street_radius_m:g} m")
        if len(place_xy):
            nearest = int(np.argmin(np.hypot(place_xy[:, 0] - x_m, place_xy[:, 1] - y_m)))
            place = places[nearest].name
            parts.append(place if street else f"near {place}")
        latitude_deg, longitude_deg = frame.to_wgs84(x_m, y_m)
        result.append(
            DeliveryPoint(", ".join(parts) or "building", latitude_deg, longitude_deg, x_m, y_m, street, place)
        )
    return result

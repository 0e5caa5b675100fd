"""Zones published through the API are capped in vertices: a larger ring is simplified, safely, and the caller told.

Every planned drone path is checked against every zone edge, so a 20,000-vertex zone made one
dispatch take 74 s instead of 3 s. A ring above `MAX_ZONE_VERTICES` is replaced by the simplest
ring (Douglas-Peucker at the smallest tolerance that fits, searched by bisection) that errs on the
safe side: an exclusion zone (no_fly, restricted) only grows, so the simplified zone covers every
point of the one sent; an operating area only shrinks, so it stays inside the one sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from shapely import MultiPolygon, Polygon, get_num_coordinates
from shapely.geometry.base import BaseGeometry

from mission_planner.geodesy import LocalFrame

MAX_ZONE_VERTICES = 500
_SEARCH_STEPS = 24
_MITRE = {"join_style": "mitre", "mitre_limit": 2.0}


@dataclass(frozen=True)
class Simplification:
    """What was done to a ring that had too many vertices."""

    from_vertices: int
    to_vertices: int
    tolerance_m: float
    grown: bool  # True: the zone covers the one sent (exclusion); False: it lies inside it (operating area)

    def as_dict(self) -> dict[str, Any]:
        """For the API answer."""
        side = "covers every point of the zone sent" if self.grown else "lies inside the operating area sent"
        return {
            "from_vertices": self.from_vertices,
            "to_vertices": self.to_vertices,
            "tolerance_m": round(self.tolerance_m, 2),
            "reason": f"zones are capped at {MAX_ZONE_VERTICES} vertices; the simplified ring {side}",
        }


def _vertices(geometry: BaseGeometry) -> int:
    return int(get_num_coordinates(geometry)) - 1


def _largest(geometry: BaseGeometry) -> Polygon | None:
    if isinstance(geometry, Polygon):
        return None if geometry.is_empty else geometry
    if isinstance(geometry, MultiPolygon) and not geometry.is_empty:
        return max(geometry.geoms, key=lambda part: part.area)
    return None


def _safe_simplification(polygon: Polygon, tolerance_m: float, grow: bool, max_vertices: int) -> Polygon | None:
    """A ring simplified at `tolerance_m` with at most `max_vertices` that covers (grow) or lies within (shrink)
    `polygon`; None when there is none at this tolerance (too many vertices left, or shrunk to nothing)."""
    offset = tolerance_m if grow else -tolerance_m
    candidate = _largest(polygon.buffer(offset, **_MITRE).simplify(tolerance_m, preserve_topology=True))
    for _ in range(5):
        if candidate is None or _vertices(candidate) > max_vertices:
            return None  # counted first: the containment test is the expensive part
        if candidate.is_valid and (candidate.covers(polygon) if grow else polygon.covers(candidate)):
            return Polygon(candidate.exterior)
        candidate = _largest(candidate.buffer(offset * 0.25, **_MITRE))
    return None


def cap_vertices(
    feature: dict[str, Any], frame: LocalFrame, *, max_vertices: int = MAX_ZONE_VERTICES
) -> tuple[dict[str, Any], Simplification | None]:
    """The feature unchanged when its ring has at most `max_vertices`, else a copy with a simplified ring.

    An invalid ring is returned unchanged, so the zone parser names the zone and the problem.
    """
    ring = feature["geometry"]["coordinates"][0]
    count = len(ring) - 1
    if count <= max_vertices:
        return feature, None
    points = np.asarray([position[:2] for position in ring], dtype=float)
    xs, ys = frame.to_local_many(points[:, 1], points[:, 0])
    polygon = Polygon(np.column_stack([xs, ys]))
    if not polygon.is_valid or polygon.is_empty:
        return feature, None
    grow = feature["properties"].get("kind") != "operating_area"
    # Bisection in log space between 1 cm and the zone's extent: the smallest tolerance that works.
    low_m, high_m = 0.01, max(polygon.bounds[2] - polygon.bounds[0], polygon.bounds[3] - polygon.bounds[1])
    best: tuple[float, Polygon] | None = None
    for _ in range(_SEARCH_STEPS):
        tolerance_m = math.sqrt(low_m * high_m)
        candidate = _safe_simplification(polygon, tolerance_m, grow, max_vertices)
        if candidate is not None:
            best, high_m = (tolerance_m, candidate), tolerance_m
        elif not grow and polygon.buffer(-tolerance_m, **_MITRE).is_empty:
            high_m = tolerance_m  # shrunk to nothing: too coarse
        else:
            low_m = tolerance_m  # too many vertices left: too fine
    if best is None:
        return feature, None
    tolerance_m, simplified = best
    if not simplified.exterior.is_ccw:
        simplified = Polygon(list(simplified.exterior.coords)[::-1])
    coords = np.asarray(simplified.exterior.coords)
    lats, lons = frame.to_wgs84_many(coords[:, 0], coords[:, 1])
    new_ring = [[float(lon), float(lat)] for lat, lon in zip(lats, lons, strict=True)]
    new_ring[-1] = new_ring[0]
    capped = {**feature, "geometry": {**feature["geometry"], "coordinates": [new_ring]}}
    return capped, Simplification(count, len(new_ring) - 1, tolerance_m, grow)

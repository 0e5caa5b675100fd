"""Zone vertex cap: a ring above the cap is simplified on the safe side (exclusions grow, operating areas shrink)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from shapely.geometry import Polygon

from fleet_manager.zone_limits import MAX_ZONE_VERTICES, cap_vertices
from mission_planner.geodesy import LocalFrame

FRAME = LocalFrame.at(60.17, 24.94)


def _feature(kind: str, vertices: int) -> dict[str, Any]:
    # A wobbly star: simplification must cut real corners, not just drop collinear points.
    ring = []
    for i in range(vertices):
        angle = 2 * math.pi * i / vertices
        radius_deg = 0.003 * (1 + 0.15 * math.sin(17 * angle) + 0.03 * math.sin(301 * angle))
        ring.append([24.94 + 2 * radius_deg * math.cos(angle), 60.17 + radius_deg * math.sin(angle)])
    ring.append(ring[0])
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"id": "z", "kind": kind, "upper_m": 120}}


def _local(feature: dict[str, Any]) -> Polygon:
    return Polygon([FRAME.to_local(lat, lon) for lon, lat in feature["geometry"]["coordinates"][0]])


@pytest.mark.parametrize("kind", ["no_fly", "restricted", "operating_area"])
def test_large_rings_are_simplified_on_the_safe_side(kind: str) -> None:
    """5,000 vertices become at most 500; an exclusion covers the ring sent, an operating area lies inside it."""
    sent = _feature(kind, 5000)
    kept, simplification = cap_vertices(sent, FRAME)
    assert simplification is not None and simplification.from_vertices == 5000
    assert simplification.to_vertices == len(kept["geometry"]["coordinates"][0]) - 1 <= MAX_ZONE_VERTICES
    original, simplified = _local(sent), _local(kept)
    assert simplified.is_valid
    if kind == "operating_area":
        assert original.buffer(0.01).covers(simplified) and simplified.area > 0.9 * original.area
    else:
        assert simplified.buffer(0.01).covers(original) and simplified.area < 1.1 * original.area
    assert simplification.tolerance_m < 50 and "500 vertices" in simplification.as_dict()["reason"]


def test_small_and_invalid_rings_are_left_alone() -> None:
    """At or under the cap nothing changes; a self-crossing ring is left for the parser to name."""
    small = _feature("no_fly", MAX_ZONE_VERTICES)
    assert cap_vertices(small, FRAME) == (small, None)
    bowtie = _feature("no_fly", 1000)
    ring = bowtie["geometry"]["coordinates"][0]
    ring[10], ring[500] = ring[500], ring[10]
    assert cap_vertices(bowtie, FRAME) == (bowtie, None)

"""The streets around one point, for a small map without tiles (the recipient's tracking page)."""

from __future__ import annotations

import functools
import math

from .model import load_world

# 1e-6 degrees is ~0.1 m: as fine as the dashboard's world document.
_DECIMALS = 6

#: A segment as [[latitude_deg, longitude_deg], [latitude_deg, longitude_deg]].
Segment = tuple[tuple[float, float], tuple[float, float]]


@functools.lru_cache(maxsize=128)
def streets_near(world_name: str, latitude_deg: float, longitude_deg: float, radius_m: float) -> tuple[Segment, ...]:
    """Street edges of the world with an end within `radius_m` of the point, each drawn once (footpaths are
    left out: around a door in the city centre they are six times as many, too much for a phone's page).

    Cached per point: every recipient's page asks once per door.
    """
    world = load_world(world_name)
    x0_m, y0_m = world.frame.to_local(latitude_deg, longitude_deg)
    nodes = world.street_graph.nodes

    def point(node: int) -> tuple[float, float]:
        return round(nodes[node]["latitude_deg"], _DECIMALS), round(nodes[node]["longitude_deg"], _DECIMALS)

    segments: list[Segment] = []
    seen: set[tuple[int, int]] = set()
    for u, v in world.street_graph.edges():
        key = (u, v) if u <= v else (v, u)
        if key in seen:
            continue
        seen.add(key)
        if min(math.hypot(nodes[n]["x_m"] - x0_m, nodes[n]["y_m"] - y0_m) for n in key) <= radius_m:
            segments.append((point(u), point(v)))
    return tuple(segments)

"""Geofence as ArduCopter stores it: inclusion/exclusion polygons and circles, validation, breach tests.

Item commands (MAV_CMD_NAV_FENCE_*): 5000 return point, 5001 polygon inclusion vertex,
5002 polygon exclusion vertex (param1 = vertex count of the polygon), 5003 circle inclusion,
5004 circle exclusion (param1 = radius m).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sim_worlds.mavsim.physics import GeoOrigin

FENCE_RETURN_POINT = 5000
POLYGON_INCLUSION = 5001
POLYGON_EXCLUSION = 5002
CIRCLE_INCLUSION = 5003
CIRCLE_EXCLUSION = 5004
FENCE_COMMANDS = frozenset(
    {FENCE_RETURN_POINT, POLYGON_INCLUSION, POLYGON_EXCLUSION, CIRCLE_INCLUSION, CIRCLE_EXCLUSION}
)

# FENCE_TYPE bits
FENCE_TYPE_ALT_MAX = 1
FENCE_TYPE_CIRCLE = 2
FENCE_TYPE_POLYGON = 4
FENCE_TYPE_ALT_MIN = 8


@dataclass(frozen=True)
class FenceVertex:
    """One stored fence item, in the units it came in (degE7, metres)."""

    command: int
    param1: float
    latitude_e7: int
    longitude_e7: int


@dataclass(frozen=True)
class FenceShape:
    """A polygon (local vertices) or circle (local centre + radius), inclusion or exclusion."""

    inclusion: bool
    polygon_m: tuple[tuple[float, float], ...] = ()
    centre_m: tuple[float, float] = (0.0, 0.0)
    radius_m: float = 0.0

    def contains(self, x_m: float, y_m: float) -> bool:
        """True when the point is inside this shape."""
        if self.polygon_m:
            return _point_in_polygon(x_m, y_m, self.polygon_m)
        return math.hypot(x_m - self.centre_m[0], y_m - self.centre_m[1]) <= self.radius_m


def _point_in_polygon(x_m: float, y_m: float, polygon: tuple[tuple[float, float], ...]) -> bool:
    inside = False
    count = len(polygon)
    j = count - 1
    for i in range(count):
        xi, yi = polygon[i]
        xj, yj = polygon[j]
        if (yi > y_m) != (yj > y_m) and x_m < (xj - xi) * (y_m - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def validate(items: list[FenceVertex]) -> list[str]:
    """ArduPilot's fence validation: the STATUSTEXT lines explaining why `items` are invalid (empty = valid)."""
    index = 0
    while index < len(items):
        item = items[index]
        if abs(item.latitude_e7) > 900_000_000 or abs(item.longitude_e7) > 1_800_000_000:
            return ["Invalid lat/lon", "Fence validation failed"]
        if item.command in (POLYGON_INCLUSION, POLYGON_EXCLUSION):
            vertex_count = int(item.param1)
            if vertex_count < 3:
                return [f"Invalid vertex count ({vertex_count})", "Fence validation failed"]
            group = items[index : index + vertex_count]
            if len(group) < vertex_count or any(
                v.command != item.command or int(v.param1) != vertex_count for v in group
            ):
                return ["Incorrect vertex count", "Fence validation failed"]
            index += vertex_count
            continue
        if item.command in (CIRCLE_INCLUSION, CIRCLE_EXCLUSION) and not item.param1 > 0:
            return ["Invalid radius", "Fence validation failed"]
        index += 1
    return []


@dataclass
class Fence:
    """The stored fence items and the shapes they make, in the home frame."""

    items: list[FenceVertex] = field(default_factory=list)
    shapes: list[FenceShape] = field(default_factory=list)
    version: int = 0  # counts every change of the shapes (the path planner rebuilds on a new one)

    def load(self, items: list[FenceVertex], origin: GeoOrigin | None) -> None:
        """Replace the fence with `items` (already validated); shapes need the home origin."""
        self.items = list(items)
        self.reindex(origin)

    def reindex(self, origin: GeoOrigin | None) -> None:
        """Recompute local shapes (after home is set or moved)."""
        self.shapes = []
        self.version += 1
        if origin is None:
            return
        index = 0
        while index < len(self.items):
            item = self.items[index]
            if item.command in (POLYGON_INCLUSION, POLYGON_EXCLUSION):
                group = self.items[index : index + int(item.param1)]
                self.shapes.append(
                    FenceShape(
                        inclusion=item.command == POLYGON_INCLUSION,
                        polygon_m=tuple(
                            origin.to_local(v.latitude_e7 * 1e-7, v.longitude_e7 * 1e-7) for v in group
                        ),
                    )
                )
                index += max(1, len(group))
                continue
            if item.command in (CIRCLE_INCLUSION, CIRCLE_EXCLUSION):
                self.shapes.append(
                    FenceShape(
                        inclusion=item.command == CIRCLE_INCLUSION,
                        centre_m=origin.to_local(item.latitude_e7 * 1e-7, item.longitude_e7 * 1e-7),
                        radius_m=float(item.param1),
                    )
                )
            index += 1

    def polygon_breached(self, x_m: float, y_m: float) -> bool:
        """True when outside any inclusion shape or inside any exclusion shape."""
        return any(shape.contains(x_m, y_m) != shape.inclusion for shape in self.shapes)


def breaches(
    fence: Fence,
    fence_type: int,
    x_m: float,
    y_m: float,
    alt_m: float,
    *,
    radius_m: float,
    alt_max_m: float,
    alt_min_m: float,
) -> int:
    """Bitmask (FENCE_TYPE bits) of the fences the position breaches."""
    found = 0
    if fence_type & FENCE_TYPE_ALT_MAX and alt_m > alt_max_m:
        found |= FENCE_TYPE_ALT_MAX
    if fence_type & FENCE_TYPE_ALT_MIN and alt_m < alt_min_m:
        found |= FENCE_TYPE_ALT_MIN
    if fence_type & FENCE_TYPE_CIRCLE and math.hypot(x_m, y_m) > radius_m:
        found |= FENCE_TYPE_CIRCLE
    if fence_type & FENCE_TYPE_POLYGON and fence.polygon_breached(x_m, y_m):
        found |= FENCE_TYPE_POLYGON
    return found

"""Airspace zones: no-fly, restricted and operating-area volumes with altitude bands and time windows.

Zones come from GeoJSON (a FeatureCollection of Polygon features) and are held in the world's
local metric frame. Every validation error is an `AirspaceError` that names the zone.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from shapely.validation import explain_validity

from .errors import AirspaceError
from .geodesy import LocalFrame


class ZoneKind(StrEnum):
    """What a zone means for a drone."""

    NO_FLY = "no_fly"
    RESTRICTED = "restricted"  # closed except to the operators listed in the zone
    OPERATING_AREA = "operating_area"  # drones must stay inside


@dataclass(frozen=True)
class TimeWindow:
    """When a zone is active: an absolute UTC interval, or a daily interval in seconds since midnight UTC."""

    start_s: float
    end_s: float
    daily: bool = False
    weekdays: frozenset[int] = frozenset()  # daily windows only: 0 = Monday (UTC); empty = every day

    def contains(self, when: dt.datetime) -> bool:
        """True when `when` (timezone-aware) falls inside the window."""
        if self.daily:
            utc = when.astimezone(dt.UTC)
            # a window across midnight still covers the small hours of the day after a listed day
            carried_over = self.start_s > self.end_s and (utc.weekday() - 1) % 7 in self.weekdays
            if self.weekdays and utc.weekday() not in self.weekdays and not carried_over:
                return False
            second = utc.hour * 3600 + utc.minute * 60 + utc.second + utc.microsecond / 1e6
            if self.start_s <= self.end_s:
                return self.start_s <= second < self.end_s
            return second >= self.start_s or second < self.end_s  # window across midnight
        stamp = when.timestamp()
        return self.start_s <= stamp < self.end_s

    def overlaps(self, start_s: float, end_s: float) -> bool:
        """True when the window is active at some instant of [start_s, end_s] (epoch seconds)."""
        if end_s < start_s:
            raise AirspaceError(f"interval end_s={end_s} is before start_s={start_s}")
        if not self.daily:
            return self.start_s <= end_s and start_s < self.end_s
        if end_s - start_s >= 86400.0:
            return True
        # the window is piecewise constant: it can only switch on at its start (daily, in UTC)
        if self.contains(dt.datetime.fromtimestamp(start_s, dt.UTC)):
            return True
        day_start = start_s - (start_s % 86400.0)
        for offset in (0.0, 86400.0):
            switch_on = day_start + offset + self.start_s
            if start_s <= switch_on <= end_s and self.contains(dt.datetime.fromtimestamp(switch_on, dt.UTC)):
                return True
        return False


@dataclass(frozen=True)
class Zone:
    """One airspace volume: a polygon in the local frame with an altitude band (m above ground)."""

    zone_id: str
    kind: ZoneKind
    polygon: Polygon
    lower_m: float
    upper_m: float
    name: str = ""
    reason: str = ""
    allowed_operators: frozenset[str] = frozenset()
    time_windows: tuple[TimeWindow, ...] = ()
    polygon_wgs84: tuple[tuple[float, float], ...] = field(default=(), compare=False)  # (lon, lat)

    def __post_init__(self) -> None:
        if not self.zone_id:
            raise AirspaceError("zone without an id")
        if self.lower_m < 0 or self.upper_m <= self.lower_m:
            raise AirspaceError(
                f"zone {self.zone_id!r}: altitude band lower_m={self.lower_m} upper_m={self.upper_m} "
                "needs 0 <= lower_m < upper_m"
            )
        if not self.polygon.is_valid:
            raise AirspaceError(f"zone {self.zone_id!r}: invalid polygon ({explain_validity(self.polygon)})")

    def active_during(self, start_s: float | None, end_s: float | None = None) -> bool:
        """Active at some instant of [start_s, end_s] (epoch s); `None` means 'at any time' (conservative)."""
        if not self.time_windows or start_s is None:
            return True
        end = start_s if end_s is None else end_s
        return any(window.overlaps(start_s, end) for window in self.time_windows)

    def overlaps_band(self, low_m: float, high_m: float) -> bool:
        """True when the altitude interval [low_m, high_m] (m above ground) meets the zone's band."""
        return low_m <= self.upper_m and high_m >= self.lower_m

    def active_at(self, when: dt.datetime | None) -> bool:
        """A zone without time windows is always active; `None` means 'at any time' (conservative)."""
        if not self.time_windows or when is None:
            return True
        return any(window.contains(when) for window in self.time_windows)

    def blocks(self, operator: str | None = None) -> bool:
        """Whether this zone keeps `operator`'s drones out (operating areas never do)."""
        if self.kind is ZoneKind.NO_FLY:
            return True
        if self.kind is ZoneKind.RESTRICTED:
            return operator is None or operator not in self.allowed_operators
        return False


@dataclass(frozen=True)
class Airspace:
    """All zones of a world, in its local frame."""

    frame: LocalFrame
    zones: tuple[Zone, ...] = ()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for zone in self.zones:
            if zone.zone_id in seen:
                raise AirspaceError(f"zone {zone.zone_id!r} is defined twice")
            seen.add(zone.zone_id)

    @classmethod
    def from_geojson(cls, data: Mapping[str, Any], frame: LocalFrame) -> Airspace:
        """Parse a GeoJSON FeatureCollection of zone polygons (see `zone_from_feature`)."""
        if data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
            raise AirspaceError("airspace GeoJSON must be a FeatureCollection with a 'features' list")
        return cls(frame, tuple(zone_from_feature(feature, frame) for feature in data["features"]))

    def with_zone(self, zone: Zone) -> Airspace:
        """A copy with `zone` added (a zone with the same id is replaced)."""
        return Airspace(self.frame, (*[z for z in self.zones if z.zone_id != zone.zone_id], zone))

    def without_zone(self, zone_id: str) -> Airspace:
        """A copy without the zone `zone_id`."""
        return Airspace(self.frame, tuple(z for z in self.zones if z.zone_id != zone_id))

    def of_kind(self, kind: ZoneKind) -> tuple[Zone, ...]:
        """The zones of one kind."""
        return tuple(zone for zone in self.zones if zone.kind is kind)

    @classmethod
    def from_ed269(cls, data: Mapping[str, Any], frame: LocalFrame) -> Airspace:
        """Parse EUROCAE ED-269 UAS geographical zones (JSON); see `mission_planner.ed269`."""
        from .ed269 import zones_from_ed269  # local import: ed269 builds on this module

        return cls(frame, zones_from_ed269(data, frame))

    def operating_area(self) -> BaseGeometry | None:
        """Union of the operating-area polygons (drones must stay inside), or None when there is none."""
        areas = [zone.polygon for zone in self.of_kind(ZoneKind.OPERATING_AREA)]
        return unary_union(areas) if areas else None

    def exclusion_zones(
        self,
        *,
        start_s: float | None = None,
        end_s: float | None = None,
        operator: str | None = None,
        low_m: float = 0.0,
        high_m: float = math.inf,
    ) -> tuple[Zone, ...]:
        """Zones that keep `operator` out somewhere in [low_m, high_m] at some time of [start_s, end_s]."""
        return tuple(
            zone
            for zone in self.zones
            if zone.blocks(operator) and zone.overlaps_band(low_m, high_m) and zone.active_during(start_s, end_s)
        )

    def buffered(self, margin_m: float) -> Airspace:
        """A copy with exclusion zones grown and operating areas shrunk by `margin_m` (the safety margin)."""
        if not math.isfinite(margin_m) or margin_m < 0:
            raise AirspaceError(f"margin_m must be a finite number >= 0, got {margin_m!r}")
        zones = []
        for zone in self.zones:
            grown = zone.polygon.buffer(-margin_m if zone.kind is ZoneKind.OPERATING_AREA else margin_m)
            if grown.is_empty or not isinstance(grown, Polygon):
                raise AirspaceError(
                    f"zone {zone.zone_id!r}: buffering by {margin_m} m leaves {grown.geom_type or 'nothing'}"
                )
            zones.append(replace(zone, polygon=grown, polygon_wgs84=()))
        return Airspace(self.frame, tuple(zones))

    def path_conflicts(
        self,
        points_m: Sequence[tuple[float, float, float]],
        *,
        start_s: float | None = None,
        end_s: float | None = None,
        operator: str | None = None,
        margin_m: float = 0.0,
    ) -> list[str]:
        """Ids of the zones a 3-D polyline (x_m, y_m, altitude_m above ground) violates during [start_s, end_s].

        A segment violates an exclusion zone (grown by `margin_m`) when the part of it above the
        zone's footprint lies within the zone's altitude band; it violates an operating area when
        it leaves the area (shrunk by `margin_m`) or flies above its ceiling.
        """
        if len(points_m) < 2:
            raise AirspaceError(f"a path needs at least 2 points, got {len(points_m)}")
        conflicts: list[str] = []
        segments = list(itertools.pairwise(points_m))
        for zone in self.zones:
            if not zone.active_during(start_s, end_s):
                continue
            if zone.kind is ZoneKind.OPERATING_AREA:
                area = zone.polygon.buffer(-margin_m) if margin_m else zone.polygon
                if any(not area.covers(_line(a, b)) or max(a[2], b[2]) > zone.upper_m for a, b in segments):
                    conflicts.append(zone.zone_id)
            elif zone.blocks(operator):
                footprint = zone.polygon.buffer(margin_m) if margin_m else zone.polygon
                if any(_segment_enters(footprint, zone, a, b) for a, b in segments):
                    conflicts.append(zone.zone_id)
        return conflicts

    def is_path_clear(
        self,
        points_m: Sequence[tuple[float, float, float]],
        *,
        start_s: float | None = None,
        end_s: float | None = None,
        operator: str | None = None,
        margin_m: float = 0.0,
    ) -> bool:
        """True when the 3-D polyline violates no zone during [start_s, end_s] (see `path_conflicts`)."""
        return not self.path_conflicts(points_m, start_s=start_s, end_s=end_s, operator=operator, margin_m=margin_m)

    def nearest_boundary(self, x_m: float, y_m: float, *, kinds: Iterable[ZoneKind] | None = None) -> tuple[str, float]:
        """(zone_id, distance_m) of the zone boundary nearest to a local point (inside or outside)."""
        wanted = set(kinds) if kinds is not None else set(ZoneKind)
        candidates = [zone for zone in self.zones if zone.kind in wanted]
        if not candidates:
            raise AirspaceError("no zones to measure a boundary distance to")
        point = Point(x_m, y_m)
        best = min(candidates, key=lambda zone: zone.polygon.exterior.distance(point))
        return best.zone_id, float(best.polygon.exterior.distance(point))

    def distance_to_nearest_boundary_m(
        self, x_m: float, y_m: float, *, kinds: Iterable[ZoneKind] | None = None
    ) -> float:
        """Distance (m) from a local point to the nearest zone boundary."""
        return self.nearest_boundary(x_m, y_m, kinds=kinds)[1]

    def to_geojson(self) -> dict[str, Any]:
        """The zones as a GeoJSON FeatureCollection (WGS84), round-trippable through `from_geojson`."""
        return {"type": "FeatureCollection", "features": [zone_to_feature(z, self.frame) for z in self.zones]}


def _line(a: tuple[float, float, float], b: tuple[float, float, float]) -> BaseGeometry:
    if (a[0], a[1]) == (b[0], b[1]):
        return Point(a[0], a[1])
    return LineString([(a[0], a[1]), (b[0], b[1])])


def _segment_enters(
    footprint: BaseGeometry, zone: Zone, a: tuple[float, float, float], b: tuple[float, float, float]
) -> bool:
    """Whether the 3-D segment a-b passes through footprint x [lower_m, upper_m]."""
    line = _line(a, b)
    if not footprint.intersects(line):
        return False
    if isinstance(line, Point):
        return zone.overlaps_band(min(a[2], b[2]), max(a[2], b[2]))
    inside = footprint.intersection(line)
    length = line.length
    for part in getattr(inside, "geoms", [inside]):
        coords = list(part.coords)
        fractions = [math.hypot(x - a[0], y - a[1]) / length for x, y in coords]
        altitudes = [a[2] + (b[2] - a[2]) * f for f in fractions]
        if zone.overlaps_band(min(altitudes), max(altitudes)):
            return True
    return False


def _parse_time_windows(zone_id: str, raw: Iterable[Mapping[str, Any]]) -> tuple[TimeWindow, ...]:
    windows = []
    for item in raw:
        try:
            if "daily_start" in item:
                start = dt.time.fromisoformat(str(item["daily_start"]))
                end = dt.time.fromisoformat(str(item["daily_end"]))
                windows.append(
                    TimeWindow(
                        start.hour * 3600 + start.minute * 60 + start.second,
                        end.hour * 3600 + end.minute * 60 + end.second,
                        daily=True,
                    )
                )
            else:
                start_at = dt.datetime.fromisoformat(str(item["start"]))
                end_at = dt.datetime.fromisoformat(str(item["end"]))
                if start_at.tzinfo is None or end_at.tzinfo is None:
                    raise ValueError("times need a UTC offset")
                if end_at <= start_at:
                    raise ValueError("end is not after start")
                windows.append(TimeWindow(start_at.timestamp(), end_at.timestamp()))
        except (KeyError, ValueError, TypeError) as exc:
            raise AirspaceError(f"zone {zone_id!r}: invalid time window {dict(item)!r}: {exc}") from exc
    return tuple(windows)


def parse_ring(zone_id: str, coordinates: Any) -> list[tuple[float, float]]:
    """The single closed [lon, lat] ring of a GeoJSON Polygon; AirspaceError naming the zone otherwise."""
    if not isinstance(coordinates, Sequence) or len(coordinates) != 1:
        raise AirspaceError(f"zone {zone_id!r}: polygon must have exactly one ring (no holes)")
    ring = coordinates[0]
    try:
        points = [(float(p[0]), float(p[1])) for p in ring]
    except (TypeError, ValueError, IndexError) as exc:
        raise AirspaceError(f"zone {zone_id!r}: coordinates are not [lon, lat] pairs") from exc
    if len(points) < 4:
        raise AirspaceError(f"zone {zone_id!r}: a polygon ring needs at least 4 positions, got {len(points)}")
    if points[0] != points[-1]:
        raise AirspaceError(f"zone {zone_id!r}: polygon ring is not closed (first position != last)")
    for lon, lat in points:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise AirspaceError(f"zone {zone_id!r}: position ({lon}, {lat}) is not WGS84 lon/lat")
    return points


def zone_from_feature(feature: Mapping[str, Any], frame: LocalFrame) -> Zone:
    """One GeoJSON Feature -> Zone.

    properties: id, kind (no_fly | restricted | operating_area), lower_m, upper_m (m above ground),
    name, reason, allowed_operators [..], time_windows [{start, end} ISO-8601 with offset, or
    {daily_start, daily_end} HH:MM in UTC].
    """
    properties = feature.get("properties") or {}
    zone_id = str(properties.get("id") or feature.get("id") or "")
    if not zone_id:
        raise AirspaceError("zone feature without 'id' in properties")
    geometry = feature.get("geometry") or {}
    if geometry.get("type") != "Polygon":
        raise AirspaceError(f"zone {zone_id!r}: geometry must be a Polygon, got {geometry.get('type')!r}")
    try:
        kind = ZoneKind(str(properties.get("kind")))
    except ValueError as exc:
        known = ", ".join(k.value for k in ZoneKind)
        raise AirspaceError(f"zone {zone_id!r}: unknown kind {properties.get('kind')!r} (known: {known})") from exc
    try:
        lower_m = float(properties.get("lower_m", 0.0))
        upper_m = float(properties["upper_m"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AirspaceError(f"zone {zone_id!r}: lower_m/upper_m must be numbers (upper_m is required)") from exc
    ring = parse_ring(zone_id, geometry.get("coordinates"))
    polygon = Polygon([frame.to_local(lat, lon) for lon, lat in ring])
    return Zone(
        zone_id=zone_id,
        kind=kind,
        polygon=polygon,
        lower_m=lower_m,
        upper_m=upper_m,
        name=str(properties.get("name", "")),
        reason=str(properties.get("reason", "")),
        allowed_operators=frozenset(str(o) for o in properties.get("allowed_operators") or ()),
        time_windows=_parse_time_windows(zone_id, properties.get("time_windows") or ()),
        polygon_wgs84=tuple(ring),
    )


def zone_to_feature(zone: Zone, frame: LocalFrame) -> dict[str, Any]:
    """Zone -> GeoJSON Feature (WGS84)."""
    ring = list(zone.polygon_wgs84) or [
        (lon, lat) for lat, lon in (frame.to_wgs84(x, y) for x, y in zone.polygon.exterior.coords)
    ]
    windows: list[dict[str, str]] = []
    for window in zone.time_windows:
        if window.daily:
            windows.append(
                {
                    "daily_start": f"{int(window.start_s) // 3600:02d}:{int(window.start_s) % 3600 // 60:02d}",
                    "daily_end": f"{int(window.end_s) // 3600:02d}:{int(window.end_s) % 3600 // 60:02d}",
                }
            )
        else:
            windows.append(
                {
                    "start": dt.datetime.fromtimestamp(window.start_s, dt.UTC).isoformat(),
                    "end": dt.datetime.fromtimestamp(window.end_s, dt.UTC).isoformat(),
                }
            )
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
        "properties": {
            "id": zone.zone_id,
            "kind": zone.kind.value,
            "lower_m": zone.lower_m,
            "upper_m": zone.upper_m,
            "name": zone.name,
            "reason": zone.reason,
            "allowed_operators": sorted(zone.allowed_operators),
            "time_windows": windows,
        },
    }

"""Geofence rules on positions the vehicles report: is a zone blocking now, is this position a violation.

Pure functions of an airspace, a position, an altitude and a time; the safety monitors act on
them in flight and the simulated day counts violations with them for its KPIs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from shapely.geometry import Point

from mission_planner.airspace import Airspace, Zone, ZoneKind
from mission_planner.geodesy import LocalFrame

from .adapters.base import MissionStep


def zone_blocks_at(zone: Zone, when_s: float, altitude_m: float) -> bool:
    """True when `zone` keeps a drone at `altitude_m` out at clock time `when_s`."""
    if zone.kind is ZoneKind.OPERATING_AREA or not zone.blocks(None):
        return False
    if not (zone.lower_m <= altitude_m <= zone.upper_m):
        return False
    return zone.active_at(dt.datetime.fromtimestamp(when_s, dt.UTC))


def mission_conflicts(airspace: Airspace, frame: LocalFrame, start: tuple[float, float] | None,
                      home: tuple[float, float], steps: Sequence[MissionStep], cruise_altitude_m: float,
                      when_s: float, *, margin_m: float = 0.0) -> list[str]:
    """Ids of the zones blocking at `when_s` that a drone mission's straight legs cross, or pass within `margin_m` of.

    The legs run from `start` (lat, lon; None: from the first step) through every step with a
    position to `home`, at each step's altitude above home (or the cruise altitude).
    """
    points: list[tuple[float, float, float]] = []
    if start is not None:
        points.append((*frame.to_local(*start), cruise_altitude_m))
    for step in steps:
        if step.latitude_deg is not None and step.longitude_deg is not None:
            altitude_m = step.altitude_m if step.altitude_m is not None else cruise_altitude_m
            points.append((*frame.to_local(step.latitude_deg, step.longitude_deg), max(altitude_m, 1.0)))
    points.append((*frame.to_local(*home), cruise_altitude_m))
    if len(points) < 2:
        return []
    blocking = Airspace(frame, tuple(
        dataclasses.replace(z, polygon=z.polygon.buffer(margin_m)) if margin_m > 0 else z
        for z in airspace.zones if z.kind is not ZoneKind.OPERATING_AREA))
    return blocking.path_conflicts(points, start_s=when_s, end_s=when_s)


def position_violation(airspace: Airspace, x_m: float, y_m: float, altitude_m: float, when_s: float) -> str | None:
    """The id of the zone a reported position violates, 'operating-area' when outside it, else None."""
    point = Point(x_m, y_m)
    areas = airspace.of_kind(ZoneKind.OPERATING_AREA)
    if areas and not any(area.polygon.covers(point) for area in areas):
        return "operating-area"
    for zone in airspace.zones:
        if zone_blocks_at(zone, when_s, altitude_m) and zone.polygon.contains(point):
            return zone.zone_id
    return None


@dataclass
class GeofenceLedger:
    """Counts violation episodes per vehicle and zone from reported positions (for the KPIs)."""

    violations: int = 0
    episodes: list[tuple[float, str, str]] = field(default_factory=list)  # (at_s, vehicle, zone)
    _inside: set[tuple[str, str]] = field(default_factory=set)

    def observe(self, vehicle_id: str, zone_id: str | None, at_s: float) -> bool:
        """Record one sample; True when it starts a new violation episode."""
        current = {key for key in self._inside if key[0] == vehicle_id}
        if zone_id is None:
            self._inside -= current
            return False
        key = (vehicle_id, zone_id)
        if key in self._inside:
            return False
        self._inside.add(key)
        self.violations += 1
        self.episodes.append((at_s, vehicle_id, zone_id))
        return True

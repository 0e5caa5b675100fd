"""EUROCAE ED-269 UAS geographical zones (the JSON format national zone data is published in) -> Zones.

An ED-269 document is ``{"title": ..., "features": [UASZone, ...]}``; each UASZone has
``identifier``, ``name``, ``restriction`` (PROHIBITED | REQ_AUTHORISATION | CONDITIONAL |
NO_RESTRICTION), ``zoneAuthority`` [..], ``applicability`` [{permanent, startDateTime,
endDateTime, schedule: [{day: [MON..SUN | ANY], startTime, endTime}]}] and ``geometry``
[{uomDimensions M | FT, lowerLimit, lowerVerticalReference, upperLimit, upperVerticalReference,
horizontalProjection: {type: Polygon, coordinates} | {type: Circle, center: [lon, lat], radius}}].

Mapping: PROHIBITED -> no_fly; REQ_AUTHORISATION and CONDITIONAL -> restricted (the operators
named in ``extendedProperties.allowedOperators`` may enter); NO_RESTRICTION zones impose nothing
and are skipped. A zone with several geometries becomes one Zone per geometry (``id#2``...).
Altitudes are taken as metres above ground (AGL); AMSL/WGS84 references are refused, since
the planner has no terrain model to convert them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from shapely.geometry import Point, Polygon

from .airspace import TimeWindow, Zone, ZoneKind, parse_ring
from .errors import AirspaceError
from .geodesy import LocalFrame

logger = logging.getLogger(__name__)

_FEET_M = 0.3048
_RESTRICTION_KIND = {
    "PROHIBITED": ZoneKind.NO_FLY,
    "REQ_AUTHORISATION": ZoneKind.RESTRICTED,
    "CONDITIONAL": ZoneKind.RESTRICTED,
}
_DAYS = {"MON": 0, "TUE": 1, "WED": 2, "THU": 3, "FRI": 4, "SAT": 5, "SUN": 6}


def zones_from_ed269(data: Mapping[str, Any], frame: LocalFrame) -> tuple[Zone, ...]:
    """All restricting zones of an ED-269 document, in `frame`."""
    if not isinstance(data, Mapping) or not isinstance(data.get("features"), list):
        raise AirspaceError("ED-269 document must be an object with a 'features' list")
    zones: list[Zone] = []
    for index, feature in enumerate(data["features"]):
        if not isinstance(feature, Mapping):
            raise AirspaceError(f"ED-269 feature #{index} is not an object")
        zones.extend(_zones_from_feature(feature, frame, index))
    return tuple(zones)


def _zones_from_feature(feature: Mapping[str, Any], frame: LocalFrame, index: int) -> list[Zone]:
    zone_id = str(feature.get("identifier") or "")
    if not zone_id:
        raise AirspaceError(f"ED-269 feature #{index} has no 'identifier'")
    restriction = str(feature.get("restriction", ""))
    if restriction == "NO_RESTRICTION":
        logger.info("ED-269 zone %r: NO_RESTRICTION, skipped", zone_id)
        return []
    if restriction not in _RESTRICTION_KIND:
        known = ", ".join([*_RESTRICTION_KIND, "NO_RESTRICTION"])
        raise AirspaceError(f"zone {zone_id!r}: unknown restriction {restriction!r} (known: {known})")
    geometries = feature.get("geometry")
    if not isinstance(geometries, list) or not geometries:
        raise AirspaceError(f"zone {zone_id!r}: 'geometry' must be a non-empty list")
    windows = _windows(zone_id, feature.get("applicability") or [])
    reasons = feature.get("reason") or []
    extended = feature.get("extendedProperties") or {}
    operators = frozenset(str(o) for o in (extended.get("allowedOperators") or ()))
    zones = []
    for number, geometry in enumerate(geometries, start=1):
        sub_id = zone_id if len(geometries) == 1 else f"{zone_id}#{number}"
        lower_m, upper_m = _band(sub_id, geometry)
        polygon, ring = _projection(sub_id, geometry.get("horizontalProjection"), frame)
        zones.append(
            Zone(
                zone_id=sub_id,
                kind=_RESTRICTION_KIND[restriction],
                polygon=polygon,
                lower_m=lower_m,
                upper_m=upper_m,
                name=str(feature.get("name", "")),
                reason=", ".join(str(r) for r in reasons) if isinstance(reasons, list) else str(reasons),
                allowed_operators=operators,
                time_windows=windows,
                polygon_wgs84=ring,
            )
        )
    return zones


def _band(zone_id: str, geometry: Mapping[str, Any]) -> tuple[float, float]:
    unit = str(geometry.get("uomDimensions", "M")).upper()
    if unit not in ("M", "FT"):
        raise AirspaceError(f"zone {zone_id!r}: uomDimensions must be M or FT, got {unit!r}")
    for key in ("lowerVerticalReference", "upperVerticalReference"):
        reference = str(geometry.get(key, "AGL")).upper()
        if reference != "AGL":
            raise AirspaceError(f"zone {zone_id!r}: {key}={reference!r} is not supported (only AGL)")
    scale = _FEET_M if unit == "FT" else 1.0
    try:
        lower_m = float(geometry.get("lowerLimit", 0.0)) * scale
        upper_m = float(geometry["upperLimit"]) * scale
    except (KeyError, TypeError, ValueError) as exc:
        raise AirspaceError(f"zone {zone_id!r}: lowerLimit/upperLimit must be numbers (upperLimit required)") from exc
    return lower_m, upper_m


def _projection(zone_id: str, projection: Any, frame: LocalFrame) -> tuple[Polygon, tuple[tuple[float, float], ...]]:
    if not isinstance(projection, Mapping):
        raise AirspaceError(f"zone {zone_id!r}: missing horizontalProjection")
    kind = projection.get("type")
    if kind == "Polygon":
        ring = parse_ring(zone_id, projection.get("coordinates"))
        return Polygon([frame.to_local(lat, lon) for lon, lat in ring]), tuple(ring)
    if kind == "Circle":
        try:
            lon, lat = (float(v) for v in projection["center"])
            radius_m = float(projection["radius"])
        except (KeyError, TypeError, ValueError) as exc:
            raise AirspaceError(f"zone {zone_id!r}: Circle needs center [lon, lat] and radius") from exc
        if radius_m <= 0:
            raise AirspaceError(f"zone {zone_id!r}: circle radius must be > 0, got {radius_m}")
        x_m, y_m = frame.to_local(lat, lon)
        # 64 chords inscribed in the circle would cut its edge: grow so the chords circumscribe it
        polygon = Point(x_m, y_m).buffer(radius_m / 0.998795, quad_segs=16)
        return polygon, ()
    raise AirspaceError(f"zone {zone_id!r}: horizontalProjection type {kind!r} is not Polygon or Circle")


def _windows(zone_id: str, applicability: Sequence[Any]) -> tuple[TimeWindow, ...]:
    windows: list[TimeWindow] = []
    for item in applicability:
        if not isinstance(item, Mapping):
            raise AirspaceError(f"zone {zone_id!r}: applicability entries must be objects")
        if str(item.get("permanent", "NO")).upper() == "YES":
            return ()  # active at all times
        try:
            start = _instant(item.get("startDateTime"))
            end = _instant(item.get("endDateTime"))
            schedule = item.get("schedule") or []
            if schedule:
                windows.extend(_daily(entry) for entry in schedule)
            elif start is not None and end is not None:
                if end <= start:
                    raise ValueError("endDateTime is not after startDateTime")
                windows.append(TimeWindow(start, end))
            else:
                raise ValueError("needs permanent=YES, a schedule, or startDateTime and endDateTime")
        except (KeyError, TypeError, ValueError) as exc:
            raise AirspaceError(f"zone {zone_id!r}: invalid applicability {dict(item)!r}: {exc}") from exc
    return tuple(windows)


def _instant(value: Any) -> float | None:
    if value in (None, ""):
        return None
    stamp = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)  # ED-269 times are UTC
    return stamp.timestamp()


def _daily(entry: Mapping[str, Any]) -> TimeWindow:
    days = [str(d).upper() for d in entry.get("day") or ["ANY"]]
    unknown = [d for d in days if d != "ANY" and d not in _DAYS]
    if unknown:
        raise ValueError(f"unknown day(s) {unknown}")
    weekdays = frozenset() if "ANY" in days else frozenset(_DAYS[d] for d in days)
    start = dt.time.fromisoformat(str(entry["startTime"]).removesuffix("Z"))
    end = dt.time.fromisoformat(str(entry["endTime"]).removesuffix("Z"))
    return TimeWindow(
        start.hour * 3600 + start.minute * 60 + start.second,
        end.hour * 3600 + end.minute * 60 + end.second,
        daily=True,
        weekdays=weekdays,
    )

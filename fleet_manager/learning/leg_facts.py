"""What a departure records about each parcel's leg, for learning: the keys of `out_for_delivery` details.

The mission runner (live) and the history simulator (training days) both write them; the feature
builder reads them back. A fact not known at departure is left out and becomes NaN in the tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

PLANNED_DURATION_KEY = "planned_duration_s"  # departure -> planned hand-over
PLANNED_DISTANCE_KEY = "planned_distance_m"  # route length from the start to this parcel's stop
STOP_INDEX_KEY = "stop_index"  # 0 for the first parcel handed over on the trip
BEARING_KEY = "bearing_deg"  # from the start to the parcel's stop, clockwise from north
WIND_SPEED_KEY = "wind_speed_m_s"
WIND_DIRECTION_KEY = "wind_direction_deg"  # where the wind blows from
AMBIENT_TEMP_KEY = "ambient_temp_c"

_EARTH_RADIUS_M = 6_371_008.8


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude_deg, longitude_deg) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Initial bearing from a to b, degrees clockwise from north in [0, 360)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    y = math.sin(lon2 - lon1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return math.degrees(math.atan2(y, x)) % 360.0


def route_lengths_m(start: tuple[float, float], stops: Sequence[tuple[str, tuple[float, float]]]) -> dict[str, float]:
    """Cumulative straight-line route length from `start` to each (order_id, point) stop, in visiting order."""
    lengths: dict[str, float] = {}
    total_m, here = 0.0, start
    for order_id, point in stops:
        total_m += distance_m(here, point)
        here = point
        lengths.setdefault(order_id, total_m)
    return lengths

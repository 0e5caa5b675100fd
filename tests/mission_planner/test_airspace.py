"""Airspace: GeoJSON round trip, invalid zones named, 3-D path-clear-at-time, boundary distance, buffering."""

from __future__ import annotations

import datetime as dt

import pytest
from shapely.geometry import Polygon, box

from mission_planner.airspace import Airspace, TimeWindow, Zone, ZoneKind
from mission_planner.errors import AirspaceError
from mission_planner.geodesy import LocalFrame

FRAME = LocalFrame.at(60.1715, 24.9381)


def _ring(frame: LocalFrame, polygon: Polygon) -> list[list[float]]:
    return [[lon, lat] for lat, lon in (frame.to_wgs84(x, y) for x, y in polygon.exterior.coords)]


def _airspace() -> Airspace:
    return Airspace(
        FRAME,
        (
            Zone("area", ZoneKind.OPERATING_AREA, box(-1000, -1000, 1000, 1000), 0, 120),
            Zone("nofly", ZoneKind.NO_FLY, box(100, -50, 200, 50), 0, 120),
            Zone("low-park", ZoneKind.NO_FLY, box(-200, -50, -100, 50), 0, 60),
            Zone(
                "police", ZoneKind.RESTRICTED, box(-50, 300, 50, 400), 0, 120, allowed_operators=frozenset({"police"})
            ),
            Zone(
                "evening",
                ZoneKind.NO_FLY,
                box(-50, -400, 50, -300),
                0,
                120,
                time_windows=(TimeWindow(18 * 3600, 22 * 3600, daily=True),),
            ),
        ),
    )


def test_geojson_round_trip_keeps_every_zone() -> None:
    """to_geojson -> from_geojson gives the same ids, kinds, bands and (to the cm) the same polygons."""
    space = _airspace()
    again = Airspace.from_geojson(space.to_geojson(), FRAME)
    assert [z.zone_id for z in again.zones] == [z.zone_id for z in space.zones]
    for a, b in zip(space.zones, again.zones, strict=True):
        assert (a.kind, a.lower_m, a.upper_m, a.time_windows) == (b.kind, b.lower_m, b.upper_m, b.time_windows)
        assert a.polygon.symmetric_difference(b.polygon).area < 0.01


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "military"}, "unknown kind"),
        ({"lower_m": 80, "upper_m": 50}, "altitude band"),
        ({"time_windows": [{"start": "2025-01-01T10:00:00"}]}, "time window"),
    ],
)
def test_invalid_zone_is_refused_naming_it(change: dict[str, object], message: str) -> None:
    """Bad kind, band or window -> AirspaceError that names the zone."""
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [_ring(FRAME, box(0, 0, 10, 10))]},
        "properties": {"id": "bad-zone", "kind": "no_fly", "lower_m": 0, "upper_m": 120, **change},
    }
    with pytest.raises(AirspaceError, match=rf"bad-zone.*{message}|{message}.*bad-zone"):
        Airspace.from_geojson({"type": "FeatureCollection", "features": [feature]}, FRAME)


def test_self_intersecting_polygon_is_refused() -> None:
    """A bow-tie polygon is invalid geometry."""
    with pytest.raises(AirspaceError, match=r"bowtie.*invalid polygon"):
        Zone("bowtie", ZoneKind.NO_FLY, Polygon([(0, 0), (10, 10), (10, 0), (0, 10)]), 0, 100)


def test_path_through_a_no_fly_zone_is_not_clear() -> None:
    """A cruise at 60 m across the no-fly box conflicts with it; one beside it is clear."""
    space = _airspace()
    across = [(0, 0, 0), (0, 0, 60), (300, 0, 60), (300, 0, 0)]
    beside = [(0, 100, 0), (0, 100, 60), (300, 100, 60), (300, 100, 0)]
    assert space.path_conflicts(across) == ["nofly"]
    assert space.is_path_clear(beside)
    assert not space.is_path_clear(beside, margin_m=60.0)  # within 60 m of the zone


def test_altitude_band_lets_a_drone_overfly_a_low_zone() -> None:
    """The park is closed up to 60 m: crossing at 80 m is clear, at 50 m it is not."""
    space = _airspace()
    assert space.is_path_clear([(-300, 0, 80), (0, 0, 80)])
    assert space.path_conflicts([(-300, 0, 50), (0, 0, 50)]) == ["low-park"]
    # a descent that is still above 60 m over the park and lands beyond it
    assert space.is_path_clear([(-250, 0, 100), (-50, 0, 0)]) is False
    assert space.is_path_clear([(-200, 0, 120), (50, 0, 0)]) is True  # still 72 m+ over the park


def test_time_window_zone_only_blocks_when_active() -> None:
    """The evening zone blocks at 19:00 UTC, not at 12:00 UTC; an interval reaching into the evening blocks."""
    space = _airspace()
    path = [(0, -500, 60), (0, -200, 60)]
    noon = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC).timestamp()
    evening = dt.datetime(2025, 6, 1, 19, 0, tzinfo=dt.UTC).timestamp()
    assert space.is_path_clear(path, start_s=noon, end_s=noon + 600)
    assert not space.is_path_clear(path, start_s=evening, end_s=evening + 600)
    assert not space.is_path_clear(path, start_s=noon, end_s=noon + 7 * 3600)
    assert not space.is_path_clear(path)  # time unknown: conservative


def test_restricted_zone_admits_listed_operators_only() -> None:
    """Police may cross the defence zone; everyone else may not."""
    space = _airspace()
    path = [(0, 200, 60), (0, 500, 60)]
    assert space.path_conflicts(path) == ["police"]
    assert space.is_path_clear(path, operator="police")


def test_leaving_the_operating_area_is_a_conflict() -> None:
    """Flying past the area's edge or above its 120 m ceiling conflicts with the area."""
    space = _airspace()
    assert space.path_conflicts([(900, 900, 60), (1100, 900, 60)]) == ["area"]
    assert space.path_conflicts([(500, 500, 60), (500, 500, 130)]) == ["area"]


def test_distance_to_nearest_boundary() -> None:
    """From (150, 0), inside the no-fly box, the nearest boundary is that box's edge 50 m away."""
    space = _airspace()
    assert space.nearest_boundary(150.0, 0.0) == ("nofly", pytest.approx(50.0))
    assert space.distance_to_nearest_boundary_m(0.0, 0.0, kinds=[ZoneKind.OPERATING_AREA]) == pytest.approx(1000.0)


def test_buffered_grows_exclusions_and_shrinks_the_area() -> None:
    """Buffering by 20 m: the no-fly box gains ~20 m each side, the operating area loses 20 m."""
    space = _airspace().buffered(20.0)
    nofly = next(z for z in space.zones if z.zone_id == "nofly")
    area = next(z for z in space.zones if z.zone_id == "area")
    assert nofly.polygon.bounds == pytest.approx((80, -70, 220, 70))
    assert area.polygon.bounds == pytest.approx((-980, -980, 980, 980))
    with pytest.raises(AirspaceError, match="margin_m"):
        _airspace().buffered(-1.0)


def test_weekday_windows() -> None:
    """A window limited to Mondays is active on a Monday 10:00 UTC, not on the Tuesday."""
    window = TimeWindow(8 * 3600, 12 * 3600, daily=True, weekdays=frozenset({0}))
    assert window.contains(dt.datetime(2025, 6, 2, 10, 0, tzinfo=dt.UTC))  # Monday
    assert not window.contains(dt.datetime(2025, 6, 3, 10, 0, tzinfo=dt.UTC))

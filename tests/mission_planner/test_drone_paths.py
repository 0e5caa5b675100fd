"""Drone paths: never inside a buffered exclusion zone, inside the operating area, found whenever one exists."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box
from shapely.ops import unary_union

from mission_planner.airspace import Airspace, TimeWindow, Zone, ZoneKind
from mission_planner.drone_paths import DronePathPlanner
from mission_planner.energy import MultirotorModel
from mission_planner.errors import PathError
from mission_planner.geodesy import LocalFrame

FRAME = LocalFrame.at(60.1715, 24.9381)
AREA = Zone("area", ZoneKind.OPERATING_AREA, box(0, 0, 1000, 1000), 0, 120)
MARGIN_M = 20.0


def _space(*zones: Zone) -> Airspace:
    return Airspace(FRAME, (AREA, *zones))


def test_straight_line_when_nothing_is_in_the_way() -> None:
    """Climb, one cruise segment, descend: waypoints at 0, 60, 60 and 0 m."""
    path = DronePathPlanner(_space()).path((100, 100), (400, 500))
    assert [w.altitude_m for w in path.waypoints] == [0, 60, 60, 0]
    assert path.horizontal_m == pytest.approx(500.0)
    assert path.vertical_m == pytest.approx(120.0)


def test_detour_around_a_wall_keeps_the_margin() -> None:
    """A wall across the direct line forces a detour; every cruise segment stays 20 m clear of it."""
    wall = Zone("wall", ZoneKind.NO_FLY, box(450, 100, 550, 900), 0, 120)
    space = _space(wall)
    path = DronePathPlanner(space, safety_margin_m=MARGIN_M).path((200, 500), (800, 500))
    assert path.horizontal_m > 600.0
    assert space.is_path_clear(path.points_m(), margin_m=MARGIN_M)
    corners = [(w.x_m, w.y_m) for w in path.waypoints[1:-1]]
    assert LineString(corners).distance(wall.polygon) >= MARGIN_M


def test_zone_below_cruise_altitude_is_overflown() -> None:
    """A park closed up to 40 m does not bend a 60 m cruise (vertical margin 10 m)."""
    park = Zone("park", ZoneKind.NO_FLY, box(450, 400, 550, 600), 0, 40)
    path = DronePathPlanner(_space(park)).path((200, 500), (800, 500))
    assert path.horizontal_m == pytest.approx(600.0)


def test_inactive_zone_does_not_bend_the_path() -> None:
    """An evening-only zone is flown through at noon but avoided in the evening."""
    evening = Zone(
        "evening",
        ZoneKind.NO_FLY,
        box(450, 400, 550, 600),
        0,
        120,
        time_windows=(TimeWindow(18 * 3600, 22 * 3600, daily=True),),
    )
    planner = DronePathPlanner(_space(evening))
    noon = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC).timestamp()
    assert planner.path((200, 500), (800, 500), start_s=noon, end_s=noon + 900).horizontal_m == pytest.approx(600)
    assert planner.path((200, 500), (800, 500), start_s=noon + 7 * 3600).horizontal_m > 600


def test_endpoint_inside_a_buffered_zone_or_outside_the_area_is_refused() -> None:
    """Delivering next to (within the margin of) a no-fly zone, or outside the area, raises PathError."""
    zone = Zone("z", ZoneKind.NO_FLY, box(450, 450, 550, 550), 0, 120)
    planner = DronePathPlanner(_space(zone), safety_margin_m=MARGIN_M)
    with pytest.raises(PathError, match="goal"):
        planner.path((100, 100), (560, 500))
    with pytest.raises(PathError, match="start"):
        planner.path((1100, 100), (200, 200))


def test_enclosed_goal_has_no_path() -> None:
    """A goal inside a ring of zones is unreachable: PathError, and +inf in the distance matrix."""
    ring = unary_union([box(300, 300, 700, 700)]).difference(box(350, 350, 650, 650))
    zone = Zone("ring", ZoneKind.NO_FLY, ring, 0, 120)
    planner = DronePathPlanner(_space(zone))
    with pytest.raises(PathError, match="no safe drone path"):
        planner.path((100, 100), (500, 500))
    matrix = planner.distance_matrix_m([(100, 100), (500, 500), (900, 900)])
    assert math.isinf(matrix[0, 1]) and math.isfinite(matrix[0, 2])


def test_energy_and_time_of_a_path() -> None:
    """A 1 km path with 1 kg costs the climb + 1 km cruise + descent of the energy model."""
    model = MultirotorModel()
    path = DronePathPlanner(_space()).path((0 + 100, 100), (100, 1000 - 100))
    expected = model.vertical_energy_wh(1.0, 60) + model.leg_energy_wh(1.0, 800.0) + model.vertical_energy_wh(1.0, -60)
    assert path.energy_wh(model, 1.0) == pytest.approx(expected)
    assert path.flight_time_s(model) == pytest.approx(60 / 3 + 800 / 15 + 60 / 2)


rectangles = st.builds(
    lambda x, y, w, h: box(x, y, x + w, y + h),
    st.floats(50, 850),
    st.floats(50, 850),
    st.floats(20, 250),
    st.floats(20, 250),
)
points = st.tuples(st.floats(30, 970), st.floats(30, 970))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rectangles, min_size=1, max_size=5), points, points)
def test_property_paths_are_safe_and_found_whenever_one_exists(shapes, start, goal) -> None:
    """Random zones and endpoints: a returned path never meets a zone grown by the margin nor leaves the area;
    and when the endpoints are connected with clearance margin + 3 m, a path is returned."""
    zones = [Zone(f"z{i}", ZoneKind.NO_FLY, shape, 0, 120) for i, shape in enumerate(shapes)]
    space = _space(*zones)
    planner = DronePathPlanner(space, safety_margin_m=MARGIN_M)
    try:
        path = planner.path(start, goal)
    except PathError:
        path = None
    if path is not None:
        cruise = LineString([(w.x_m, w.y_m) for w in path.waypoints[1:-1]]) if path.horizontal_m > 0 else Point(start)
        for zone in zones:
            assert not cruise.intersects(zone.polygon.buffer(MARGIN_M)), zone.zone_id
        assert AREA.polygon.buffer(-MARGIN_M).covers(cruise)
        assert space.is_path_clear(path.points_m(), margin_m=MARGIN_M)
        matrix = planner.distance_rows_m([start], [goal])
        assert matrix[0, 0] == pytest.approx(path.horizontal_m, abs=1e-6)
    # reference free space with a little more clearance, computed independently of the planner
    wide = MARGIN_M + 3.0
    free = AREA.polygon.buffer(-wide).difference(unary_union([z.polygon.buffer(wide) for z in zones]))
    parts = list(getattr(free, "geoms", [free]))
    start_part = next((i for i, p in enumerate(parts) if p.contains(Point(start))), None)
    goal_part = next((i for i, p in enumerate(parts) if p.contains(Point(goal))), None)
    if start_part is not None and start_part == goal_part:
        assert path is not None, "a path exists with clearance margin + 3 m but none was found"


def test_distance_rows_match_single_paths_on_helsinki_like_zones() -> None:
    """The vectorised matrix equals path-by-path lengths (finite and infinite alike)."""
    zones = [
        Zone("a", ZoneKind.NO_FLY, box(200, 200, 400, 800), 0, 120),
        Zone("b", ZoneKind.NO_FLY, box(600, 100, 700, 600), 0, 120),
    ]
    planner = DronePathPlanner(_space(*zones))
    rng = np.random.default_rng(3)
    pts = [tuple(p) for p in rng.uniform(30, 970, size=(25, 2))]
    matrix = planner.distance_matrix_m(pts)
    for i in range(len(pts)):
        for j in range(len(pts)):
            assert matrix[i, j] == pytest.approx(planner.horizontal_distance_m(pts[i], pts[j]))

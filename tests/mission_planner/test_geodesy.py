"""Local metric frame: distances in metres agree with geodesic distances on the WGS84 ellipsoid."""

from __future__ import annotations

import math

import pytest
from pyproj import Geod

from mission_planner.geodesy import LocalFrame, bearing_deg


def test_local_distances_match_the_ellipsoid() -> None:
    """Within 2 km of the origin the aeqd frame is exact to a few centimetres."""
    frame = LocalFrame.at(60.1715, 24.9381)
    geod = Geod(ellps="WGS84")
    a = (60.1650, 24.9300)
    b = (60.1780, 24.9500)
    ax, ay = frame.to_local(*a)
    bx, by = frame.to_local(*b)
    _, _, geodesic_m = geod.inv(a[1], a[0], b[1], b[0])
    assert math.hypot(bx - ax, by - ay) == pytest.approx(geodesic_m, abs=0.1)


def test_axes_point_east_and_north() -> None:
    frame = LocalFrame.at(60.0, 25.0)
    x_m, y_m = frame.to_local(60.001, 25.0)
    assert abs(x_m) < 1e-6 and y_m == pytest.approx(111.4, abs=0.5)
    x_m, y_m = frame.to_local(60.0, 25.001)
    assert x_m == pytest.approx(55.8, abs=0.5) and abs(y_m) < 0.01
    assert bearing_deg(0, 1) == 0 and bearing_deg(1, 0) == 90 and bearing_deg(0, -1) == 180


def test_invalid_origin_is_refused() -> None:
    with pytest.raises(ValueError, match="not a WGS84"):
        LocalFrame.at(95.0, 24.0)

"""Robot map frames on the Earth: datums (local cartesian and UTM), the world frame as a map, fits from fromLL pairs."""

from __future__ import annotations

import math

import pytest
from pyproj import Transformer

from mission_planner.geodesy import LocalFrame
from mission_planner.map_frame import MapFrame, MapProjection, utm_zone

HELSINKI = (60.1715, 24.9381)


def test_the_world_frame_as_a_map_frame_converts_exactly_as_the_world_frame() -> None:
    """MapFrame.of(world) is the world's frame: same metres for the same point, both ways."""
    world = LocalFrame.at(*HELSINKI)
    frame = MapFrame.of(world)
    for x_m, y_m in ((0.0, 0.0), (120.0, -340.0), (-2500.0, 1800.0)):
        latitude_deg, longitude_deg = world.to_wgs84(x_m, y_m)
        assert frame.to_local(latitude_deg, longitude_deg) == pytest.approx((x_m, y_m), abs=1e-6)
        assert frame.to_wgs84(x_m, y_m) == pytest.approx((latitude_deg, longitude_deg), abs=1e-10)


@pytest.mark.parametrize("projection", list(MapProjection))
def test_datum_origin_is_map_zero_and_yaw_turns_the_x_axis(projection: MapProjection) -> None:
    """The datum point is map (0, 0); with yaw 90 deg (x north), a point 100 m north is x = +100, one east y = -100."""
    frame = MapFrame.at(60.17, 24.93, 90.0, projection)
    assert frame.to_local(60.17, 24.93) == pytest.approx((0.0, 0.0), abs=1e-6)
    east = LocalFrame.at(60.17, 24.93)
    assert frame.to_local(*east.to_wgs84(0.0, 100.0)) == pytest.approx((100.0, 0.0), abs=0.01)
    assert frame.to_local(*east.to_wgs84(100.0, 0.0)) == pytest.approx((0.0, -100.0), abs=0.01)


@pytest.mark.parametrize("projection", list(MapProjection))
def test_round_trip_is_exact_across_the_city(projection: MapProjection) -> None:
    """map -> WGS84 -> map returns the point within a millimetre, 3 km out."""
    frame = MapFrame.at(60.16, 24.95, -37.5, projection)
    for x_m, y_m in ((3000.0, 0.0), (-1500.0, 2500.0), (10.0, -3000.0)):
        assert frame.to_local(*frame.to_wgs84(x_m, y_m)) == pytest.approx((x_m, y_m), abs=1e-3)


def test_utm_map_takes_out_meridian_convergence_and_scale() -> None:
    """Helsinki is 2 deg west of zone 35's meridian: the grid turns ~1.8 deg there, which a UTM map frame takes out
    (it agrees with the tangent plane to centimetres 2.8 km out), where plain grid metres would be ~60 m off."""
    utm = MapFrame.at(60.17, 24.93, 30.0, "utm")
    tangent = MapFrame.at(60.17, 24.93, 30.0, "local_cartesian")
    assert utm_zone(60.17, 24.93) == 35
    assert utm.scale == pytest.approx(0.99976, abs=1e-5)
    point = tangent.to_wgs84(2000.0, 2000.0)
    assert utm.to_local(*point) == pytest.approx((2000.0, 2000.0), abs=0.05)
    grid = Transformer.from_crs("EPSG:4326", "EPSG:32635", always_xy=True)
    u0, v0 = grid.transform(24.93, 60.17)
    u1, v1 = grid.transform(point[1], point[0])
    yaw = math.radians(30.0)
    du, dv = u1 - u0, v1 - v0
    naive = (math.cos(yaw) * du + math.sin(yaw) * dv, -math.sin(yaw) * du + math.cos(yaw) * dv)
    assert math.dist(naive, (2000.0, 2000.0)) > 50.0


def test_utm_zone_exceptions() -> None:
    """Standard zones, and the Norway and Svalbard exceptions."""
    assert utm_zone(60.17, 24.93) == 35
    assert utm_zone(42.5, 1.5) == 31
    assert utm_zone(60.4, 5.3) == 32  # Bergen: 32V
    assert utm_zone(78.2, 15.6) == 33  # Longyearbyen: 33X


def test_bearing_of_a_map_yaw() -> None:
    """Map yaw 0 points along the map's x axis: bearing 90 - yaw_deg (compass, clockwise from north)."""
    assert MapFrame.at(*HELSINKI).bearing_deg(0.0) == pytest.approx(90.0)
    assert MapFrame.at(*HELSINKI, yaw_deg=90.0).bearing_deg(0.0) == pytest.approx(0.0)
    assert MapFrame.at(*HELSINKI, yaw_deg=30.0).bearing_deg(math.pi / 2) == pytest.approx(330.0)


@pytest.mark.parametrize("projection", list(MapProjection))
def test_fit_recovers_a_robot_frame_from_its_own_conversions(projection: MapProjection) -> None:
    """Nine points the robot converted (fromLL) give back its frame: positions within 2 cm over +-2 km."""
    world = LocalFrame.at(*HELSINKI)
    robot = MapFrame.at(60.165, 24.95, -62.0, projection)
    probes = [world.to_wgs84(x, y) for x in (-2000.0, 0.0, 2000.0) for y in (-2000.0, 0.0, 2000.0)]
    fitted, residual_m = MapFrame.fitted(probes, [robot.to_local(*p) for p in probes], anchor=world)
    assert residual_m < 0.05
    assert fitted.yaw_deg == pytest.approx(-62.0, abs=0.01)
    for x_m, y_m in ((500.0, -700.0), (-1500.0, 1200.0)):
        assert math.dist(fitted.to_local(*robot.to_wgs84(x_m, y_m)), (x_m, y_m)) < 0.02


def test_bad_datums_and_fits_are_refused_naming_the_value() -> None:
    """Out-of-range datums, too few or collinear fit points: ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=r"\(95.0, 24.9\) is not a WGS84"):
        MapFrame.at(95.0, 24.9)
    with pytest.raises(ValueError, match="outside UTM"):
        MapFrame.at(85.0, 24.9, projection="utm")
    with pytest.raises(ValueError, match="'mercator' is not a valid MapProjection"):
        MapFrame.at(60.0, 24.9, projection="mercator")
    world = LocalFrame.at(*HELSINKI)
    line = [world.to_wgs84(x, 0.0) for x in (0.0, 100.0, 200.0)]
    with pytest.raises(ValueError, match="on a line"):
        MapFrame.fitted(line, [(0.0, 0.0), (100.0, 0.0), (200.0, 0.0)], anchor=world)
    with pytest.raises(ValueError, match=">= 3 point pairs"):
        MapFrame.fitted(line[:2], [(0.0, 0.0), (1.0, 0.0)], anchor=world)

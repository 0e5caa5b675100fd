"""mavsim's pure parts: kinematics limits, battery sag, fence geometry/validation, parameter typing."""

from __future__ import annotations

import math

import pytest

from sim_worlds.mavsim.battery import Battery, BatteryError
from sim_worlds.mavsim.fence import (
    CIRCLE_EXCLUSION,
    POLYGON_EXCLUSION,
    POLYGON_INCLUSION,
    Fence,
    FenceVertex,
    validate,
)
from sim_worlds.mavsim.params import ParamError, ParamTable, parse_overrides
from sim_worlds.mavsim.physics import GeoOrigin, Kinematics, Limits, step_towards, wind_vector

ORIGIN = GeoOrigin(60.1715, 24.9381, 10.0)


def test_flight_respects_speed_and_acceleration_and_stops_on_target() -> None:
    """100 m at 10 m/s, 2.5 m/s²: never faster than the limit, arrives exactly, ~14 s."""
    state = Kinematics()
    limits = Limits(speed_m_s=10.0, accel_m_s2=2.5)
    elapsed = 0.0
    top = 0.0
    while (state.x_m, state.y_m) != (100.0, 0.0) and elapsed < 60:
        step_towards(state, 100.0, 0.0, 0.0, limits, 0.05)
        top = max(top, state.ground_speed_m_s)
        elapsed += 0.05
    assert top <= 10.0 + 1e-9
    assert 12.0 < elapsed < 16.0


def test_climb_and_descent_limits() -> None:
    """Climbs at WPNAV_SPEED_UP, descends at the given descent rate."""
    state = Kinematics()
    for _ in range(20):
        step_towards(state, 0, 0, 100, Limits(climb_m_s=2.5), 0.05)
    for _ in range(100):
        step_towards(state, 0, 0, 100, Limits(climb_m_s=2.5), 0.05)
    assert state.vz_m_s == pytest.approx(2.5)
    state.vz_m_s = 0.0
    for _ in range(200):
        step_towards(state, 0, 0, -50, Limits(descent_m_s=1.5), 0.05)
    assert state.vz_m_s == pytest.approx(-1.5)


@pytest.mark.parametrize("rise_m", [150.0, -150.0, 20.0])
def test_a_sloped_leg_is_flown_along_its_straight_line(rise_m: float) -> None:
    """1 km with a climb (or descent) steeper than the limits allow at full speed: the vehicle slows and keeps to
    the 3-D line (as ArduCopter's WPNAV), never climbing or sinking first, and stops on the target."""
    state = Kinematics(alt_m=100.0)
    limits = Limits(speed_m_s=12.0, climb_m_s=2.5, descent_m_s=1.5, accel_m_s2=2.5)
    worst_m = 0.0
    elapsed = 0.0
    while (state.x_m, state.alt_m) != (1000.0, 100.0 + rise_m) and elapsed < 1200:
        step_towards(state, 1000.0, 0.0, 100.0 + rise_m, limits, 0.05)
        worst_m = max(worst_m, abs(state.alt_m - (100.0 + rise_m * state.x_m / 1000.0)))
        assert state.vz_m_s <= 2.5 + 1e-9 and state.vz_m_s >= -1.5 - 1e-9
        elapsed += 0.05
    assert (state.x_m, state.alt_m) == (1000.0, 100.0 + rise_m)
    assert worst_m < 2.0
    vertical_s = abs(rise_m) / (2.5 if rise_m > 0 else 1.5)
    assert elapsed >= max(1000.0 / 12.0, vertical_s)  # the slower of the two limits sets the pace


def test_wind_sets_airspeed_not_ground_track() -> None:
    """A 5 m/s wind from the north: hovering in it is 5 m/s of airspeed."""
    east, north = wind_vector(5.0, 0.0)
    assert (round(east, 6), round(north, 6)) == (0.0, -5.0)
    assert Kinematics().airspeed_m_s(east, north) == pytest.approx(5.0)


def test_geo_origin_round_trip() -> None:
    """Local <-> WGS84 within a millimetre over a kilometre."""
    lat, lon = ORIGIN.to_wgs84(700.0, -900.0)
    x_m, y_m = ORIGIN.to_local(lat, lon)
    assert math.hypot(x_m - 700.0, y_m + 900.0) < 1e-3


def test_battery_drains_and_sags_under_load() -> None:
    """Energy leaves at the drawn power; terminal voltage is lower under current than at rest."""
    battery = Battery(capacity_wh=100.0)
    assert battery.voltage_v == pytest.approx(12.6)
    battery.drain(600.0, 60.0)  # 10 Wh
    assert battery.remaining_pct == 90
    assert battery.voltage_v < battery.resting_voltage_v < 12.6
    with pytest.raises(BatteryError, match="capacity_wh"):
        Battery(capacity_wh=0)


def _square(command: int, half_m: float) -> list[FenceVertex]:
    points = [(half_m, -half_m), (half_m, half_m), (-half_m, half_m), (-half_m, -half_m)]
    vertices = []
    for north, east in points:
        lat, lon = ORIGIN.to_wgs84(east, north)
        vertices.append(FenceVertex(command, 4, round(lat * 1e7), round(lon * 1e7)))
    return vertices


def test_fence_inclusion_exclusion_and_circles() -> None:
    """Outside an inclusion polygon or inside an exclusion shape breaches; elsewhere does not."""
    fence = Fence()
    lat, lon = ORIGIN.to_wgs84(50.0, 50.0)
    circle = FenceVertex(CIRCLE_EXCLUSION, 10.0, round(lat * 1e7), round(lon * 1e7))
    fence.load([*_square(POLYGON_INCLUSION, 100), *_square(POLYGON_EXCLUSION, 5), circle], ORIGIN)
    assert not fence.polygon_breached(20.0, 20.0)
    assert fence.polygon_breached(0.0, 0.0)  # inside the exclusion square
    assert fence.polygon_breached(52.0, 48.0)  # inside the exclusion circle
    assert fence.polygon_breached(150.0, 0.0)  # outside the inclusion square


def test_fence_validation_texts_are_ardupilots() -> None:
    """Two-vertex polygons are refused with 'Invalid vertex count (2)'."""
    bad = [FenceVertex(POLYGON_EXCLUSION, 2, 601715000, 249381000)] * 2
    assert validate(bad) == ["Invalid vertex count (2)", "Fence validation failed"]
    assert validate(_square(POLYGON_INCLUSION, 10)) == []


def test_parameters_keep_their_types() -> None:
    """Integer parameters are rounded and clamped; unknown names and bad values are refused by name."""
    params = ParamTable({"FENCE_ACTION": 2})
    assert params.get("FENCE_ACTION") == 2
    assert params.set("BATT_FS_LOW_ACT", 300) == 127  # INT8
    assert params.set("WPNAV_SPEED", 512.5) == 512.5
    with pytest.raises(ParamError, match="NOPE"):
        params.set("NOPE", 1)
    with pytest.raises(ParamError, match="FENCE_ENABLE"):
        params.set("FENCE_ENABLE", math.nan)
    assert parse_overrides(["fence_enable=1"]) == {"FENCE_ENABLE": 1.0}
    with pytest.raises(ParamError, match="FENCE_ENABLE"):
        parse_overrides(["FENCE_ENABLE"])


def test_rtl_at_speed_brakes_at_the_acceleration_limit() -> None:
    """At 10 m/s an RTL (a fence breach) brakes over ~4 s at WPNAV_ACCEL 2.5 m/s², as SITL, not in a blink."""
    from sim_worlds.mavsim.guidance import FlightSettings, advance, rtl_nav

    limits = Limits(speed_m_s=10.0, climb_m_s=2.5, descent_m_s=1.5, accel_m_s2=2.5)
    settings = FlightSettings(limits=limits, arrive_radius_m=2.0, rtl_alt_m=15.0, rtl_loiter_s=5.0,
                              land_speed_m_s=0.5, land_speed_high_m_s=1.5)
    state = Kinematics(x_m=0.0, y_m=100.0, alt_m=20.0, vy_m_s=10.0)
    nav = rtl_nav(state, settings)
    trace = []
    for step in range(120):
        advance(nav, state, settings, step * 0.05, 0.05)
        trace.append((state.ground_speed_m_s, state.y_m))
    stopped = next(i for i, (speed, _) in enumerate(trace) if speed < 0.5)
    assert 3.5 <= stopped * 0.05 <= 4.5
    assert trace[stopped][1] == pytest.approx(120.0, abs=2.0)  # stopped 10²/(2·2.5) = 20 m further on

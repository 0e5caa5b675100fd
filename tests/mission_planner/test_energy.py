"""Energy models: drone power curve shape, wind, vertical segments, robot model, reserve policy."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mission_planner.energy import MultirotorModel, ReservePolicy, RobotModel, Wind
from mission_planner.errors import EnergyError, FinalMileError

DRONE = MultirotorModel()


def test_hover_power_is_about_one_kilowatt_for_a_ten_kilogram_quad() -> None:
    """A ~9 kg quad with 22-inch props hovers at ~1 kW, more with a parcel."""
    empty = DRONE.hover_power_w(0.0)
    loaded = DRONE.hover_power_w(2.0)
    assert 800 < empty < 1300
    assert loaded > empty * 1.15


def test_power_curve_is_bucket_shaped() -> None:
    """Moderate forward flight needs less power than hover (translational lift), fast flight more (drag)."""
    hover = DRONE.power_w(1.0, 0.0)
    assert DRONE.power_w(1.0, 10.0) < hover
    assert DRONE.power_w(1.0, 22.0) > DRONE.power_w(1.0, 12.0)
    best = DRONE.best_range_airspeed_m_s(1.0)
    assert 10.0 <= best <= 20.0


def test_climb_costs_more_and_descent_less_than_hover() -> None:
    """Climbing adds m·g·v_c of work; slow descent is a little cheaper than hover, never below profile power."""
    hover = DRONE.hover_power_w(0.0)
    assert DRONE.power_w(0.0, 0.0, 3.0) > hover + 0.5 * DRONE.empty_mass_kg * 9.81 * 3.0
    assert 0.7 * hover < DRONE.power_w(0.0, 0.0, -2.0) < hover
    assert DRONE.power_w(0.0, 0.0, -30.0) > DRONE.avionics_power_w


def test_headwind_costs_more_than_tailwind() -> None:
    """Same ground distance: the leg into a 5 m/s headwind takes twice the energy of the tailwind leg."""
    into = DRONE.leg_energy_wh(2.0, 1000.0, headwind_m_s=5.0)
    calm = DRONE.leg_energy_wh(2.0, 1000.0)
    downwind = DRONE.leg_energy_wh(2.0, 1000.0, headwind_m_s=-5.0)
    assert downwind < calm < into
    assert math.isclose(into / downwind, 2.0, rel_tol=1e-9)


def test_wind_components_from_the_north() -> None:
    """A northerly is a headwind flying north, a tailwind flying south, and a crosswind flying east."""
    wind = Wind(10.0, from_deg=0.0)
    assert wind.components(0.0) == pytest.approx((10.0, 0.0))
    assert wind.components(180.0) == pytest.approx((-10.0, 0.0), abs=1e-9)
    assert wind.components(90.0)[0] == pytest.approx(0.0, abs=1e-9)


def test_too_much_wind_or_payload_is_refused_with_named_field() -> None:
    """Bad input raises EnergyError naming the field."""
    with pytest.raises(EnergyError, match="headwind"):
        DRONE.leg_energy_wh(1.0, 100.0, 10.0, headwind_m_s=12.0)
    with pytest.raises(EnergyError, match="payload_kg"):
        DRONE.power_w(2.5, 10.0)
    with pytest.raises(FinalMileError, match="rotor_diameter_m"):
        MultirotorModel(rotor_diameter_m=0.0)


def test_ten_kilometre_sortie_with_two_kilograms_fits_the_battery_with_reserve() -> None:
    """A 5 km out / 5 km back sortie with 2 kg at 60 m stays within 80 % of a 600 Wh pack."""
    sortie_wh = DRONE.sortie_energy_wh(2.0, 5000.0, 5000.0, 60.0)
    assert 150 < sortie_wh < 350
    policy = ReservePolicy()
    assert policy.is_feasible(DRONE.battery_capacity_wh, DRONE.battery_capacity_wh, sortie_wh, landing_wh=10.0)
    assert not policy.is_feasible(DRONE.battery_capacity_wh, 300.0, sortie_wh, landing_wh=10.0)


def test_reserve_policy_keeps_twenty_percent_plus_landing() -> None:
    """Usable energy = charge − 20 % of capacity − energy to the nearest safe landing point."""
    policy = ReservePolicy()
    assert policy.reserve_wh(500.0, landing_wh=15.0) == pytest.approx(115.0)
    assert policy.usable_wh(500.0, 400.0, landing_wh=15.0) == pytest.approx(285.0)
    assert policy.is_feasible(500.0, 400.0, 285.0, landing_wh=15.0)
    assert not policy.is_feasible(500.0, 400.0, 285.1, landing_wh=15.0)
    with pytest.raises(EnergyError, match="reserve_fraction"):
        ReservePolicy(1.5)


def test_robot_energy_grows_with_payload() -> None:
    """A robot uses wh_per_km empty and 20 % more with 10 kg (payload factor 0.02/kg)."""
    robot = RobotModel()
    assert robot.energy_wh(1000.0) == pytest.approx(30.0)
    assert robot.energy_wh(1000.0, 10.0) == pytest.approx(36.0)
    assert robot.range_m() == pytest.approx(400.0 / 30.0 * 1000.0)


@given(
    payload=st.floats(0.0, 2.0),
    airspeed=st.floats(0.0, 22.0),
    climb=st.floats(-3.0, 6.0),
)
def test_power_is_positive_finite_and_grows_with_payload(payload: float, airspeed: float, climb: float) -> None:
    """Within the operating envelope (descent ≤ 3 m/s) power is finite, positive, and never less with more payload."""
    power = DRONE.power_w(payload, airspeed, climb)
    assert math.isfinite(power) and power > 0
    assert DRONE.power_w(min(2.0, payload + 0.5), airspeed, climb) >= power - 1e-6


def test_a_level_sloped_leg_is_a_level_leg() -> None:
    """No height change: exactly the level leg's time and energy, in wind too."""
    assert DRONE.sloped_leg_energy_wh(1.0, 800.0, 0.0, headwind_m_s=3.0) == DRONE.leg_energy_wh(
        1.0, 800.0, headwind_m_s=3.0
    )
    assert DRONE.sloped_leg_time_s(800.0, 0.0) == DRONE.leg_time_s(800.0)


def test_a_steep_climb_is_flown_at_the_climb_rate() -> None:
    """Gentle slopes keep the cruise ground speed; where the slope asks more than the climb (3 m/s) or descent
    (2 m/s) rate, the drone slows along the track and the leg takes height / rate."""
    assert DRONE.sloped_leg_time_s(1000.0, 100.0) == pytest.approx(1000.0 / 15.0)  # 1.5 m/s up: no limit
    assert DRONE.sloped_leg_time_s(1000.0, 400.0) == pytest.approx(400.0 / 3.0)
    assert DRONE.sloped_leg_time_s(1000.0, -400.0) == pytest.approx(400.0 / 2.0)
    assert DRONE.sloped_leg_energy_wh(1.0, 1000.0, 400.0) > DRONE.sloped_leg_energy_wh(1.0, 1000.0, 100.0)
    with pytest.raises(EnergyError, match="height_change_m"):
        DRONE.sloped_leg_energy_wh(1.0, 1000.0, math.nan)


def test_air_density_follows_the_standard_atmosphere() -> None:
    """ISA density at 1,000 m and 2,500 m (tables: 1.1117 and 0.9569 kg/m³); thin air costs hover power."""
    assert DRONE.at_altitude(1000.0).air_density_kg_m3 == pytest.approx(1.1117, abs=5e-4)
    assert DRONE.at_altitude(2500.0).air_density_kg_m3 == pytest.approx(0.9569, abs=5e-4)
    assert DRONE.at_altitude(2500.0).hover_power_w(1.0) > DRONE.hover_power_w(1.0)
    with pytest.raises(EnergyError, match="altitude_amsl_m"):
        DRONE.at_altitude(12_000.0)

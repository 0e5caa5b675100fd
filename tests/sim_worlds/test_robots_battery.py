"""The sim robot's battery: drains per metre (RobotModel) and by idle load, never below empty."""

from __future__ import annotations

import pytest

from mission_planner.energy import RobotModel
from sim_worlds.robots.battery import SimBattery


def test_driving_one_km_takes_the_models_energy() -> None:
    """1 km with 2 kg costs wh_per_km × (1 + 0.02 × 2) = 31.2 Wh on the default model."""
    battery = SimBattery.at_percent(RobotModel(), 100.0, idle_power_w=0.0)
    battery.drive(1000.0, payload_kg=2.0)
    assert battery.charge_wh == pytest.approx(500.0 - 31.2)
    assert 0.9 < battery.fraction < 1.0
    assert 42.0 < battery.voltage_v < 58.8


def test_battery_empties_and_stays_at_zero() -> None:
    """Draining more than is left stops at 0 and reports empty; range is then 0."""
    battery = SimBattery.at_percent(RobotModel(), 1.0)
    assert battery.range_m() == pytest.approx(5.0 / 30.0 * 1000.0)
    battery.drive(10_000.0)
    assert battery.empty and battery.charge_wh == 0.0 and battery.range_m() == 0.0


def test_idle_load_drains_over_time() -> None:
    """5 W for one hour is 5 Wh."""
    battery = SimBattery.at_percent(RobotModel(), 50.0, idle_power_w=5.0)
    battery.idle(3600.0)
    assert battery.charge_wh == pytest.approx(245.0)


@pytest.mark.parametrize("percent", [-1.0, 101.0])
def test_percent_outside_0_100_is_refused(percent: float) -> None:
    """A charge outside 0..100 % names the value."""
    with pytest.raises(ValueError, match=str(percent)):
        SimBattery.at_percent(RobotModel(), percent)


def test_charging_puts_power_in_up_to_capacity() -> None:
    """300 W for 30 min is 150 Wh; charging never goes above capacity; negative power is refused."""
    battery = SimBattery.at_percent(RobotModel(), 50.0)
    battery.charge(1800.0, 300.0)
    assert battery.charge_wh == pytest.approx(400.0) and not battery.full
    battery.charge(3600.0, 300.0)
    assert battery.full and battery.charge_wh == battery.capacity_wh
    with pytest.raises(ValueError, match="power_w"):
        battery.charge(1.0, -1.0)

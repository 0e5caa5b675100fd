"""A lithium-polymer pack: energy drawn from the planner's multirotor power model, voltage with sag.

Open-circuit voltage follows a typical LiPo discharge curve per cell; under load the terminal
voltage sags by I·R (internal resistance), as ArduPilot's BATT_* failsafes would see it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from mission_planner.errors import FinalMileError

NOMINAL_CELL_V = 3.7
# (state of charge, open-circuit volts per cell); typical LiPo curve.
_OCV_CURVE: tuple[tuple[float, float], ...] = (
    (0.0, 3.27),
    (0.05, 3.50),
    (0.10, 3.60),
    (0.20, 3.70),
    (0.40, 3.79),
    (0.60, 3.87),
    (0.80, 3.98),
    (0.95, 4.13),
    (1.0, 4.20),
)
_SOC_POINTS = [point[0] for point in _OCV_CURVE]


class BatteryError(FinalMileError):
    """Invalid battery configuration."""


def open_circuit_cell_v(state_of_charge: float) -> float:
    """Resting voltage of one cell at `state_of_charge` (0..1)."""
    soc = min(1.0, max(0.0, state_of_charge))
    index = bisect.bisect_left(_SOC_POINTS, soc)
    if index <= 0:
        return _OCV_CURVE[0][1]
    (soc_low, v_low), (soc_high, v_high) = _OCV_CURVE[index - 1], _OCV_CURVE[index]
    return v_low + (v_high - v_low) * (soc - soc_low) / (soc_high - soc_low)


@dataclass
class Battery:
    """Pack state; call `drain(power_w, dt_s)` every physics step."""

    capacity_wh: float
    cells: int = 3
    cell_resistance_ohm_ah: float = 0.05  # one cell's internal resistance x its capacity (5 Ah cell: 10 mOhm)
    used_wh: float = 0.0
    current_a: float = field(default=0.0)
    internal_resistance_ohm: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.capacity_wh <= 0:
            raise BatteryError(f"battery capacity_wh must be > 0, got {self.capacity_wh}")
        if self.cells < 1:
            raise BatteryError(f"battery cells must be >= 1, got {self.cells}")
        # Bigger packs are more cells in parallel: resistance falls with capacity.
        self.internal_resistance_ohm = self.cells * self.cell_resistance_ohm_ah / (self.capacity_mah / 1000.0)

    @property
    def capacity_mah(self) -> float:
        """Capacity in mAh at the nominal voltage (what BATT_CAPACITY means)."""
        return self.capacity_wh / (NOMINAL_CELL_V * self.cells) * 1000.0

    @property
    def state_of_charge(self) -> float:
        """Remaining fraction 0..1."""
        return max(0.0, 1.0 - self.used_wh / self.capacity_wh)

    @property
    def remaining_pct(self) -> int:
        """Remaining capacity, whole percent (SYS_STATUS.battery_remaining)."""
        return round(self.state_of_charge * 100.0)

    @property
    def consumed_mah(self) -> float:
        """Charge drawn so far."""
        return self.used_wh / (NOMINAL_CELL_V * self.cells) * 1000.0

    @property
    def resting_voltage_v(self) -> float:
        """Open-circuit pack voltage."""
        return open_circuit_cell_v(self.state_of_charge) * self.cells

    @property
    def voltage_v(self) -> float:
        """Terminal voltage under the present load (sagging with current)."""
        return max(0.0, self.resting_voltage_v - self.current_a * self.internal_resistance_ohm)

    def drain(self, power_w: float, dt_s: float) -> None:
        """Draw `power_w` for `dt_s` seconds."""
        power_w = max(0.0, power_w)
        resting = max(1.0, self.resting_voltage_v)
        self.current_a = power_w / resting
        self.used_wh = min(self.capacity_wh, self.used_wh + power_w * dt_s / 3600.0)

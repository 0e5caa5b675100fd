"""The sim robot's battery: drained per metre driven (mission_planner's RobotModel) and by idle load, charged
at the hub's dock and aboard a van."""

from __future__ import annotations

from dataclasses import dataclass, field

from mission_planner.energy import RobotModel

# A 14-cell Li-ion pack, as sidewalk robots of this class use: ~58.8 V full, ~42 V empty.
_FULL_VOLTAGE_V = 58.8
_EMPTY_VOLTAGE_V = 42.0


@dataclass
class SimBattery:
    """Charge in Wh between 0 and `capacity_wh`; `drive` and `idle` take energy out."""

    capacity_wh: float
    charge_wh: float
    idle_power_w: float = 5.0
    model: RobotModel = field(default_factory=RobotModel)

    def __post_init__(self) -> None:
        if self.capacity_wh <= 0:
            raise ValueError(f"capacity_wh must be > 0, got {self.capacity_wh}")
        if not 0.0 <= self.charge_wh <= self.capacity_wh:
            raise ValueError(f"charge_wh must be within 0..{self.capacity_wh}, got {self.charge_wh}")
        if self.idle_power_w < 0:
            raise ValueError(f"idle_power_w must be >= 0, got {self.idle_power_w}")

    @classmethod
    def at_percent(cls, model: RobotModel, percent: float, idle_power_w: float = 5.0) -> SimBattery:
        """A battery of the model's capacity charged to `percent` (0..100)."""
        if not 0.0 <= percent <= 100.0:
            raise ValueError(f"battery percent must be within 0..100, got {percent}")
        capacity_wh = model.battery_capacity_wh
        return cls(capacity_wh, capacity_wh * percent / 100.0, idle_power_w, model)

    @property
    def empty(self) -> bool:
        """True once no charge is left."""
        return self.charge_wh <= 0.0

    @property
    def fraction(self) -> float:
        """State of charge, 0..1 (sensor_msgs/BatteryState.percentage convention)."""
        return self.charge_wh / self.capacity_wh

    @property
    def voltage_v(self) -> float:
        """Pack voltage, linear in state of charge between empty and full."""
        return _EMPTY_VOLTAGE_V + (_FULL_VOLTAGE_V - _EMPTY_VOLTAGE_V) * self.fraction

    def range_m(self, payload_kg: float = 0.0) -> float:
        """How far the remaining charge drives the robot (idle load ignored)."""
        return self.charge_wh / self.model.energy_wh(1000.0, payload_kg) * 1000.0

    def drive(self, distance_m: float, payload_kg: float = 0.0) -> None:
        """Take out the energy for driving `distance_m`."""
        self.charge_wh = max(0.0, self.charge_wh - self.model.energy_wh(distance_m, payload_kg))

    @property
    def full(self) -> bool:
        """True once charged to capacity."""
        return self.charge_wh >= self.capacity_wh

    def charge(self, duration_s: float, power_w: float) -> None:
        """Put `power_w` in for `duration_s` (a charger at the hub or the van's supply), up to capacity."""
        if power_w < 0:
            raise ValueError(f"power_w must be >= 0, got {power_w}")
        self.charge_wh = min(self.capacity_wh, self.charge_wh + power_w * max(0.0, duration_s) / 3600.0)

    def idle(self, duration_s: float) -> None:
        """Take out the electronics' load for `duration_s`."""
        self.charge_wh = max(0.0, self.charge_wh - self.idle_power_w * max(0.0, duration_s) / 3600.0)

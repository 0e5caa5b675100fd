"""What each kind of vehicle can do: one profile per vehicle, and the one set of defaults.

The planner, the fleet file (`fleet_manager.fleet_file`) and the scenarios all take their
defaults from `DEFAULT_PROFILES`, so a vehicle nobody described in detail is the same vehicle
everywhere: a quadcopter with a 2.5 kg payload, a sidewalk robot, an electric city van.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any

from .errors import PlanningError
from .model import VehicleKind


@dataclass(frozen=True)
class VehicleProfile:
    """A vehicle's capabilities and costs, from the fleet configuration (not from telemetry)."""

    max_payload_kg: float
    battery_wh: float
    speed_m_s: float
    capacity_parcels: int = 1
    cruise_altitude_m: float = 0.0  # drones only
    reserve_pct: float = 20.0
    energy_wh_per_km: float = 0.0  # ground vehicles; drones use mission_planner.energy
    swap_time_s: float = 0.0  # battery swap (drones) or recharge (robots) at the hub
    service_s: float = 60.0  # time at a door to hand a parcel over
    cost_per_km: float = 0.0  # EUR
    cost_per_hour: float = 0.0  # EUR
    fixed_cost: float = 0.0  # EUR per trip
    cold_chain: bool = False  # an insulated box: may carry cold-chain parcels
    ride_shock_g: float = 0.0  # peak shock its ride and hand-over put on a parcel (fragile parcels set a limit)

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not math.isfinite(value) or value < 0:
                raise PlanningError(f"vehicle profile {field.name}={value!r} must be a finite number >= 0")
        if self.speed_m_s <= 0 or self.capacity_parcels < 1 or not 0 <= self.reserve_pct < 100:
            raise PlanningError(
                f"vehicle profile needs speed_m_s > 0, capacity_parcels >= 1 and 0 <= reserve_pct < 100, got "
                f"{self.speed_m_s!r}, {self.capacity_parcels!r}, {self.reserve_pct!r}"
            )

    def with_changes(self, **changes: Any) -> VehicleProfile:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


# A 2.5 kg-payload delivery quadcopter; a sidewalk robot; an electric city van with a driver.
DEFAULT_PROFILES: MappingProxyType[VehicleKind, VehicleProfile] = MappingProxyType({
    VehicleKind.DRONE: VehicleProfile(
        max_payload_kg=2.5, battery_wh=500.0, speed_m_s=12.0, cruise_altitude_m=60.0, reserve_pct=25.0,
        swap_time_s=180.0, service_s=30.0, cost_per_km=0.05, cost_per_hour=6.0, fixed_cost=1.0,
        cold_chain=False, ride_shock_g=6.0,  # an open payload bay; lowered on a winch
    ),
    VehicleKind.ROBOT: VehicleProfile(
        max_payload_kg=10.0, battery_wh=800.0, speed_m_s=1.5, reserve_pct=15.0, energy_wh_per_km=30.0,
        service_s=60.0, cost_per_km=0.02, cost_per_hour=2.0, fixed_cost=0.5,
        cold_chain=True, ride_shock_g=3.0,  # an insulated lidded compartment; kerbs jolt it
    ),
    VehicleKind.VAN: VehicleProfile(
        max_payload_kg=600.0, battery_wh=60_000.0, speed_m_s=8.0, capacity_parcels=120, reserve_pct=10.0,
        energy_wh_per_km=250.0, service_s=120.0, cost_per_km=0.25, cost_per_hour=35.0, fixed_cost=20.0,
        cold_chain=True, ride_shock_g=2.0,  # a chilled cargo box; the driver carries parcels to the door
    ),
})  # fmt: skip


def default_profile(kind: VehicleKind | str) -> VehicleProfile:
    """The default profile of a vehicle kind."""
    return DEFAULT_PROFILES[VehicleKind(kind)]

"""A vehicle's charge as the planner reads it: Wh left from its telemetry, and how far a van's charge takes it."""

from __future__ import annotations

from .fleet import VehicleProfile
from .sorties import FleetSlot


def charge_left_wh(slot: FleetSlot) -> float | None:
    """Charge left (Wh) by telemetry, None when unknown."""
    state = slot.state
    if state is None:
        return None
    if state.battery_remaining_wh is not None:
        return state.battery_remaining_wh
    if state.battery_remaining_pct is not None:
        return slot.vehicle.profile.battery_wh * state.battery_remaining_pct / 100.0
    return None


def van_range_m(profile: VehicleProfile, charge_wh: float | None) -> float | None:
    """How far a van's charge above its reserve takes it (None: charge or consumption unknown, not limited)."""
    if charge_wh is None or profile.energy_wh_per_km <= 0:
        return None
    spare_wh = charge_wh - profile.reserve_pct / 100.0 * profile.battery_wh
    return max(0.0, spare_wh) / profile.energy_wh_per_km * 1000.0

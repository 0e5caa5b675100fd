"""Legs flown as an ArduCopter-like autopilot flies them in wind: ground speed held.

ArduCopter holds its *ground* speed along a mission leg (WPNAV_SPEED): into a headwind it flies
faster through the air (and, when its maximum airspeed cannot keep the speed, makes less ground).
`MultirotorModel.leg_energy_wh` holds the airspeed instead, which is how a planner reckons still
air. The live battery check (`fleet_manager.energy_home`) and the planner's trips in wind
(`DroneTravel.wind_m_s`) both use these legs, so a trip the plan gives a drone is not one the check
calls back at once.
"""

from __future__ import annotations

import math

from .energy import MultirotorModel


def wind_vector_m_s(speed_m_s: float | None, from_deg: float | None) -> tuple[float, float]:
    """(east, north) velocity of the air for a wind of `speed_m_s` blowing from `from_deg`; still air when unknown."""
    if speed_m_s is None or from_deg is None or not math.isfinite(speed_m_s) or not math.isfinite(from_deg):
        return 0.0, 0.0
    heading = math.radians(from_deg)
    return -speed_m_s * math.sin(heading), -speed_m_s * math.cos(heading)


def leg_energy_wh(model: MultirotorModel, payload_kg: float, start: tuple[float, float, float],
                  end: tuple[float, float, float], ground_speed_m_s: float, wind_m_s: tuple[float, float]) -> float:
    """Energy (Wh) of one straight leg (local x east, y north, z up, metres) flown at `ground_speed_m_s` over the
    ground in the wind `wind_m_s` (east, north); the drone climbs or descends at most at the model's rates, and
    flies no faster through the air than its maximum airspeed (it then makes less ground)."""
    dx, dy, dz = end[0] - start[0], end[1] - start[1], end[2] - start[2]
    ground_m = math.hypot(dx, dy)
    if ground_m < 1e-6:
        return model.vertical_energy_wh(payload_kg, dz) if dz else 0.0
    ux, uy = dx / ground_m, dy / ground_m
    speed = _ground_speed(model, ground_speed_m_s, (ux, uy), wind_m_s)
    duration_s = ground_m / speed
    rate = model.climb_rate_m_s if dz > 0 else model.descent_rate_m_s
    if dz and abs(dz) / duration_s > rate:
        duration_s = abs(dz) / rate
        speed = ground_m / duration_s
    airspeed = math.hypot(ux * speed - wind_m_s[0], uy * speed - wind_m_s[1])
    airspeed = min(airspeed, model.max_airspeed_m_s)
    return model.power_w(payload_kg, airspeed, dz / duration_s) * duration_s / 3600.0


def _ground_speed(model: MultirotorModel, wanted_m_s: float, direction: tuple[float, float],
                  wind_m_s: tuple[float, float]) -> float:
    """The ground speed along `direction` the drone makes: `wanted_m_s` when its airspeed allows, else the most it can
    with its maximum airspeed in this wind (floored: a drone that cannot make way is not modelled)."""
    wx, wy = wind_m_s
    needed = math.hypot(direction[0] * wanted_m_s - wx, direction[1] * wanted_m_s - wy)
    if needed <= model.max_airspeed_m_s:
        return wanted_m_s
    along = direction[0] * wx + direction[1] * wy  # tailwind component
    cross_sq = wx * wx + wy * wy - along * along
    reach_sq = model.max_airspeed_m_s ** 2 - cross_sq
    best = along + math.sqrt(reach_sq) if reach_sq > 0 else 0.0
    return max(best, 0.5)

"""Energy a flying drone needs to finish its route and land, in the wind it reports.

An ArduCopter-like autopilot holds its *ground* speed along a mission leg (WPNAV_SPEED), so in wind
it flies faster through the air into a headwind (and for longer over the same ground when it cannot
keep the speed): a round trip in 5-8 m/s of wind costs 8-39 % more than in still air
(`mission_planner.wind_flight`, which the planner uses too). The live check (`SafetyMonitor`) uses
this to keep the battery reserve: the wind comes from the drone's own estimate (MAVLink WIND, as
ArduPilot sends it).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from mission_planner.energy import MultirotorModel
from mission_planner.wind_flight import leg_energy_wh

LAND_ALT_LOW_M = 10.0  # ArduCopter LAND_ALT_LOW: below this the final descent slows to LAND_SPEED
LAND_SPEED_M_S = 0.5  # ArduCopter LAND_SPEED default, 50 cm/s


def route_energy_wh(model: MultirotorModel, payload_kg: float | Sequence[float],
                    points: Sequence[tuple[float, float, float]], ground_speed_m_s: float,
                    wind_m_s: tuple[float, float], *, landing_ground_m: float = 0.0) -> float:
    """Energy (Wh) along `points` (altitudes above home) and down to the ground at the last one, `landing_ground_m`
    above home's (a van-launched drone lands beside its van at a stop higher or lower than its launch point).
    `payload_kg`: carried all the way, or one per point, from that point on (parcels dropped on the way)."""
    loads_kg = [payload_kg] * len(points) if isinstance(payload_kg, (int, float)) else list(payload_kg)
    energy_wh = sum(leg_energy_wh(model, load_kg, a, b, ground_speed_m_s, wind_m_s)
                    for load_kg, (a, b) in zip(loads_kg, itertools.pairwise(points), strict=False))
    if not points:
        return energy_wh
    return energy_wh + landing_energy_wh(model, loads_kg[-1], points[-1][2] - landing_ground_m)


def landing_energy_wh(model: MultirotorModel, payload_kg: float, height_m: float) -> float:
    """Energy (Wh) to land from `height_m`: at the model's descent rate down to LAND_ALT_LOW, then at LAND_SPEED, as
    ArduCopter's LAND and RTL descend (defaults 10 m, 0.5 m/s). The last 10 m alone take 20 s of near-hover power;
    at the model's rate throughout, the safety days saw a recalled drone land 1 % under its reserve (day 34)."""
    slow_m = min(max(height_m, 0.0), LAND_ALT_LOW_M)
    energy_wh = model.vertical_energy_wh(payload_kg, -(height_m - slow_m)) if height_m > slow_m else 0.0
    if slow_m > 0:
        energy_wh += model.power_w(payload_kg, 0.0, -LAND_SPEED_M_S) * slow_m / LAND_SPEED_M_S / 3600.0
    return energy_wh

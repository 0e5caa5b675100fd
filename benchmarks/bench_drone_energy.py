"""Drone energy: what the planner reckons for a leg against what mavsim drains flying it.

In the Andorra day drones used 20-35 % more energy than planned (battery recalls were frequent).
Both sides use the same power model (`mission_planner.energy.MultirotorModel.power_w`: mavsim
drains the battery with it), so the gap is in how the leg is flown, not in the physics. Each row
is one straight leg (level, climbing or descending, as terrain-following paths have them):

- `plan_wh`, `plan_s`: `MultirotorModel.sloped_leg_energy_wh` / `sloped_leg_time_s` as the live
  planner calls them (`FleetPlanner.travel`: cruise airspeed = the profile's speed, no wind);
- `flown_calm_wh`: mavsim's guidance (`physics.step_towards`, WPNAV_SPEED/ACCEL/SPEED_UP/DN as the
  sim day sets them) flying the leg from rest to rest, with the battery drain mavsim integrates
  (power at the airspeed and vertical rate of each 50 ms step), no wind;
- `flown_wind_out_wh` / `flown_wind_back_wh`: the same with the Andorra day's 5 m/s wind
  (SIM_WIND_SPD/DIR, gusts left out) along the leg and back, ArduCopter holding its ground speed;
- `excess_pct`: the wind's round-trip mean over the plan.

Run as `python -m benchmarks drone_energy` (well under a second). Results:
benchmarks/results/drone_energy.csv.
"""

from __future__ import annotations

from typing import Any

from mission_planner.energy import MultirotorModel
from sim_worlds.mavsim.physics import Kinematics, Limits, step_towards, wind_vector

NAME = "drone_energy"
CRUISE_M_S = 12.0  # andorra_day's drones (WPNAV_SPEED 1200)
WIND_M_S = 5.0  # andorra_day's wind speed
PAYLOAD_KG = 1.0
STEP_S = 0.05
LEGS = ((2000.0, 0.0), (2000.0, 200.0), (2000.0, -200.0), (1000.0, 300.0), (500.0, -150.0), (300.0, 0.0))


def _flown(model: MultirotorModel, limits: Limits, distance_m: float, climb_m: float,
           wind_from_deg: float | None) -> tuple[float, float]:
    """(Wh, s) of mavsim's guidance flying the leg eastwards from rest to rest."""
    state = Kinematics()
    wind_e, wind_n = (0.0, 0.0) if wind_from_deg is None else wind_vector(WIND_M_S, wind_from_deg)
    energy_j = elapsed_s = 0.0
    while abs(state.x_m - distance_m) > 0.05 or abs(state.alt_m - climb_m) > 0.05 or state.ground_speed_m_s > 0.05:
        step_towards(state, distance_m, 0.0, climb_m, limits, STEP_S)
        energy_j += model.power_w(PAYLOAD_KG, state.airspeed_m_s(wind_e, wind_n), state.vz_m_s) * STEP_S
        elapsed_s += STEP_S
        if elapsed_s > 3600.0:
            break
    return energy_j / 3600.0, elapsed_s


def run(args: Any) -> list[dict[str, Any]]:
    """One row per leg (see the module docstring)."""
    model = MultirotorModel(cruise_airspeed_m_s=CRUISE_M_S, battery_capacity_wh=500.0, max_payload_kg=2.5)
    limits = Limits(speed_m_s=CRUISE_M_S, climb_m_s=model.climb_rate_m_s, descent_m_s=model.descent_rate_m_s,
                    accel_m_s2=2.5)
    rows = []
    for distance_m, climb_m in LEGS:
        plan_wh = model.sloped_leg_energy_wh(PAYLOAD_KG, distance_m, climb_m)
        calm_wh, calm_s = _flown(model, limits, distance_m, climb_m, None)
        tail_wh, _ = _flown(model, limits, distance_m, climb_m, 270.0)  # wind from the west: behind an eastward leg
        head_wh, _ = _flown(model, limits, distance_m, climb_m, 90.0)
        rows.append({
            "leg_m": distance_m, "climb_m": climb_m,
            "plan_wh": round(plan_wh, 2), "plan_s": round(model.sloped_leg_time_s(distance_m, climb_m), 1),
            "flown_calm_wh": round(calm_wh, 2), "flown_calm_s": round(calm_s, 1),
            "calm_excess_pct": round(100.0 * (calm_wh / plan_wh - 1.0), 1),
            "flown_wind_out_wh": round(tail_wh, 2), "flown_wind_back_wh": round(head_wh, 2),
            "excess_pct": round(100.0 * ((tail_wh + head_wh) / 2.0 / plan_wh - 1.0), 1),
        })
    return rows

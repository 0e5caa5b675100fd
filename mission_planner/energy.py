"""Energy models: a multirotor delivery drone, a sidewalk robot, and the battery reserve policy.

Drone power follows rotor momentum theory (Johnson, *Helicopter Theory*, 1980, ch. 2-5;
Leishman, *Principles of Helicopter Aerodynamics*, 2nd ed., 2006, ch. 2-3):

- thrust balances weight, vertical drag and parasitic drag: ``T = hypot(W + D_v, D)``,
  ``D = ½ ρ (C_D·A) V²`` with the airframe's drag area ``C_D·A``;
- the rotor disc tilts by ``α = atan2(D, W + D_v)``, so the free stream has a component
  ``V sin α + V_c cos α`` through the disc and ``V cos α − V_c sin α`` along it;
- induced velocity ``v_i`` solves ``v_i = T / (2 ρ A √((V cos α − V_c sin α)² + (V sin α + V_c cos α + v_i)²))``;
  the induced power ``κ T v_i`` carries Johnson's empirical factor κ ≈ 1.15;
- in descent through the vortex-ring state (−2 v_h < V_c < 0), where momentum theory has no
  physical solution, Leishman's empirical curve (eq. 2.133) gives ``v_i``;
- the useful work ``T (V sin α + V_c cos α) = D V + (W + D_v) V_c`` is parasitic plus climb power
  (negative when descending: potential energy is recovered into the rotor wake, not the battery,
  so the total is floored at the profile power);
- blade profile power ``σ C_d0 / 8 · ρ A (ΩR)³ (1 + 4.65 μ²)``, advance ratio ``μ = V cos α / ΩR``;
- shaft power over the motor+ESC efficiency, plus avionics, gives battery power.

The defaults describe a typical 2 kg-payload delivery quadcopter of the Matternet M2 class
(public spec: 2 kg payload, ~20 km range, ~10 kg take-off mass) — the same class Murray & Raj
(2020, TR-C 110) model in the mFSTSP benchmark. Airframe numbers follow Stolaroff et al. (2018,
*Nature Communications* 9:409, "Energy use and life cycle greenhouse gas emissions of drones for
commercial package delivery"): drag area ~0.1-0.3 m², Li-ion packs ~150-250 Wh/kg, 70-85 %
power-train efficiency; the blade numbers (solidity 0.1, C_d0 0.012, tip speed 110 m/s) are
textbook small-rotor values giving a hover figure of merit of ~0.65.

Everything here is pure arithmetic: no I/O, deterministic.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

from .errors import EnergyError

GRAVITY_M_S2 = 9.80665
SEA_LEVEL_AIR_DENSITY_KG_M3 = 1.225
# ISA troposphere: T = T0 − L·h with T0 = 288.15 K, L = 0.0065 K/m; ρ/ρ0 = (T/T0)^(g·M/(R·L) − 1)
_ISA_LAPSE_PER_M = 0.0065 / 288.15
_ISA_DENSITY_EXPONENT = GRAVITY_M_S2 * 0.0289644 / (8.31446 * 0.0065) - 1.0  # ≈ 4.256

# Leishman (2006) eq. 2.133: empirical induced velocity in the vortex-ring state, v_i / v_h as a
# polynomial in x = V_c / v_h for -2 <= x <= 0 (κ included).
_VRS_COEFFS = (1.15, -1.125, -1.372, -1.718, -0.655)


def _require(name: str, value: float, *, minimum: float = 0.0, strictly: bool = False) -> None:
    if not math.isfinite(value) or value < minimum or (strictly and value == minimum):
        bound = ">" if strictly else ">="
        raise EnergyError(f"{name} must be a finite number {bound} {minimum}, got {value!r}")


@dataclass(frozen=True)
class MultirotorModel:
    """Physical parameters of a multirotor delivery drone (defaults: a 2 kg-payload quadcopter).

    Masses in kg, areas in m², speeds in m/s. See the module docstring for the model and sources.
    """

    frame_mass_kg: float = 6.0  # airframe, motors, ESCs, avionics, parcel bay
    battery_mass_kg: float = 3.0
    battery_capacity_wh: float = 600.0  # ≈ 200 Wh/kg at pack level
    max_payload_kg: float = 2.0
    rotor_count: int = 4
    rotor_diameter_m: float = 0.56  # 22-inch propellers
    drag_area_m2: float = 0.15  # C_D·A facing forward flight
    vertical_drag_area_m2: float = 0.25  # C_D·A facing climb/descent (top view is larger)
    induced_power_factor: float = 1.15  # κ, Johnson (1980)
    rotor_solidity: float = 0.1
    blade_drag_coefficient: float = 0.012
    tip_speed_m_s: float = 110.0
    powertrain_efficiency: float = 0.85  # battery -> shaft (ESC x motor)
    avionics_power_w: float = 20.0
    air_density_kg_m3: float = SEA_LEVEL_AIR_DENSITY_KG_M3
    cruise_airspeed_m_s: float = 15.0
    max_airspeed_m_s: float = 22.0
    climb_rate_m_s: float = 3.0
    descent_rate_m_s: float = 2.0

    def __post_init__(self) -> None:
        for name in (
            "frame_mass_kg",
            "battery_mass_kg",
            "battery_capacity_wh",
            "rotor_diameter_m",
            "induced_power_factor",
            "rotor_solidity",
            "tip_speed_m_s",
            "powertrain_efficiency",
            "air_density_kg_m3",
            "cruise_airspeed_m_s",
            "max_airspeed_m_s",
            "climb_rate_m_s",
            "descent_rate_m_s",
        ):
            _require(name, float(getattr(self, name)), strictly=True)
        for name in ("max_payload_kg", "drag_area_m2", "vertical_drag_area_m2", "blade_drag_coefficient"):
            _require(name, float(getattr(self, name)))
        _require("avionics_power_w", self.avionics_power_w)
        if self.rotor_count < 1:
            raise EnergyError(f"rotor_count must be >= 1, got {self.rotor_count}")
        if self.powertrain_efficiency > 1.0:
            raise EnergyError(f"powertrain_efficiency must be <= 1, got {self.powertrain_efficiency}")
        if self.cruise_airspeed_m_s > self.max_airspeed_m_s:
            raise EnergyError(
                f"cruise_airspeed_m_s={self.cruise_airspeed_m_s} exceeds max_airspeed_m_s={self.max_airspeed_m_s}"
            )

    @property
    def rotor_disc_area_m2(self) -> float:
        """Total disc area of all rotors."""
        return self.rotor_count * math.pi * (self.rotor_diameter_m / 2.0) ** 2

    @property
    def empty_mass_kg(self) -> float:
        """Frame plus battery."""
        return self.frame_mass_kg + self.battery_mass_kg

    def power_w(self, payload_kg: float, airspeed_m_s: float, climb_rate_m_s: float = 0.0) -> float:
        """Battery power (W) in steady flight at `airspeed_m_s` (horizontal) and `climb_rate_m_s` (<0: descent)."""
        _require("payload_kg", payload_kg)
        _require("airspeed_m_s", airspeed_m_s)
        if not math.isfinite(climb_rate_m_s):
            raise EnergyError(f"climb_rate_m_s must be finite, got {climb_rate_m_s!r}")
        if payload_kg > self.max_payload_kg:
            raise EnergyError(f"payload_kg={payload_kg} exceeds max_payload_kg={self.max_payload_kg}")
        return _power_w(self, float(payload_kg), float(airspeed_m_s), float(climb_rate_m_s))

    def hover_power_w(self, payload_kg: float) -> float:
        """Battery power (W) in hover."""
        return self.power_w(payload_kg, 0.0, 0.0)

    def leg_energy_wh(
        self,
        payload_kg: float,
        distance_m: float,
        airspeed_m_s: float | None = None,
        *,
        headwind_m_s: float = 0.0,
        crosswind_m_s: float = 0.0,
    ) -> float:
        """Energy (Wh) of a level cruise leg of `distance_m` over the ground.

        The drone holds `airspeed_m_s` (default: cruise) and crabs into the crosswind; its ground
        speed is ``√(V² − crosswind²) − headwind`` (a tailwind is a negative headwind).
        """
        return self.leg_time_s(distance_m, airspeed_m_s, headwind_m_s=headwind_m_s, crosswind_m_s=crosswind_m_s) * (
            self.power_w(payload_kg, self._airspeed(airspeed_m_s)) / 3600.0
        )

    def leg_time_s(
        self,
        distance_m: float,
        airspeed_m_s: float | None = None,
        *,
        headwind_m_s: float = 0.0,
        crosswind_m_s: float = 0.0,
    ) -> float:
        """Time (s) of a level leg of `distance_m` over the ground at `airspeed_m_s` in the given wind."""
        _require("distance_m", distance_m)
        return distance_m / self.ground_speed_m_s(airspeed_m_s, headwind_m_s=headwind_m_s, crosswind_m_s=crosswind_m_s)

    def ground_speed_m_s(
        self, airspeed_m_s: float | None = None, *, headwind_m_s: float = 0.0, crosswind_m_s: float = 0.0
    ) -> float:
        """Ground speed along the track when flying `airspeed_m_s` in the given wind components."""
        airspeed = self._airspeed(airspeed_m_s)
        if not (math.isfinite(headwind_m_s) and math.isfinite(crosswind_m_s)):
            raise EnergyError(f"wind components must be finite, got head {headwind_m_s!r}, cross {crosswind_m_s!r}")
        along_sq = airspeed**2 - crosswind_m_s**2
        ground = math.sqrt(along_sq) - headwind_m_s if along_sq > 0 else -1.0
        if ground <= 0.1:
            raise EnergyError(
                f"airspeed_m_s={airspeed} cannot make progress against headwind {headwind_m_s} m/s "
                f"and crosswind {crosswind_m_s} m/s"
            )
        return ground

    def sloped_leg_time_s(
        self,
        distance_m: float,
        height_change_m: float,
        airspeed_m_s: float | None = None,
        *,
        headwind_m_s: float = 0.0,
        crosswind_m_s: float = 0.0,
    ) -> float:
        """Time (s) of a straight leg that covers `distance_m` over the ground while climbing `height_change_m`
        (< 0: descending); see `sloped_leg_energy_wh` for how the drone flies it."""
        if height_change_m == 0:
            return self.leg_time_s(distance_m, airspeed_m_s, headwind_m_s=headwind_m_s, crosswind_m_s=crosswind_m_s)
        return self._sloped(distance_m, height_change_m, airspeed_m_s, headwind_m_s, crosswind_m_s)[0]

    def sloped_leg_energy_wh(
        self,
        payload_kg: float,
        distance_m: float,
        height_change_m: float,
        airspeed_m_s: float | None = None,
        *,
        headwind_m_s: float = 0.0,
        crosswind_m_s: float = 0.0,
    ) -> float:
        """Energy (Wh) of a straight leg over `distance_m` of ground that climbs `height_change_m` (< 0: descends).

        How it is flown (as ArduCopter flies a mission leg between waypoints at different
        altitudes): the drone holds its airspeed, so its ground speed is that of a level leg, and
        climbs at ``w = ground speed × height_change / distance``. Where that exceeds the climb
        rate (or the descent rate), the vertical rate is held at the limit and the drone slows
        down along the track instead, with the airspeed that gives the slower ground speed in
        this wind. Power is `power_w` at that airspeed and vertical rate: its useful term
        ``T·(V sin α + w cos α) = D·V + (W + D_v)·w`` makes a climb cost the potential energy
        ``m·g·Δh`` (over the power-train efficiency) on top of the time-dependent induced,
        parasitic and profile power, and a gentle descent lowers the power by about as much
        (gravity does part of the work) — never below the profile power: nothing is recharged.
        A steep descent is slow (the descent rate is lower than the climb rate), so it can cost
        more than level flight. With ``height_change_m == 0`` this is exactly `leg_energy_wh`.
        """
        if height_change_m == 0:
            return self.leg_energy_wh(
                payload_kg, distance_m, airspeed_m_s, headwind_m_s=headwind_m_s, crosswind_m_s=crosswind_m_s
            )
        duration_s, airspeed, vertical_m_s = self._sloped(
            distance_m, height_change_m, airspeed_m_s, headwind_m_s, crosswind_m_s
        )
        return duration_s * self.power_w(payload_kg, airspeed, vertical_m_s) / 3600.0

    def _sloped(
        self, distance_m: float, height_change_m: float, airspeed_m_s: float | None, head: float, cross: float
    ) -> tuple[float, float, float]:
        """(duration_s, airspeed_m_s, vertical_rate_m_s) of a sloped leg (see `sloped_leg_energy_wh`)."""
        _require("distance_m", distance_m, strictly=True)
        if not math.isfinite(height_change_m):
            raise EnergyError(f"height_change_m must be finite, got {height_change_m!r}")
        airspeed = self._airspeed(airspeed_m_s)
        ground_m_s = self.ground_speed_m_s(airspeed, headwind_m_s=head, crosswind_m_s=cross)
        vertical_m_s = ground_m_s * height_change_m / distance_m
        limit_m_s = self.climb_rate_m_s if height_change_m > 0 else self.descent_rate_m_s
        if abs(vertical_m_s) > limit_m_s:
            vertical_m_s = math.copysign(limit_m_s, height_change_m)
            ground_m_s = limit_m_s * distance_m / abs(height_change_m)
            airspeed = math.hypot(ground_m_s + head, cross)
        return distance_m / ground_m_s, airspeed, vertical_m_s

    def at_altitude(self, altitude_amsl_m: float) -> MultirotorModel:
        """This drone in the International Standard Atmosphere at `altitude_amsl_m` (troposphere, < 11 km).

        `air_density_kg_m3` is taken as the sea-level density and scaled by the ISA ratio
        ``ρ/ρ0 = (1 − 0.0065·h/288.15)^4.256``: 0.91 at 1,000 m, 0.78 at 2,500 m. Thinner air
        raises the induced power (``v_i ∝ 1/√ρ`` at a given thrust) and lowers the profile and
        parasitic power: with the default airframe hover power rises ~4 % from sea level to
        2,500 m while cruise at 15 m/s gets ~5 % cheaper.
        """
        if not (math.isfinite(altitude_amsl_m) and -500.0 <= altitude_amsl_m < 11_000.0):
            raise EnergyError(f"altitude_amsl_m must be in -500..11000 m (ISA troposphere), got {altitude_amsl_m!r}")
        ratio = (1.0 - _ISA_LAPSE_PER_M * altitude_amsl_m) ** _ISA_DENSITY_EXPONENT
        return replace(self, air_density_kg_m3=self.air_density_kg_m3 * ratio)

    def vertical_energy_wh(self, payload_kg: float, height_change_m: float) -> float:
        """Energy (Wh) to climb (`height_change_m` > 0, at climb_rate) or descend (< 0, at descent_rate) in place."""
        if not math.isfinite(height_change_m):
            raise EnergyError(f"height_change_m must be finite, got {height_change_m!r}")
        if height_change_m == 0:
            return 0.0
        rate = self.climb_rate_m_s if height_change_m > 0 else -self.descent_rate_m_s
        duration_s = height_change_m / rate
        return self.power_w(payload_kg, 0.0, rate) * duration_s / 3600.0

    def vertical_time_s(self, height_change_m: float) -> float:
        """Time (s) to climb or descend `height_change_m` at the model's vertical rates."""
        if height_change_m >= 0:
            return height_change_m / self.climb_rate_m_s
        return -height_change_m / self.descent_rate_m_s

    def hover_energy_wh(self, payload_kg: float, duration_s: float) -> float:
        """Energy (Wh) to hover `duration_s` (e.g. lowering a parcel on a tether)."""
        _require("duration_s", duration_s)
        return self.hover_power_w(payload_kg) * duration_s / 3600.0

    def sortie_energy_wh(
        self,
        payload_kg: float,
        outbound_m: float,
        return_m: float,
        cruise_altitude_m: float,
        *,
        drop_hover_s: float = 30.0,
        airspeed_m_s: float | None = None,
        outbound_headwind_m_s: float = 0.0,
        return_headwind_m_s: float = 0.0,
    ) -> float:
        """Energy (Wh) of launch -> climb -> cruise loaded -> descend -> drop -> climb -> cruise empty -> land."""
        _require("cruise_altitude_m", cruise_altitude_m)
        return (
            self.vertical_energy_wh(payload_kg, cruise_altitude_m)
            + self.leg_energy_wh(payload_kg, outbound_m, airspeed_m_s, headwind_m_s=outbound_headwind_m_s)
            + self.vertical_energy_wh(payload_kg, -cruise_altitude_m)
            + self.hover_energy_wh(payload_kg, drop_hover_s)
            + self.vertical_energy_wh(0.0, cruise_altitude_m)
            + self.leg_energy_wh(0.0, return_m, airspeed_m_s, headwind_m_s=return_headwind_m_s)
            + self.vertical_energy_wh(0.0, -cruise_altitude_m)
        )

    def sortie_time_s(
        self,
        outbound_m: float,
        return_m: float,
        cruise_altitude_m: float,
        *,
        drop_hover_s: float = 30.0,
        airspeed_m_s: float | None = None,
    ) -> float:
        """Duration (s) of the sortie described in `sortie_energy_wh` (still air)."""
        vertical = 2 * (self.vertical_time_s(cruise_altitude_m) + self.vertical_time_s(-cruise_altitude_m))
        return vertical + self.leg_time_s(outbound_m + return_m, airspeed_m_s) + drop_hover_s

    def best_range_airspeed_m_s(self, payload_kg: float) -> float:
        """Airspeed (m/s, 0.5 m/s grid) that minimises energy per metre in still air."""
        speeds = [0.5 * i for i in range(4, int(self.max_airspeed_m_s * 2) + 1)]
        return min(speeds, key=lambda v: self.power_w(payload_kg, v) / v)

    def _airspeed(self, airspeed_m_s: float | None) -> float:
        airspeed = self.cruise_airspeed_m_s if airspeed_m_s is None else airspeed_m_s
        _require("airspeed_m_s", airspeed, strictly=True)
        if airspeed > self.max_airspeed_m_s:
            raise EnergyError(f"airspeed_m_s={airspeed} exceeds max_airspeed_m_s={self.max_airspeed_m_s}")
        return airspeed


def _induced_velocity_m_s(thrust_n: float, rho: float, area_m2: float, edge_m_s: float, normal_m_s: float) -> float:
    """Momentum-theory induced velocity for a free-stream inflow `normal_m_s` >= 0 (Newton iteration)."""
    hover_sq = thrust_n / (2.0 * rho * area_m2)
    v = math.sqrt(hover_sq)
    for _ in range(50):
        root = math.sqrt(edge_m_s**2 + (normal_m_s + v) ** 2)
        f = v * root - hover_sq
        df = root + v * (normal_m_s + v) / root
        step = f / df
        v = max(v - step, 1e-9)
        if abs(step) < 1e-9:
            break
    return v


@functools.lru_cache(maxsize=65536)
def _power_w(model: MultirotorModel, payload_kg: float, airspeed_m_s: float, climb_rate_m_s: float) -> float:
    rho = model.air_density_kg_m3
    area = model.rotor_disc_area_m2
    weight_n = (model.empty_mass_kg + payload_kg) * GRAVITY_M_S2
    drag_n = 0.5 * rho * model.drag_area_m2 * airspeed_m_s**2
    # vertical drag opposes the vertical motion: climbing needs more thrust, descending less
    vertical_drag_n = 0.5 * rho * model.vertical_drag_area_m2 * climb_rate_m_s * abs(climb_rate_m_s)
    vertical_n = max(weight_n + vertical_drag_n, 0.1 * weight_n)
    thrust_n = math.hypot(vertical_n, drag_n)
    tilt = math.atan2(drag_n, vertical_n)
    normal = airspeed_m_s * math.sin(tilt) + climb_rate_m_s * math.cos(tilt)
    edge = airspeed_m_s * math.cos(tilt) - climb_rate_m_s * math.sin(tilt)
    kappa = model.induced_power_factor
    if normal >= 0:
        induced_w = kappa * thrust_n * _induced_velocity_m_s(thrust_n, rho, area, edge, normal)
        useful_w = thrust_n * normal
    else:
        hover_v = math.sqrt(thrust_n / (2.0 * rho * area))
        forward_v = _induced_velocity_m_s(thrust_n, rho, area, edge, 0.0)
        x = normal / hover_v
        if x > -2.0:
            ratio = sum(c * x**k for k, c in enumerate(_VRS_COEFFS))
        else:  # windmill-brake state: momentum theory is valid again
            ratio = kappa * (-x / 2.0 - math.sqrt(x * x / 4.0 - 1.0))
        induced_w = thrust_n * ratio * forward_v
        useful_w = thrust_n * normal
    mu = edge / model.tip_speed_m_s
    profile_w = (
        model.rotor_solidity
        * model.blade_drag_coefficient
        / 8.0
        * rho
        * area
        * model.tip_speed_m_s**3
        * (1.0 + 4.65 * mu * mu)
    )
    rotor_w = max(induced_w + useful_w, 0.0) + profile_w
    return rotor_w / model.powertrain_efficiency + model.avionics_power_w


@dataclass(frozen=True)
class Wind:
    """Steady wind: speed and the compass direction it blows FROM (meteorological convention)."""

    speed_m_s: float = 0.0
    from_deg: float = 0.0

    def __post_init__(self) -> None:
        _require("speed_m_s", self.speed_m_s)
        if not math.isfinite(self.from_deg):
            raise EnergyError(f"from_deg must be finite, got {self.from_deg!r}")

    def components(self, track_deg: float) -> tuple[float, float]:
        """(headwind_m_s, crosswind_m_s) for a drone flying the compass track `track_deg`."""
        relative = math.radians(self.from_deg - track_deg)
        return self.speed_m_s * math.cos(relative), self.speed_m_s * math.sin(relative)


@dataclass(frozen=True)
class RobotModel:
    """A sidewalk delivery robot (Starship class: ~25 kg, ~6 km/h, ≤ 10 kg cargo).

    Consumption is linear: ``wh_per_km × (1 + payload_factor_per_kg × payload_kg)`` per km.
    Defaults are estimates from public descriptions of six-wheeled sidewalk robots
    (Starship Technologies: 6 km/h, 10 kg cargo, several km per charge in cold weather).
    """

    wh_per_km: float = 30.0
    payload_factor_per_kg: float = 0.02
    battery_capacity_wh: float = 500.0
    max_payload_kg: float = 10.0
    speed_m_s: float = 1.7

    def __post_init__(self) -> None:
        for name in ("wh_per_km", "battery_capacity_wh", "max_payload_kg", "speed_m_s"):
            _require(name, float(getattr(self, name)), strictly=True)
        _require("payload_factor_per_kg", self.payload_factor_per_kg)

    def energy_wh(self, distance_m: float, payload_kg: float = 0.0) -> float:
        """Energy (Wh) to drive `distance_m` carrying `payload_kg`."""
        _require("distance_m", distance_m)
        _require("payload_kg", payload_kg)
        if payload_kg > self.max_payload_kg:
            raise EnergyError(f"payload_kg={payload_kg} exceeds max_payload_kg={self.max_payload_kg}")
        return self.wh_per_km * distance_m / 1000.0 * (1.0 + self.payload_factor_per_kg * payload_kg)

    def time_s(self, distance_m: float) -> float:
        """Time (s) to drive `distance_m`."""
        _require("distance_m", distance_m)
        return distance_m / self.speed_m_s

    def range_m(self, payload_kg: float = 0.0, usable_fraction: float = 0.8) -> float:
        """Distance (m) on `usable_fraction` of a full battery."""
        return self.battery_capacity_wh * usable_fraction / self.energy_wh(1000.0, payload_kg) * 1000.0


@dataclass(frozen=True)
class ReservePolicy:
    """A sortie is feasible only if afterwards the battery keeps `reserve_fraction` of its capacity
    plus the energy to reach the nearest safe landing point."""

    reserve_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not (0.0 <= self.reserve_fraction < 1.0):
            raise EnergyError(f"reserve_fraction must be in [0, 1), got {self.reserve_fraction}")

    def reserve_wh(self, capacity_wh: float, landing_wh: float = 0.0) -> float:
        """Energy (Wh) that must be left in the battery after a sortie."""
        _require("capacity_wh", capacity_wh, strictly=True)
        _require("landing_wh", landing_wh)
        return self.reserve_fraction * capacity_wh + landing_wh

    def usable_wh(self, capacity_wh: float, charge_wh: float, landing_wh: float = 0.0) -> float:
        """Energy (Wh) a sortie may use when the battery holds `charge_wh` (never negative)."""
        _require("charge_wh", charge_wh)
        return max(0.0, charge_wh - self.reserve_wh(capacity_wh, landing_wh))

    def is_feasible(self, capacity_wh: float, charge_wh: float, sortie_wh: float, landing_wh: float = 0.0) -> bool:
        """True when `charge_wh − sortie_wh` keeps the reserve plus `landing_wh` (nearest safe landing)."""
        _require("sortie_wh", sortie_wh)
        return charge_wh - sortie_wh >= self.reserve_wh(capacity_wh, landing_wh) - 1e-9

"""The mFSTSP UAV flight-time and endurance model of Murray & Raj (2020), as their code defines it.

Source: `optimatorlab/mFSTSP` (commit 53c0771f), `distance_functions.calcMultirotorTravelTime` and
`endurance_calculator.give_endurance` with `Etype = 1` (the nonlinear model of their published
runs); re-implemented here from reading that code, vectorised with numpy, nothing copied.

Flight time of a leg (their `calcMultirotorTravelTime` with unknown headings, -361): when the two
points are more than 1 m apart, takeoff = cruise altitude / takeoff speed + a 180-degree yaw
(pi / yaw rate), cruise = haversine distance (earth radius 6,378,100 m) / cruise speed,
landing = cruise altitude / landing speed; a leg between the same point takes no time.

Endurance of a sortie launch i -> customer j -> recovery k (their `give_endurance`, Etype 1):
energy of each phase = duration x power, power from a Matternet-M2-like multirotor (1.5 kg frame;
thrust from mass and airspeed, induced + profile + parasitic power, the constants of their code);
the outbound legs carry the parcel (lb x 0.453592 kg), the return legs fly empty. With E the
battery energy (J), the sortie's endurance is
    min_time + (E - energy) / hover_power   (hover power empty, no airspeed)
where min_time is both legs' flight time plus the service time at j, and -1 when energy > E.
As in their IP, the endurance bounds the time from the end of the launch to the start of the
recovery (waiting in the air included); recovery at the depot (their node c+1) uses the legs to
node 0. Nothing is approximated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import EnergyError

EARTH_RADIUS_M = 6378100.0  # their `radius_of_earth`
SAME_POINT_M = 1.0  # their DIST_TOL: closer than this counts as the same point
FRAME_KG = 1.5  # their Thrust(): airframe mass in the thrust formula
GRAVITY_MPS2 = 9.8
POUND_KG = 0.453592


@dataclass(frozen=True)
class UavParams:
    """One UAV row of their `tbl_vehicles_*.csv` (speeds m/s, yaw deg/s, altitude m, times s, energy J)."""

    takeoff_speed_mps: float
    cruise_speed_mps: float
    landing_speed_mps: float
    yaw_rate_deg_s: float
    cruise_altitude_m: float
    capacity_lb: float
    launch_s: float
    recovery_s: float
    service_s: float
    battery_j: float

    def __post_init__(self) -> None:
        for name in ("takeoff_speed_mps", "cruise_speed_mps", "landing_speed_mps", "yaw_rate_deg_s"):
            if not getattr(self, name) > 0:
                raise EnergyError(f"{name} must be > 0, got {getattr(self, name)!r}")


def haversine_m(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Pairwise great-circle distances (m) between the points, on their earth radius."""
    lat = np.radians(np.asarray(lat_deg, dtype=float))[:, None]
    lon = np.radians(np.asarray(lon_deg, dtype=float))[:, None]
    a = np.sin((lat.T - lat) / 2) ** 2 + np.cos(lat) * np.cos(lat.T) * np.sin((lon.T - lon) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def leg_times_s(uav: UavParams, distance_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(takeoff, cruise, landing) seconds of each leg; all zero where the points are the same."""
    moving = distance_m > SAME_POINT_M
    takeoff = np.where(
        moving, uav.cruise_altitude_m / uav.takeoff_speed_mps + math.pi / math.radians(uav.yaw_rate_deg_s), 0.0
    )
    cruise = np.where(moving, distance_m / uav.cruise_speed_mps, 0.0)
    landing = np.where(moving, uav.cruise_altitude_m / uav.landing_speed_mps, 0.0)
    return takeoff, cruise, landing


def _induced_w(thrust_n: float, vertical_mps: float) -> float:
    return 0.8554 * thrust_n * (vertical_mps / 2.0 + math.sqrt((vertical_mps / 2.0) ** 2 + thrust_n / 0.3051**2))


def _profile_w(thrust_n: float) -> float:
    return 0.3177 * thrust_n**1.5


def _parasitic_w(airspeed_mps: float) -> float:
    return 0.0296 * airspeed_mps**3


def _thrust_n(payload_kg: float, airspeed_mps: float) -> float:
    horizontal = airspeed_mps * math.cos(math.radians(10.0))
    return math.sqrt(
        ((FRAME_KG + payload_kg) * GRAVITY_MPS2 - 0.0279 * horizontal**2) ** 2 + (0.0296 * airspeed_mps**2) ** 2
    )


def phase_powers_w(uav: UavParams, payload_kg: float) -> tuple[float, float, float]:
    """(takeoff, cruise, landing) power in W carrying `payload_kg`."""
    hover = _thrust_n(payload_kg, 0.0)
    cruise = _thrust_n(payload_kg, uav.cruise_speed_mps)
    return (
        _induced_w(hover, uav.takeoff_speed_mps) + _profile_w(hover),
        _induced_w(cruise, 0.0) + _profile_w(cruise) + _parasitic_w(uav.cruise_speed_mps),
        _induced_w(hover, uav.landing_speed_mps) + _profile_w(hover),
    )


def hover_power_w() -> float:
    """Power to hover empty (W): what waiting for the truck costs."""
    thrust = _thrust_n(0.0, 0.0)
    return _induced_w(thrust, 0.0) + _profile_w(thrust)


def flight_times_s(uav: UavParams, distance_m: np.ndarray) -> np.ndarray:
    """Total flight time of every leg (s): their `tauprime`."""
    takeoff, cruise, landing = leg_times_s(uav, distance_m)
    return takeoff + cruise + landing


def endurance_s(uav: UavParams, distance_m: np.ndarray, parcel_lb: np.ndarray) -> np.ndarray:
    """Endurance [launch, customer, recovery] (s) of every sortie; -1 where the battery cannot fly it.

    `distance_m` is the pairwise distance of the nodes (node 0 = depot); `parcel_lb` the parcel
    weight per node. Customers heavier than the UAV's capacity get -1 everywhere (truck only).
    """
    distance = np.asarray(distance_m, dtype=float)
    weights_lb = np.asarray(parcel_lb, dtype=float)
    size = distance.shape[0]
    if distance.shape != (size, size) or weights_lb.shape != (size,):
        raise EnergyError(
            f"distance_m must be square and parcel_lb one per node, got {distance.shape}, {weights_lb.shape}"
        )
    takeoff, cruise, landing = leg_times_s(uav, distance)
    empty = phase_powers_w(uav, 0.0)
    energy_back = takeoff * empty[0] + cruise * empty[1] + landing * empty[2]  # [j, k], flying empty
    time_leg = takeoff + cruise + landing
    result = np.full((size, size, size), -1.0)
    hover = hover_power_w()
    for j in range(1, size):
        if weights_lb[j] > uav.capacity_lb or weights_lb[j] < 0:
            continue
        loaded = phase_powers_w(uav, weights_lb[j] * POUND_KG)
        energy_out = takeoff[:, j] * loaded[0] + cruise[:, j] * loaded[1] + landing[:, j] * loaded[2]  # [i]
        energy = energy_out[:, None] + energy_back[j][None, :]  # [i, k]
        minimum = time_leg[:, j][:, None] + uav.service_s + time_leg[j][None, :]
        left = uav.battery_j - energy
        result[:, j, :] = np.where(left >= 0, minimum + left / hover, -1.0)
    return result

"""Point-mass multirotor kinematics: position control with speed, climb and acceleration limits, wind.

Positions are metres east/north of home and metres above home (`alt_m`). The position controller
is the part ArduCopter's WPNAV/PSC would do: it flies at most `speed_m_s` horizontally, climbs at
`climb_m_s`, descends at `descent_m_s`, never accelerates faster than `accel_m_s2`, and slows down
so that it stops on the target (v = sqrt(2·a·d)), or passes it at the speed of the corner to the
next leg when a mission flies through it (`corner_speed_m_s`). Wind does not move a position-controlled
vehicle (the controller holds the track) but sets the airspeed the energy model sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_378_137.0


@dataclass(frozen=True)
class Limits:
    """Controller limits, SI units."""

    speed_m_s: float = 10.0
    climb_m_s: float = 2.5
    descent_m_s: float = 1.5
    accel_m_s2: float = 2.5


@dataclass
class Kinematics:
    """Vehicle state in the home-centred local frame."""

    x_m: float = 0.0
    y_m: float = 0.0
    alt_m: float = 0.0
    vx_m_s: float = 0.0
    vy_m_s: float = 0.0
    vz_m_s: float = 0.0  # positive up
    heading_deg: float = 0.0

    @property
    def ground_speed_m_s(self) -> float:
        """Horizontal speed over the ground."""
        return math.hypot(self.vx_m_s, self.vy_m_s)

    def airspeed_m_s(self, wind_east_m_s: float, wind_north_m_s: float) -> float:
        """Horizontal airspeed given the wind vector (the direction the air moves to)."""
        return math.hypot(self.vx_m_s - wind_east_m_s, self.vy_m_s - wind_north_m_s)

    def stop(self) -> None:
        """Zero all velocities (on the ground)."""
        self.vx_m_s = self.vy_m_s = self.vz_m_s = 0.0


def wind_vector(speed_m_s: float, from_direction_deg: float) -> tuple[float, float]:
    """(east, north) velocity of the air for a wind blowing FROM `from_direction_deg` (as SITL's SIM_WIND_DIR)."""
    to_rad = math.radians(from_direction_deg + 180.0)
    return speed_m_s * math.sin(to_rad), speed_m_s * math.cos(to_rad)


def _approach(current: float, desired: float, max_step: float) -> float:
    if desired > current + max_step:
        return current + max_step
    if desired < current - max_step:
        return current - max_step
    return desired


def step_towards(
    state: Kinematics,
    target_x_m: float,
    target_y_m: float,
    target_alt_m: float,
    limits: Limits,
    dt_s: float,
    descent_m_s: float | None = None,
    pass_speed_m_s: float = 0.0,
) -> None:
    """Advance `state` by `dt_s` towards the target point under `limits` (arrives without overshoot).

    `pass_speed_m_s`: the horizontal speed it may still have at the target (a waypoint flown through to the next
    one, see `corner_speed_m_s`); it slows down to that speed, not to a stop.

    A target that is both away and higher or lower is approached along the straight 3-D line, as
    ArduCopter's waypoint controller tracks the leg: the horizontal speed is held down so that the
    climb or descent it needs stays within the vertical limit, and the vertical speed follows the
    horizontal progress (a terrain-following leg stays on its line instead of climbing or sinking
    first). A landing (`descent_m_s` given) descends on its own.
    """
    dx = target_x_m - state.x_m
    dy = target_y_m - state.y_m
    distance = math.hypot(dx, dy)
    accel = max(0.1, limits.accel_m_s2)
    dz = target_alt_m - state.alt_m
    down = descent_m_s if descent_m_s is not None else limits.descent_m_s
    on_line = descent_m_s is None and distance > 1e-3 and abs(dz) > 0.05
    if distance > 1e-3:
        speed = min(limits.speed_m_s, math.sqrt(pass_speed_m_s**2 + 2.0 * accel * distance))
        if on_line:
            speed = min(speed, (limits.climb_m_s if dz > 0 else down) * distance / abs(dz))
        want_vx, want_vy = dx / distance * speed, dy / distance * speed
    else:
        want_vx = want_vy = 0.0
    dv = accel * dt_s
    dvx, dvy = want_vx - state.vx_m_s, want_vy - state.vy_m_s
    dv_norm = math.hypot(dvx, dvy)
    if dv_norm > dv:
        dvx, dvy = dvx / dv_norm * dv, dvy / dv_norm * dv
    state.vx_m_s += dvx
    state.vy_m_s += dvy
    step_x, step_y = state.vx_m_s * dt_s, state.vy_m_s * dt_s
    if math.hypot(step_x, step_y) >= distance and math.hypot(state.vx_m_s, state.vy_m_s) <= 2.0 * dv:
        # Would pass the target within this step at a speed it can shed: land on it (the final capture).
        # Faster (a target set behind a fast vehicle) it brakes at the limit instead of stopping dead.
        state.x_m, state.y_m = target_x_m, target_y_m
        if distance < 0.05:
            state.vx_m_s = state.vy_m_s = 0.0
    else:
        state.x_m += step_x
        state.y_m += step_y
    if state.ground_speed_m_s > 0.5:
        state.heading_deg = math.degrees(math.atan2(state.vx_m_s, state.vy_m_s)) % 360.0

    if on_line:
        # the slope of the line at the horizontal speed flown this step (still within the vertical limit)
        want_vz = max(-down, min(limits.climb_m_s, dz / distance * math.hypot(state.vx_m_s, state.vy_m_s)))
    else:
        want_vz = min(limits.climb_m_s, math.sqrt(2.0 * accel * dz)) if dz > 0 else -min(
            down, math.sqrt(2.0 * accel * -dz)
        )
    state.vz_m_s = _approach(state.vz_m_s, want_vz, dv)
    step_z = state.vz_m_s * dt_s
    if abs(step_z) >= abs(dz):
        state.alt_m = target_alt_m
        if abs(dz) < 0.05:
            state.vz_m_s = 0.0
    else:
        state.alt_m += step_z


def corner_speed_m_s(start: tuple[float, float, float], corner: tuple[float, float, float],
                     after: tuple[float, float, float], limits: Limits) -> float:
    """Horizontal speed at `corner` when flying start -> corner -> after without stopping there.

    ArduCopter does not stop at a waypoint followed by another (ModeAuto::set_next_wp gives the position controller
    the next leg, AC_WPNav blends the two S-curves as the first brakes): the speed through the corner is that of
    the slower leg (a steep leg is slowed so that its climb or descent keeps within the vertical limit) times
    cos(turn/2), as two legs blended half and half give; a reversal, or a next leg with no length, stops.
    """
    speeds = []
    headings = []
    for (x0, y0, z0), (x1, y1, z1) in ((start, corner), (corner, after)):
        run = math.hypot(x1 - x0, y1 - y0)
        if run < 1.0:
            return 0.0
        rise = z1 - z0
        vertical = limits.climb_m_s if rise > 0 else limits.descent_m_s
        speeds.append(min(limits.speed_m_s, vertical * run / abs(rise)) if abs(rise) > 0.05 else limits.speed_m_s)
        headings.append(math.atan2(y1 - y0, x1 - x0))
    turn = abs((headings[1] - headings[0] + math.pi) % (2.0 * math.pi) - math.pi)
    return min(speeds) * max(0.0, math.cos(turn / 2.0))


def stopping_point(state: Kinematics, limits: Limits) -> tuple[float, float]:
    """Where the vehicle comes to rest braking at the acceleration limit (ArduPilot's wp stopping point)."""
    speed = state.ground_speed_m_s
    if speed < 1e-3:
        return state.x_m, state.y_m
    distance = speed * speed / (2.0 * max(0.1, limits.accel_m_s2))
    return state.x_m + state.vx_m_s / speed * distance, state.y_m + state.vy_m_s / speed * distance


def brake(state: Kinematics, limits: Limits, dt_s: float) -> None:
    """Decelerate horizontally and vertically at the acceleration limit (BRAKE mode)."""
    dv = max(0.1, limits.accel_m_s2) * 2.0 * dt_s
    speed = state.ground_speed_m_s
    if speed <= dv:
        state.vx_m_s = state.vy_m_s = 0.0
    else:
        scale = (speed - dv) / speed
        state.vx_m_s *= scale
        state.vy_m_s *= scale
    state.vz_m_s = _approach(state.vz_m_s, 0.0, dv)
    state.x_m += state.vx_m_s * dt_s
    state.y_m += state.vy_m_s * dt_s
    state.alt_m += state.vz_m_s * dt_s


@dataclass(frozen=True)
class GeoOrigin:
    """Home as WGS84 plus a flat-earth conversion to and from the local frame (exact to cm over km)."""

    latitude_deg: float
    longitude_deg: float
    altitude_amsl_m: float

    def to_local(self, latitude_deg: float, longitude_deg: float) -> tuple[float, float]:
        """(x_m east, y_m north) of a WGS84 point relative to this origin."""
        y_m = math.radians(latitude_deg - self.latitude_deg) * EARTH_RADIUS_M
        x_m = (
            math.radians(longitude_deg - self.longitude_deg)
            * EARTH_RADIUS_M
            * math.cos(math.radians(self.latitude_deg))
        )
        return x_m, y_m

    def to_wgs84(self, x_m: float, y_m: float) -> tuple[float, float]:
        """(latitude_deg, longitude_deg) of a local point."""
        latitude_deg = self.latitude_deg + math.degrees(y_m / EARTH_RADIUS_M)
        longitude_deg = self.longitude_deg + math.degrees(
            x_m / (EARTH_RADIUS_M * math.cos(math.radians(self.latitude_deg)))
        )
        return latitude_deg, longitude_deg

"""What the position controller is doing now: hold, go to, take off, land, return home, brake.

`Nav` is the controller's target; `advance` moves the kinematics one step towards it and says
what happened (arrived, touched down). No MAVLink here.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from sim_worlds.mavsim.physics import Kinematics, Limits, brake, step_towards, stopping_point


class NavKind(enum.Enum):
    """The controller's task."""

    IDLE = "idle"  # on the ground, motors idle or off
    HOLD = "hold"
    GOTO = "goto"
    TAKEOFF = "takeoff"
    LAND = "land"
    RTL = "rtl"
    BRAKE = "brake"


class RtlPhase(enum.Enum):
    """RTL's stages as ArduCopter flies them."""

    CLIMB = "climb"
    RETURN = "return"
    LOITER = "loiter"
    DESCEND = "descend"


@dataclass
class Nav:
    """A controller target in the home frame (metres)."""

    kind: NavKind = NavKind.IDLE
    x_m: float = 0.0
    y_m: float = 0.0
    alt_m: float = 0.0
    rtl_phase: RtlPhase = RtlPhase.CLIMB
    loiter_until_s: float = 0.0
    # the fence path planner's next point on the way (avoidance.py), flown to instead of the target itself
    via: tuple[float, float] | None = None
    # a mission waypoint flown through to the next one (ArduCopter's "fast waypoint"): the horizontal speed it keeps
    # at the target, where it counts as reached once within WPNAV_RADIUS (or the distance of one step)
    pass_speed_m_s: float = 0.0


@dataclass(frozen=True)
class FlightSettings:
    """Parameter-derived numbers guidance needs (SI units)."""

    limits: Limits
    arrive_radius_m: float
    rtl_alt_m: float
    rtl_loiter_s: float
    land_speed_m_s: float
    land_speed_high_m_s: float
    # RTL_ALT_TYPE 1 with TERRAIN_ENABLE 1 and terrain data: RTL holds its altitude above the ground under it
    rtl_terrain: bool = False
    terrain_margin_m: float = 10.0  # WPNAV_TER_MARGIN: the height error at which terrain following stops moving on


@dataclass
class StepResult:
    """What happened during one `advance`."""

    arrived: bool = False
    touched_down: bool = False


def land_descent_m_s(height_m: float, settings: FlightSettings) -> float:
    """ArduCopter's landing speed: LAND_SPEED_HIGH (or WPNAV_SPEED_DN) more than 10 m above the ground, LAND_SPEED
    below."""
    return settings.land_speed_high_m_s if height_m > 10.0 else settings.land_speed_m_s


def advance(nav: Nav, state: Kinematics, settings: FlightSettings, now_s: float, dt_s: float,
            ground_alt_m: float = 0.0) -> StepResult:
    """Move `state` one step under `nav`; RTL advances through its phases by itself.

    `ground_alt_m`: the ground under the vehicle, metres above home (0 on flat ground). A landing descends
    until it touches that ground, as ArduCopter's land detector stops a descent on whatever ground is there:
    a van-launched drone landing at a later van stop higher or lower than its launch point (home) touches
    down on that stop's ground, not at home's altitude.
    """
    result = StepResult()
    limits = settings.limits
    if nav.kind is NavKind.IDLE:
        state.stop()
        return result
    if nav.kind is NavKind.BRAKE:
        brake(state, limits, dt_s)
    elif nav.kind is NavKind.GOTO and nav.via is not None:
        step_towards(state, nav.via[0], nav.via[1], nav.alt_m, limits, dt_s)
    elif nav.kind in (NavKind.HOLD, NavKind.GOTO, NavKind.TAKEOFF):
        passing = nav.pass_speed_m_s if nav.kind is NavKind.GOTO else 0.0
        step_towards(state, nav.x_m, nav.y_m, nav.alt_m, limits, dt_s, pass_speed_m_s=passing)
        horizontal = math.hypot(nav.x_m - state.x_m, nav.y_m - state.y_m)
        radius_m = max(settings.arrive_radius_m, state.ground_speed_m_s * dt_s) if passing else settings.arrive_radius_m
        if nav.kind is NavKind.TAKEOFF:
            result.arrived = state.alt_m >= nav.alt_m - 0.1
        else:
            result.arrived = horizontal <= radius_m and abs(nav.alt_m - state.alt_m) < 1.0
    elif nav.kind is NavKind.LAND:
        _descend(nav, state, settings, dt_s, result, ground_alt_m)
    elif nav.kind is NavKind.RTL:
        _rtl(nav, state, settings, now_s, dt_s, result, ground_alt_m)
    return result


def _descend(nav: Nav, state: Kinematics, settings: FlightSettings, dt_s: float, result: StepResult,
             ground_alt_m: float) -> None:
    step_towards(state, nav.x_m, nav.y_m, ground_alt_m - 1.0, settings.limits, dt_s,
                 descent_m_s=land_descent_m_s(state.alt_m - ground_alt_m, settings))
    if state.alt_m <= ground_alt_m:
        state.alt_m = ground_alt_m
        state.stop()
        result.touched_down = True


def _rtl(nav: Nav, state: Kinematics, settings: FlightSettings, now_s: float, dt_s: float,
         result: StepResult, ground_alt_m: float) -> None:
    if settings.rtl_terrain and nav.rtl_phase is not RtlPhase.DESCEND:
        _rtl_terrain(nav, state, settings, now_s, dt_s, ground_alt_m)
    elif nav.rtl_phase is RtlPhase.CLIMB:
        step_towards(state, nav.x_m, nav.y_m, nav.alt_m, settings.limits, dt_s)
        if state.alt_m >= nav.alt_m - 0.2:
            nav.rtl_phase = RtlPhase.RETURN
            nav.x_m = nav.y_m = 0.0
    elif nav.rtl_phase is RtlPhase.RETURN:
        step_towards(state, *(nav.via or (0.0, 0.0)), nav.alt_m, settings.limits, dt_s)
        if nav.via is None and math.hypot(state.x_m, state.y_m) <= 0.2 and state.ground_speed_m_s < 0.3:
            nav.rtl_phase = RtlPhase.LOITER
            nav.loiter_until_s = now_s + settings.rtl_loiter_s
    elif nav.rtl_phase is RtlPhase.LOITER:
        step_towards(state, 0.0, 0.0, nav.alt_m, settings.limits, dt_s)
        if now_s >= nav.loiter_until_s:
            nav.rtl_phase = RtlPhase.DESCEND
    else:
        _descend(nav, state, settings, dt_s, result, ground_alt_m)


def _rtl_terrain(nav: Nav, state: Kinematics, settings: FlightSettings, now_s: float, dt_s: float,
                 ground_alt_m: float) -> None:
    """Climb, return and loiter with `nav.alt_m` meaning metres above the ground under the vehicle (RTL_ALT_TYPE 1).

    The altitude target moves with the ground; the horizontal speed is scaled down as the height error grows
    and is zero at WPNAV_TER_MARGIN, as ArduCopter's waypoint controller does when it follows terrain
    (AC_WPNav: pos_offset_z_scaler), so a steep slope is climbed before the vehicle flies into it.
    """
    target_alt_m = ground_alt_m + nav.alt_m
    limits = settings.limits
    if nav.rtl_phase is RtlPhase.CLIMB:
        step_towards(state, nav.x_m, nav.y_m, target_alt_m, limits, dt_s)
        if state.alt_m >= target_alt_m - 0.2:
            nav.rtl_phase = RtlPhase.RETURN
            nav.x_m = nav.y_m = 0.0
        return
    scaler = max(0.0, 1.0 - abs(target_alt_m - state.alt_m) / max(0.1, settings.terrain_margin_m))
    slowed = Limits(speed_m_s=limits.speed_m_s * scaler, climb_m_s=limits.climb_m_s,
                    descent_m_s=limits.descent_m_s, accel_m_s2=limits.accel_m_s2)
    # the vertical target is the ground's, not a point at the end of the leg: height and distance apart
    toward = nav.via if nav.rtl_phase is RtlPhase.RETURN and nav.via is not None else (0.0, 0.0)
    step_towards(state, *toward, target_alt_m, slowed, dt_s, descent_m_s=limits.descent_m_s)
    if nav.rtl_phase is RtlPhase.RETURN:
        if nav.via is None and math.hypot(state.x_m, state.y_m) <= 0.2 and state.ground_speed_m_s < 0.3:
            nav.rtl_phase = RtlPhase.LOITER
            nav.loiter_until_s = now_s + settings.rtl_loiter_s
    elif now_s >= nav.loiter_until_s:
        nav.rtl_phase = RtlPhase.DESCEND


def rtl_nav(state: Kinematics, settings: FlightSettings, ground_alt_m: float = 0.0) -> Nav:
    """Start an RTL from where the vehicle is: climb to RTL_ALT first if lower (ArduCopter's rule), over the
    point where it can stop (so a fast vehicle brakes at the acceleration limit, as ArduCopter does).

    With terrain (`settings.rtl_terrain`) the return altitude is above the ground: the higher of RTL_ALT and
    the vehicle's height above `ground_alt_m` (the ground under it, metres above home), as ArduCopter's
    `ModeRTL::compute_return_target` takes it in the terrain frame.
    """
    x_m, y_m = stopping_point(state, settings.limits)
    if settings.rtl_terrain:
        return Nav(NavKind.RTL, x_m, y_m, max(state.alt_m - ground_alt_m, settings.rtl_alt_m), RtlPhase.CLIMB)
    return Nav(NavKind.RTL, x_m, y_m, max(state.alt_m, settings.rtl_alt_m), RtlPhase.CLIMB)

"""Planner output -> adapter `Mission`s: drone trips along the planner's safe 3-D paths, robot and van tours.

Pure functions (no I/O): the dispatcher calls them with planner results and sends what they
return through the adapters. Missions are also stored as JSON (`mission_steps_json`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from mission_planner.drone_paths import DronePath
from mission_planner.errors import FinalMileError
from mission_planner.geodesy import LocalFrame
from mission_planner.plan import Leg, LegKind

from .adapters.base import Mission, MissionStep, StepKind


@dataclass(frozen=True)
class Stop:
    """A delivery stop: the order and where the parcel is handed over (WGS84)."""

    order_id: str
    latitude_deg: float
    longitude_deg: float


class MissionBuildError(FinalMileError):
    """A planned route cannot be turned into an adapter mission (unsupported leg kind, empty trip)."""


def trip_order_ids(legs: Sequence[Leg]) -> tuple[str, ...]:
    """Orders handed over on a trip, in delivery order."""
    return tuple(o for leg in legs if leg.kind is LegKind.DROPOFF for o in leg.order_ids)


def _check_legs(legs: Sequence[Leg]) -> None:
    for leg in legs:
        if leg.kind in (LegKind.LAUNCH, LegKind.RECOVERY, LegKind.WAIT):
            raise MissionBuildError(
                f"leg kind {leg.kind.value!r} of {leg.vehicle_id} (van-carried vehicles) has no adapter mission yet"
            )
    if not trip_order_ids(legs):
        raise MissionBuildError(f"trip of {legs[0].vehicle_id if legs else '?'} delivers nothing")


def _target(leg: Leg, frame: LocalFrame) -> tuple[float, float]:
    if leg.to_latitude_deg is not None and leg.to_longitude_deg is not None:
        return leg.to_latitude_deg, leg.to_longitude_deg
    return frame.to_wgs84(*leg.to_xy_m)


TAKEOFF_CEILING_M = 110.0  # above the take-off ground: the terrain band's 120 m less the planner's 10 m vertical margin


def drone_trip(
    mission_id: str,
    legs: Sequence[Leg],
    frame: LocalFrame,
    *,
    cruise_altitude_m: float,
    cruise_speed_m_s: float | None = None,
    release_altitude_m: float = 3.0,
    home_ground_m: float | None = None,
) -> Mission:
    """One planned drone trip: take off, fly each leg's 3-D corners (around zones), deliver, fly home, land.

    The planner's leg waypoints are climb column, cruise corners, descent column; the corners
    (with their altitudes) become GOTO steps, the drop point a DELIVER step, the way home RETURN.
    `home_ground_m`: the ground (m above sea level) where the drone arms, when that is not where its
    first leg starts (a van-launched drone arms where the van stands, not at the planner's stop point).
    """
    _check_legs(legs)
    flown = [leg for leg in legs if leg.kind in (LegKind.DROPOFF, LegKind.RETURN)]
    # Over terrain, waypoints are heights above the ground under them; the autopilot flies altitudes
    # relative to home (MAV_FRAME_GLOBAL_RELATIVE_ALT, see docs/architecture.md), so each becomes its
    # elevation minus the ground at home (where the trip takes off). Flat worlds: ground 0, unchanged.
    home_ground_m = _home_ground_m(flown, home_ground_m)
    cruise = [w.elevation_m - home_ground_m for leg in flown for w in leg.waypoints[1:-1]]
    # The take-off climbs straight up where the drone arms; a van stands at the kerb, which can lie metres below
    # the planner's stop point, so the first corner's altitude (up to the 120 m ceiling above the stop point) may
    # be above the ceiling there: climb to below it and make the rest of the climb on the way to that corner.
    takeoff_m = min(cruise[0], TAKEOFF_CEILING_M) if cruise else cruise_altitude_m
    steps: list[MissionStep] = [MissionStep(StepKind.TAKEOFF, altitude_m=takeoff_m)]
    for leg in flown:
        corners = leg.waypoints[1:-1]
        for waypoint in corners:
            latitude_deg, longitude_deg = frame.to_wgs84(waypoint.x_m, waypoint.y_m)
            steps.append(MissionStep(StepKind.GOTO, latitude_deg, longitude_deg,
                                     altitude_m=waypoint.elevation_m - home_ground_m,
                                     ground_above_home_m=waypoint.ground_elevation_m - home_ground_m))
        if leg.kind is LegKind.DROPOFF:
            latitude_deg, longitude_deg = _target(leg, frame)
            altitude_m = corners[-1].elevation_m - home_ground_m if corners else takeoff_m
            door_ground_m = (leg.waypoints[-1].ground_elevation_m - home_ground_m) if leg.waypoints else 0.0
            for order_id in leg.order_ids:
                steps.append(
                    MissionStep(
                        StepKind.DELIVER,
                        latitude_deg,
                        longitude_deg,
                        altitude_m=altitude_m,
                        order_id=order_id,
                        release_altitude_m=release_altitude_m,
                        ground_above_home_m=door_ground_m,
                        confirm_release=True,  # hover over the door until the recipient is known to be there
                    )
                )
    steps.append(MissionStep(StepKind.RETURN))
    return Mission(mission_id, tuple(steps), cruise_speed_m_s=cruise_speed_m_s)


def _home_ground_m(flown: Sequence[Leg], home_ground_m: float | None) -> float:
    """The ground (m above sea level) a trip's altitudes are relative to: `home_ground_m`, else under the start of its
    first flown leg (0 in flat worlds)."""
    if home_ground_m is not None:
        return home_ground_m
    return flown[0].waypoints[0].ground_elevation_m if flown and flown[0].waypoints else 0.0


def carried_drone_trip(
    mission_id: str,
    legs: Sequence[Leg],
    frame: LocalFrame,
    *,
    cruise_altitude_m: float,
    cruise_speed_m_s: float | None = None,
    land_at: tuple[float, float] | None = None,
    home_ground_m: float | None = None,
    land_ground_m: float | None = None,
) -> Mission:
    """A van-launched drone trip (LAUNCH, DROPOFF, RECOVERY) as a drone mission.

    Arming resets home to the launch point: where the van stands at its launch stop, whose ground
    (`home_ground_m`, m above sea level; None: the planner's stop point's) the altitudes are relative to.
    Recovered at the launch stop (`land_at` None), the way back is the RECOVERY leg's corners then
    RETURN. Recovered at a later stop, the drone flies the RECOVERY leg's corners and lands at
    `land_at` (lat, lon): where the van will stand at that stop, so the van can take it aboard there.
    A later-stop recovery without `land_at` is a MissionBuildError. The LAND step carries the ground there
    (`land_ground_m`, m above sea level; None: under the end of the RECOVERY leg) above home's, as every waypoint
    carries its own: the stop may stand hundreds of metres above or below the launch stop, and the battery check
    prices the landing from the drone's height above that ground, not above home.
    """
    launch = next((leg for leg in legs if leg.kind is LegKind.LAUNCH), None)
    recovery = next((leg for leg in legs if leg.kind is LegKind.RECOVERY), None)
    if launch is None or recovery is None:
        raise MissionBuildError(f"carried trip of {legs[0].vehicle_id if legs else '?'} lacks a LAUNCH or RECOVERY leg")
    if recovery.to_xy_m != launch.from_xy_m and land_at is None:
        raise MissionBuildError(
            f"carried trip of {launch.vehicle_id}: recovery at {recovery.to_xy_m} differs from launch at "
            f"{launch.from_xy_m} and no landing point at the van's recovery stop was given"
        )
    flown = [replace(leg, kind=LegKind.RETURN) if leg.kind is LegKind.RECOVERY else leg
             for leg in legs if leg.kind is not LegKind.LAUNCH]
    mission = drone_trip(mission_id, flown, frame, cruise_altitude_m=cruise_altitude_m,
                         cruise_speed_m_s=cruise_speed_m_s, home_ground_m=home_ground_m)
    if land_at is None:
        return mission
    # The RETURN (to the launch stop, long left behind) becomes a landing beside the van's later stop.
    if land_ground_m is None:
        land_ground_m = recovery.waypoints[-1].ground_elevation_m if recovery.waypoints else 0.0
    ground_above_home_m = land_ground_m - _home_ground_m(flown, home_ground_m)
    landing = MissionStep(StepKind.LAND, land_at[0], land_at[1], ground_above_home_m=ground_above_home_m)
    return replace(mission, steps=(*mission.steps[:-1], landing))


def carried_drone_ends(
    steps: Sequence[MissionStep],
) -> tuple[tuple[float, float, float] | None, tuple[float, float] | None]:
    """A `carried_drone_trip` mission's two ends: its first waypoint (lat, lon, ground above home: the top of the
    climb above where the van launched it) and its closing LAND beside the van at a later stop (lat, lon; None
    when it comes back to its launch point)."""
    first = next(((s.latitude_deg, s.longitude_deg, s.ground_above_home_m) for s in steps
                  if s.kind is StepKind.GOTO and s.latitude_deg is not None and s.longitude_deg is not None), None)
    last = steps[-1] if steps else None
    if last is None or last.kind is not StepKind.LAND or last.latitude_deg is None or last.longitude_deg is None:
        return first, None
    return first, (last.latitude_deg, last.longitude_deg)


def carried_robot_trip(
    mission_id: str,
    legs: Sequence[Leg],
    kerb: Callable[[tuple[float, float]], tuple[float, float]],
    *,
    meet_at: tuple[float, float],
    cruise_speed_m_s: float | None = None,
) -> Mission:
    """A van-launched robot trip (LAUNCH, DROPOFF, RECOVERY): to the door (`kerb(xy)` on its footpaths), then to
    `meet_at` (lat, lon), where the van stands at its recovery stop (the same stop or a later one)."""
    if not any(leg.kind is LegKind.LAUNCH for leg in legs) or not any(leg.kind is LegKind.RECOVERY for leg in legs):
        raise MissionBuildError(f"carried trip of {legs[0].vehicle_id if legs else '?'} lacks a LAUNCH or RECOVERY leg")
    stops = [MissionStep(StepKind.DELIVER, *kerb(leg.to_xy_m), order_id=order_id, confirm_release=True)
             for leg in legs if leg.kind is LegKind.DROPOFF for order_id in leg.order_ids]
    if not stops:
        raise MissionBuildError(f"trip of {legs[0].vehicle_id} delivers nothing")
    return Mission(mission_id, (*stops, MissionStep(StepKind.GOTO, *meet_at)), cruise_speed_m_s=cruise_speed_m_s)


def with_waits_after(mission: Mission, waits_s: Mapping[str, float]) -> tuple[Mission, dict[str, int]]:
    """The mission with a WAIT of `waits_s[order]` right after the DELIVER of each named order, and the new index
    of each of those DELIVER steps (its WAIT is the next step). The van launches and recovers what it carries
    during these WAITs (the plan's launch and recovery times)."""
    steps: list[MissionStep] = []
    deliver_index: dict[str, int] = {}
    for step in mission.steps:
        steps.append(step)
        order_id = step.order_id
        if step.kind is StepKind.DELIVER and isinstance(order_id, str) and order_id in waits_s \
                and order_id not in deliver_index:
            deliver_index[order_id] = len(steps) - 1
            steps.append(MissionStep(StepKind.WAIT, duration_s=max(0.0, waits_s[order_id])))
    missing = sorted(set(waits_s) - set(deliver_index))
    if missing:
        raise MissionBuildError(f"mission {mission.mission_id} has no DELIVER step for {', '.join(missing)}")
    return replace(mission, steps=tuple(steps)), deliver_index


def ground_trip(
    mission_id: str,
    legs: Sequence[Leg],
    kerb: Callable[[tuple[float, float]], tuple[float, float]],
    *,
    cruise_speed_m_s: float | None = None,
    confirm_release: bool = False,
) -> Mission:
    """One planned robot/van trip: deliver at the kerb point of each DROPOFF (`kerb(xy) -> lat, lon`), then home.

    `confirm_release` (robots): each door waits for the fleet manager's decision before the compartment opens."""
    _check_legs(legs)
    stops = [Stop(order_id, *kerb(leg.to_xy_m)) for leg in legs if leg.kind is LegKind.DROPOFF
             for order_id in leg.order_ids]
    return ground_tour(mission_id, stops, cruise_speed_m_s=cruise_speed_m_s, confirm_release=confirm_release)


def drone_reroute(
    mission_id: str,
    remaining_stop: Stop | None,
    to_stop: DronePath | None,
    home_path: DronePath,
    frame: LocalFrame,
    *,
    cruise_speed_m_s: float | None = None,
    home_ground_m: float | None = None,
    land_at: tuple[float, float] | None = None,
) -> Mission:
    """A mission for a drone already in the air: (safe path to its pending drop and deliver,) then home.

    Over terrain (paths `above_sea_level`) altitudes are relative to the ground at home: the end of `home_path`,
    unless `home_ground_m` (m above sea level) says otherwise, as for a van-launched drone whose home is its
    launch stop while `home_path` leads to the van's recovery stop. `land_at` (lat, lon): land there at the end
    of `home_path` instead of returning to home.
    """
    if home_ground_m is None or not home_path.above_sea_level:
        home_ground_m = home_path.waypoints[-1].ground_elevation_m if home_path.above_sea_level else 0.0
    steps: list[MissionStep] = []
    if remaining_stop is not None and to_stop is not None:
        steps += _cruise_steps(to_stop, frame, home_ground_m)
        door = to_stop.waypoints[-1]
        last = to_stop.waypoints[-2] if len(to_stop.waypoints) > 1 else door
        steps.append(
            MissionStep(
                StepKind.DELIVER,
                remaining_stop.latitude_deg,
                remaining_stop.longitude_deg,
                altitude_m=(last.elevation_m - home_ground_m) if to_stop.above_sea_level else to_stop.cruise_altitude_m,
                order_id=remaining_stop.order_id,
                ground_above_home_m=(door.ground_elevation_m - home_ground_m) if to_stop.above_sea_level else 0.0,
                confirm_release=True,
            )
        )
    steps += _cruise_steps(home_path, frame, home_ground_m)
    if land_at is None:
        steps.append(MissionStep(StepKind.RETURN))
    else:  # the ground where it lands, above home's (the battery check's landing: see `carried_drone_trip`)
        land_ground_m = home_path.waypoints[-1].ground_elevation_m - home_ground_m if home_path.above_sea_level else 0.0
        steps.append(MissionStep(StepKind.LAND, *land_at, ground_above_home_m=land_ground_m))
    return Mission(mission_id, tuple(steps), cruise_speed_m_s=cruise_speed_m_s)


def _cruise_steps(path: DronePath, frame: LocalFrame, home_ground_m: float) -> list[MissionStep]:
    # The first and last waypoints are the vertical columns at start and goal; the corners between
    # them are where the path bends around a zone, and the goal column itself is flown to as a GOTO.
    # Over terrain each corner keeps its own height (relative to home); flat paths fly at cruise altitude.
    steps = []
    for waypoint in path.waypoints[1:-1]:
        latitude_deg, longitude_deg = frame.to_wgs84(waypoint.x_m, waypoint.y_m)
        if path.above_sea_level:
            steps.append(MissionStep(StepKind.GOTO, latitude_deg, longitude_deg,
                                     altitude_m=waypoint.elevation_m - home_ground_m,
                                     ground_above_home_m=waypoint.ground_elevation_m - home_ground_m))
        else:
            steps.append(MissionStep(StepKind.GOTO, latitude_deg, longitude_deg, altitude_m=path.cruise_altitude_m))
    return steps


def ground_tour(mission_id: str, stops: Sequence[Stop], *, cruise_speed_m_s: float | None = None,
                confirm_release: bool = False) -> Mission:
    """Robots and vans: deliver at each stop in order, then return to the hub."""
    steps = [MissionStep(StepKind.DELIVER, s.latitude_deg, s.longitude_deg, order_id=s.order_id,
                         confirm_release=confirm_release) for s in stops]
    steps.append(MissionStep(StepKind.RETURN))
    return Mission(mission_id, tuple(steps), cruise_speed_m_s=cruise_speed_m_s)


def mission_steps_json(mission: Mission) -> list[dict[str, Any]]:
    """The steps as JSON-able dicts (what the store and the dashboard show)."""
    return [{**asdict(step), "kind": step.kind.value} for step in mission.steps]


def mission_from_json(mission_id: str, steps: Sequence[Mapping[str, Any]], *,
                      cruise_speed_m_s: float | None = None) -> Mission:
    """A stored mission back as a `Mission` (the inverse of `mission_steps_json`)."""
    return Mission(mission_id, tuple(MissionStep(**{**step, "kind": StepKind(step["kind"])}) for step in steps),
                   cruise_speed_m_s=cruise_speed_m_s)


def delivery_steps(mission: Mission) -> dict[int, str]:
    """Step index -> order id of every DELIVER step."""
    return {
        index: step.order_id
        for index, step in enumerate(mission.steps)
        if step.kind is StepKind.DELIVER and step.order_id is not None
    }

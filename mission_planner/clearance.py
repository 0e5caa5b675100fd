"""Terrain clearance of flown drones: violation episodes from reported positions (the KPI
`terrain_clearance_violations`, counted like `geofence_violations`).

A drone in flight must stay between `min_clearance_m` and `max_clearance_m` above the ground
(30 and 120 m: the planner's hard band, see `mission_planner.drone_paths`). From a sequence of
reported positions (WGS84 and altitude above mean sea level, as GLOBAL_POSITION_INT gives them)
and the world's `ElevationGrid`, each airborne sample is judged:

- **too high**: more than `max_clearance_m` above the ground, anywhere;
- **too low**: less than `min_clearance_m` above the ground *while moving on* — horizontal speed
  above `column_speed_m_s`. Planned paths climb, descend and drop parcels in vertical columns
  (take-off, landing, the drop at a doorstep), which are below the band by design; so a slow
  sample low down is a column, not a violation. Below the ground itself (height < 0) always
  counts, whatever the speed, except a still sample within `ground_tolerance_m` of the ground:
  a drone that touched down away from home (a van-launched drone landing at a later stop, up or
  down the valley from its launch point) stays armed for a moment while standing on that ground,
  and its report (latitude to 1e-7 degrees, altitude to 1 mm) lands a few centimetres either side
  of the elevation model there;
- **outside terrain**: no elevation there, so its clearance cannot be vouched for.

Consecutive offending samples of one vehicle and one kind make one episode; a good sample, a
sample on the ground (`airborne=False`) or another kind ends it. Horizontal speed is the
report's own `ground_speed_m_s` when given, else the distance to the vehicle's previous sample
over the time between them (the next sample for a vehicle's first report).

Pure and deterministic: lists in, list out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from .errors import PlanningError
from .geodesy import LocalFrame
from .terrain import ElevationGrid


class ClearanceKind(StrEnum):
    """How a sample breaks the clearance band."""

    TOO_LOW = "too_low"
    TOO_HIGH = "too_high"
    OUTSIDE_TERRAIN = "outside_terrain"


@dataclass(frozen=True)
class PositionReport:
    """One reported drone position: clock time, WGS84, altitude above mean sea level."""

    at_s: float
    vehicle_id: str
    latitude_deg: float
    longitude_deg: float
    altitude_amsl_m: float
    airborne: bool = True
    ground_speed_m_s: float | None = None


@dataclass(frozen=True)
class ClearanceViolation:
    """One episode: a vehicle out of the band (one kind) from `start_s` to `end_s` (its first and last samples)."""

    vehicle_id: str
    kind: ClearanceKind
    start_s: float
    end_s: float
    samples: int
    worst_height_m: float  # lowest (too low) or highest (too high) height above ground; NaN outside terrain
    worst_latitude_deg: float
    worst_longitude_deg: float


def terrain_clearance_violations(
    reports: Sequence[PositionReport],
    terrain: ElevationGrid,
    frame: LocalFrame,
    *,
    min_clearance_m: float = 30.0,
    max_clearance_m: float = 120.0,
    column_speed_m_s: float = 1.0,
    ground_tolerance_m: float = 0.1,
) -> list[ClearanceViolation]:
    """Violation episodes in `reports` (any order; sorted by time per vehicle), ordered by start time."""
    if not (0.0 <= min_clearance_m < max_clearance_m and math.isfinite(max_clearance_m)):
        raise PlanningError(
            f"clearance band min_clearance_m={min_clearance_m!r} .. max_clearance_m={max_clearance_m!r} is invalid"
        )
    if not (math.isfinite(column_speed_m_s) and column_speed_m_s >= 0):
        raise PlanningError(f"column_speed_m_s must be a finite number >= 0, got {column_speed_m_s!r}")
    if not (math.isfinite(ground_tolerance_m) and ground_tolerance_m >= 0):
        raise PlanningError(f"ground_tolerance_m must be a finite number >= 0, got {ground_tolerance_m!r}")
    for report in reports:
        values = (report.at_s, report.latitude_deg, report.longitude_deg, report.altitude_amsl_m)
        if not all(math.isfinite(v) for v in values):
            raise PlanningError(f"position report of {report.vehicle_id!r} at {report.at_s!r} has a non-finite field")
    by_vehicle: dict[str, list[PositionReport]] = {}
    for report in reports:
        by_vehicle.setdefault(report.vehicle_id, []).append(report)
    episodes: list[ClearanceViolation] = []
    for vehicle_id in sorted(by_vehicle):
        track = sorted(by_vehicle[vehicle_id], key=lambda r: r.at_s)
        episodes.extend(
            _track_episodes(vehicle_id, track, terrain, frame, min_clearance_m, max_clearance_m, column_speed_m_s,
                            ground_tolerance_m)
        )
    return sorted(episodes, key=lambda e: (e.start_s, e.vehicle_id))


def _track_episodes(
    vehicle_id: str,
    track: list[PositionReport],
    terrain: ElevationGrid,
    frame: LocalFrame,
    min_clearance_m: float,
    max_clearance_m: float,
    column_speed_m_s: float,
    ground_tolerance_m: float,
) -> list[ClearanceViolation]:
    latitude = np.array([r.latitude_deg for r in track])
    longitude = np.array([r.longitude_deg for r in track])
    x, y = frame.to_local_many(latitude, longitude)
    covered = terrain.covers(x, y)
    height = np.full(len(track), np.nan)
    if covered.any():
        height[covered] = np.array([r.altitude_amsl_m for r in track])[covered] - terrain.elevation_m(
            x[covered], y[covered]
        )
    speed = _horizontal_speeds(track, x, y)
    kinds: list[ClearanceKind | None] = []
    for i, report in enumerate(track):
        if not report.airborne:
            kinds.append(None)
        elif not covered[i]:
            kinds.append(ClearanceKind.OUTSIDE_TERRAIN)
        elif height[i] > max_clearance_m:
            kinds.append(ClearanceKind.TOO_HIGH)
        elif speed[i] <= column_speed_m_s and -ground_tolerance_m <= height[i] < min_clearance_m:
            kinds.append(None)  # a column, or standing on the ground (to the reports' precision)
        elif height[i] < min_clearance_m:  # moving on low down, or below the ground
            kinds.append(ClearanceKind.TOO_LOW)
        else:
            kinds.append(None)
    episodes = []
    start = 0
    while start < len(track):
        kind = kinds[start]
        end = start
        while end + 1 < len(track) and kinds[end + 1] is kind:
            end += 1
        if kind is not None:
            members = np.arange(start, end + 1)
            if kind is ClearanceKind.TOO_HIGH:
                worst = int(members[np.argmax(height[members])])
            elif kind is ClearanceKind.TOO_LOW:
                worst = int(members[np.argmin(height[members])])
            else:
                worst = start
            episodes.append(
                ClearanceViolation(
                    vehicle_id,
                    kind,
                    track[start].at_s,
                    track[end].at_s,
                    end - start + 1,
                    float(height[worst]),
                    track[worst].latitude_deg,
                    track[worst].longitude_deg,
                )
            )
        start = end + 1
    return episodes


def _horizontal_speeds(track: list[PositionReport], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per sample: the reported ground speed, else the speed from the neighbouring sample (inf if simultaneous)."""
    speeds = np.zeros(len(track))
    for i, report in enumerate(track):
        if report.ground_speed_m_s is not None:
            speeds[i] = report.ground_speed_m_s
            continue
        j = i - 1 if i > 0 else i + 1
        if j >= len(track):
            speeds[i] = 0.0  # a lone sample: no motion seen
            continue
        dt = abs(track[i].at_s - track[j].at_s)
        distance = math.hypot(x[i] - x[j], y[i] - y[j])
        speeds[i] = distance / dt if dt > 0 else (math.inf if distance > 0 else 0.0)
    return speeds

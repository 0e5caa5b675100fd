"""Vertical profile of a cruise polyline over terrain: few straight 3-D legs that stay inside a height band.

Given the horizontal polyline of a drone path, the profile puts a vertex above every corner at
the target height above the ground and adds vertices where a straight leg (straight in altitude
above sea level, as an autopilot flies between two waypoints) would leave the band
``[low_agl_m, high_agl_m]`` above the ground.

Each polyline segment is sampled with `ElevationGrid.ground_profile` (every grid-line crossing,
at most `step_m` apart). From the current vertex, at altitude ``z`` and distance ``s_i`` before
sample ``i`` of ground height ``g_i``, the slopes that keep sample ``i`` in the band form the
interval ``[(g_i + low + e − z)/s_i, (g_i + high − e − z)/s_i]``, ``e`` being the chord error
bound of the sampling (`ElevationGrid.chord_error_m`); a straight leg to sample ``j`` (at the
target height) is admissible when its slope lies in the intersection of the intervals of all
samples up to ``j``. The next vertex is the farthest
admissible sample (greedy), so a vertex is only added where the ground bends. A leg to the next
sample is always admissible (it runs parallel to the chord of the ground at the target height,
and the chord is within ``e`` of the ground), so the profile always exists inside the model.

Pure numpy over an `ElevationGrid`; deterministic.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import PathError, PlanningError, TerrainError
from .terrain import ElevationGrid

_SLOPE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ProfileVertex:
    """A vertex of the cruise profile: local position, ground height (m AMSL) and height above that ground."""

    x_m: float
    y_m: float
    ground_m: float
    height_agl_m: float


def cruise_profile(
    terrain: ElevationGrid,
    polyline: Sequence[tuple[float, float]],
    *,
    target_agl_m: float,
    low_agl_m: float,
    high_agl_m: float,
    step_m: float,
) -> list[ProfileVertex]:
    """Vertices (first above polyline[0], last above polyline[-1]) of a profile that keeps every point of every
    straight leg within [low_agl_m, high_agl_m] above the ground, every vertex at `target_agl_m`.

    PathError when a segment leaves the elevation model; PlanningError when the band cannot hold the
    target height with the sampling's chord error.
    """
    error_m = terrain.chord_error_m(step_m)
    if not (low_agl_m + error_m <= target_agl_m <= high_agl_m - error_m):
        raise PlanningError(
            f"target height {target_agl_m} m is not inside the band {low_agl_m}..{high_agl_m} m above ground "
            f"with the sampling error {error_m:.2f} m (step {step_m} m): widen the band or sample more densely"
        )
    points = [(float(x), float(y)) for x, y in polyline]
    if not points:
        raise PlanningError("a cruise polyline needs at least one point")
    try:
        first_ground = terrain.elevation_at(*points[0])
    except TerrainError as exc:
        raise PathError(f"cannot fly from ({points[0][0]:.1f}, {points[0][1]:.1f}): {exc}") from exc
    vertices = [ProfileVertex(points[0][0], points[0][1], first_ground, target_agl_m)]
    for start, end in itertools.pairwise(points):
        if start == end:
            continue
        try:
            distance_m, ground_m = terrain.ground_profile(start, end, step_m)
        except TerrainError as exc:
            raise PathError(
                f"leg ({start[0]:.1f}, {start[1]:.1f}) -> ({end[0]:.1f}, {end[1]:.1f}) cannot be flown within "
                f"{low_agl_m:g}..{high_agl_m:g} m above ground: {exc}"
            ) from exc
        length_m = float(distance_m[-1])
        for index in _vertex_indices(distance_m, ground_m, target_agl_m, low_agl_m + error_m, high_agl_m - error_m):
            fraction = float(distance_m[index]) / length_m
            vertices.append(
                ProfileVertex(
                    start[0] + (end[0] - start[0]) * fraction,
                    start[1] + (end[1] - start[1]) * fraction,
                    float(ground_m[index]),
                    target_agl_m,
                )
            )
    return vertices


def _vertex_indices(
    distance_m: np.ndarray, ground_m: np.ndarray, target_agl_m: float, low_agl_m: float, high_agl_m: float
) -> list[int]:
    """Sample indices (after 0, ending with the last) where the greedy profile puts its vertices."""
    last = len(distance_m) - 1
    anchor = 0
    chosen: list[int] = []
    while anchor < last:
        z = ground_m[anchor] + target_agl_m
        run = distance_m[anchor + 1 :] - distance_m[anchor]
        lowest = np.maximum.accumulate((ground_m[anchor + 1 :] + low_agl_m - z) / run)
        highest = np.minimum.accumulate((ground_m[anchor + 1 :] + high_agl_m - z) / run)
        slope = (ground_m[anchor + 1 :] + target_agl_m - z) / run
        admissible = (slope >= lowest - _SLOPE_TOLERANCE) & (slope <= highest + _SLOPE_TOLERANCE)
        open_window = lowest <= highest + _SLOPE_TOLERANCE
        # beyond the first sample where no slope fits every sample so far, no later vertex can be reached
        closed = np.flatnonzero(~open_window)
        reach = admissible[: closed[0]] if len(closed) else admissible
        step = int(np.flatnonzero(reach)[-1]) + 1 if reach.any() else 1
        anchor += step
        chosen.append(anchor)
    return chosen

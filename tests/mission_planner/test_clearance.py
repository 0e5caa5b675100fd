"""Terrain clearance KPI: violation episodes from reported positions (WGS84 + altitude above sea level)."""

from __future__ import annotations

import itertools
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from fleet_manager.world.terrain import load_terrain
from mission_planner.airspace import Airspace
from mission_planner.clearance import ClearanceKind, PositionReport, terrain_clearance_violations
from mission_planner.drone_paths import DronePath, DronePathPlanner
from mission_planner.errors import PlanningError
from mission_planner.geodesy import LocalFrame
from mission_planner.terrain import ElevationGrid

FRAME = LocalFrame.at(42.5, 1.5)
# a slope rising 20 % eastwards from 1,000 m, 2 km x 1 km around the origin
EAST_M = np.arange(-1000.0, 1001.0, 50.0)
TERRAIN = ElevationGrid.aligned(-1000.0, -500.0, 50.0, np.tile(1000.0 + 0.2 * (EAST_M + 1000.0), (21, 1)))


def ground(x_m: float) -> float:
    return 1000.0 + 0.2 * (x_m + 1000.0)


def report(at_s: float, x_m: float, height_m: float, vehicle: str = "drone-1", **kwargs: object) -> PositionReport:
    """A report at local (x_m, 0) flying `height_m` above the slope."""
    latitude_deg, longitude_deg = FRAME.to_wgs84(x_m, 0.0)
    return PositionReport(at_s, vehicle, latitude_deg, longitude_deg, ground(x_m) + height_m, **kwargs)  # type: ignore[arg-type]


def cruise(heights: list[float], *, start_s: float = 0.0, vehicle: str = "drone-1") -> list[PositionReport]:
    """One report a second, moving east at 10 m/s, at the given heights above the ground."""
    return [report(start_s + i, -800.0 + 10.0 * i, h, vehicle) for i, h in enumerate(heights)]


def test_a_flight_inside_the_band_has_no_violation() -> None:
    assert terrain_clearance_violations(cruise([60.0] * 30 + [35.0, 115.0, 60.0]), TERRAIN, FRAME) == []


def test_a_dip_and_a_climb_out_of_the_band_are_one_episode_each() -> None:
    """Consecutive low samples are one episode (with its worst height); a later high stretch is another."""
    violations = terrain_clearance_violations(
        cruise([60, 60, 25, 18, 22, 60, 60, 125, 130, 60]), TERRAIN, FRAME
    )
    assert [(v.kind, v.samples, v.start_s, v.end_s) for v in violations] == [
        (ClearanceKind.TOO_LOW, 3, 2.0, 4.0),
        (ClearanceKind.TOO_HIGH, 2, 7.0, 8.0),
    ]
    assert violations[0].worst_height_m == pytest.approx(18.0, abs=1e-6)
    assert violations[1].worst_height_m == pytest.approx(130.0, abs=1e-6)


def test_vertical_columns_are_not_violations_but_the_ground_is() -> None:
    """Climbing from the pad and descending at the drop (no horizontal motion) are below 30 m by design; a
    report below the ground counts whatever the speed; so does moving on low."""
    column = [report(float(t), 100.0, h) for t, h in enumerate([0.5, 10, 25, 45, 60, 45, 25, 5, 25, 60])]
    assert terrain_clearance_violations(column, TERRAIN, FRAME) == []
    buried = [report(0.0, 100.0, 40.0), report(1.0, 100.0, -2.0), report(2.0, 100.0, 40.0)]
    assert [v.kind for v in terrain_clearance_violations(buried, TERRAIN, FRAME)] == [ClearanceKind.TOO_LOW]
    creeping = [report(float(t), 100.0 + 2.0 * t, 20.0) for t in range(5)]  # 2 m/s at 20 m
    assert len(terrain_clearance_violations(creeping, TERRAIN, FRAME)) == 1


def test_a_drone_standing_on_the_ground_away_from_home_is_not_below_it() -> None:
    """Touched down at a stop up or down the valley from its launch point, a drone is still armed for a moment,
    off its home's height: standing still within the reports' precision of the ground is not below it; 2 m
    down is, and so is a centimetre down while moving."""
    standing = [report(float(t), 300.0, h, ground_speed_m_s=0.0) for t, h in enumerate([0.004, -0.03, -0.08])]
    assert terrain_clearance_violations(standing, TERRAIN, FRAME) == []
    sinking = [report(float(t), 300.0, h, ground_speed_m_s=0.0) for t, h in enumerate([-0.03, -2.0])]
    assert [(v.kind, v.start_s) for v in terrain_clearance_violations(sinking, TERRAIN, FRAME)] == [
        (ClearanceKind.TOO_LOW, 1.0)]
    sliding = [report(0.0, 300.0, -0.03, ground_speed_m_s=3.0)]
    assert len(terrain_clearance_violations(sliding, TERRAIN, FRAME)) == 1
    with pytest.raises(PlanningError, match="ground_tolerance_m"):
        terrain_clearance_violations(standing, TERRAIN, FRAME, ground_tolerance_m=-1.0)


def test_reported_ground_speed_decides_over_positions() -> None:
    """A report's own ground speed is used when given (a hovering drone at 20 m is in a column)."""
    hovering = [report(float(t), 100.0 + 2.0 * t, 20.0, ground_speed_m_s=0.2) for t in range(5)]
    assert terrain_clearance_violations(hovering, TERRAIN, FRAME) == []


def test_on_the_ground_and_interleaved_vehicles() -> None:
    """Samples on the ground (airborne=False) never count and end an episode; each vehicle has its own episodes,
    whatever order the reports come in."""
    riding = [report(float(t), -800.0 + 15.0 * t, 0.0, "drone-2", airborne=False) for t in range(6)]  # on a van
    low_twice = cruise([60, 20, 20, 60, 20, 60], vehicle="drone-1")
    reports = list(itertools.chain.from_iterable(zip(riding, low_twice, strict=True)))[::-1]
    violations = terrain_clearance_violations(reports, TERRAIN, FRAME)
    assert [(v.vehicle_id, v.start_s) for v in violations] == [("drone-1", 1.0), ("drone-1", 4.0)]
    landed = [*cruise([60, 20]), report(2.0, -780.0, 20.0, airborne=False), *cruise([20], start_s=3.0)]
    assert len(terrain_clearance_violations(landed, TERRAIN, FRAME)) == 2


def test_outside_the_elevation_model_is_its_own_kind() -> None:
    far_latitude, far_longitude = FRAME.to_wgs84(5000.0, 0.0)
    reports = [PositionReport(0.0, "drone-1", far_latitude, far_longitude, 3000.0)]
    (violation,) = terrain_clearance_violations(reports, TERRAIN, FRAME)
    assert violation.kind is ClearanceKind.OUTSIDE_TERRAIN and math.isnan(violation.worst_height_m)


def test_bad_input_is_refused_by_name() -> None:
    with pytest.raises(PlanningError, match="non-finite"):
        terrain_clearance_violations([report(math.nan, 0.0, 60.0)], TERRAIN, FRAME)
    with pytest.raises(PlanningError, match="clearance band"):
        terrain_clearance_violations([], TERRAIN, FRAME, min_clearance_m=130.0)


def _flown(path: DronePath, frame: LocalFrame, speed_m_s: float = 10.0) -> list[PositionReport]:
    """Reports every second along a path flown at `speed_m_s` (straight 3-D legs, columns at 2 m/s)."""
    reports, clock = [], 0.0
    for a, b in itertools.pairwise(path.waypoints):
        ground_m = math.hypot(b.x_m - a.x_m, b.y_m - a.y_m)
        duration = ground_m / speed_m_s if ground_m else abs(b.elevation_m - a.elevation_m) / 2.0
        for t in np.arange(0.0, duration, 1.0):
            f = t / duration
            lat, lon = frame.to_wgs84(a.x_m + (b.x_m - a.x_m) * f, a.y_m + (b.y_m - a.y_m) * f)
            altitude_m = a.elevation_m + (b.elevation_m - a.elevation_m) * f
            reports.append(PositionReport(clock + t, "drone-1", lat, lon, altitude_m))
        clock += duration
    return reports


def test_a_planned_andorra_path_flown_as_planned_has_no_violation() -> None:
    """Hub -> Arinsal over the ridge, reported every second: zero violations; 40 m lower, it breaks the band."""
    frame = LocalFrame.at(42.51090, 1.53420)
    terrain = load_terrain(Path(str(resources.files("fleet_manager.world") / "worlds" / "andorra_srtm.npz")), frame)
    path = DronePathPlanner(Airspace(frame), terrain=terrain).path((0.0, 0.0), frame.to_local(42.5721, 1.4844))
    reports = _flown(path, frame)
    assert len(reports) > 500
    assert terrain_clearance_violations(reports, terrain, frame) == []
    lowered = [PositionReport(r.at_s, r.vehicle_id, r.latitude_deg, r.longitude_deg, r.altitude_amsl_m - 40.0)
               for r in reports]
    assert {v.kind for v in terrain_clearance_violations(lowered, terrain, frame)} == {ClearanceKind.TOO_LOW}

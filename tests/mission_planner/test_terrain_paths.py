"""Drone paths over the Andorra terrain: 30-120 m above the ground along every leg, refusals, climb energy."""

from __future__ import annotations

import itertools
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from fleet_manager.world.terrain import load_terrain
from mission_planner.airspace import Airspace, Zone, ZoneKind
from mission_planner.drone_paths import DronePath, DronePathPlanner
from mission_planner.energy import GRAVITY_M_S2, MultirotorModel
from mission_planner.errors import PathError, PlanningError
from mission_planner.geodesy import LocalFrame
from mission_planner.terrain import ElevationGrid

FRAME = LocalFrame.at(42.51090, 1.53420)  # the Andorra hub
MIN_CLEARANCE_M, MAX_CLEARANCE_M = 30.0, 120.0


@pytest.fixture(scope="module")
def terrain() -> ElevationGrid:
    path = Path(str(resources.files("fleet_manager.world") / "worlds" / "andorra_srtm.npz"))
    return load_terrain(path, FRAME)


@pytest.fixture(scope="module")
def planner(terrain: ElevationGrid) -> DronePathPlanner:
    min_x, min_y, max_x, max_y = terrain.bounds_m
    area = Zone("area", ZoneKind.OPERATING_AREA, box(min_x + 100, min_y + 100, max_x - 100, max_y - 100), 0, 120)
    return DronePathPlanner(Airspace(FRAME, (area,)), terrain=terrain)


def heights_along(path: DronePath, terrain: ElevationGrid, spacing_m: float = 1.0) -> np.ndarray:
    """Height above the ground every `spacing_m` along every cruise leg (straight lines in altitude above sea
    level between waypoints), computed independently of the planner's own sampling."""
    heights = []
    for a, b in itertools.pairwise(path.waypoints):
        length = math.hypot(b.x_m - a.x_m, b.y_m - a.y_m)
        if length == 0:
            continue  # the vertical take-off and landing columns
        t = np.linspace(0.0, 1.0, int(length / spacing_m) + 2)
        x, y = a.x_m + (b.x_m - a.x_m) * t, a.y_m + (b.y_m - a.y_m) * t
        heights.append(a.elevation_m + (b.elevation_m - a.elevation_m) * t - terrain.elevation_m(x, y))
    return np.concatenate(heights) if heights else np.array([])


def test_vertices_sit_on_the_ground_and_at_cruise_height(planner: DronePathPlanner, terrain: ElevationGrid) -> None:
    """Take-off and landing on the ground (elevation from the model), every cruise vertex 60 m above it."""
    path = planner.path((0.0, 0.0), FRAME.to_local(42.5721, 1.4844))  # hub -> Arinsal, across a ridge
    first, *cruise, last = path.waypoints
    assert path.above_sea_level
    for waypoint in (first, last):
        assert waypoint.altitude_m == 0.0
        assert waypoint.ground_elevation_m == pytest.approx(terrain.elevation_at(waypoint.x_m, waypoint.y_m))
    assert all(w.altitude_m == 60.0 for w in cruise)
    assert (cruise[0].x_m, cruise[0].y_m) == (first.x_m, first.y_m)  # a vertical climb first
    assert len(cruise) > 10  # the ground bends: vertices were added
    assert path.climb_m > 500  # over the ridge between the valleys


points = st.tuples(st.floats(-9000, 16000), st.floats(-8000, 13000))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(points, points)
def test_property_planned_paths_stay_30_to_120_m_above_the_ground(planner, terrain, start, goal) -> None:
    """Random legs across Andorra: sampled every metre, every cruise leg keeps 30-120 m (in fact 50-70 m) above
    the ground; the vertical columns are only at the ends."""
    path = planner.path(start, goal)
    heights = heights_along(path, terrain)
    if len(heights):
        assert heights.min() >= MIN_CLEARANCE_M and heights.max() <= MAX_CLEARANCE_M
        assert heights.min() >= 50.0 - 1e-6 and heights.max() <= 70.0 + 1e-6  # cruise ± vertical margin
    columns = [(a, b) for a, b in itertools.pairwise(path.waypoints) if (a.x_m, a.y_m) == (b.x_m, b.y_m)]
    assert len(columns) <= 2


def test_a_leg_leaving_the_elevation_model_is_refused(terrain: ElevationGrid) -> None:
    """With an operating area larger than the model, a leg beyond it is refused with a PathError that says so."""
    area = Zone("area", ZoneKind.OPERATING_AREA, box(-20_000, -20_000, 30_000, 30_000), 0, 120)
    planner = DronePathPlanner(Airspace(FRAME, (area,)), terrain=terrain)
    with pytest.raises(PathError, match=r"cannot be flown within 50\.\.70 m above ground: .*outside the elevation"):
        planner.path((0.0, 0.0), (25_000.0, 0.0))


def test_a_path_above_the_drone_ceiling_is_refused(terrain: ElevationGrid) -> None:
    """A drone limited to 2,000 m above sea level cannot fly from the hub over the ridge to Pas de la Casa."""
    min_x, min_y, max_x, max_y = terrain.bounds_m
    area = Zone("area", ZoneKind.OPERATING_AREA, box(min_x + 100, min_y + 100, max_x - 100, max_y - 100), 0, 120)
    planner = DronePathPlanner(Airspace(FRAME, (area,)), terrain=terrain, ceiling_amsl_m=2000.0)
    with pytest.raises(PathError, match="above the drone's ceiling 2000 m"):
        planner.path((0.0, 0.0), FRAME.to_local(42.54364, 1.73180))
    assert planner.path((0.0, 0.0), FRAME.to_local(42.50732, 1.52839)).horizontal_m > 0  # in the valley: fine


@pytest.mark.parametrize(("cruise_m", "margin_m"), [(40.0, 15.0), (115.0, 10.0)])
def test_a_band_outside_30_to_120_m_is_refused(terrain: ElevationGrid, cruise_m: float, margin_m: float) -> None:
    """Cruise ± vertical margin must lie within the hard band over terrain (25 m or 125 m would not)."""
    with pytest.raises(PlanningError, match="must lie within min_clearance_m=30 and max_clearance_m=120"):
        DronePathPlanner(Airspace(FRAME), terrain=terrain, cruise_altitude_m=cruise_m, vertical_margin_m=margin_m)


def _inclined_planner(heights: np.ndarray) -> DronePathPlanner:
    area = Zone("area", ZoneKind.OPERATING_AREA, box(10, 10, 3990, 1990), 0, 120)
    return DronePathPlanner(Airspace(FRAME, (area,)), terrain=ElevationGrid.aligned(0.0, 0.0, 50.0, heights))


def test_up_a_slope_costs_the_climb_and_down_it_saves_it() -> None:
    """On a 10 % slope (3 km, 300 m of rise), flying up costs about m·g·Δh/η more than the same leg on level
    ground at the same mean height, and flying down about as much less (gentle slopes, no rate limit)."""
    model = MultirotorModel()
    east_m = np.arange(0.0, 4001.0, 50.0)
    slope = _inclined_planner(np.tile(1000.0 + 0.1 * east_m, (41, 1)))
    level = _inclined_planner(np.full((41, len(east_m)), 1170.0))
    up_wh = slope.path((200, 1000), (3200, 1000)).energy_wh(model, 1.0)
    down_wh = slope.path((3200, 1000), (200, 1000)).energy_wh(model, 1.0)
    level_wh = level.path((200, 1000), (3200, 1000)).energy_wh(model, 1.0)
    potential_wh = (model.empty_mass_kg + 1.0) * GRAVITY_M_S2 * 300.0 / model.powertrain_efficiency / 3600.0
    assert 0.85 * potential_wh < up_wh - level_wh < 1.1 * potential_wh
    assert 0.85 * potential_wh < level_wh - down_wh < 1.1 * potential_wh


def test_a_mountain_path_costs_more_than_its_flat_twin(planner: DronePathPlanner) -> None:
    """Hub -> Pas de la Casa over the ridges: more energy and time than the same horizontal path on flat ground,
    and the path's energy is the sum of its legs' (sloped legs at their altitude's air density)."""
    model = MultirotorModel()
    goal = FRAME.to_local(42.54364, 1.73180)
    path = planner.path((0.0, 0.0), goal)
    flat = DronePathPlanner(planner.airspace).path((0.0, 0.0), goal)
    assert path.energy_wh(model, 1.0) > 1.5 * flat.energy_wh(model, 1.0)
    assert path.flight_time_s(model) > flat.flight_time_s(model)  # slowed where climb/descent rates limit it
    legs = 0.0
    for a, b in itertools.pairwise(path.waypoints):
        leg_model = model.at_altitude((a.elevation_m + b.elevation_m) / 2)
        ground_m = math.hypot(b.x_m - a.x_m, b.y_m - a.y_m)
        rise_m = b.elevation_m - a.elevation_m
        legs += (
            leg_model.sloped_leg_energy_wh(1.0, ground_m, rise_m) if ground_m
            else leg_model.vertical_energy_wh(1.0, rise_m)
        )
    assert path.energy_wh(model, 1.0) == pytest.approx(legs)

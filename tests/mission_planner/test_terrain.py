"""ElevationGrid: bilinear lookups from the local frame, vectorised, bounds, ground profiles and their error bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mission_planner.errors import TerrainError
from mission_planner.terrain import CellIndexMap, ElevationGrid


def _plane(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 900.0 + 0.05 * x - 0.12 * y


def test_nodes_are_exact_and_a_cell_is_bilinear() -> None:
    """At a node the lookup is the node's height; at a cell centre the mean of its four corners."""
    heights = np.array([[1000.0, 1010.0, 1040.0], [1020.0, 1100.0, 1060.0]])  # row 0 south
    grid = ElevationGrid.aligned(-50.0, 200.0, 30.0, heights)
    assert grid.elevation_at(-50.0, 200.0) == 1000.0
    assert grid.elevation_at(10.0, 230.0) == 1060.0  # row 1, column 2: the north-east corner
    assert grid.elevation_at(-35.0, 215.0) == pytest.approx((1000 + 1010 + 1020 + 1100) / 4)
    assert grid.bounds_m == (-50.0, 200.0, 10.0, 230.0)


def test_vectorised_lookup_equals_scalar_lookups() -> None:
    """One call over 2,000 points returns what 2,000 scalar calls return, and keeps the input's shape."""
    rng = np.random.default_rng(1)
    grid = ElevationGrid.aligned(0.0, 0.0, 25.0, rng.uniform(800, 2900, size=(40, 50)))
    x = rng.uniform(0, 49 * 25, size=(40, 50))
    y = rng.uniform(0, 39 * 25, size=(40, 50))
    many = grid.elevation_m(x, y)
    assert many.shape == (40, 50)
    scalar = np.array([[grid.elevation_at(a, b) for a, b in zip(row_x, row_y, strict=True)] for row_x, row_y in
                       zip(x, y, strict=True)])
    np.testing.assert_array_equal(many, scalar)


def test_a_rotated_grid_reproduces_a_plane_through_its_index_map() -> None:
    """A grid not aligned with the local frame (rotated 20°) is read through its index map: a plane is exact."""
    angle = math.radians(20.0)
    spacing = 40.0
    rows, columns = np.meshgrid(np.arange(30.0), np.arange(30.0), indexing="ij")
    node_x = 100.0 + spacing * (columns * math.cos(angle) - rows * math.sin(angle))
    node_y = -300.0 + spacing * (columns * math.sin(angle) + rows * math.cos(angle))
    heights = _plane(node_x, node_y)
    table_x, table_y = np.meshgrid(np.arange(0.0, 700.0, 100.0), np.arange(0.0, 600.0, 100.0))
    dx, dy = table_x - 100.0, table_y + 300.0
    row_table = (-dx * math.sin(angle) + dy * math.cos(angle)) / spacing
    column_table = (dx * math.cos(angle) + dy * math.sin(angle)) / spacing
    grid = ElevationGrid(heights, CellIndexMap(0.0, 0.0, 100.0, row_table, column_table))
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 600, 500), rng.uniform(0, 500, 500)
    inside = grid.covers(x, y)
    assert inside.sum() > 300
    np.testing.assert_allclose(grid.elevation_m(x[inside], y[inside]), _plane(x[inside], y[inside]), atol=1e-6)


def test_points_outside_the_model_are_refused_by_name() -> None:
    """A lookup beyond the grid raises TerrainError naming the point; `covers` says which points are inside."""
    grid = ElevationGrid.aligned(0.0, 0.0, 10.0, np.zeros((5, 5)))
    assert grid.covers(np.array([0.0, 40.0, 40.01, -0.01]), np.array([0.0, 40.0, 5.0, 5.0])).tolist() == [
        True, True, False, False,
    ]
    with pytest.raises(TerrainError, match=r"\(40\.5, 3\.0\) m is outside the elevation model"):
        grid.elevation_m(np.array([1.0, 40.5]), np.array([1.0, 3.0]))


@pytest.mark.parametrize(
    ("heights", "message"),
    [
        (np.array([[1.0, np.nan], [1.0, 1.0]]), "row 0, column 1"),
        (np.array([[1.0, 2.0]]), "at least 2 x 2"),
    ],
)
def test_invalid_grids_are_refused(heights: np.ndarray, message: str) -> None:
    """A void left unfilled (NaN) or a grid of one row is a TerrainError that says where or why."""
    with pytest.raises(TerrainError, match=message):
        ElevationGrid.aligned(0.0, 0.0, 10.0, heights)


def test_profile_samples_every_grid_line_and_at_most_step_apart() -> None:
    """Ends included, gaps no longer than the step, and a sample on every grid row and column crossed."""
    grid = ElevationGrid.aligned(0.0, 0.0, 30.0, np.random.default_rng(3).uniform(0, 100, size=(20, 20)))
    start, end = (5.0, 7.0), (500.0, 311.0)
    distance, ground = grid.ground_profile(start, end, step_m=10.0)
    length = math.hypot(end[0] - start[0], end[1] - start[1])
    assert distance[0] == 0.0 and distance[-1] == pytest.approx(length)
    assert np.diff(distance).max() <= 10.0 + 1e-9
    t = distance / length
    x, y = start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t
    for lines, coordinate in ((np.arange(30.0, 500.0, 30.0), x), (np.arange(30.0, 311.0, 30.0), y)):
        assert all(np.min(np.abs(coordinate - line)) < 1e-6 for line in lines)
    np.testing.assert_allclose(ground, grid.elevation_m(x, y))


def test_chord_error_bound_holds_between_samples() -> None:
    """Linear interpolation of the profile never departs from the surface by more than `chord_error_m`."""
    rng = np.random.default_rng(4)
    grid = ElevationGrid.aligned(0.0, 0.0, 30.0, rng.uniform(500, 900, size=(30, 30)))
    bound = grid.chord_error_m(10.0)
    assert bound == pytest.approx(grid.max_twist_m * (1 / 30) ** 2 * 100 / 8)
    worst = 0.0
    for _ in range(20):
        start, end = tuple(rng.uniform(0, 870, 2)), tuple(rng.uniform(0, 870, 2))
        distance, ground = grid.ground_profile(start, end, step_m=10.0)
        dense = np.linspace(0.0, distance[-1], 20_001)
        t = dense / distance[-1]
        truth = grid.elevation_m(start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)
        worst = max(worst, float(np.max(np.abs(np.interp(dense, distance, ground) - truth))))
    assert 0 < worst <= bound + 1e-9

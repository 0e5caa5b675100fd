"""Ground elevation queried in the world's local metric frame: fast vectorised bilinear lookups on a height grid.

An `ElevationGrid` holds heights (m above mean sea level) at the nodes of a grid that need not be
aligned with the local frame — SRTM cells are 3 arc-seconds of latitude and longitude — and a
`CellIndexMap` that turns local metres into fractional (row, column) grid coordinates. The map
is itself a bilinear table of node coordinates, a few hundred metres apart, computed once by the
world loader with pyproj; over such a table the projection is so smooth that the interpolated
index is off by well under a millimetre. The height is then bilinear between the four nodes
around the point: exactly the source grid's bilinear surface, with no resampling loss.

Sampling a straight segment (`ground_profile`): the surface along a line is piecewise quadratic,
with slope breaks only where the line crosses a grid row or column. The profile samples every
such crossing and at most `step_m` apart between them, so each gap lies in one cell, where the
surface is ``a + b·c + e·r + d·r·c`` (``d`` = the cell's twist ``z00 − z01 − z10 + z11``). Along
a unit direction its second derivative is ``2·d·(dr/ds)·(dc/ds)``, at most ``|d|·|∇r|·|∇c|``
in size, and a function whose second derivative is bounded by ``f''`` departs from its chord
over a gap ``h`` by at most ``f''·h²/8``. `chord_error_m` returns that bound, so a clearance
check on the samples that adds it holds everywhere along the segment (up to the sub-millimetre
curvature of the index map).

Pure numpy: no I/O. `fleet_manager.world` builds grids from SRTM data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import TerrainError


def _bilinear(table: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of `table` at fractional (r, c), which must lie inside it."""
    rows, columns = table.shape
    i = np.minimum(np.floor(r).astype(np.intp), rows - 2)
    j = np.minimum(np.floor(c).astype(np.intp), columns - 2)
    fr = r - i
    fc = c - j
    z00 = table[i, j]
    z01 = table[i, j + 1]
    z10 = table[i + 1, j]
    z11 = table[i + 1, j + 1]
    return z00 + (z01 - z00) * fc + (z10 - z00) * fr + (z00 - z01 - z10 + z11) * fr * fc


def _readonly(array: np.ndarray, name: str) -> np.ndarray:
    values = np.array(array, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 2 or values.shape[1] < 2:
        raise TerrainError(f"{name} must be a 2-D table of at least 2 x 2 nodes, got shape {values.shape}")
    if not np.isfinite(values).all():
        bad = np.argwhere(~np.isfinite(values))[0]
        raise TerrainError(f"{name} has a non-finite value at row {bad[0]}, column {bad[1]} (fill voids first)")
    values.setflags(write=False)
    return values


@dataclass(frozen=True, eq=False)
class CellIndexMap:
    """Local metres -> fractional (row, column) of a height grid, bilinear in tables of node coordinates.

    The tables hold the grid coordinates of the local points ``(x0 + k·spacing, y0 + l·spacing)``
    (``l`` = table row, northwards); `aligned` makes the map of a grid laid out in the local frame.
    """

    x0_m: float
    y0_m: float
    spacing_m: float
    row_table: np.ndarray = field(repr=False)
    column_table: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.spacing_m) and self.spacing_m > 0):
            raise TerrainError(f"index map spacing_m must be a finite number > 0, got {self.spacing_m!r}")
        if not (math.isfinite(self.x0_m) and math.isfinite(self.y0_m)):
            raise TerrainError(f"index map origin ({self.x0_m!r}, {self.y0_m!r}) must be finite")
        rows = _readonly(self.row_table, "row_table")
        columns = _readonly(self.column_table, "column_table")
        if rows.shape != columns.shape:
            raise TerrainError(f"row_table {rows.shape} and column_table {columns.shape} differ in shape")
        object.__setattr__(self, "row_table", rows)
        object.__setattr__(self, "column_table", columns)

    @classmethod
    def aligned(cls, x0_m: float, y0_m: float, spacing_m: float, shape: tuple[int, int]) -> CellIndexMap:
        """The map of a grid of `shape` whose node (i, j) sits at local (x0 + j·spacing, y0 + i·spacing)."""
        rows, columns = np.meshgrid(np.arange(shape[0], dtype=float), np.arange(shape[1], dtype=float), indexing="ij")
        return cls(x0_m, y0_m, spacing_m, rows, columns)

    @property
    def bounds_m(self) -> tuple[float, float, float, float]:
        """(min_x, min_y, max_x, max_y) where the map is defined."""
        rows, columns = self.row_table.shape
        return (
            self.x0_m,
            self.y0_m,
            self.x0_m + (columns - 1) * self.spacing_m,
            self.y0_m + (rows - 1) * self.spacing_m,
        )

    def within(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Mask of points inside the table."""
        min_x, min_y, max_x, max_y = self.bounds_m
        return (x >= min_x) & (x <= max_x) & (y >= min_y) & (y <= max_y)

    def indices(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional (row, column) of points that `within` accepts."""
        ty = (y - self.y0_m) / self.spacing_m
        tx = (x - self.x0_m) / self.spacing_m
        return _bilinear(self.row_table, ty, tx), _bilinear(self.column_table, ty, tx)

    def gradient_norms(self) -> tuple[float, float]:
        """Largest |∇row| and |∇column| (grid cells per metre) over the table's cells."""
        norms = []
        for table in (self.row_table, self.column_table):
            d_dx = np.diff(table, axis=1) / self.spacing_m
            d_dy = np.diff(table, axis=0) / self.spacing_m
            norms.append(float(np.sqrt(np.abs(d_dx).max() ** 2 + np.abs(d_dy).max() ** 2)))
        return norms[0], norms[1]


@dataclass(frozen=True, eq=False)
class ElevationGrid:
    """Ground heights (m AMSL) at grid nodes, looked up at local points (`elevation_m`, vectorised)."""

    heights_m: np.ndarray = field(repr=False)
    index_map: CellIndexMap = field(repr=False)
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "heights_m", _readonly(self.heights_m, "heights_m"))

    @classmethod
    def aligned(
        cls, x0_m: float, y0_m: float, spacing_m: float, heights_m: np.ndarray, source: str = ""
    ) -> ElevationGrid:
        """A grid aligned with the local frame: node (i, j) at (x0 + j·spacing, y0 + i·spacing), row i northwards."""
        heights = np.asarray(heights_m, dtype=np.float64)
        if heights.ndim != 2:
            raise TerrainError(f"heights_m must be a 2-D grid, got shape {heights.shape}")
        return cls(heights, CellIndexMap.aligned(x0_m, y0_m, spacing_m, heights.shape), source)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the height grid."""
        rows, columns = self.heights_m.shape
        return int(rows), int(columns)

    @property
    def bounds_m(self) -> tuple[float, float, float, float]:
        """(min_x, min_y, max_x, max_y) of the local box the index map covers."""
        return self.index_map.bounds_m

    def covers(self, x_m: np.ndarray | float, y_m: np.ndarray | float) -> np.ndarray:
        """Boolean mask: which local points have an elevation."""
        x, y = np.broadcast_arrays(np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64))
        ok = self.index_map.within(x, y)
        r, c = self.index_map.indices(np.where(ok, x, self.index_map.x0_m), np.where(ok, y, self.index_map.y0_m))
        rows, columns = self.shape
        return ok & (r >= 0) & (r <= rows - 1) & (c >= 0) & (c <= columns - 1)

    def elevation_m(self, x_m: np.ndarray | float, y_m: np.ndarray | float) -> np.ndarray:
        """Ground height (m AMSL) at local points (arrays of one shape, or scalars); bilinear between nodes.

        Raises TerrainError naming the first point outside the model.
        """
        x, y = np.broadcast_arrays(np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64))
        ok = self.index_map.within(x, y)
        if ok.all():
            r, c = self.index_map.indices(x, y)
            rows, columns = self.shape
            ok = (r >= 0) & (r <= rows - 1) & (c >= 0) & (c <= columns - 1)
            if ok.all():
                return _bilinear(self.heights_m, r, c)
        first = int(np.argwhere(~ok.reshape(-1))[0][0])
        min_x, min_y, max_x, max_y = self.bounds_m
        raise TerrainError(
            f"point ({float(x.reshape(-1)[first]):.1f}, {float(y.reshape(-1)[first]):.1f}) m is outside the "
            f"elevation model (x {min_x:.0f}..{max_x:.0f} m, y {min_y:.0f}..{max_y:.0f} m)"
        )

    def elevation_at(self, x_m: float, y_m: float) -> float:
        """Scalar `elevation_m`."""
        return float(self.elevation_m(float(x_m), float(y_m)))

    @property
    def max_twist_m(self) -> float:
        """Largest |z00 − z01 − z10 + z11| over the cells: how far a cell departs from a plane."""
        h = self.heights_m
        return float(np.max(np.abs(h[:-1, :-1] - h[:-1, 1:] - h[1:, :-1] + h[1:, 1:])))

    def chord_error_m(self, step_m: float) -> float:
        """Bound (m) on how far the surface departs from the straight chord between profile samples at most
        `step_m` apart within one cell (see the module docstring)."""
        if not (math.isfinite(step_m) and step_m > 0):
            raise TerrainError(f"step_m must be a finite number > 0, got {step_m!r}")
        row_norm, column_norm = self.index_map.gradient_norms()
        return self.max_twist_m * row_norm * column_norm * step_m * step_m / 8.0

    def ground_profile(
        self, start_xy: tuple[float, float], end_xy: tuple[float, float], step_m: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(distance_m from the start, ground_m) along a straight local segment, ends included: samples at most
        `step_m` apart plus one at every crossing of a grid row or column. TerrainError outside the model."""
        if not (math.isfinite(step_m) and step_m > 0):
            raise TerrainError(f"step_m must be a finite number > 0, got {step_m!r}")
        (ax, ay), (bx, by) = start_xy, end_xy
        length_m = math.hypot(bx - ax, by - ay)
        t = np.linspace(0.0, 1.0, max(1, math.ceil(length_m / step_m)) + 1)
        x, y = ax + (bx - ax) * t, ay + (by - ay) * t
        if not self.covers(x, y).all():
            self.elevation_m(x, y)  # raises, naming the point
        r, c = self.index_map.indices(x, y)
        extra = [t]
        for coordinate in (r, c):
            low, high = coordinate[:-1], coordinate[1:]
            first = np.floor(np.minimum(low, high)) + 1.0  # first grid line strictly inside each gap ...
            last = np.ceil(np.maximum(low, high)) - 1.0  # ... and the last one
            counts = np.maximum(last - first + 1.0, 0.0).astype(np.intp)
            gap = np.repeat(np.arange(len(low)), counts)
            if len(gap):
                rank = np.arange(len(gap)) - np.repeat(np.cumsum(counts) - counts, counts)
                line = first[gap] + rank
                extra.append(t[gap] + (t[gap + 1] - t[gap]) * (line - low[gap]) / (high[gap] - low[gap]))
        fractions = np.unique(np.clip(np.concatenate(extra), 0.0, 1.0))
        return fractions * length_m, self.elevation_m(ax + (bx - ax) * fractions, ay + (by - ay) * fractions)

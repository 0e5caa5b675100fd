"""Loads a world's elevation model: SRTM cells (a cropped `.npz`, see `tools/crop_srtm.py`) -> `ElevationGrid`.

Two deterministic steps:

1. **Voids filled.** SRTM marks cells it could not measure with -32768 (steep, shadowed slopes).
   Each void cell takes the mean of its measured 8-neighbours; cells deeper inside a void are
   filled in later passes from the cells filled before them (a void n cells across takes about
   n/2 passes). The Andorra crop has 172 void cells, in clusters of a few cells.
2. **Indexed from the local frame.** The heights stay on their geographic grid (3 arc-seconds:
   ~68 m east x ~93 m north here) — nothing is resampled. A table of the grid coordinates of
   local points 250 m apart (computed with the world's pyproj frame) maps local metres to grid
   coordinates; see `mission_planner.terrain`. The table covers the largest axis-aligned local
   box inside the cells.

Both steps together take ~10 ms for Andorra, so nothing is cached.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from mission_planner.errors import WorldError
from mission_planner.geodesy import LocalFrame
from mission_planner.terrain import CellIndexMap, ElevationGrid

logger = logging.getLogger(__name__)

SRTM_VOID = -32768
INDEX_TABLE_SPACING_M = 250.0


def fill_voids(heights: np.ndarray, void: int = SRTM_VOID) -> np.ndarray:
    """A float copy of `heights` where every `void` cell holds the mean of its measured (or already filled)
    8-neighbours, filled from the edges of each void inward. WorldError when no cell is measured."""
    filled = heights.astype(np.float64)
    missing = heights == void
    if missing.all():
        raise WorldError("the elevation grid has no measured cell (every cell is a void)")
    rows, columns = filled.shape
    while missing.any():
        values = np.pad(np.where(missing, 0.0, filled), 1)
        known = np.pad((~missing).astype(np.float64), 1)
        total = np.zeros_like(filled)
        count = np.zeros_like(filled)
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                if di or dj:
                    total += values[1 + di : 1 + di + rows, 1 + dj : 1 + dj + columns]
                    count += known[1 + di : 1 + di + rows, 1 + dj : 1 + dj + columns]
        fillable = missing & (count > 0)
        filled[fillable] = total[fillable] / count[fillable]
        missing &= ~fillable
    return filled


def read_srtm_npz(path: Path) -> tuple[np.ndarray, float, float, float]:
    """(raw int16 heights, latitude of row 0, longitude of column 0, cell size in degrees) of a cropped tile."""
    try:
        with np.load(path, allow_pickle=False) as data:
            raw = np.asarray(data["height_m"])
            north, west, cell = (float(data[k]) for k in ("north_latitude_deg", "west_longitude_deg", "cell_deg"))
    except (OSError, KeyError, ValueError) as exc:
        raise WorldError(f"cannot read elevation file {path}: {exc}") from exc
    if raw.ndim != 2 or min(raw.shape) < 2:
        raise WorldError(f"elevation file {path}: height_m must be 2-D with at least 2 x 2 cells, got {raw.shape}")
    if not (math.isfinite(cell) and cell > 0):
        raise WorldError(f"elevation file {path}: cell_deg must be > 0, got {cell!r}")
    return raw, north, west, cell


def geographic_elevation_grid(
    heights_m: np.ndarray,
    north_latitude_deg: float,
    west_longitude_deg: float,
    cell_deg: float,
    frame: LocalFrame,
    *,
    table_spacing_m: float = INDEX_TABLE_SPACING_M,
    source: str = "",
) -> ElevationGrid:
    """An `ElevationGrid` over a north-up lat/lon grid (row 0 north, column 0 west), indexed from `frame`."""
    rows, columns = heights_m.shape
    south = north_latitude_deg - (rows - 1) * cell_deg
    east = west_longitude_deg + (columns - 1) * cell_deg
    edge = np.linspace(0.0, 1.0, 200)
    west_x, _ = frame.to_local_many(south + (north_latitude_deg - south) * edge, np.full_like(edge, west_longitude_deg))
    east_x, _ = frame.to_local_many(south + (north_latitude_deg - south) * edge, np.full_like(edge, east))
    _, south_y = frame.to_local_many(np.full_like(edge, south), west_longitude_deg + (east - west_longitude_deg) * edge)
    _, north_y = frame.to_local_many(
        np.full_like(edge, north_latitude_deg), west_longitude_deg + (east - west_longitude_deg) * edge
    )
    # 1 m inside the curved edges, so rounding never puts a table node outside the cells
    min_x, max_x = float(west_x.max()) + 1.0, float(east_x.min()) - 1.0
    min_y, max_y = float(south_y.max()) + 1.0, float(north_y.min()) - 1.0
    table_columns = math.floor((max_x - min_x) / table_spacing_m) + 1
    table_rows = math.floor((max_y - min_y) / table_spacing_m) + 1
    if table_columns < 2 or table_rows < 2:
        raise WorldError(f"elevation grid {source!r} is smaller than two {table_spacing_m} m index cells")
    grid_x, grid_y = np.meshgrid(
        min_x + table_spacing_m * np.arange(table_columns), min_y + table_spacing_m * np.arange(table_rows)
    )
    latitude_deg, longitude_deg = frame.to_wgs84_many(grid_x, grid_y)
    index_map = CellIndexMap(
        min_x,
        min_y,
        table_spacing_m,
        (north_latitude_deg - latitude_deg) / cell_deg,
        (longitude_deg - west_longitude_deg) / cell_deg,
    )
    return ElevationGrid(heights_m, index_map, source=source)


def load_terrain(path: Path, frame: LocalFrame) -> ElevationGrid:
    """The world's elevation model from a cropped SRTM `.npz` (voids filled, indexed from `frame`)."""
    if not path.is_file():
        raise WorldError(f"terrain file {path} does not exist")
    raw, north, west, cell = read_srtm_npz(path)
    grid = geographic_elevation_grid(fill_voids(raw), north, west, cell, frame, source=path.name)
    logger.info(
        "terrain %s: %d x %d cells, %d voids filled, %.0f..%.0f m AMSL",
        path.name, *grid.shape, int((raw == SRTM_VOID).sum()), grid.heights_m.min(), grid.heights_m.max(),
    )
    return grid


# ArduPilot's terrain protocol (AP_Terrain): TERRAIN_REQUEST names the south-west corner of a grid of
# 8 (east) x 7 (north) blocks of 4 x 4 points `grid_spacing` metres apart and a 56-bit mask of blocks;
# each TERRAIN_DATA answers one block (`gridbit`): bit b is block row b // 8 (north), column b % 8 (east),
# and data[i * 4 + j] is the point i rows north and j columns east of the block's corner (MAVProxy's
# terrain module and AP_Terrain_mavlink.cpp lay it out this way). Offsets are flat-earth, as both do.
_AP_EARTH_RADIUS_M = 6378100.0
_AP_BLOCKS_EAST = 8
_AP_BLOCK_POINTS = 4


def ardupilot_terrain_block(
    terrain: ElevationGrid,
    frame: LocalFrame,
    south_west_latitude_deg: float,
    south_west_longitude_deg: float,
    grid_spacing_m: float,
    gridbit: int,
) -> list[int]:
    """The 16 heights (whole metres AMSL) that answer block `gridbit` of a TERRAIN_REQUEST, from the world's model.

    Points beyond the model (the autopilot asks for whole 2.8 x 3.2 km grids around it, which can
    reach past the world near its edge) take the height of the nearest point of the model's box, so
    a request is always answered; the operating area lies well inside the model, so a drone never
    flies over such points.
    """
    if not (0 <= gridbit < 56) or not (math.isfinite(grid_spacing_m) and grid_spacing_m > 0):
        raise WorldError(f"terrain request block {gridbit} / grid_spacing {grid_spacing_m!r} m is out of range")
    north_m = np.repeat(np.arange(_AP_BLOCK_POINTS), _AP_BLOCK_POINTS) + (gridbit // _AP_BLOCKS_EAST) * 4.0
    east_m = np.tile(np.arange(_AP_BLOCK_POINTS), _AP_BLOCK_POINTS) + (gridbit % _AP_BLOCKS_EAST) * 4.0
    latitude_deg = south_west_latitude_deg + np.degrees(north_m * grid_spacing_m / _AP_EARTH_RADIUS_M)
    longitude_deg = south_west_longitude_deg + np.degrees(
        east_m * grid_spacing_m / (_AP_EARTH_RADIUS_M * math.cos(math.radians(south_west_latitude_deg)))
    )
    x_m, y_m = frame.to_local_many(latitude_deg, longitude_deg)
    min_x, min_y, max_x, max_y = terrain.bounds_m
    heights = terrain.elevation_m(np.clip(x_m, min_x, max_x), np.clip(y_m, min_y, max_y))
    return [round(float(h)) for h in heights]

"""The Andorra elevation model as the world loads it: known SRTM cells, voids filled, bounds, vectorised lookups,
and the blocks that answer ArduPilot's TERRAIN_REQUEST."""

from __future__ import annotations

import importlib.util
import math
import os
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Polygon

from fleet_manager.world.terrain import SRTM_VOID, ardupilot_terrain_block, fill_voids, load_terrain, read_srtm_npz
from mission_planner.errors import TerrainError, WorldError
from mission_planner.geodesy import LocalFrame
from mission_planner.terrain import ElevationGrid

FRAME = LocalFrame.at(42.51090, 1.53420)  # the Andorra hub
NPZ = Path(str(resources.files("fleet_manager.world") / "worlds" / "andorra_srtm.npz"))
# (row, column) in the 1201 x 1201 tile N42E001, and the height SRTM gives there
KNOWN_CELLS = [
    ((490, 532), 2911),  # the highest cell inside the extract: Coma Pedrosa, 42.591667 N 1.443333 E
    ((587, 641), 1034),  # by the hub in Escaldes-Engordany, 42.510833 N 1.534167 E
    ((548, 878), 2119),  # Pas de la Casa, 42.543333 N 1.731667 E
]


@pytest.fixture(scope="module")
def terrain() -> ElevationGrid:
    return load_terrain(NPZ, FRAME)


def _cell_lat_lon(row: int, column: int) -> tuple[float, float]:
    return 43.0 - row / 1200.0, 1.0 + column / 1200.0


@pytest.mark.parametrize(("cell", "height_m"), KNOWN_CELLS)
def test_known_srtm_cells_come_back_exactly(terrain: ElevationGrid, cell: tuple[int, int], height_m: int) -> None:
    """At a cell centre the lookup from local metres returns SRTM's own value (to a centimetre)."""
    x_m, y_m = FRAME.to_local(*_cell_lat_lon(*cell))
    assert terrain.elevation_at(x_m, y_m) == pytest.approx(height_m, abs=0.01)


@pytest.mark.skipif(
    not (Path(os.environ.get("FINALMILE_BENCH_DATA", "/nonexistent")) / "worlds/andorra/N42E001.hgt.zip").is_file(),
    reason="FINALMILE_BENCH_DATA with worlds/andorra/N42E001.hgt.zip not set (the source tile is not in the repo)",
)
def test_the_stored_crop_is_the_source_tile_unchanged() -> None:
    """Every stored cell equals the source tile's (voids included): the crop copies, it does not resample."""
    spec = importlib.util.spec_from_file_location("crop_srtm", Path(__file__).parents[2] / "tools" / "crop_srtm.py")
    assert spec is not None and spec.loader is not None
    crop_srtm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(crop_srtm)
    tile, south, west = crop_srtm.read_hgt(Path(os.environ["FINALMILE_BENCH_DATA"]) / "worlds/andorra/N42E001.hgt.zip")
    raw, north_deg, west_deg, cell_deg = read_srtm_npz(NPZ)
    row0, column0 = round((south + 1 - north_deg) / cell_deg), round((west_deg - west) / cell_deg)
    np.testing.assert_array_equal(raw, tile[row0 : row0 + raw.shape[0], column0 : column0 + raw.shape[1]])
    for (row, column), height_m in KNOWN_CELLS:
        assert tile[row, column] == height_m


def test_voids_are_filled_from_their_measured_neighbours(terrain: ElevationGrid) -> None:
    """Each void cell inside the model gets a height between the lowest and highest measured cell around it."""
    raw, north_deg, west_deg, cell_deg = read_srtm_npz(NPZ)
    voids = np.argwhere(raw == SRTM_VOID)
    assert len(voids) == 172
    checked = 0
    for row, column in voids:
        x_m, y_m = FRAME.to_local(north_deg - row * cell_deg, west_deg + column * cell_deg)
        if not terrain.covers(x_m, y_m):
            continue
        window = raw[max(row - 2, 0) : row + 3, max(column - 2, 0) : column + 3]
        measured = window[window != SRTM_VOID]
        assert measured.min() - 0.01 <= terrain.elevation_at(x_m, y_m) <= measured.max() + 0.01
        checked += 1
    assert checked > 100
    assert np.isfinite(terrain.heights_m).all()


def test_fill_voids_takes_the_mean_of_measured_neighbours() -> None:
    """A lone void: the mean of its 8 neighbours; a wider void fills from its edges inward; all-void is refused."""
    v = SRTM_VOID
    filled = fill_voids(np.array([[1, 2, 3], [4, v, 6], [7, 8, 9]], dtype=np.int16))
    assert filled[1, 1] == pytest.approx(5.0)
    wide = fill_voids(np.array([[10, 10, 10, 10], [10, v, v, 10], [10, 10, 10, 10]], dtype=np.int16))
    assert np.allclose(wide, 10.0)
    with pytest.raises(WorldError, match="no measured cell"):
        fill_voids(np.full((3, 3), v, dtype=np.int16))


def test_the_model_covers_the_operating_area_and_refuses_beyond(terrain: ElevationGrid) -> None:
    """The whole operating area has ground heights; 2 km north of the crop there are none (TerrainError)."""
    from fleet_manager.world import load_world

    area = load_world("andorra").airspace.operating_area()
    assert isinstance(area, Polygon)
    boundary = area.exterior.segmentize(50.0)
    xs, ys = np.asarray(boundary.xy)
    assert terrain.covers(xs, ys).all()
    max_y = terrain.bounds_m[3]
    with pytest.raises(TerrainError, match="outside the elevation model"):
        terrain.elevation_at(0.0, max_y + 2000.0)
    assert float(terrain.heights_m.min()) == 819.0 and float(terrain.heights_m.max()) == 2911.0


def test_vectorised_lookups_equal_scalar_ones(terrain: ElevationGrid) -> None:
    rng = np.random.default_rng(5)
    min_x, min_y, max_x, max_y = terrain.bounds_m
    x, y = rng.uniform(min_x, max_x, 1000), rng.uniform(min_y, max_y, 1000)
    scalar = [terrain.elevation_at(a, b) for a, b in zip(x, y, strict=True)]
    np.testing.assert_array_equal(terrain.elevation_m(x, y), scalar)


def test_terrain_blocks_follow_ardupilots_layout(terrain: ElevationGrid) -> None:
    """Block bit b is 4x4 points, b // 8 blocks north and b % 8 east of the request's corner; data[i*4+j] is i rows
    north and j columns east; heights are whole metres from the model, clamped to its edge beyond it."""
    south_west = (42.50, 1.52)
    spacing_m = 100.0
    block = ardupilot_terrain_block(terrain, FRAME, *south_west, spacing_m, 9)
    assert len(block) == 16
    north_m, east_m = (1 * 4 + 2) * spacing_m, (1 * 4 + 3) * spacing_m  # data[2*4+3]
    latitude_deg = south_west[0] + math.degrees(north_m / 6378100.0)
    longitude_deg = south_west[1] + math.degrees(east_m / (6378100.0 * math.cos(math.radians(south_west[0]))))
    expected = terrain.elevation_at(*FRAME.to_local(latitude_deg, longitude_deg))
    assert block[2 * 4 + 3] == round(expected)
    beyond = ardupilot_terrain_block(terrain, FRAME, 42.70, 1.52, spacing_m, 0)  # north of the model
    assert len(beyond) == 16 and all(800 < h < 3000 for h in beyond)
    with pytest.raises(WorldError, match="block 56"):
        ardupilot_terrain_block(terrain, FRAME, *south_west, spacing_m, 56)

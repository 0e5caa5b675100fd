"""Crop an SRTM 3-arc-second `.hgt` tile (zipped or not) to a lat/lon box and write it as a compressed `.npz`.

Used once to make `fleet_manager/world/worlds/andorra_srtm.npz` from the shared tile N42E001:

    python tools/crop_srtm.py /work/shared/data/worlds/andorra/N42E001.hgt.zip \\
        --south 42.426 --north 42.644 --west 1.409 --east 1.744 \\
        -o fleet_manager/world/worlds/andorra_srtm.npz

The values are copied unchanged (int16 metres above sea level, void = -32768); nothing is filled
or resampled here, so every stored cell can be checked against the source tile. The `.npz` holds
`height_m` (rows north to south, columns west to east), `north_latitude_deg` and
`west_longitude_deg` (the centre of cell [0, 0]) and `cell_deg` (1/1200 degree).
"""

from __future__ import annotations

import argparse
import io
import logging
import math
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

logger = logging.getLogger("crop_srtm")
_SAMPLES = 1201  # SRTM3: 1201 x 1201 samples per 1-degree tile, edges shared with the neighbours
_CELL_DEG = 1.0 / (_SAMPLES - 1)


def read_hgt(path: Path) -> tuple[np.ndarray, int, int]:
    """(heights, south-west latitude, south-west longitude) of a `.hgt` or `.hgt.zip` tile named like N42E001."""
    match = re.match(r"([NS])(\d{2})([EW])(\d{3})", path.name)
    if not match:
        raise ValueError(f"tile name {path.name!r} does not start with the SRTM pattern N42E001")
    south = int(match.group(2)) * (1 if match.group(1) == "N" else -1)
    west = int(match.group(4)) * (1 if match.group(3) == "E" else -1)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(".hgt")]
            if len(names) != 1:
                raise ValueError(f"{path} must hold exactly one .hgt file, has {names}")
            raw = archive.read(names[0])
    else:
        raw = path.read_bytes()
    heights = np.frombuffer(io.BytesIO(raw).getbuffer(), dtype=">i2")
    if heights.size != _SAMPLES * _SAMPLES:
        raise ValueError(f"{path}: {heights.size} samples, expected {_SAMPLES}x{_SAMPLES} (SRTM3)")
    return heights.reshape(_SAMPLES, _SAMPLES).astype(np.int16), south, west


def crop(heights: np.ndarray, south: int, west: int, box: tuple[float, float, float, float]) -> dict[str, np.ndarray]:
    """The cells whose centres lie in (or just outside, to cover) the box (south, north, west, east)."""
    box_south, box_north, box_west, box_east = box
    north = south + 1
    row_first = max(0, math.floor((north - box_north) / _CELL_DEG))
    row_last = min(_SAMPLES - 1, math.ceil((north - box_south) / _CELL_DEG))
    col_first = max(0, math.floor((box_west - west) / _CELL_DEG))
    col_last = min(_SAMPLES - 1, math.ceil((box_east - west) / _CELL_DEG))
    return {
        "height_m": np.ascontiguousarray(heights[row_first : row_last + 1, col_first : col_last + 1]),
        "north_latitude_deg": np.float64(north - row_first * _CELL_DEG),
        "west_longitude_deg": np.float64(west + col_first * _CELL_DEG),
        "cell_deg": np.float64(_CELL_DEG),
    }


def main(argv: list[str] | None = None) -> int:
    """Crop the tile named on the command line; exit code 0 on success."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tile", type=Path, help="N42E001.hgt or N42E001.hgt.zip")
    for side in ("south", "north", "west", "east"):
        parser.add_argument(f"--{side}", type=float, required=True, help=f"{side} edge of the box (degrees)")
    parser.add_argument("-o", "--output", type=Path, required=True, help=".npz to write")
    args = parser.parse_args(argv)
    heights, south, west = read_hgt(args.tile)
    arrays = crop(heights, south, west, (args.south, args.north, args.west, args.east))
    np.savez_compressed(args.output, **arrays)
    grid = arrays["height_m"]
    valid = grid[grid != -32768]
    logger.info(
        "%s: %d x %d cells, %d voids, %d..%d m, %d bytes",
        args.output, grid.shape[0], grid.shape[1], int((grid == -32768).sum()), int(valid.min()), int(valid.max()),
        args.output.stat().st_size,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

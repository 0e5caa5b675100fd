"""Delivery areas for per-area statistics: cells of a fixed grid over WGS84 (about 500 m square).

A grid rather than postcodes because orders may arrive as bare coordinates; the same point always
falls in the same cell, whoever computes it (the feature builder, a scenario's absence windows).
"""

from __future__ import annotations

import math

CELL_LAT_DEG = 0.0045  # ~500 m north-south
CELL_LON_DEG = 0.009  # ~500 m east-west at 60° N


def area_of(latitude_deg: float, longitude_deg: float) -> str:
    """The grid cell of a point, as 'cell:<row>:<col>'."""
    return f"cell:{math.floor(latitude_deg / CELL_LAT_DEG)}:{math.floor(longitude_deg / CELL_LON_DEG)}"

"""WGS84 <-> local metric frame. Planning works in metres east/north of a world origin."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from pyproj import Transformer


@dataclass(frozen=True)
class LocalFrame:
    """An azimuthal equidistant frame centred on `origin`: x east, y north, metres.

    Built with `LocalFrame.at(latitude_deg, longitude_deg)`; axis order is always
    (lon, lat) <-> (x, y) so that no call site has to remember pyproj's conventions.
    """

    origin_latitude_deg: float
    origin_longitude_deg: float
    _to_local: Transformer = field(repr=False, compare=False)
    _to_wgs84: Transformer = field(repr=False, compare=False)

    @classmethod
    def at(cls, latitude_deg: float, longitude_deg: float) -> LocalFrame:
        """Frame whose (0, 0) is the given WGS84 point."""
        if not (-90.0 <= latitude_deg <= 90.0) or not (-180.0 <= longitude_deg <= 180.0):
            raise ValueError(f"origin ({latitude_deg}, {longitude_deg}) is not a WGS84 lat/lon in degrees")
        proj = f"+proj=aeqd +lat_0={latitude_deg} +lon_0={longitude_deg} +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
        return cls(
            latitude_deg,
            longitude_deg,
            Transformer.from_crs("EPSG:4326", proj, always_xy=True),
            Transformer.from_crs(proj, "EPSG:4326", always_xy=True),
        )

    def to_local(self, latitude_deg: float, longitude_deg: float) -> tuple[float, float]:
        """(x_m east, y_m north) of a WGS84 point."""
        x_m, y_m = self._to_local.transform(longitude_deg, latitude_deg)
        return float(x_m), float(y_m)

    def to_wgs84(self, x_m: float, y_m: float) -> tuple[float, float]:
        """(latitude_deg, longitude_deg) of a local point."""
        longitude_deg, latitude_deg = self._to_wgs84.transform(x_m, y_m)
        return float(latitude_deg), float(longitude_deg)

    def to_local_many(self, latitude_deg: np.ndarray, longitude_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised `to_local`: (x_m, y_m) arrays of WGS84 point arrays."""
        x_m, y_m = self._to_local.transform(np.asarray(longitude_deg, float), np.asarray(latitude_deg, float))
        return np.asarray(x_m, dtype=float), np.asarray(y_m, dtype=float)

    def to_wgs84_many(self, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised `to_wgs84`: (latitude_deg, longitude_deg) arrays of local point arrays."""
        longitude_deg, latitude_deg = self._to_wgs84.transform(np.asarray(x_m, float), np.asarray(y_m, float))
        return np.asarray(latitude_deg, dtype=float), np.asarray(longitude_deg, dtype=float)


def bearing_deg(dx_m: float, dy_m: float) -> float:
    """Compass bearing (0 = north, clockwise) of a local displacement."""
    return math.degrees(math.atan2(dx_m, dy_m)) % 360.0

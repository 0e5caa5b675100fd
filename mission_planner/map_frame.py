"""A robot's own `map` frame placed on the Earth: WGS84 <-> map metres through a datum.

Every Nav2 robot localises in a `map` frame of its own. Placed on the Earth by a datum — where the
map's origin is (WGS84) and which way its x axis points — the frame converts with `to_local` /
`to_wgs84`, as `geodesy.LocalFrame` does for the world's frame, so either can stand where a robot's
frame is needed.

Two planes, as robot_localization's navsat_transform has them:

- `local_cartesian` (navsat's `use_local_cartesian: true`): the plane tangent to the Earth at the
  datum (azimuthal equidistant here; the two agree to well under a millimetre across a city).
- `utm`: the UTM grid of the datum's zone (navsat's default). The map's x axis still points at
  `yaw_deg` from true east at the datum; the grid's meridian convergence and point scale there are
  taken out, as navsat_transform does, so map metres are ground metres at the datum.

The yaw follows REP-103 and robot_localization's `datum` parameter: 0 = x east, counter-clockwise,
so 90 = x north (navsat takes radians; we take degrees). `MapFrame.fitted` finds the frame from
pairs of points a robot converted itself (its `fromLL` service), by least squares.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pyproj import Transformer

from .geodesy import LocalFrame

_PROBE_M = 10.0  # the step used to measure the grid's convergence and scale at the datum


class MapProjection(enum.StrEnum):
    """The plane a map frame is drawn on (robot_localization's `use_local_cartesian` true / false)."""

    LOCAL_CARTESIAN = "local_cartesian"
    UTM = "utm"


def utm_zone(latitude_deg: float, longitude_deg: float) -> int:
    """The standard UTM zone of a point, with the Norway (32V) and Svalbard (31X..37X) exceptions."""
    zone = math.floor((longitude_deg + 180.0) / 6.0) % 60 + 1
    if 56.0 <= latitude_deg < 64.0 and 3.0 <= longitude_deg < 12.0:
        return 32
    if 72.0 <= latitude_deg < 84.0 and 0.0 <= longitude_deg < 42.0:
        return 31 if longitude_deg < 9.0 else 33 if longitude_deg < 21.0 else 35 if longitude_deg < 33.0 else 37
    return zone


def _plane(projection: MapProjection, latitude_deg: float, longitude_deg: float) -> tuple[Transformer, Transformer]:
    """(WGS84 -> plane, plane -> WGS84), both (lon, lat) <-> (u east, v north) in metres."""
    if projection is MapProjection.UTM:
        if not -80.0 <= latitude_deg <= 84.0:
            raise ValueError(f"latitude {latitude_deg} is outside UTM (-80..84); use local_cartesian")
        epsg = (32600 if latitude_deg >= 0 else 32700) + utm_zone(latitude_deg, longitude_deg)
        crs = f"EPSG:{epsg}"
    else:
        crs = f"+proj=aeqd +lat_0={latitude_deg} +lon_0={longitude_deg} +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
    return (Transformer.from_crs("EPSG:4326", crs, always_xy=True),
            Transformer.from_crs(crs, "EPSG:4326", always_xy=True))  # fmt: skip


@dataclass(frozen=True)
class MapFrame:
    """A robot's map frame: map (x, y) = R(-plane_yaw) · (plane(p) - plane_origin) / scale.

    Build it with `MapFrame.at` (a datum), `MapFrame.of` (the world's own frame) or `MapFrame.fitted`.
    `origin_latitude_deg` / `origin_longitude_deg` are where map (0, 0) is; `yaw_deg` is the true
    ENU yaw of the map's x axis there.
    """

    origin_latitude_deg: float
    origin_longitude_deg: float
    yaw_deg: float
    projection: MapProjection
    scale: float = 1.0  # plane metres per map metre at the origin
    _plane_origin: tuple[float, float] = field(default=(0.0, 0.0), repr=False)
    _plane_yaw_rad: float = field(default=0.0, repr=False)
    _to_plane: Transformer | None = field(default=None, repr=False, compare=False)
    _from_plane: Transformer | None = field(default=None, repr=False, compare=False)

    @classmethod
    def at(
        cls, latitude_deg: float, longitude_deg: float, yaw_deg: float = 0.0,
        projection: MapProjection | str = MapProjection.LOCAL_CARTESIAN,
    ) -> MapFrame:  # fmt: skip
        """The map frame whose origin is the WGS84 point and whose x axis points `yaw_deg` from east (CCW)."""
        if not (-90.0 <= latitude_deg <= 90.0) or not (-180.0 <= longitude_deg <= 180.0):
            raise ValueError(f"map datum ({latitude_deg}, {longitude_deg}) is not a WGS84 lat/lon in degrees")
        if not math.isfinite(yaw_deg):
            raise ValueError(f"map datum yaw_deg must be finite, got {yaw_deg}")
        projection = MapProjection(projection)
        to_plane, from_plane = _plane(projection, latitude_deg, longitude_deg)
        origin_u, origin_v = to_plane.transform(longitude_deg, latitude_deg)
        # The grid's own turn and stretch at the datum: where a short step due true east lands on the plane.
        east = LocalFrame.at(latitude_deg, longitude_deg)
        step_lat, step_lon = east.to_wgs84(_PROBE_M, 0.0)
        step_u, step_v = to_plane.transform(step_lon, step_lat)
        grid_east_rad = math.atan2(step_v - origin_v, step_u - origin_u)
        scale = math.hypot(step_u - origin_u, step_v - origin_v) / _PROBE_M
        return cls(latitude_deg, longitude_deg, yaw_deg, projection, scale, (float(origin_u), float(origin_v)),
                   math.radians(yaw_deg) + grid_east_rad, to_plane, from_plane)  # fmt: skip

    @classmethod
    def of(cls, frame: LocalFrame) -> MapFrame:
        """The world's local frame as a map frame (x east, y north from the world origin)."""
        return cls.at(frame.origin_latitude_deg, frame.origin_longitude_deg)

    @classmethod
    def fitted(
        cls, wgs84: Sequence[tuple[float, float]], map_xy: Sequence[tuple[float, float]], *, anchor: LocalFrame
    ) -> tuple[MapFrame, float]:
        """The frame that best maps `wgs84` points onto `map_xy` (rotation, scale, shift) and its worst residual (m).

        `anchor` is a local frame near the points (the world's); at least three points, not all on a line.
        """
        if len(wgs84) != len(map_xy) or len(wgs84) < 3:
            raise ValueError(f"a fit needs >= 3 point pairs, got {len(wgs84)} and {len(map_xy)}")
        plane = np.array([anchor.to_local(lat, lon) for lat, lon in wgs84])
        target = np.asarray(map_xy, dtype=float)
        plane_mean, target_mean = plane.mean(axis=0), target.mean(axis=0)
        p, t = plane - plane_mean, target - target_mean
        spread = float((p**2).sum())
        singular = np.linalg.svd(p, compute_uv=False)
        if spread <= 0.0 or singular[-1] < 1e-3 * singular[0]:
            raise ValueError("the fit points lie on a line; spread them in both directions")
        # Closed-form 2-D similarity (Umeyama): the rotation angle from the cross-covariance.
        a = float((p[:, 0] * t[:, 0] + p[:, 1] * t[:, 1]).sum())
        b = float((p[:, 0] * t[:, 1] - p[:, 1] * t[:, 0]).sum())
        rotation_rad = math.atan2(b, a)  # map = s R(rotation) plane + shift
        map_per_plane = math.hypot(a, b) / spread
        if map_per_plane <= 0.0:
            raise ValueError("the fit points collapse to one map point")
        cos_r, sin_r = math.cos(rotation_rad), math.sin(rotation_rad)
        shift = target_mean - map_per_plane * np.array(
            [cos_r * plane_mean[0] - sin_r * plane_mean[1], sin_r * plane_mean[0] + cos_r * plane_mean[1]]
        )
        # Map (0, 0) on the plane: plane = R(-rotation) (0 - shift) / s.
        origin_u = (cos_r * -shift[0] + sin_r * -shift[1]) / map_per_plane
        origin_v = (-sin_r * -shift[0] + cos_r * -shift[1]) / map_per_plane
        origin_lat, origin_lon = anchor.to_wgs84(origin_u, origin_v)
        to_plane, from_plane = _plane(MapProjection.LOCAL_CARTESIAN, anchor.origin_latitude_deg,
                                      anchor.origin_longitude_deg)  # fmt: skip
        # The anchor plane's east turns slightly away from true east at the map origin (convergence).
        step_u, step_v = anchor.to_local(*LocalFrame.at(origin_lat, origin_lon).to_wgs84(_PROBE_M, 0.0))
        grid_east_rad = math.atan2(step_v - origin_v, step_u - origin_u)
        frame = cls(origin_lat, origin_lon, math.degrees(-rotation_rad - grid_east_rad), MapProjection.LOCAL_CARTESIAN,
                    1.0 / map_per_plane, (origin_u, origin_v), -rotation_rad, to_plane, from_plane)  # fmt: skip
        residual_m = max(math.dist(frame.to_local(lat, lon), xy) for (lat, lon), xy in zip(wgs84, target, strict=True))
        return frame, residual_m

    def to_local(self, latitude_deg: float, longitude_deg: float) -> tuple[float, float]:
        """(x_m, y_m) in the map frame of a WGS84 point."""
        if self._to_plane is None:
            raise ValueError("MapFrame built without a plane; use MapFrame.at / of / fitted")
        u, v = self._to_plane.transform(longitude_deg, latitude_deg)
        du, dv = (float(u) - self._plane_origin[0]) / self.scale, (float(v) - self._plane_origin[1]) / self.scale
        cos_y, sin_y = math.cos(self._plane_yaw_rad), math.sin(self._plane_yaw_rad)
        return cos_y * du + sin_y * dv, -sin_y * du + cos_y * dv

    def to_wgs84(self, x_m: float, y_m: float) -> tuple[float, float]:
        """(latitude_deg, longitude_deg) of a map-frame point."""
        if self._from_plane is None:
            raise ValueError("MapFrame built without a plane; use MapFrame.at / of / fitted")
        cos_y, sin_y = math.cos(self._plane_yaw_rad), math.sin(self._plane_yaw_rad)
        u = self._plane_origin[0] + self.scale * (cos_y * x_m - sin_y * y_m)
        v = self._plane_origin[1] + self.scale * (sin_y * x_m + cos_y * y_m)
        longitude_deg, latitude_deg = self._from_plane.transform(u, v)
        return float(latitude_deg), float(longitude_deg)

    def bearing_deg(self, yaw_rad: float) -> float:
        """Compass bearing (0 = north, clockwise) of a heading given as a yaw in this map frame."""
        return (90.0 - math.degrees(yaw_rad) - self.yaw_deg) % 360.0

    def describe(self) -> str:
        """One line for logs: origin, yaw and plane."""
        return (f"map origin ({self.origin_latitude_deg:.7f}, {self.origin_longitude_deg:.7f}), "
                f"x axis at yaw {self.yaw_deg:.2f} deg from east, {self.projection.value}")  # fmt: skip

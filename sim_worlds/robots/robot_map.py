"""A sim robot's own `map` frame: the world's frame, or one placed on the Earth by a datum (no ROS).

The simulation drives on the world's walk graph in the world's local frame. A real Nav2 robot
localises in a map frame of its own, so the sim robot can be given a datum (`MapDatumSetting`): its
goals, odometry, amcl_pose and feedback are then in that frame, and it answers robot_localization's
fromLL / toLL as navsat_transform would. Without a datum its map is the world's frame, unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mission_planner.geodesy import LocalFrame
from mission_planner.map_frame import MapFrame, MapProjection


@dataclass(frozen=True)
class MapDatumSetting:
    """Map origin (WGS84), x-axis yaw (deg, 0 = east, CCW) and plane, as given in ROS parameters."""

    latitude_deg: float
    longitude_deg: float
    yaw_deg: float = 0.0
    projection: str = MapProjection.LOCAL_CARTESIAN.value

    def frame(self) -> MapFrame:
        """The map frame this datum places (ValueError naming a bad value)."""
        return MapFrame.at(self.latitude_deg, self.longitude_deg, self.yaw_deg, self.projection)


class RobotMap:
    """World-frame poses <-> the robot's map frame; the identity when it has no datum of its own."""

    def __init__(self, world: LocalFrame, datum: MapDatumSetting | None = None) -> None:
        self.world = world
        self.datum = datum
        self.frame = datum.frame() if datum is not None else MapFrame.of(world)
        self._yaw_rad = math.radians(self.frame.yaw_deg)

    def to_map(self, x_m: float, y_m: float) -> tuple[float, float]:
        """A world-frame point in the robot's map frame."""
        if self.datum is None:
            return x_m, y_m
        return self.frame.to_local(*self.world.to_wgs84(x_m, y_m))

    def to_world(self, x_m: float, y_m: float) -> tuple[float, float]:
        """A map-frame point in the world's frame."""
        if self.datum is None:
            return x_m, y_m
        return self.world.to_local(*self.frame.to_wgs84(x_m, y_m))

    def yaw_to_map(self, yaw_rad: float) -> float:
        """A world-frame yaw (0 = east) as a yaw in the map frame."""
        return yaw_rad - self._yaw_rad

    def from_wgs84(self, latitude_deg: float, longitude_deg: float) -> tuple[float, float]:
        """fromLL: a WGS84 point in the map frame."""
        return self.frame.to_local(latitude_deg, longitude_deg)

    def to_wgs84(self, x_m: float, y_m: float) -> tuple[float, float]:
        """toLL: a map-frame point in WGS84."""
        return self.frame.to_wgs84(x_m, y_m)

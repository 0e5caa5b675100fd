"""A robot's own WGS84 -> map conversion: robot_localization's `FromLL` service (navsat_transform).

A Nav2 robot with GPS runs navsat_transform, whose `fromLL` service (robot_localization/srv/FromLL:
`geographic_msgs/GeoPoint ll_point` -> `geometry_msgs/Point map_point`) converts a WGS84 point into
the robot's map frame, whatever datum, plane (UTM or local cartesian) and yaw the robot uses.

Goals go through the service, point by point. Positions come at 10 Hz per robot, too often for a
service call each, so at connect a grid of points around the world's origin is converted by the
robot and a `MapFrame` is fitted to them (least squares): positions then convert locally, and the
fit's worst residual is logged. navsat_transform answers (0, 0, 0) while it has no transform yet
(no fix, no datum); such answers count as "not ready" and are asked again until the timeout.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from mission_planner.geodesy import LocalFrame
from mission_planner.map_frame import MapFrame

from ..errors import AdapterTimeout, CommandRefused
from .ros2_bridge import BridgeError, Ros2Bridge

logger = logging.getLogger(__name__)

FIT_SPAN_M = 2000.0  # the fit grid reaches this far from the world origin, covering a robot's service area
FIT_WARN_RESIDUAL_M = 0.25  # a worse fit is logged: the robot's frame is not a plain rotated plane here
_RETRY_S = 0.5


class FromLLClient:
    """Converts WGS84 points through one robot's FromLL service and fits its map frame."""

    def __init__(self, vehicle_id: str, service: str, bridge: Ros2Bridge, *, call_timeout_s: float = 5.0) -> None:
        self.vehicle_id = vehicle_id
        self.service = service
        self.bridge = bridge
        self.call_timeout_s = call_timeout_s
        self._client: Any = None

    async def open(self) -> None:
        """Get the service client (made once per bridge, in the ROS thread; the bridge keeps it)."""
        if self._client is None:
            self._client = await self.bridge.call(
                lambda: self.bridge.entities(f"fromLL {self.service}", self._create),
                timeout_s=self.call_timeout_s, what=f"{self.vehicle_id}: create FromLL client",
            )  # fmt: skip

    def _create(self) -> Any:
        from robot_localization.srv import FromLL

        return self.bridge.node.create_client(FromLL, self.service)

    async def map_point(self, latitude_deg: float, longitude_deg: float) -> tuple[float, float]:
        """(x_m, y_m) in the robot's map frame, as the robot converts the point."""
        from robot_localization.srv import FromLL

        client = self._require("navigate_to_pose")
        request = FromLL.Request()
        request.ll_point.latitude, request.ll_point.longitude = latitude_deg, longitude_deg
        request.ll_point.altitude = 0.0
        try:
            response = await self.bridge.call(lambda: client.call_async(request), timeout_s=self.call_timeout_s,
                                              what=f"{self.vehicle_id}: {self.service}")  # fmt: skip
        except BridgeError as exc:
            raise AdapterTimeout(self.vehicle_id, "fromLL", str(exc)) from exc
        x_m, y_m = float(response.map_point.x), float(response.map_point.y)
        if not (math.isfinite(x_m) and math.isfinite(y_m)):
            raise CommandRefused(self.vehicle_id, "fromLL",
                                 f"{self.service} answered ({x_m}, {y_m}) for ({latitude_deg}, {longitude_deg})")
        return x_m, y_m

    async def fit(self, anchor: LocalFrame, timeout_s: float) -> MapFrame:
        """The robot's map frame, fitted to its own conversions of a 3 x 3 grid around `anchor`'s origin."""
        client = self._require("connect")
        deadline = time.monotonic() + timeout_s
        while not await self.bridge.call(client.service_is_ready, timeout_s=timeout_s, what="fromLL ready"):
            if time.monotonic() > deadline:
                raise AdapterTimeout(self.vehicle_id, "connect", f"no FromLL service at {self.service} within "
                                     f"{timeout_s} s (robot_localization navsat_transform)")  # fmt: skip
            await asyncio.sleep(0.05)
        probes = [anchor.to_wgs84(x, y) for x in (-FIT_SPAN_M, 0.0, FIT_SPAN_M) for y in (-FIT_SPAN_M, 0.0, FIT_SPAN_M)]
        while True:
            answers = [await self.map_point(lat, lon) for lat, lon in probes]
            if any(x != 0.0 or y != 0.0 for x, y in answers):
                break
            if time.monotonic() > deadline:
                raise AdapterTimeout(self.vehicle_id, "connect", f"{self.service} answers (0, 0) for every point: "
                                     "navsat_transform has no transform yet (no GPS fix or datum)")  # fmt: skip
            await asyncio.sleep(_RETRY_S)
        try:
            frame, residual_m = MapFrame.fitted(probes, answers, anchor=anchor)
        except ValueError as exc:
            raise CommandRefused(self.vehicle_id, "connect", f"{self.service}: cannot fit a map frame ({exc})") from exc
        level = logging.WARNING if residual_m > FIT_WARN_RESIDUAL_M else logging.INFO
        logger.log(level, "%s: map frame from %s: %s, scale %.6f, worst residual %.3f m over +-%.0f m",
                   self.vehicle_id, self.service, frame.describe(), frame.scale, residual_m, FIT_SPAN_M)
        return frame

    def _require(self, call: str) -> Any:
        if self._client is None:
            raise CommandRefused(self.vehicle_id, call, f"FromLL client for {self.service} not open; connect() first")
        return self._client

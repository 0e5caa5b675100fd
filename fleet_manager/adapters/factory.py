"""One adapter per configured vehicle: the only place that picks a concrete adapter class.

The runtime calls `AdapterFactory.build` for each vehicle of the fleet file; ROS 2 robots share
one `Ros2Bridge` (rclpy node and executor thread), started on first use and closed with the
factory. Heavy imports (pymavlink, rclpy) happen only for the kinds the fleet has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame
from mission_planner.profiles import VehicleProfile

from .base import VehicleAdapter


def mavlink_timeouts_for(clock: Clock) -> Any:
    """MAVLink timeouts for a clock: clock-second waits grow with the speed-up (round trips do not shrink).

    At speed-up 1 these are the adapter's defaults.
    """
    from .mavlink_adapter import MavlinkTimeouts

    speedup = clock.speedup
    return MavlinkTimeouts(
        mode_change_clock_s=max(5.0, 2.0 * speedup),
        link_lost_clock_s=max(5.0, 3.0 * speedup),
        takeoff_clock_s=max(60.0, 10.0 * speedup),
    )


class AdapterFactory:
    """Builds adapters for one process: MAVLink drones, ROS 2 Nav2 robots (one shared bridge), vans."""

    def __init__(self, *, frame: LocalFrame, clock: Clock, ros_domain_id: int | None = None) -> None:
        self.frame = frame
        self.clock = clock
        self.ros_domain_id = ros_domain_id
        self._bridge: Any = None
        self._transports: dict[str, Any] = {}  # MAVLink sockets by address: drones sharing a URL share one

    def build(
        self, vehicle_id: str, adapter: str, url: str, profile: VehicleProfile,
        *, options: Mapping[str, Any] | None = None, map_datum: Any = None, fromll_service: str | None = None,
    ) -> VehicleAdapter:
        """The adapter named `adapter` ('mavlink', 'ros2', 'van') for a vehicle reachable at `url`.

        `options` are the MAVLink adapter's link options (GCS ids, system id, signing, Remote ID).
        A ROS 2 robot's map frame is the world's frame, or the one its `map_datum` (fleet file
        `MapDatum`) places, or the one its robot_localization `fromll_service` converts into.
        """
        if adapter == "mavlink":
            from .mavlink_adapter import MavlinkAdapter

            return MavlinkAdapter(vehicle_id, url, clock=self.clock, battery_capacity_wh=profile.battery_wh,
                                  timeouts=mavlink_timeouts_for(self.clock), transport=self._transport(url),
                                  **(options or {}))
        if adapter == "ros2":
            from .ros2_adapter import Ros2Adapter

            frame: Any = self.frame
            if map_datum is not None:
                from mission_planner.map_frame import MapFrame

                frame = MapFrame.at(map_datum.latitude_deg, map_datum.longitude_deg, map_datum.yaw_deg,
                                    map_datum.projection)
            return Ros2Adapter(vehicle_id, self._ros_bridge(), frame, namespace=url.removeprefix("ros2:"),
                               clock=self.clock, fromll_service=fromll_service, world_frame=self.frame)
        if adapter == "van":
            from .van_adapter import VanAdapter

            return VanAdapter(vehicle_id, url)
        raise ValueError(f"vehicle {vehicle_id!r}: no adapter {adapter!r} (mavlink, ros2, van)")

    def _transport(self, url: str) -> Any:
        from .mavlink_link import MavlinkTransport, parse_url

        address = parse_url(url)
        transport = self._transports.get(address.url)
        if transport is None:
            transport = self._transports[address.url] = MavlinkTransport(address)
        return transport

    def _ros_bridge(self) -> Any:
        if self._bridge is None:
            from .ros2_bridge import Ros2Bridge

            bridge = Ros2Bridge(domain_id=self.ros_domain_id)
            bridge.start()
            self._bridge = bridge
        return self._bridge

    def close(self) -> None:
        """Stop the shared ROS 2 bridge, if one was started."""
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = None

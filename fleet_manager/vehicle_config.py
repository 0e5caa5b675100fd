"""Which vehicles a fleet manager drives, from `FINALMILE_VEHICLES`, and their adapters.

`FINALMILE_VEHICLES` is a comma-separated list of `vehicle_id=URL`; the URL scheme says the kind:
- MAVLink drone: `tcp:HOST:PORT`, `udp:HOST:PORT`, `udpin:HOST:PORT`, `udpout:HOST:PORT`
  (ArduCopter SITL instance I is `tcp:127.0.0.1:5760+10·I`; a radio through MAVProxy is `udp:0.0.0.0:14550`);
- ROS 2 Nav2 robot: `ros2:/NAMESPACE` (e.g. `robot_1=ros2:/robot_1`), on `FINALMILE_ROS_DOMAIN_ID`;
- van driver app: `van:tcp:HOST:PORT`.
Example: `FINALMILE_VEHICLES='drone-1=tcp:127.0.0.1:5760,robot_1=ros2:/robot_1,van-1=van:tcp:127.0.0.1:7100'`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame
from mission_planner.profiles import DEFAULT_PROFILES

from .adapters.base import VehicleAdapter, VehicleKind
from .errors import ConfigError

_MAVLINK_SCHEMES = ("tcp:", "udp:", "udpin:", "udpout:")
_VEHICLE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

@dataclass(frozen=True)
class VehicleEndpoint:
    """One configured vehicle: its id, its kind and where its adapter connects."""

    vehicle_id: str
    kind: VehicleKind
    url: str


def parse_vehicles(raw: str) -> tuple[VehicleEndpoint, ...]:
    """Parse `FINALMILE_VEHICLES`; a bad entry raises ConfigError naming it."""
    endpoints: list[VehicleEndpoint] = []
    for index, entry in enumerate(part.strip() for part in raw.split(",")):
        if not entry:
            continue
        vehicle_id, separator, url = (text.strip() for text in entry.partition("="))
        if not separator or not _VEHICLE_ID.match(vehicle_id) or not url:
            raise ConfigError(f"FINALMILE_VEHICLES entry {index + 1} {entry!r} is not 'vehicle_id=URL'")
        if url.startswith(_MAVLINK_SCHEMES):
            kind = VehicleKind.DRONE
        elif url.startswith("ros2:/"):
            kind = VehicleKind.ROBOT
        elif url.startswith("van:tcp:"):
            kind = VehicleKind.VAN
        else:
            raise ConfigError(
                f"FINALMILE_VEHICLES entry {vehicle_id!r}: unknown URL {url!r} "
                "(tcp:/udp:/udpin:/udpout: MAVLink drone, ros2:/namespace robot, van:tcp:host:port van)"
            )
        if any(e.vehicle_id == vehicle_id for e in endpoints):
            raise ConfigError(f"FINALMILE_VEHICLES names {vehicle_id!r} twice")
        endpoints.append(VehicleEndpoint(vehicle_id, kind, url))
    return tuple(endpoints)


def build_adapters(
    endpoints: tuple[VehicleEndpoint, ...], *, frame: LocalFrame, clock: Clock, ros_domain_id: int | None = None
) -> tuple[list[VehicleAdapter], Any]:
    """One adapter per endpoint; returns them with the shared ROS 2 bridge (None when no robot is configured)."""
    adapters: list[VehicleAdapter] = []
    bridge: Any = None
    for endpoint in endpoints:
        if endpoint.kind is VehicleKind.DRONE:
            from .adapters.mavlink_adapter import MavlinkAdapter

            battery_wh = DEFAULT_PROFILES[VehicleKind.DRONE].battery_wh
            adapters.append(MavlinkAdapter(endpoint.vehicle_id, endpoint.url, clock=clock,
                                           battery_capacity_wh=battery_wh))
        elif endpoint.kind is VehicleKind.ROBOT:
            from .adapters.ros2_adapter import Ros2Adapter
            from .adapters.ros2_bridge import Ros2Bridge

            if bridge is None:
                bridge = Ros2Bridge(domain_id=ros_domain_id)
                bridge.start()
            adapters.append(Ros2Adapter(endpoint.vehicle_id, bridge, frame,
                                        namespace=endpoint.url.removeprefix("ros2:"), clock=clock))
        else:
            from .adapters.van_adapter import VanAdapter

            adapters.append(VanAdapter(endpoint.vehicle_id, endpoint.url.removeprefix("van:")))
    return adapters, bridge

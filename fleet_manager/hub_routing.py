"""Which hub an order goes to: the hub named in the request, else the hub whose service area holds its destination.

A hub's **service area** is a circle: its centre is the hub's site in its world (or the fleet file's
`service_area.latitude_deg/longitude_deg`), its radius the fleet file's `service_area.radius_m`
(default `DEFAULT_SERVICE_RADIUS_M`; a fleet of one hub without a `service_area` has no bound: every
order goes to that hub, as before there were several). An order without `hub_id` goes to the hub whose area contains
its destination coordinates; when several areas contain it, to the one whose centre is nearest
(great-circle distance), ties broken by hub id so every replica routes alike. An order the rules
cannot place is refused with `HubUnresolved`, naming the request field to fix:

- `hub_id` names a hub the fleet does not have;
- `destination` lies in no hub's service area;
- `hub_id` is needed: several hubs, and the order gives a typed address (resolved by a hub's own
  address index, so the hub has to be known first) instead of coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyproj import Geod

from mission_planner.errors import FinalMileError

from .errors import ConfigError
from .fleet_file import FleetFile
from .world.model import world_spec

DEFAULT_SERVICE_RADIUS_M = 25_000.0  # a city's last-mile area around its hub (drones reach ~10 km, vans more)
_GEOD = Geod(ellps="WGS84")


class HubUnresolved(FinalMileError):
    """No hub can be chosen for an order; `field` is the request field that needs fixing."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class HubArea:
    """One hub's service area: a circle of `radius_m` around (latitude_deg, longitude_deg)."""

    hub_id: str
    latitude_deg: float
    longitude_deg: float
    radius_m: float | None  # None: no bound (the only hub of its fleet)

    def __post_init__(self) -> None:
        if self.radius_m is not None and not self.radius_m > 0:
            raise ConfigError(f"hub {self.hub_id!r}: service_area.radius_m must be positive, got {self.radius_m}")

    def distance_m(self, latitude_deg: float, longitude_deg: float) -> float:
        """Great-circle distance from the area's centre."""
        _, _, distance_m = _GEOD.inv(self.longitude_deg, self.latitude_deg, longitude_deg, latitude_deg)
        return float(distance_m)


@dataclass(frozen=True)
class HubRouter:
    """The hubs an API process takes orders for, and the rule that picks one (module docstring)."""

    areas: tuple[HubArea, ...]

    @property
    def hub_ids(self) -> tuple[str, ...]:
        """Every hub orders may go to."""
        return tuple(area.hub_id for area in self.areas)

    def route(self, *, hub_id: str | None, latitude_deg: float | None, longitude_deg: float | None) -> str:
        """The order's hub; `HubUnresolved` naming the field when none can be chosen."""
        if hub_id is not None:
            if hub_id not in self.hub_ids:
                raise HubUnresolved("hub_id", f"no hub {hub_id!r} in this fleet (hubs: {', '.join(self.hub_ids)})")
            return hub_id
        if latitude_deg is None or longitude_deg is None:
            if len(self.areas) == 1:
                return self.areas[0].hub_id
            raise HubUnresolved("hub_id", "this fleet has several hubs and a typed address is resolved by one "
                                          "hub's address index: name the hub, or give destination coordinates")
        inside = [(area.distance_m(latitude_deg, longitude_deg), area.hub_id) for area in self.areas
                  if area.radius_m is None or area.distance_m(latitude_deg, longitude_deg) <= area.radius_m]
        if not inside:
            raise HubUnresolved("destination", f"({latitude_deg:.5f}, {longitude_deg:.5f}) is in no hub's service "
                                               "area; name the hub with hub_id to send it anyway")
        return min(inside)[1]


def router_for_fleet(fleet_file: FleetFile, hub_ids: Sequence[str] | None = None) -> HubRouter:
    """The router over the fleet file's hubs (or those of `hub_ids`), centres from the worlds' hub sites."""
    areas = []
    default_radius_m = None if len(fleet_file.hubs) == 1 else DEFAULT_SERVICE_RADIUS_M
    for hub in fleet_file.hubs:
        if hub_ids is not None and hub.hub_id not in hub_ids:
            continue
        area = hub.service_area
        latitude_deg = area.latitude_deg if area is not None else None
        longitude_deg = area.longitude_deg if area is not None else None
        if latitude_deg is None or longitude_deg is None:
            site = world_spec(hub.world)[0]["hub"]  # the YAML only: no world graphs are built for routing
            latitude_deg, longitude_deg = float(site["latitude_deg"]), float(site["longitude_deg"])
        areas.append(HubArea(hub.hub_id, latitude_deg, longitude_deg,
                             area.radius_m if area is not None else default_radius_m))
    return HubRouter(tuple(areas))


def single_hub(hub_id: str, latitude_deg: float, longitude_deg: float) -> HubRouter:
    """The router of a process serving one hub without a fleet file (every order goes there)."""
    return HubRouter((HubArea(hub_id, latitude_deg, longitude_deg, None),))

"""The vehicles one fleet-manager process drives: their adapters and what each can carry, keyed by hub.

Nothing here knows which back-end an adapter speaks to (simulator, SITL, real vehicle): the
dispatcher and monitors only see `VehicleAdapter` and the `VehicleProfile` given at registration.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from mission_planner.errors import FinalMileError
from mission_planner.profiles import VehicleProfile as VehicleProfile

from .adapters.base import LinkStatus, VehicleAdapter, VehicleKind, VehicleState


class FleetError(FinalMileError):
    """A vehicle is unknown or registered twice."""


LINK_DOWN = "link down"  # FleetVehicle.out_of_service of a vehicle whose link is not (yet) up


@dataclass
class FleetVehicle:
    """One vehicle as the dispatcher tracks it: adapter, profile, home, and what it is doing."""

    adapter: VehicleAdapter
    hub_id: str
    profile: VehicleProfile
    home_latitude_deg: float
    home_longitude_deg: float
    mission_id: str | None = None
    order_ids: tuple[str, ...] = ()
    out_of_service: str = ""  # why the vehicle may not be given work ("" = in service)
    carried_by: str | None = None  # the van this drone/robot rides on (van handoff), None = flies from the hub
    adapter_url: str = ""  # where the adapter connects (for the store and the operator)
    link_lost_since_s: float | None = None
    odometer_m: float = 0.0
    energy_used_wh: float = 0.0
    busy_s: float = 0.0
    tracks: list[tuple[float, float, float]] = field(default_factory=list)  # (stamp_s, lat, lon)

    @property
    def vehicle_id(self) -> str:
        """The adapter's vehicle id."""
        return self.adapter.vehicle_id

    @property
    def kind(self) -> VehicleKind:
        """Drone, robot or van."""
        return self.adapter.kind

    def state(self) -> VehicleState | None:
        """Newest telemetry."""
        return self.adapter.latest_state()

    def is_available(self) -> bool:
        """In service, connected, without a mission, and (drones) landed and disarmed."""
        state = self.state()
        if state is None or self.out_of_service or self.mission_id is not None:
            return False
        if self.kind is VehicleKind.DRONE and (state.armed or state.relative_altitude_m > 1.0):
            return False  # a mission 'ends' at its last item; the drone may still be landing
        return state.link is LinkStatus.CONNECTED and state.position_valid


class Fleet:
    """Vehicles per hub (a hub is the unit a process owns; see DESIGN 'When one machine is outgrown')."""

    def __init__(self) -> None:
        self._by_hub: dict[str, dict[str, FleetVehicle]] = {}
        self._by_id: dict[str, FleetVehicle] = {}

    def add(
        self,
        hub_id: str,
        adapter: VehicleAdapter,
        profile: VehicleProfile,
        *,
        home_latitude_deg: float,
        home_longitude_deg: float,
        carried_by: str | None = None,
        adapter_url: str = "",
    ) -> FleetVehicle:
        """Register a connected adapter under its hub."""
        if adapter.vehicle_id in self._by_id:
            raise FleetError(f"vehicle {adapter.vehicle_id!r} is already in the fleet")
        vehicle = FleetVehicle(adapter, hub_id, profile, home_latitude_deg, home_longitude_deg,
                               carried_by=carried_by, adapter_url=adapter_url)
        self._by_hub.setdefault(hub_id, {})[adapter.vehicle_id] = vehicle
        self._by_id[adapter.vehicle_id] = vehicle
        return vehicle

    def remove(self, vehicle_id: str) -> FleetVehicle:
        """Take a vehicle out (its hub is led elsewhere now); FleetError when unknown."""
        vehicle = self.get(vehicle_id)
        del self._by_id[vehicle_id]
        hub = self._by_hub[vehicle.hub_id]
        del hub[vehicle_id]
        if not hub:
            del self._by_hub[vehicle.hub_id]
        return vehicle

    def get(self, vehicle_id: str) -> FleetVehicle:
        """The vehicle with this id; FleetError naming the known ones otherwise."""
        try:
            return self._by_id[vehicle_id]
        except KeyError:
            raise FleetError(f"unknown vehicle {vehicle_id!r}; known: {', '.join(sorted(self._by_id))}") from None

    def __contains__(self, vehicle_id: object) -> bool:
        return vehicle_id in self._by_id

    def hubs(self) -> tuple[str, ...]:
        """Hub ids with at least one vehicle."""
        return tuple(sorted(self._by_hub))

    def vehicles(self, hub_id: str | None = None) -> list[FleetVehicle]:
        """Vehicles of one hub (or all), by id."""
        if hub_id is None:
            return [self._by_id[v] for v in sorted(self._by_id)]
        hub = self._by_hub.get(hub_id, {})
        return [hub[v] for v in sorted(hub)]

    def __iter__(self) -> Iterator[FleetVehicle]:
        return iter(self.vehicles())

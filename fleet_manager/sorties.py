"""What planning hands the dispatcher: the vehicles it may use (`FleetSlot`), one mission per vehicle
(`Sortie`) with the drones and robots a van launches on the way (`Handoff`), and how the trips of a
planned route map to them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from mission_planner.geodesy import LocalFrame
from mission_planner.plan import Leg, LegKind, VehicleRoute

from .adapters.base import Mission, MissionStep, StepKind, VehicleKind, VehicleState
from .domain.orders import DeliveryMode
from .fleet import FleetVehicle
from .missions import trip_order_ids


@dataclass(frozen=True)
class FleetSlot:
    """A vehicle the planner may give work: idle now (`busy_until_s` None) or busy until a forecast time.

    `state` is the telemetry snapshot taken in the event loop (adapters are not thread-safe and the
    planner runs in a worker thread).
    """

    vehicle: FleetVehicle
    busy_until_s: float | None = None
    state: VehicleState | None = None
    # A drone or robot its van left at the hub while the van is out: planned as a hub vehicle until the van is back
    # (idle at the hub, it would otherwise wait hours for a van that took no trip of it), on trips that end by
    # `back_by_s`, when the van is due back, so it is there to ride out on the van's next trip.
    from_hub: bool = False
    back_by_s: float = math.inf

    @property
    def carried_by(self) -> str | None:
        """The van the planner launches this vehicle from this time: None for a hub vehicle (or one left at the hub)."""
        return None if self.from_hub else self.vehicle.carried_by

    @property
    def idle(self) -> bool:
        """Free to start a mission now."""
        return self.busy_until_s is None


@dataclass(frozen=True)
class Handoff:
    """A drone or robot the van sets down at one of its stops and takes back aboard at that or a later stop (or that
    flies home to the hub, `to_hub`).

    Step indexes are the van mission's DELIVER steps at the two stops; a WAIT of the plan's launch
    (recovery) time follows each. Between them the van drives on; at the recovery stop it stands
    until the vehicle is back, which makes it wait only when the vehicle is not there yet
    (`planned_wait_s` is how long the plan expects that to be).
    """

    vehicle_id: str
    launch_step_index: int
    recovery_step_index: int
    sortie: Sortie  # the carried vehicle's own mission, started once the van has launched it
    planned_wait_s: float = 0.0
    launch_order_id: str = ""  # the van's stop: the parcel it hands over there
    recovery_order_id: str = ""
    # it flies home to the hub after its trip and lands there (`mission_planner.hub_return`): the van never takes it
    # back aboard (`recovery_step_index` -1, `recovery_order_id` "")
    to_hub: bool = False

    @property
    def later_stop(self) -> bool:
        """Recovered at another stop than the launch stop."""
        return not self.to_hub and self.recovery_step_index != self.launch_step_index


@dataclass(frozen=True)
class Sortie:
    """One mission for one vehicle and the orders it carries."""

    vehicle_id: str
    mode: DeliveryMode
    mission: Mission
    order_ids: tuple[str, ...]
    eta_s: dict[str, float]  # order -> expected hand-over time
    planned_energy_wh: float
    planned_end_s: float = math.inf  # when the vehicle is expected back (the RETURN leg's end)
    handoffs: tuple[Handoff, ...] = ()  # van only: drones it carries and launches on the way
    details: Mapping[str, object] = field(default_factory=dict)  # extra facts for the stored mission
    payload_kg: Mapping[str, float] = field(default_factory=dict)  # order -> parcel weight (the battery check)

    @property
    def all_order_ids(self) -> tuple[str, ...]:
        """The orders of this mission and of the drones launched from it."""
        return self.order_ids + tuple(o for h in self.handoffs for o in h.sortie.order_ids)


def first_open_trip(route: VehicleRoute, dispatched: set[str]) -> tuple[Leg, ...] | None:
    """The route's first trip that delivers something not yet dispatched."""
    return next((trip for trip in route.trips()
                 if trip_order_ids(trip) and not set(trip_order_ids(trip)) & dispatched), None)


def waits_for_swap(route: VehicleRoute, trip: tuple[Leg, ...]) -> bool:
    """The planner starts the route with a battery swap: the present charge covers none of its trips."""
    return trip[0].kind is LegKind.CHARGE and trip[0] is route.legs[0]


def unmatched_trip(trip: Sequence[Leg], stops: Sequence[Leg]) -> str:
    """Why `launch_and_recovery_stops` finds no stops for a carried trip: its launch and recovery points and
    times against the van trip's stops (for the operator's log)."""
    launch = trip[0]
    recovery = next((leg for leg in trip if leg.kind is LegKind.RECOVERY), None)
    shown = "; ".join(f"({leg.to_xy_m[0]:.0f}, {leg.to_xy_m[1]:.0f}) at {leg.arrival_s:.0f} s" for leg in stops)
    back = (f"recovered at ({recovery.to_xy_m[0]:.0f}, {recovery.to_xy_m[1]:.0f}) by {recovery.end_s:.0f} s"
            if recovery is not None else "no recovery")
    return (f"launched at ({launch.from_xy_m[0]:.0f}, {launch.from_xy_m[1]:.0f}) at {launch.start_s:.0f} s, "
            f"{back}; van stops: {shown or 'none'}")


AT_HUB_M = 100.0  # a van this close to its home is at the hub (where the parcels are loaded)
_STREET_DETOUR = 1.4  # street distance over straight distance, for a van's drive back to the hub


def at_hub(vehicle: FleetVehicle, state: VehicleState, frame: LocalFrame) -> bool:
    """The vehicle stands at its hub (within `AT_HUB_M` of its home), by its own report."""
    return state.position_valid and _from_home_m(vehicle, state, frame) <= AT_HUB_M


def _from_home_m(vehicle: FleetVehicle, state: VehicleState, frame: LocalFrame) -> float:
    """Straight distance (m) from the vehicle's reported position to its home."""
    here = frame.to_local(state.latitude_deg, state.longitude_deg)
    return math.dist(here, frame.to_local(vehicle.home_latitude_deg, vehicle.home_longitude_deg))


def van_away_from_hub_m(vehicle: FleetVehicle, state: VehicleState | None, frame: LocalFrame) -> float:
    """How far (straight, m) an idle van stands from its hub: 0 when at the hub, not a van or position unknown.

    Parcels are loaded at the hub, so a van away from it (staged before a forecast peak) must drive back
    before it can deliver anything: the planner starts it there, later, and its mission goes via the hub.
    """
    if vehicle.kind is not VehicleKind.VAN or state is None:
        return 0.0
    away_m = _from_home_m(vehicle, state, frame)
    return away_m if away_m > AT_HUB_M else 0.0


def staged_van_start(vehicle: FleetVehicle, state: VehicleState, frame: LocalFrame) -> dict[str, float] | None:
    """Where and when the planner starts a van that stands away from its hub (None when it is at the hub): at
    the hub, once driven back (estimate: straight line x street detour), since parcels are loaded there."""
    away_m = van_away_from_hub_m(vehicle, state, frame)
    if not away_m:
        return None
    back_s = state.stamp_s + away_m * _STREET_DETOUR / max(0.5, vehicle.profile.speed_m_s)
    return {"latitude_deg": vehicle.home_latitude_deg, "longitude_deg": vehicle.home_longitude_deg,
            "available_from_s": back_s}


def via_hub_if_away(sortie: Sortie, slot: FleetSlot, frame: LocalFrame) -> Sortie:
    """A van's sortie that first drives to its hub to load the parcels when the van stands away from it."""
    vehicle = slot.vehicle
    if not van_away_from_hub_m(vehicle, slot.state, frame):
        return sortie
    home = MissionStep(StepKind.GOTO, vehicle.home_latitude_deg, vehicle.home_longitude_deg)
    return replace(sortie, mission=replace(sortie.mission, steps=(home, *sortie.mission.steps)))

"""The planner's output: per vehicle an ordered list of legs with times, distances and energy.

Legs are plain frozen dataclasses. Positions are in the world's local frame (``*_xy_m``: metres
east, north of the world origin); ``to_latitude_deg``/``to_longitude_deg`` are filled in when the
plan was made with a frame (`plan_fleet` does). Times are epoch seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .drone_paths import Waypoint
from .geodesy import LocalFrame
from .model import VehicleKind


class LegKind(StrEnum):
    """What a vehicle does during a leg."""

    PICKUP = "pickup"  # load parcels at a depot
    DROPOFF = "dropoff"  # travel to a recipient (or locker) and hand the parcel over
    RETURN = "return"  # travel back to the depot
    LAUNCH = "launch"  # a drone/robot leaves its van at a van stop
    RECOVERY = "recovery"  # a drone/robot travels back to its van and is taken aboard
    CHARGE = "charge"  # battery swap / charge at the depot between trips
    WAIT = "wait"  # a van waits at a stop for its drone/robot to come back


_TRIP_STARTS = frozenset({LegKind.CHARGE, LegKind.PICKUP, LegKind.LAUNCH})


@dataclass(frozen=True)
class Leg:
    """One step of a vehicle's plan, from `start_s` to `end_s` (arrival at `arrival_s` before service)."""

    kind: LegKind
    vehicle_id: str
    start_s: float
    arrival_s: float
    end_s: float
    from_xy_m: tuple[float, float]
    to_xy_m: tuple[float, float]
    distance_m: float = 0.0
    energy_wh: float = 0.0
    order_ids: tuple[str, ...] = ()
    at_locker: bool = False
    trip: int = 0  # trip number as the planner made it (restarts after a replan): group with VehicleRoute.trips()
    waypoints: tuple[Waypoint, ...] = ()  # drone legs: climb, cruise corners, descent (local frame)
    to_latitude_deg: float | None = None
    to_longitude_deg: float | None = None

    def waypoints_wgs84(self, frame: LocalFrame) -> tuple[tuple[float, float, float], ...]:
        """Drone waypoints as (latitude_deg, longitude_deg, altitude_m above ground)."""
        return tuple((*frame.to_wgs84(w.x_m, w.y_m), w.altitude_m) for w in self.waypoints)


@dataclass(frozen=True)
class VehicleRoute:
    """All legs of one vehicle, in time order."""

    vehicle_id: str
    kind: VehicleKind
    legs: tuple[Leg, ...]

    @property
    def order_ids(self) -> tuple[str, ...]:
        """Orders delivered on this route, in delivery order."""
        return tuple(o for leg in self.legs if leg.kind in (LegKind.DROPOFF,) for o in leg.order_ids)

    def trips(self) -> tuple[tuple[Leg, ...], ...]:
        """The legs grouped into trips, in time order: the one grouping every caller uses.

        A trip starts where the vehicle sets out: a CHARGE/PICKUP at a depot (a battery swap belongs
        to the trip it powers) or a LAUNCH from its van, and runs until the next such start. Built
        from the leg kinds, not from `Leg.trip`, so routes joined by re-planning (whose trip numbers
        start again at 0) still split where the vehicle set out again.
        """
        grouped: list[list[Leg]] = []
        for leg in self.legs:
            starts = leg.kind in _TRIP_STARTS
            if not grouped or (starts and any(x.kind not in _TRIP_STARTS for x in grouped[-1])):
                grouped.append([])
            grouped[-1].append(leg)
        return tuple(tuple(legs) for legs in grouped)

    @property
    def distance_m(self) -> float:
        """Total distance travelled."""
        return sum(leg.distance_m for leg in self.legs)

    @property
    def energy_wh(self) -> float:
        """Total energy used."""
        return sum(leg.energy_wh for leg in self.legs)

    @property
    def end_s(self) -> float:
        """When the vehicle finishes its last leg (its start if it has none)."""
        return self.legs[-1].end_s if self.legs else 0.0


@dataclass(frozen=True)
class Plan:
    """A fleet plan: routes for every vehicle that has work, and the orders left out with the reason."""

    routes: tuple[VehicleRoute, ...]
    unplanned: Mapping[str, str]  # order_id -> reason
    objective_value: float
    feasible: bool
    made_at_s: float
    runtime_s: float
    notes: Mapping[str, float] = field(default_factory=dict)

    def route(self, vehicle_id: str) -> VehicleRoute | None:
        """The route of one vehicle, or None if it has no work."""
        return next((r for r in self.routes if r.vehicle_id == vehicle_id), None)

    @property
    def planned_order_ids(self) -> tuple[str, ...]:
        """Every order the plan delivers."""
        return tuple(o for route in self.routes for o in route.order_ids)

    @property
    def makespan_s(self) -> float:
        """Time from `made_at_s` until the last vehicle finishes."""
        return max((r.end_s for r in self.routes), default=self.made_at_s) - self.made_at_s

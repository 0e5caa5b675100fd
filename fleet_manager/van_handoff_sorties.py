"""A van's sortie with the trips of the drones and robots it carries: launched and recovered at its stops."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from mission_planner.plan import Leg, LegKind, Plan
from mission_planner.van_handoff import homebound_launch_stop, launch_and_recovery_stops

from .adapters.base import StepKind, VehicleKind
from .fleet import FleetVehicle
from .missions import MissionBuildError, trip_order_ids, with_waits_after
from .sorties import FleetSlot, Handoff, Sortie, unmatched_trip

logger = logging.getLogger(__name__)


class BuildSortie(Protocol):
    """Makes one vehicle's sortie from its planned trip (`FleetPlanner.sortie`)."""

    def __call__(self, vehicle: FleetVehicle, legs: Sequence[Leg], now_s: float, *,
                 meet_at: tuple[float, float] | None = None, plan_start_s: float | None = None,
                 launch_at: tuple[float, float] | None = None) -> Sortie: ...


def with_handoffs(
    sortie: Sortie, van_legs: Sequence[Leg], plan: Plan, slots: Sequence[FleetSlot], now_s: float, taken: set[str],
    build: BuildSortie,
) -> Sortie:
    """The van's sortie with the trips its drones and robots make from its stops: each is launched at the
    van stop the plan launches it from and recovered at the stop the plan recovers it at (the van's
    mission gets a WAIT of the plan's launch / recovery time after the DELIVER at each), and carries the
    vehicle's own mission, which ends where the van stands at the recovery stop, or (a drone the plan sends
    home, `mission_planner.hub_return`) at the drone's home, the hub.
    Trips with an order in `taken` (dispatched, or no longer offered) stay home; `build` makes a carried
    vehicle's sortie (`FleetPlanner.sortie`)."""
    stops = [leg for leg in van_legs if leg.kind is LegKind.DROPOFF and leg.order_ids]
    hub_xy = next((leg.to_xy_m for leg in van_legs if leg.kind is LegKind.PICKUP), None)
    van_kerb = {step.order_id: (step.latitude_deg, step.longitude_deg) for step in sortie.mission.steps
                if step.kind is StepKind.DELIVER and step.latitude_deg is not None
                and step.longitude_deg is not None}
    planned: list[_Planned] = []
    waits_s: dict[str, float] = {}
    for slot in slots:
        carried = slot.vehicle
        if (not slot.idle or slot.carried_by != sortie.vehicle_id
                or carried.kind not in (VehicleKind.DRONE, VehicleKind.ROBOT)):
            continue
        route = plan.route(carried.vehicle_id)
        for trip in route.trips() if route is not None else ():
            if set(trip_order_ids(trip)) & taken or trip[0].kind is not LegKind.LAUNCH:
                continue
            if trip[0].start_s > van_legs[-1].end_s:
                continue  # launched on one of the van's later trips, planned again before that one
            found = launch_and_recovery_stops(trip, stops)
            home_from = (homebound_launch_stop(trip, stops, hub_xy)
                         if found is None and hub_xy is not None and carried.kind is VehicleKind.DRONE else None)
            launch_stop: Leg
            recovery_stop: Leg | None
            if found is not None:
                launch_stop, recovery_stop = found
            elif home_from is not None:
                launch_stop, recovery_stop = home_from, None
            else:
                logger.warning("%s: trip of %s with %s is not launched and recovered at its stops (%s)",
                               sortie.vehicle_id, carried.vehicle_id, ", ".join(trip_order_ids(trip)),
                               unmatched_trip(trip, stops))
                continue
            meet_at = (van_kerb.get(recovery_stop.order_ids[-1]) if recovery_stop is not None
                       else (carried.home_latitude_deg, carried.home_longitude_deg))
            if meet_at is None:
                continue  # the van's mission does not stop there (the parcel was withdrawn)
            try:
                carried_sortie = build(carried, trip, now_s, meet_at=meet_at,
                                       plan_start_s=van_legs[0].start_s,
                                       launch_at=van_kerb.get(launch_stop.order_ids[-1]))
            except MissionBuildError as exc:
                logger.warning("%s: %s", carried.vehicle_id, exc)
                continue
            launch_leg = trip[0]
            recovery_leg = next(leg for leg in trip if leg.kind is LegKind.RECOVERY)
            handled = [(launch_stop, launch_leg.end_s - launch_leg.start_s)]
            planned_wait_s = 0.0
            if recovery_stop is not None:
                planned_wait_s = max(0.0, recovery_leg.arrival_s - recovery_stop.arrival_s)
                handled.append((recovery_stop, recovery_leg.end_s - recovery_leg.arrival_s))
            for stop, handling_s in handled:
                order_id = stop.order_ids[-1]
                waits_s[order_id] = waits_s.get(order_id, 0.0) + max(0.0, handling_s)
            planned.append(_Planned(carried.vehicle_id, launch_stop, recovery_stop, carried_sortie, planned_wait_s))
    if not planned:
        return sortie
    mission, deliver_index = with_waits_after(sortie.mission, waits_s)
    handoffs = tuple(sorted((p.handoff(deliver_index) for p in planned),
                            key=lambda h: (h.launch_step_index, h.vehicle_id)))
    return replace(sortie, mission=mission, handoffs=handoffs)


@dataclass(frozen=True)
class _Planned:
    """A carried trip matched to the van's stops (`recovery` None: it flies home to the hub)."""

    vehicle_id: str
    launch: Leg
    recovery: Leg | None
    sortie: Sortie
    planned_wait_s: float

    def handoff(self, deliver_index: Mapping[str, int]) -> Handoff:
        """The `Handoff`, its stops as step indexes of the van's mission (`deliver_index`: order -> DELIVER)."""
        launch_order_id = self.launch.order_ids[-1]
        if self.recovery is None:
            return Handoff(self.vehicle_id, deliver_index[launch_order_id], -1, self.sortie, 0.0, launch_order_id,
                           "", to_hub=True)
        recovery_order_id = self.recovery.order_ids[-1]
        return Handoff(self.vehicle_id, deliver_index[launch_order_id], deliver_index[recovery_order_id], self.sortie,
                       self.planned_wait_s, launch_order_id, recovery_order_id)

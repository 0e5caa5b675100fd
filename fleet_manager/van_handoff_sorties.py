"""A van's sortie with the trips of the drones and robots it carries: launched and recovered at its stops."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from mission_planner.plan import Leg, LegKind, Plan
from mission_planner.van_handoff import launch_and_recovery_stops

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
    vehicle's own mission, which ends where the van stands at the recovery stop.
    Trips with an order in `taken` (dispatched, or no longer offered) stay home; `build` makes a carried
    vehicle's sortie (`FleetPlanner.sortie`)."""
    stops = [leg for leg in van_legs if leg.kind is LegKind.DROPOFF and leg.order_ids]
    van_kerb = {step.order_id: (step.latitude_deg, step.longitude_deg) for step in sortie.mission.steps
                if step.kind is StepKind.DELIVER and step.latitude_deg is not None
                and step.longitude_deg is not None}
    planned: list[tuple[str, Leg, Leg, Sortie, float]] = []  # vehicle, launch stop, recovery stop, trip, wait
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
            if found is None:
                logger.warning("%s: trip of %s with %s is not launched and recovered at its stops (%s)",
                               sortie.vehicle_id, carried.vehicle_id, ", ".join(trip_order_ids(trip)),
                               unmatched_trip(trip, stops))
                continue
            launch_stop, recovery_stop = found
            meet_at = van_kerb.get(recovery_stop.order_ids[-1])
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
            planned_wait_s = max(0.0, recovery_leg.arrival_s - recovery_stop.arrival_s)
            for stop, handling_s in ((launch_stop, launch_leg.end_s - launch_leg.start_s),
                                     (recovery_stop, recovery_leg.end_s - recovery_leg.arrival_s)):
                order_id = stop.order_ids[-1]
                waits_s[order_id] = waits_s.get(order_id, 0.0) + max(0.0, handling_s)
            planned.append((carried.vehicle_id, launch_stop, recovery_stop, carried_sortie, planned_wait_s))
    if not planned:
        return sortie
    mission, deliver_index = with_waits_after(sortie.mission, waits_s)
    handoffs = tuple(sorted(
        (Handoff(vehicle_id, deliver_index[launch.order_ids[-1]], deliver_index[recovery.order_ids[-1]],
                 carried_sortie, planned_wait_s, launch.order_ids[-1], recovery.order_ids[-1])
         for vehicle_id, launch, recovery, carried_sortie, planned_wait_s in planned),
        key=lambda h: (h.launch_step_index, h.vehicle_id)))
    return replace(sortie, mission=mission, handoffs=handoffs)

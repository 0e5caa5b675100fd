"""The live van handoff as a truck–drone problem, solved by the sortie search from the greedy plan.

`van_handoff` finds a greedy handoff schedule first (`handoff.improve`, Murray & Chu's savings
moves); `search_schedule` then states the same van trip as a `TruckDroneProblem` with the live
rules and runs `truck_drone.solve` from that greedy schedule, so the answer is never worse than it:
- the van's stops in its planned order (node 0 the hub), van and carrier travel times, the van's
  service, launch and recovery times; a carrier may be recovered at its launch stop or a later one;
- a carrier never leaves from the hub when the dispatcher's policy forbids it (`launch_at_depot`), nor
  comes back to it to be recovered at the trip's end (`recovery_at_depot`);
- each parcel goes only to a carrier it allows and that can serve it (size, kind, airspace);
- every delivery inside its window (and a cold-chain parcel within its time out of the hub);
- each carrier's battery across its successive sorties of the trip: flight energy from the
  matrices plus hovering while it waits for the van, its reserve kept; a drone gets one of the
  van's `spare_packs` charged packs at each recovery while the van has one (robots charge in the
  van's bay, which is not counted: on the safe side).
Every schedule the search returns is checked by the independent validator (`schedule_check`) and,
for the limits the problem does not state (`launches_per_stop`, `sorties_per_carrier`), by the
policy; a schedule that fails is not used.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import PlanningError
from .handoff import HandoffParams, HandoffSchedule, Sortie
from .schedule_check import violations
from .truck_drone import DroneBattery, TruckDroneProblem, TruckDroneResult, solve

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CarrierLimits:
    """What the problem needs of each carrier (one entry per carrier, in the carriers' order)."""

    allowed: np.ndarray  # (carriers, nodes) bool: the carrier may take the parcel of that node
    charge_wh: tuple[float, ...]
    capacity_wh: tuple[float, ...]  # inf: no battery limit modelled
    reserve_wh: tuple[float, ...]
    hover_w: float  # power while waiting for the van (0 for robots)
    spare_packs: int  # charged packs aboard the van for these carriers


def handoff_problem(
    van_time: np.ndarray,
    carrier_time: np.ndarray,
    eligible: set[int],
    params: HandoffParams,
    *,
    launch_at_depot: bool,
    recovery_at_depot: bool = True,
    windows_s: np.ndarray,
    limits: CarrierLimits,
    sortie_wh: np.ndarray,
) -> TruckDroneProblem:
    """The van trip as a `TruckDroneProblem` with the live rules (see the module docstring); `sortie_wh` is the
    (nodes, nodes, nodes) flight energy [launch, customer, recovery], hovering for the van left out."""
    size = len(van_time)
    endurance = np.full((size, size, size), math.inf)
    if not launch_at_depot:
        endurance[0, :, :] = -1.0  # no sortie can leave from the hub
    if not recovery_at_depot:
        endurance[:, :, 0] = -1.0  # none can end at the hub (node 0 is also where the van's trip ends)
    battery = DroneBattery(
        np.asarray(sortie_wh, dtype=float),
        limits.hover_w,
        limits.charge_wh,
        limits.capacity_wh,
        limits.reserve_wh,
        limits.spare_packs,
    )
    return TruckDroneProblem.build(
        van_time,
        carrier_time,
        eligible,
        drones=params.carriers,
        launch_s=params.launch_s,
        recovery_s=params.recovery_s,
        depot_launch_s=params.launch_s,
        truck_service_s=params.van_service_s,
        drone_service_s=params.carrier_service_s,
        endurance_s=endurance,
        endurance_counts_launch=False,
        endurance_counts_recovery=False,
        same_stop_recovery=True,
        window_s=windows_s,
        drone_allowed=limits.allowed,
        battery=battery,
    )


def search_schedule(
    problem: TruckDroneProblem,
    greedy: HandoffSchedule | None,
    *,
    seed: int,
    time_limit_s: float,
    max_iterations: int | None = None,
    launches_per_stop: int | None = None,
    sorties_per_carrier: int | None = None,
) -> HandoffSchedule | None:
    """The best schedule the search finds from `greedy` (None: from its own start), as a `HandoffSchedule`;
    None when it found no sortie or its schedule breaks a rule (then the caller keeps the greedy plan)."""
    initial = None
    if greedy is not None:
        last = len(greedy.tour) - 1
        initial = (
            list(greedy.tour),
            {
                s.customer: (
                    s.carrier,
                    greedy.tour[s.launch_pos],
                    0 if s.recovery_pos == last else greedy.tour[s.recovery_pos],
                )
                for s in greedy.sorties
            },
        )
    try:
        result = solve(problem, seed=seed, time_limit_s=time_limit_s, max_iterations=max_iterations, initial=initial)
    except PlanningError as exc:
        logger.info("handoff search: %s; keeping the greedy plan", exc)
        return None
    if not result.sorties:
        return None
    broken = [f"{v.rule}: {v.detail}" for v in violations(problem, result)]
    broken += _policy_broken(result, launches_per_stop, sorties_per_carrier)
    if broken:
        logger.error(
            "handoff search: schedule refused by the validator (%s); keeping the greedy plan", "; ".join(broken)
        )
        return None
    return as_handoff(result)


def _policy_broken(
    result: TruckDroneResult, launches_per_stop: int | None, sorties_per_carrier: int | None
) -> list[str]:
    """The dispatcher's limits the problem does not state, checked on the schedule."""
    broken = []
    if launches_per_stop is not None:
        for position in {s.launch_pos for s in result.sorties}:
            count = sum(1 for s in result.sorties if s.launch_pos == position)
            if count > launches_per_stop:
                broken.append(f"policy: {count} launches at stop {position}, at most {launches_per_stop}")
    if sorties_per_carrier is not None:
        for drone in {s.drone for s in result.sorties}:
            count = sum(1 for s in result.sorties if s.drone == drone)
            if count > sorties_per_carrier:
                broken.append(f"policy: carrier {drone} flies {count} sorties, at most {sorties_per_carrier}")
    return broken


def as_handoff(result: TruckDroneResult) -> HandoffSchedule:
    """A truck–drone result in the handoff planner's terms (positions, carrier, launch/delivery/recovery times)."""
    sorties = tuple(
        Sortie(
            s.launch_pos, s.customer, s.recovery_pos, s.drone, s.launch_start_s, s.arrive_customer_s, s.recovery_end_s
        )
        for s in result.sorties
    )
    return HandoffSchedule(result.tour, sorties, result.makespan_s, result.arrival_s, result.departure_s)


def windows_from(orders: Sequence[tuple[float, float]], start_s: float) -> np.ndarray:
    """(nodes, 2) delivery windows relative to the van's start; row 0 (the hub) is open."""
    rows = [(-math.inf, math.inf), *((early - start_s, late - start_s) for early, late in orders)]
    windows = np.array(rows, dtype=float)
    if bool((windows[:, 0] > windows[:, 1]).any()):
        raise PlanningError("an order's delivery window closes before it opens")
    return windows

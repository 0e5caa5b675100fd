"""When a van whose trip is due leaves the hub: now, or after waiting for more parcels (consolidation).

A van that leaves as soon as one parcel is planned for it drives a whole tour out and back for a parcel
or two, and is away when the next ones come in: where recipients are scattered (valleys, villages),
the drive to the first stop dominates, and vans spend the day carrying a few parcels each. A van
standing at the hub therefore waits for the next planning cycles to give it more parcels while that
costs no promise: it leaves at once when its trip is full, when any parcel on it has no deadline to
keep (no window, or already so close that the planner dropped it: late beats never), when the
planned hand-over of any parcel on it (its own or its drones' and robots') comes closer than
`keep_slack_s` to that parcel's window end, when it has waited `max_hold_s`, or when it has waited as
long as the trip's stem: the drive from the hub to its first stop and back from its last, the part of
the trip more parcels would share. That last bound is the rent-or-buy rule (wait at most what leaving
now costs extra; it never loses more than twice the best choice made knowing the orders to come): in a
compact city the stem is minutes and vans barely wait, up a mountain valley it is most of an hour.
The same rule holds for every fleet and world; with windows shorter than `keep_slack_s` past the
planned arrival it never holds, which is the old behaviour.

The slack kept covers what makes a van later than planned after it left (street traffic, recipients slow
at the door, drones it waits for at a recovery stop) and the cycle between two checks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

from mission_planner.fleet import OrderSpec
from mission_planner.geodesy import LocalFrame

from .adapters.base import VehicleKind
from .sorties import FleetSlot, Sortie, van_away_from_hub_m

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VanConsolidation:
    """How long a van at the hub may wait for more parcels (0 s: it leaves as soon as a trip is due)."""

    max_hold_s: float = 1800.0  # the longest a due van trip waits at the hub
    keep_slack_s: float = 1800.0  # it leaves when a parcel's planned hand-over comes this close to its window end


class VanDepartures:
    """Decides, cycle by cycle, which due van trips wait at the hub; remembers since when each van waits."""

    def __init__(self, policy: VanConsolidation, frame: LocalFrame) -> None:
        self.policy = policy
        self.frame = frame
        self._waiting_since: dict[str, float] = {}  # van -> when its trip was first held back

    def waits(self, slot: FleetSlot, sortie: Sortie, specs: Mapping[str, OrderSpec], now_s: float) -> bool:
        """Whether the van of `sortie` (due now) stays at the hub this cycle; `specs` are the orders offered."""
        van_id = slot.vehicle.vehicle_id
        why_go = self._why_leave(slot, sortie, specs, now_s)
        if why_go:
            if van_id in self._waiting_since:
                logger.info("%s leaves with %d parcels: %s", van_id, len(sortie.all_order_ids), why_go)
            self._waiting_since.pop(van_id, None)
            return False
        if van_id not in self._waiting_since:
            self._waiting_since[van_id] = now_s
            logger.info("%s waits at the hub for more parcels (%d planned)", van_id, len(sortie.all_order_ids))
        return True

    def waiting(self, van_id: str) -> bool:
        """The van was held back at the hub by the last cycle (its planned trip has not left, on purpose)."""
        return van_id in self._waiting_since

    def forget_others(self, waiting_ids: set[str]) -> None:
        """Vans not held this cycle (sent, busy, or given no trip) start a fresh wait next time."""
        for van_id in set(self._waiting_since) - waiting_ids:
            del self._waiting_since[van_id]

    def _why_leave(self, slot: FleetSlot, sortie: Sortie, specs: Mapping[str, OrderSpec], now_s: float) -> str:
        """Why the van goes now ("" when it may wait)."""
        policy, vehicle = self.policy, slot.vehicle
        if vehicle.kind is not VehicleKind.VAN or policy.max_hold_s <= 0:
            return "no consolidation"
        if van_away_from_hub_m(vehicle, slot.state, self.frame) > 0:
            return "it stands away from the hub"
        waited_s = now_s - self._waiting_since.get(vehicle.vehicle_id, now_s)
        if waited_s >= policy.max_hold_s:
            return f"waited {waited_s / 60:.0f} min"
        order_ids = sortie.all_order_ids
        if len(order_ids) >= vehicle.profile.capacity_parcels:
            return "full"
        van_etas = sorted(sortie.eta_s.values())
        stem_s = (van_etas[0] - now_s) + (sortie.planned_end_s - van_etas[-1]) if van_etas else 0.0
        if waited_s >= stem_s:
            return f"waited {waited_s / 60:.0f} min, the trip's drive out and back"
        etas = {**sortie.eta_s, **{o: t for h in sortie.handoffs for o, t in h.sortie.eta_s.items()}}
        for order_id in order_ids:
            spec = specs.get(order_id)
            latest_s = spec.latest_s if spec is not None else math.inf
            if not math.isfinite(latest_s):
                return f"{order_id} has no deadline to keep"
            eta_s = etas.get(order_id)
            if eta_s is None or latest_s - eta_s < policy.keep_slack_s:
                return f"{order_id} is due soon"
        return ""

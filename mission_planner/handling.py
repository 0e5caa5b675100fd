"""Handling classes as planning constraints: cold-chain parcels and fragile parcels.

A cold-chain parcel (``Order.max_out_s`` set) may only ride in a vehicle with an insulated box
(``Vehicle.cold_chain``) and must be handed over within ``max_out_s`` of leaving the hub's cold
store; a fragile parcel (``Order.max_shock_g``) only in a vehicle whose ride and hand-over stay
under its shock limit (``Vehicle.ride_shock_g``). Both are per order and hard:

- `capable` bars a vehicle outright (the solver gives each barred vehicle its own load dimension);
- `reaches_in_time` bars a vehicle kind from a target its fastest trip cannot reach in time;
- `latest_handover_s` tightens the order's window so that even the vehicle leaving the hub right
  now (after loading) hands it over in time, so a multi-stop van route cannot break the limit;
- `refusal_reason` says, in one sentence, why no vehicle could take it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # model imports this module
    from .model import Order, Vehicle


def capable(order: Order, vehicle: Vehicle) -> bool:
    """The vehicle may carry this parcel at all: an insulated box for cold chain, a gentle enough ride for fragile."""
    if order.max_out_s is not None and not vehicle.cold_chain:
        return False
    return order.max_shock_g is None or vehicle.ride_shock_g <= order.max_shock_g


def reaches_in_time(order: Order, depart_to_handover_s: float) -> bool:
    """A trip from the hub's cold store that takes `depart_to_handover_s` keeps the parcel within its limit."""
    return order.max_out_s is None or depart_to_handover_s <= order.max_out_s


def latest_handover_s(order: Order, now_s: float, loading_s: float) -> float:
    """The latest hand-over that keeps the limit whatever the vehicle (one leaving now, after loading)."""
    if order.max_out_s is None:
        return math.inf
    return now_s + loading_s + order.max_out_s


def refusal_reason(order: Order, vehicles: Iterable[Vehicle], door_time_s: Mapping[str, float]) -> str | None:
    """Why no vehicle can take the order because of its handling class, or None when handling is not the cause.

    `door_time_s` maps vehicle ids to their fastest time from the hub to the door (inf where they cannot go).
    """
    fleet = [v for v in vehicles if v.carried_by is None]
    if order.max_shock_g is not None and not any(v.ride_shock_g <= order.max_shock_g for v in fleet):
        gentlest = min((v.ride_shock_g for v in fleet), default=math.inf)
        return (
            f"fragile: no vehicle rides within its shock limit of {order.max_shock_g:g} g "
            f"(the gentlest takes {gentlest:g} g)"
        )
    if order.max_out_s is None:
        return None
    insulated = [v for v in fleet if capable(order, v)]
    if not insulated:
        return "cold chain: no vehicle in this fleet has an insulated box for it"
    fastest_s = min((door_time_s.get(v.vehicle_id, math.inf) for v in insulated), default=math.inf)
    limit_min = order.max_out_s / 60.0
    if not math.isfinite(fastest_s):
        return "cold chain: no vehicle with an insulated box can reach the door"
    if fastest_s > order.max_out_s:
        return (
            f"cold chain: the fastest vehicle with an insulated box needs {fastest_s / 60.0:.0f} min from the "
            f"hub's cold store to the door, over the {limit_min:g} min it may spend out of conditioning"
        )
    return None

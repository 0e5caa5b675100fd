"""What the recipient tracking page shows for one order: status, ETA window, the vehicle when near, choices.

Read-only: built from one read session. The vehicle appears only while the parcel is on its way and
its vehicle reports a valid position within `radius_m` of the destination; before that the page says
"on the way" and shows no map. The choices are `domain.recipient_options`, the rules the store enforces.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pyproj
from sqlalchemy.orm import Session

from fleet_manager.domain import recipient_options
from fleet_manager.domain.errors import NotFound
from fleet_manager.domain.orders import Order, OrderStatus
from fleet_manager.store import fleet as fleet_store
from fleet_manager.store import lockers as locker_store
from fleet_manager.store import orders as order_store
from fleet_manager.store.lockers import Locker

from .schemas.common import _utc
from .schemas.tracking import (
    TrackEtaOut,
    TrackLeaveAtDoorOut,
    TrackLockerOut,
    TrackOptionsOut,
    TrackOut,
    TrackPointOut,
    TrackRedirectOut,
    TrackRescheduleOut,
    TrackSlotOut,
    TrackVehicleOut,
)

_GEOD = pyproj.Geod(ellps="WGS84")
S = OrderStatus
ON_THE_WAY = frozenset({S.OUT_FOR_DELIVERY, S.HANDED_OFF})
LOCKERS_OFFERED = 5
SLOT_S = 2 * 3600.0
SLOTS_OFFERED = 6

STATUS_TEXT: dict[OrderStatus, str] = {
    S.RECEIVED: "Your parcel has arrived at the hub",
    S.ADDRESS_REVIEW: "We are checking the delivery address",
    S.ON_HOLD: "Your parcel is held at the hub for a check",
    S.AWAITING_CUSTOMS: "Your parcel is waiting for customs clearance",
    S.READY: "Your parcel is ready for delivery",
    S.PLANNED: "Your delivery is being planned",
    S.ASSIGNED: "Your delivery is planned",
    S.LOADED: "Your parcel is loaded and leaves soon",
    S.OUT_FOR_DELIVERY: "Your parcel is on the way",
    S.HANDED_OFF: "Your parcel is on the way",
    S.DELIVERED: "Your parcel has been delivered",
    S.ATTEMPT_FAILED: "We could not deliver your parcel",
    S.RESCHEDULED: "Your delivery has a new window",
    S.DIVERTED_TO_LOCKER: "Your parcel is going to a parcel locker",
    S.DELIVERED_TO_LOCKER: "Your parcel is in the parcel locker",
    S.PICKED_UP: "You have collected your parcel",
    S.RETURNED_TO_HUB: "Your parcel is back at the hub",
    S.CANCELLED: "This delivery was cancelled",
}


@dataclass(frozen=True)
class ViewSettings:
    """The page's knobs (FINALMILE_TRACKING_*)."""

    radius_m: float
    refresh_s: float


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance on WGS84."""
    return float(_GEOD.inv(lon1, lat1, lon2, lat2)[2])


def street_only(street: str) -> str:
    """The street's name without house, staircase or flat numbers (enough to recognise one's own parcel)."""
    return re.split(r"\s+\d", street.strip(), maxsplit=1)[0]


def _eta(session: Session, order: Order) -> TrackEtaOut | None:
    """The window kept on the order (the model's p10-p90, or the planner's ETA with its margin), else the
    out_for_delivery notification's, else the delivery window asked for (as the API falls back)."""
    if order.status not in ON_THE_WAY:
        return None
    if order.eta:
        by_model = str(order.eta.get("source", "")).startswith("model:")
        return TrackEtaOut(earliest=_utc(order.eta["earliest_s"]), latest=_utc(order.eta["latest_s"]),
                           source="model" if by_model else "planned")
    sent = [n["payload"] for n in order_store.list_notifications(session, order_id=order.order_id)
            if n["kind"] == "out_for_delivery"]
    if sent and sent[-1].get("eta_earliest_s") is not None and sent[-1].get("eta_latest_s") is not None:
        return TrackEtaOut(earliest=_utc(sent[-1]["eta_earliest_s"]), latest=_utc(sent[-1]["eta_latest_s"]),
                           source="planned")
    if order.window_start_s is not None and order.window_end_s is not None:
        return TrackEtaOut(earliest=_utc(order.window_start_s), latest=_utc(order.window_end_s), source="requested")
    return None


def _vehicle(session: Session, order: Order, radius_m: float) -> TrackVehicleOut | None:
    """The parcel's own vehicle, only while on the way and within `radius_m` of the destination."""
    if order.status not in ON_THE_WAY or order.vehicle_id is None:
        return None
    try:
        vehicle = fleet_store.get_vehicle(session, vehicle_id=order.vehicle_id, hub_ids=[order.hub_id])
    except NotFound:
        return None
    state = vehicle.state
    latitude, longitude = state.get("latitude_deg"), state.get("longitude_deg")
    if not isinstance(latitude, int | float) or not isinstance(longitude, int | float) \
            or state.get("position_valid") is False or not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    destination = order.destination
    away_m = distance_m(latitude, longitude, destination.latitude_deg, destination.longitude_deg)
    if away_m > radius_m:
        return None
    return TrackVehicleOut(
        kind=order.mode,
        position=TrackPointOut(latitude_deg=round(latitude, 6), longitude_deg=round(longitude, 6)),
        destination=TrackPointOut(latitude_deg=destination.latitude_deg, longitude_deg=destination.longitude_deg),
        distance_m=round(away_m, 0), radius_m=radius_m,
    )


def _locker_out(locker: Locker, order: Order) -> TrackLockerOut:
    away_m = distance_m(order.destination.latitude_deg, order.destination.longitude_deg, locker.latitude_deg,
                        locker.longitude_deg)
    return TrackLockerOut(locker_id=locker.locker_id, name=locker.name, address=locker.address,
                          distance_m=round(away_m, 0), conditioned=locker.conditioned)


def eligible_lockers(session: Session, order: Order) -> list[TrackLockerOut]:
    """The nearest lockers of the order's hub that may take it (a cold-chain parcel: conditioned ones only)."""
    lockers = [_locker_out(lk, order) for lk in locker_store.list_lockers(session, hub_id=order.hub_id)
               if lk.conditioned or not order.is_cold_chain]
    return sorted(lockers, key=lambda lk: (lk.distance_m, lk.locker_id))[:LOCKERS_OFFERED]


def reschedule_slots(now_s: float) -> list[TrackSlotOut]:
    """Two-hour windows from the next full hour at least an hour away."""
    first_s = math.ceil((now_s + 3600.0) / 3600.0) * 3600.0
    return [TrackSlotOut(start=_utc(first_s + i * SLOT_S), end=_utc(first_s + (i + 1) * SLOT_S))
            for i in range(SLOTS_OFFERED)]


def options(session: Session, order: Order, now_s: float) -> TrackOptionsOut:
    """The recipient's choices now, each with why it is closed."""
    reschedule = recipient_options.reschedule_refusal(order.status)
    redirect = recipient_options.redirect_refusal(order)
    lockers = eligible_lockers(session, order) if not redirect else []
    if not redirect and not lockers:
        redirect = "no parcel locker near you can take this parcel"
    door = recipient_options.leave_at_door_refusal(order)
    return TrackOptionsOut(
        reschedule=TrackRescheduleOut(available=not reschedule, reason=reschedule,
                                      slots=reschedule_slots(now_s) if not reschedule else []),
        redirect_to_locker=TrackRedirectOut(available=not redirect, reason=redirect, lockers=lockers),
        leave_at_door=TrackLeaveAtDoorOut(available=not door, reason=door, chosen=order.leave_at_door),
    )


def build(session: Session, order: Order, *, settings: ViewSettings, now_s: float) -> TrackOut:
    """The page's data for `order` (found by its token) at clock time `now_s`."""
    locker = None
    if order.locker_id is not None and order.status in recipient_options.AT_A_LOCKER | {S.PICKED_UP}:
        locker = _locker_out(locker_store.get_locker(session, locker_id=order.locker_id), order)
    window = None
    if order.window_start_s is not None and order.window_end_s is not None:
        window = TrackSlotOut(start=_utc(order.window_start_s), end=_utc(order.window_end_s))
    return TrackOut(
        reference=order.reference,
        status=order.status,
        status_text=STATUS_TEXT[order.status],
        street=street_only(order.destination.street),
        on_the_way=order.status in ON_THE_WAY,
        eta=_eta(session, order),
        window=window,
        vehicle=_vehicle(session, order, settings.radius_m),
        locker=locker,
        options=options(session, order, now_s),
        updated_at=_utc(order.updated_at_s),
        refresh_s=settings.refresh_s,
    )

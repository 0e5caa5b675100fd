"""Recipient notifications: what the backend turns into SMS/app messages, built from status changes.

Pure functions: the store calls them inside the transaction that changes the status, and writes
their result both to the `notifications` table and to the outbox (so it reaches the backend).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .orders import Order, OrderStatus

DEFAULT_ETA_SPREAD_S = 15 * 60.0  # half-width of the ETA window when the dispatcher gives a point ETA


class NotificationKind(enum.StrEnum):
    """The recipient-facing messages."""

    OUT_FOR_DELIVERY = "out_for_delivery"
    ARRIVING_SOON = "arriving_soon"
    DELIVERED = "delivered"
    ATTEMPT_FAILED = "attempt_failed"
    DIVERTED_TO_LOCKER = "diverted_to_locker"
    DELIVERED_TO_LOCKER = "delivered_to_locker"


@dataclass(frozen=True)
class LockerInfo:
    """A parcel locker as the recipient needs to find it."""

    locker_id: str
    name: str
    address: str
    latitude_deg: float
    longitude_deg: float


@dataclass(frozen=True)
class Notification:
    """One message for the recipient of `order_id`."""

    kind: NotificationKind
    order_id: str
    payload: dict[str, Any]


def eta_window(order: Order, at_s: float, details: Mapping[str, Any]) -> tuple[float, float]:
    """ETA window from the dispatcher's `eta_s` (± spread) or its explicit bounds, else the order's window."""
    if details.get("eta_earliest_s") is not None and details.get("eta_latest_s") is not None:
        return float(details["eta_earliest_s"]), float(details["eta_latest_s"])
    if details.get("eta_s") is not None:
        eta_s = float(details["eta_s"])
        return max(at_s, eta_s - DEFAULT_ETA_SPREAD_S), eta_s + DEFAULT_ETA_SPREAD_S
    if order.window_start_s is not None and order.window_end_s is not None:
        return max(at_s, order.window_start_s), order.window_end_s
    return at_s, at_s + 4 * DEFAULT_ETA_SPREAD_S


def next_options(order: Order) -> list[str]:
    """What a recipient can answer after a failed attempt (each is an API action)."""
    options = ["reschedule", "redirect_to_locker"]
    if order.allow_leave_at_door:
        options.append("leave_at_door")
    return options


def for_transition(
    order: Order,
    target: OrderStatus,
    at_s: float,
    details: Mapping[str, Any],
    *,
    locker: LockerInfo | None = None,
    pickup_code: str | None = None,
    compartment: str | None = None,
) -> Notification | None:
    """The notification a status change produces for the recipient, or None."""
    base: dict[str, Any] = {"reference": order.reference, "recipient": order.recipient.name, "at_s": at_s}
    if target is OrderStatus.OUT_FOR_DELIVERY:
        earliest_s, latest_s = eta_window(order, at_s, details)
        payload = {**base, "mode": details.get("mode"), "eta_earliest_s": earliest_s, "eta_latest_s": latest_s}
        return Notification(NotificationKind.OUT_FOR_DELIVERY, order.order_id, payload)
    if target is OrderStatus.DELIVERED:
        proof = {
            "delivered_at_s": at_s,
            "latitude_deg": details.get("latitude_deg"),
            "longitude_deg": details.get("longitude_deg"),
            "vehicle_id": details.get("vehicle_id") or order.vehicle_id,
            "photo_id": details.get("photo_id") or f"photo-{order.order_id}-{int(at_s)}",
            "left_at_door": order.leave_at_door,
        }
        return Notification(NotificationKind.DELIVERED, order.order_id, {**base, "proof": proof})
    if target is OrderStatus.ATTEMPT_FAILED:
        payload = {**base, "reason": details.get("reason", ""), "next_options": next_options(order)}
        return Notification(NotificationKind.ATTEMPT_FAILED, order.order_id, payload)
    if target is OrderStatus.DIVERTED_TO_LOCKER and locker is not None:
        payload = {
            **base,
            "locker": {
                "locker_id": locker.locker_id,
                "name": locker.name,
                "address": locker.address,
                "latitude_deg": locker.latitude_deg,
                "longitude_deg": locker.longitude_deg,
            },
            "compartment": compartment,
            # The only place the plain code ever appears; the store keeps a salted hash.
            "pickup_code": pickup_code,
        }
        return Notification(NotificationKind.DIVERTED_TO_LOCKER, order.order_id, payload)
    if target is OrderStatus.DELIVERED_TO_LOCKER:
        return Notification(
            NotificationKind.DELIVERED_TO_LOCKER, order.order_id, {**base, "locker_id": order.locker_id}
        )
    return None


def arriving_soon(order: Order, at_s: float, minutes: float, window: tuple[float, float] | None = None) -> Notification:
    """'Arriving in N minutes' (sent when the predicted ETA crosses the threshold), with the window when known."""
    payload: dict[str, Any] = {"reference": order.reference, "recipient": order.recipient.name, "at_s": at_s,
                               "minutes": minutes}
    if window is not None:
        payload["eta_earliest_s"], payload["eta_latest_s"] = window
    return Notification(NotificationKind.ARRIVING_SOON, order.order_id, payload)

"""The order model: statuses, delivery modes and the immutable records the store hands out."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class OrderStatus(enum.StrEnum):
    """Where an order is in its lifecycle (see `state_machine.TRANSITIONS`)."""

    RECEIVED = "received"
    ADDRESS_REVIEW = "address_review"  # a typed address did not resolve with confidence: an operator picks the door
    ON_HOLD = "on_hold"  # held at the hub (a cold-chain excursion before departure); an operator releases it
    AWAITING_CUSTOMS = "awaiting_customs"
    READY = "ready"
    PLANNED = "planned"
    ASSIGNED = "assigned"
    LOADED = "loaded"
    OUT_FOR_DELIVERY = "out_for_delivery"
    HANDED_OFF = "handed_off"
    DELIVERED = "delivered"
    ATTEMPT_FAILED = "attempt_failed"
    RESCHEDULED = "rescheduled"
    DIVERTED_TO_LOCKER = "diverted_to_locker"
    DELIVERED_TO_LOCKER = "delivered_to_locker"
    PICKED_UP = "picked_up"
    RETURNED_TO_HUB = "returned_to_hub"
    # after a restart the vehicle could not say whether it handed the parcel over: an operator confirms (never
    # flown again unasked: that could deliver it twice)
    NEEDS_REVIEW = "needs_review"
    CANCELLED = "cancelled"


class DeliveryMode(enum.StrEnum):
    """Which vehicle kind carries the parcel on its last leg."""

    DRONE = "drone"
    ROBOT = "robot"
    VAN = "van"


@dataclass(frozen=True)
class Address:
    """Where a parcel goes."""

    latitude_deg: float
    longitude_deg: float
    street: str = ""
    city: str = ""
    postcode: str = ""


@dataclass(frozen=True)
class Recipient:
    """Who receives it (the backend turns notifications into SMS/app messages)."""

    name: str
    phone: str = ""
    email: str = ""


@dataclass(frozen=True)
class Order:
    """One delivery order as stored; times are clock seconds since the epoch."""

    order_id: str
    hub_id: str
    status: OrderStatus
    reference: str
    recipient: Recipient
    destination: Address
    weight_kg: float
    customs_cleared: bool
    created_at_s: float
    updated_at_s: float
    version: int
    window_start_s: float | None = None
    window_end_s: float | None = None
    allow_leave_at_door: bool = False
    leave_at_door: bool = False
    mode: DeliveryMode | None = None
    vehicle_id: str | None = None
    mission_id: str | None = None
    locker_id: str | None = None
    attempts: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    handling: dict[str, Any] = field(default_factory=dict)  # `handling.Handling.to_json()`; {} for a plain parcel
    address_resolution: dict[str, Any] = field(default_factory=dict)  # typed address and what it resolved to
    unplannable_reason: str = ""  # why the planner could not plan it (last cycle); "" when it could
    eta: dict[str, Any] = field(default_factory=dict)  # predicted hand-over window (learning.eta_service)
    customs_forecast: dict[str, Any] = field(default_factory=dict)  # predicted clearance (learning.customs_model)

    @property
    def is_cold_chain(self) -> bool:
        """A cold-chain parcel (insulated box, temperature range, time out of conditioning)."""
        return bool(self.handling.get("cold_chain"))


@dataclass(frozen=True)
class OrderEvent:
    """One audited status change: who moved the order, when, why."""

    event_id: str
    order_id: str
    hub_id: str
    from_status: OrderStatus | None
    to_status: OrderStatus
    at_s: float
    actor: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

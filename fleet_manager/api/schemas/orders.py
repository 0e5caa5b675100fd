"""Bodies of orders, their events and notifications, the recipient's choices, batches, address reviews and
parcel conditions."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from fleet_manager.domain.orders import DeliveryMode, Order, OrderEvent, OrderStatus

from ..limits import ResourceId, SaneTime
from .common import MapKey, MapValue, Strict, _utc, to_time


class AddressIn(Strict):
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    street: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=100)
    postcode: str = Field(default="", max_length=20)


class RecipientIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(default="", max_length=64)
    email: str = Field(default="", max_length=200)


class ColdChainIn(Strict):
    """A cold-chain parcel: its temperature range and the longest it may spend out of conditioning."""

    min_temp_c: float = Field(ge=-40, le=40)
    max_temp_c: float = Field(ge=-40, le=40)
    max_minutes_out_of_conditioning: float = Field(gt=0, le=1440, description="from leaving the hub's cold store "
                                                   "to hand-over; the planner treats it as a hard limit")
    max_humidity_pct: float | None = Field(default=None, gt=0, le=100)
    warm_allowance_min: float | None = Field(
        default=None, ge=0, le=1440, description="minutes the parcel may spend above max_temp_c in total before "
        "that is an excursion (the product's time-out-of-refrigeration allowance); 0: every warm reading is one; "
        "unset: the server's FINALMILE_COLD_CHAIN_WARM_ALLOWANCE_MIN")

    @model_validator(mode="after")
    def _range(self) -> ColdChainIn:
        if self.max_temp_c <= self.min_temp_c:
            raise ValueError(f"max_temp_c ({self.max_temp_c:g}) must be above min_temp_c ({self.min_temp_c:g})")
        return self


class FragileIn(Strict):
    """A fragile parcel: the largest shock it may take (only vehicles riding gentler carry it)."""

    max_shock_g: float = Field(gt=0, le=200)


class HandlingIn(Strict):
    """Handling classes: cold chain, fragile, or both."""

    cold_chain: ColdChainIn | None = None
    fragile: FragileIn | None = None


class AddressTextIn(Strict):
    """An address as the recipient typed it (any format, Finnish/Swedish/Catalan/...), with optional hints."""

    text: str = Field(min_length=1, max_length=300)
    country: str | None = Field(default=None, max_length=60, description="ISO code or name, e.g. FI")
    language: str | None = Field(default=None, max_length=8, description="e.g. fi, sv, ca")


class OrderCreate(Strict):
    """A new delivery order from the logistics backend: a destination in coordinates, or a typed address."""

    hub_id: str | None = Field(default=None, max_length=64, description="defaults to the server's hub")
    reference: str = Field(default="", max_length=128, description="the backend's own order number")
    recipient: RecipientIn
    address: AddressTextIn | None = Field(default=None, description="a typed address, resolved to a building")
    destination: AddressIn | None = Field(default=None, validate_default=True,
                                          description="coordinates (or give `address` instead)")
    on_unresolved: Literal["review", "reject"] = Field(
        default="review", description="an address that does not resolve with confidence: wait in the review queue "
        "(202, state address_review) or refuse the order (422)")
    handling: HandlingIn | None = None
    weight_kg: float = Field(gt=0, le=100)
    customs_cleared: bool = False
    window_start: SaneTime | None = None
    window_end: SaneTime | None = None
    allow_leave_at_door: bool = False
    metadata: dict[MapKey, MapValue] = Field(default_factory=dict, max_length=32)

    @field_validator("destination")
    @classmethod
    def _one_destination(cls, value: AddressIn | None, info: ValidationInfo) -> AddressIn | None:
        if (value is None) == (info.data.get("address") is None):
            raise ValueError("give either destination (coordinates) or address (typed text), exactly one of them")
        return value

    @model_validator(mode="after")
    def _window(self) -> OrderCreate:
        if (self.window_start is None) != (self.window_end is None):
            raise ValueError("window_start and window_end go together")
        if self.window_start and self.window_end and self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self


class EtaOut(BaseModel):
    """The predicted hand-over window while the parcel is on its way."""

    earliest: dt.datetime = Field(description="p10 of the predicted hand-over time")
    expected: dt.datetime = Field(description="p50")
    latest: dt.datetime = Field(description="p90")
    source: str = Field(description="'model:<version>' when a trained model predicted it, 'fixed' for the planner's "
                        "ETA with a fixed margin")
    updated_at: dt.datetime

    @classmethod
    def of(cls, eta: dict[str, Any]) -> EtaOut | None:
        """From the stored `Order.eta` (None when there is none)."""
        if not eta:
            return None
        return cls(earliest=_utc(eta["earliest_s"]), expected=_utc(eta["expected_s"]), latest=_utc(eta["latest_s"]),
                   source=str(eta.get("source", "")), updated_at=_utc(eta["updated_at_s"]))


class CustomsForecastOut(BaseModel):
    """The expected customs clearance of a parcel still waiting for it."""

    expected_clearance_s: float = Field(description="expected time from arrival at customs to clearance")
    expected_cleared_at: dt.datetime
    held_long: bool = Field(description="predicted to be held longer than the hub's threshold (flagged early)")
    source: str


class OrderOut(BaseModel):
    order_id: str
    hub_id: str
    reference: str
    status: OrderStatus
    recipient: RecipientIn
    destination: AddressIn | None = Field(description="the drop point; null while the typed address awaits review")
    weight_kg: float
    customs_cleared: bool
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    allow_leave_at_door: bool
    leave_at_door: bool
    mode: DeliveryMode | None
    vehicle_id: str | None
    mission_id: str | None
    locker_id: str | None
    attempts: int
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    metadata: dict[str, Any]
    handling: dict[str, Any] = Field(default_factory=dict, description="cold_chain / fragile, as created")
    address_resolution: dict[str, Any] | None = Field(
        default=None, description="the typed address: resolved building, drop point, confidence, alternatives, "
        "index fingerprint, and the operator's decision after a review")
    unplannable_reason: str | None = Field(default=None, description="why the planner could not plan it")
    eta: EtaOut | None = Field(default=None, description="predicted hand-over window, refreshed on the way")
    customs_forecast: CustomsForecastOut | None = Field(default=None, description="predicted customs clearance")

    @classmethod
    def of(cls, order: Order) -> OrderOut:
        """From the domain record."""
        forecast = order.customs_forecast
        return cls(
            eta=EtaOut.of(order.eta),
            customs_forecast=CustomsForecastOut(
                expected_clearance_s=forecast["expected_clearance_s"],
                expected_cleared_at=_utc(forecast["expected_cleared_at_s"]),
                held_long=bool(forecast["held_long"]), source=str(forecast.get("source", "")),
            ) if forecast else None,
            handling=order.handling,
            address_resolution=order.address_resolution or None,
            unplannable_reason=order.unplannable_reason or None,
            order_id=order.order_id,
            hub_id=order.hub_id,
            reference=order.reference,
            status=order.status,
            recipient=RecipientIn(name=order.recipient.name, phone=order.recipient.phone, email=order.recipient.email),
            destination=None if order.status is OrderStatus.ADDRESS_REVIEW else AddressIn(
                latitude_deg=order.destination.latitude_deg,
                longitude_deg=order.destination.longitude_deg,
                street=order.destination.street,
                city=order.destination.city,
                postcode=order.destination.postcode,
            ),
            weight_kg=order.weight_kg,
            customs_cleared=order.customs_cleared,
            window_start=to_time(order.window_start_s),
            window_end=to_time(order.window_end_s),
            allow_leave_at_door=order.allow_leave_at_door,
            leave_at_door=order.leave_at_door,
            mode=order.mode,
            vehicle_id=order.vehicle_id,
            mission_id=order.mission_id,
            locker_id=order.locker_id,
            attempts=order.attempts,
            created_at=dt.datetime.fromtimestamp(order.created_at_s, dt.UTC),
            updated_at=dt.datetime.fromtimestamp(order.updated_at_s, dt.UTC),
            version=order.version,
            metadata=order.metadata,
        )


class OrderList(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null at the end")


class OrderEventOut(BaseModel):
    event_id: str
    order_id: str
    from_status: OrderStatus | None
    to_status: OrderStatus
    at: dt.datetime
    actor: str
    reason: str
    details: dict[str, Any]

    @classmethod
    def of(cls, event: OrderEvent) -> OrderEventOut:
        """From the audit record."""
        return cls(
            event_id=event.event_id,
            order_id=event.order_id,
            from_status=event.from_status,
            to_status=event.to_status,
            at=dt.datetime.fromtimestamp(event.at_s, dt.UTC),
            actor=event.actor,
            reason=event.reason,
            details=event.details,
        )


class CancelIn(Strict):
    reason: str = Field(default="", max_length=500)


class StatusChangeIn(Strict):
    """An operator (or the van driver app) moves an order; the state machine still decides."""

    to_status: OrderStatus
    reason: str = Field(min_length=1, max_length=500)
    mode: DeliveryMode | None = None
    vehicle_id: ResourceId | None = None
    mission_id: ResourceId | None = None
    locker_id: ResourceId | None = None
    details: dict[MapKey, MapValue | None] = Field(default_factory=dict, max_length=32)


class RescheduleIn(Strict):
    window_start: SaneTime
    window_end: SaneTime


class RedirectIn(Strict):
    locker_id: ResourceId | None = Field(default=None, description="omit for the nearest locker with room")


class LeaveAtDoorIn(Strict):
    leave_at_door: bool = True


class NotificationOut(BaseModel):
    notification_id: str
    kind: str
    created_at: dt.datetime
    payload: dict[str, Any]


class BatchOrderIn(Strict):
    """One order of a batch with its own idempotency key (as the Idempotency-Key header of a single create)."""

    idempotency_key: str = Field(min_length=1, max_length=200)
    order: OrderCreate


class OrderBatchIn(Strict):
    """Up to 1,000 orders created in one transaction."""

    orders: list[BatchOrderIn] = Field(min_length=1, max_length=1000)


class BatchItemOut(BaseModel):
    """What became of one order of a batch: its HTTP status as a single create would answer, and the order's
    id, status and version (201 created, 200 replayed; GET /v1/orders/{id} has the rest) or the problem
    (422: key reused with another body, hub not served)."""

    index: int
    status: int
    order_id: str | None = None
    order_status: OrderStatus | None = None
    version: int | None = None
    problem: dict[str, Any] | None = None


class OrderBatchOut(BaseModel):
    created: int
    replayed: int
    refused: int
    results: list[BatchItemOut]
class DeliveryReviewIn(Strict):
    """An operator's answer for a parcel in `needs_review`: handed over (delivered), or back at the hub."""

    delivered: bool = Field(description="true: the recipient has it (delivered); false: it is back at the hub and "
                                        "goes out again")
    reason: str = Field(min_length=1, max_length=500, description="what the operator checked (photo, call, shelf)")


class AddressDecisionIn(Strict):
    """An operator's answer to an address review: the building, a point on the map, or a corrected address."""

    building_id: str | None = Field(default=None, max_length=64, description="a building (or address id) of the "
                                    "world's address index, e.g. one of the review's alternatives")
    latitude_deg: float | None = Field(default=None, ge=-90, le=90)
    longitude_deg: float | None = Field(default=None, ge=-180, le=180)
    text: str | None = Field(default=None, min_length=1, max_length=300, description="a corrected typed address")
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _one_answer(self) -> AddressDecisionIn:
        given = [self.building_id is not None, self.latitude_deg is not None or self.longitude_deg is not None,
                 self.text is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of building_id, latitude_deg+longitude_deg, text")
        if (self.latitude_deg is None) != (self.longitude_deg is None):
            raise ValueError("latitude_deg and longitude_deg go together")
        return self


class AddressReviewOut(BaseModel):
    """An order waiting for an operator to pick its building."""

    order_id: str
    reference: str
    created_at: dt.datetime
    text: str
    status: str
    confidence: float
    reason: str
    alternatives: list[dict[str, Any]]


class ConditionReadingOut(BaseModel):
    at: dt.datetime
    temperature_c: float | None
    humidity_pct: float | None
    shock_g: float | None
    excursion: str


class ConditionOut(BaseModel):
    """A sensed parcel: its limits, newest reading, excursions, and recent readings (for a sparkline)."""

    order_id: str
    handling: dict[str, Any]
    latest: ConditionReadingOut | None
    readings_total: int
    excursions: int
    in_excursion: bool
    recent: list[ConditionReadingOut]

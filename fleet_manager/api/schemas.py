"""Request and response bodies of the Fleet API (pydantic); times are RFC 3339 UTC at the interface."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.domain.orders import DeliveryMode, Order, OrderEvent, OrderStatus
from fleet_manager.store.fleet import CommandKind, CommandStatus, MissionRecord, MissionStatus, Vehicle, VehicleCommand
from fleet_manager.store.lockers import Locker
from fleet_manager.store.outbox import OutboxEvent, redacted
from fleet_manager.traffic import TrafficReport

from .limits import ID_PATTERN, MAX_TEXT_CHARS, ResourceId, SaneTime, check_field_value, check_json_type

#: Keys of free-form maps (metadata, details): short names.
MapKey = Annotated[str, Field(min_length=1, max_length=64)]
#: Values of free-form maps: short scalars.
MapValue = Annotated[str, Field(max_length=500)] | int | float | bool


def to_time(stamp_s: float | None) -> dt.datetime | None:
    """Clock seconds -> aware UTC datetime."""
    return None if stamp_s is None else dt.datetime.fromtimestamp(stamp_s, dt.UTC)


def _utc(stamp_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(stamp_s), dt.UTC)


class Strict(BaseModel):
    """Bodies refuse unknown fields, so a typo is a 422 naming it rather than silently ignored.

    Every field of every body, whatever its type: numbers are finite, strings at most
    MAX_TEXT_CHARS unless the field says less, times within the sane range (`api/limits.py`).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=MAX_TEXT_CHARS)

    @field_validator("*", mode="after")
    @classmethod
    def _within_limits(cls, value: Any) -> Any:
        return check_field_value(value)

    @field_validator("*", mode="before")
    @classmethod
    def _json_types(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        return check_json_type(value, field.annotation) if field is not None else value


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


class VehicleIn(Strict):
    kind: VehicleKind
    hub_id: str | None = Field(default=None, max_length=64)
    name: str = Field(default="", max_length=200)
    adapter_url: str = Field(default="", max_length=300, description="e.g. tcp:127.0.0.1:5760 or ros2:robot_1")


class VehicleOut(BaseModel):
    vehicle_id: str
    hub_id: str
    kind: VehicleKind
    name: str
    adapter_url: str
    state: dict[str, Any]
    state_at: dt.datetime | None
    registered_at: dt.datetime

    @classmethod
    def of(cls, vehicle: Vehicle) -> VehicleOut:
        """From the store record."""
        return cls(
            vehicle_id=vehicle.vehicle_id,
            hub_id=vehicle.hub_id,
            kind=vehicle.kind,
            name=vehicle.name,
            adapter_url=vehicle.adapter_url,
            state=vehicle.state,
            state_at=to_time(vehicle.state_stamp_s),
            registered_at=dt.datetime.fromtimestamp(vehicle.registered_at_s, dt.UTC),
        )


class CommandIn(Strict):
    command: CommandKind
    reason: str = Field(default="", max_length=500)


class CommandOut(BaseModel):
    command_id: str
    vehicle_id: str
    command: CommandKind
    status: CommandStatus
    reason: str
    requested_by: str
    requested_at: dt.datetime
    finished_at: dt.datetime | None
    error: str
    detail: str = ""

    @classmethod
    def of(cls, command: VehicleCommand, detail: str = "") -> CommandOut:
        """From the store record."""
        return cls(
            command_id=command.command_id,
            vehicle_id=command.vehicle_id,
            command=command.command,
            status=command.status,
            reason=command.reason,
            requested_by=command.requested_by,
            requested_at=dt.datetime.fromtimestamp(command.requested_at_s, dt.UTC),
            finished_at=to_time(command.finished_at_s),
            error=command.error,
            detail=detail,
        )


#: Positions a zone may be sent with; larger rings are refused, and rings above
#: `zone_limits.MAX_ZONE_VERTICES` are simplified (the answer says so).
MAX_INPUT_VERTICES = 100_000
ZoneId = Annotated[str, Field(pattern=ID_PATTERN, description="1-64 of A-Z a-z 0-9 _ . - (used in URLs)")]
Position = Annotated[list[float], Field(min_length=2, max_length=3, description="[lon, lat] or [lon, lat, alt]")]
HHMM = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$")]


class GeometryIn(Strict):
    type: Literal["Polygon"]
    coordinates: list[Annotated[list[Position], Field(max_length=MAX_INPUT_VERTICES)]] = Field(
        min_length=1, max_length=1, description="one closed ring (no holes)"
    )


class ZoneWindowIn(Strict):
    """An absolute window (`start`, `end`) or a daily one (`daily_start`, `daily_end`, HH:MM UTC)."""

    start: SaneTime | None = None
    end: SaneTime | None = None
    daily_start: HHMM | None = None
    daily_end: HHMM | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ZoneWindowIn:
        absolute = self.start is not None and self.end is not None
        daily = self.daily_start is not None and self.daily_end is not None
        if absolute == daily or (absolute and (self.daily_start or self.daily_end)):
            raise ValueError("give either start and end, or daily_start and daily_end")
        if absolute and self.end <= self.start:  # type: ignore[operator]
            raise ValueError("end must be after start")
        return self


class ZonePropertiesIn(Strict):
    """As in `mission_planner.airspace.zone_from_feature`; altitudes in metres above ground."""

    id: ZoneId | None = None
    kind: Literal["no_fly", "restricted", "operating_area"]
    lower_m: float = Field(default=0.0, ge=-500, le=20_000)
    upper_m: float = Field(ge=-500, le=20_000)
    name: str = Field(default="", max_length=200)
    reason: str = Field(default="", max_length=500)
    allowed_operators: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=100
    )
    time_windows: list[ZoneWindowIn] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _band(self) -> ZonePropertiesIn:
        if self.upper_m <= self.lower_m:
            raise ValueError("upper_m must be above lower_m")
        return self


class ZoneFeatureIn(Strict):
    """A GeoJSON Feature; `properties` as in `mission_planner.airspace.zone_from_feature`."""

    type: Literal["Feature"]
    geometry: GeometryIn
    properties: ZonePropertiesIn
    id: ZoneId | None = None

    @model_validator(mode="after")
    def _has_id(self) -> ZoneFeatureIn:
        if self.properties.id is None and self.id is None:
            raise ValueError("a zone needs an id: properties.id (or the feature's id)")
        return self


class ZoneCreated(BaseModel):
    zone_id: str
    kind: str
    area_m2: float
    vertices: int
    simplified: dict[str, Any] | None = Field(
        default=None, description="set when the ring had too many vertices: from, to, tolerance_m, and why"
    )


class MissionOut(BaseModel):
    mission_id: str
    hub_id: str
    vehicle_id: str
    status: MissionStatus
    order_ids: list[str]
    steps: list[dict[str, Any]]
    details: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, mission: MissionRecord) -> MissionOut:
        """From the store record."""
        return cls(
            mission_id=mission.mission_id,
            hub_id=mission.hub_id,
            vehicle_id=mission.vehicle_id,
            status=mission.status,
            order_ids=mission.order_ids,
            steps=mission.steps,
            details=mission.details,
            created_at=dt.datetime.fromtimestamp(mission.created_at_s, dt.UTC),
            updated_at=dt.datetime.fromtimestamp(mission.updated_at_s, dt.UTC),
        )


class LockerIn(Strict):
    hub_id: str | None = Field(default=None, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    address: str = Field(default="", max_length=300)
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    compartments: int = Field(default=24, ge=1, le=500)
    conditioned: bool = Field(default=False, description="temperature-controlled: may take cold-chain parcels")


class LockerOut(BaseModel):
    locker_id: str
    hub_id: str
    name: str
    address: str
    latitude_deg: float
    longitude_deg: float
    compartments: int
    conditioned: bool = False

    @classmethod
    def of(cls, locker: Locker) -> LockerOut:
        """From the store record."""
        return cls(
            locker_id=locker.locker_id,
            hub_id=locker.hub_id,
            name=locker.name,
            address=locker.address,
            latitude_deg=locker.latitude_deg,
            longitude_deg=locker.longitude_deg,
            compartments=locker.compartments,
            conditioned=locker.conditioned,
        )


class PickupIn(Strict):
    order_id: str = Field(min_length=1, max_length=64)
    code: str = Field(pattern=r"^[0-9]{4,12}$", description="the one-time code from the diversion notification")


class UnlockIn(Strict):
    order_id: str = Field(min_length=1, max_length=64)


class PickupOut(BaseModel):
    order_id: str
    compartment: str
    status: OrderStatus


class EventOut(BaseModel):
    """A stored event (CloudEvent attributes) with its webhook bookkeeping."""

    seq: int
    id: str
    type: str
    subject: str
    time: dt.datetime
    hub_id: str
    data: dict[str, Any]
    attempts: int
    delivered_at: dt.datetime | None
    dead_lettered_at: dt.datetime | None
    last_error: str

    @classmethod
    def of(cls, event: OutboxEvent) -> EventOut:
        """From the outbox record (secrets redacted)."""
        return cls(
            seq=event.seq,
            id=event.event_id,
            type=event.type,
            subject=event.subject,
            time=dt.datetime.fromtimestamp(event.time_s, dt.UTC),
            hub_id=event.hub_id,
            data=redacted(event.data),
            attempts=event.attempts,
            delivered_at=to_time(event.delivered_at_s),
            dead_lettered_at=to_time(event.dead_lettered_at_s),
            last_error=event.last_error,
        )


class JobOut(BaseModel):
    """Liveness of one background job."""

    alive: bool
    restarts: int
    last_error: str


class Health(BaseModel):
    status: Literal["ok"]
    database: str
    hubs: list[str]
    stream_listeners: int
    webhooks: Literal["on", "off"]
    jobs: dict[str, JobOut]


class VehiclesReady(BaseModel):
    """Vehicle links: how many are connected, and why the others are down."""

    connected: int
    total: int
    down: dict[str, str]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    database: bool
    jobs_alive: bool
    jobs_down: list[str]
    vehicles: VehiclesReady


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


class TrafficReportIn(Strict):
    """Congestion or an incident on the streets within `radius_m` of a point (a traffic feed's report)."""

    kind: Literal["congestion", "incident"]
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=2000, description="street segments whose midpoint is this near are affected")
    speed_factor: float = Field(ge=0, le=1, description="their speed times this (0: closed)")
    starts_at: SaneTime | None = Field(default=None, description="default: now")
    ends_at: SaneTime


class TrafficReportOut(BaseModel):
    report_id: str
    kind: str
    latitude_deg: float
    longitude_deg: float
    radius_m: float
    speed_factor: float
    starts_at: dt.datetime
    ends_at: dt.datetime

    @classmethod
    def of(cls, report: TrafficReport) -> TrafficReportOut:
        """From the stored report."""
        return cls(report_id=report.report_id, kind=report.kind, latitude_deg=report.latitude_deg,
                   longitude_deg=report.longitude_deg, radius_m=report.radius_m, speed_factor=report.speed_factor,
                   starts_at=_utc(report.starts_at_s), ends_at=_utc(report.ends_at_s))

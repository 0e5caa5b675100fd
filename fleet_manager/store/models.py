"""SQLAlchemy 2 tables of the fleet manager; every runtime row carries its `hub_id`.

Times are clock seconds since the epoch (floats), so a simulated day stamps simulated time.
The Alembic migrations in `migrations/versions/` create exactly these tables (a test compares).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only makes INTEGER PRIMARY KEY an auto-incrementing rowid alias, so BIGINT falls back there.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base; `Base.metadata` is the schema."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class OrderRow(Base):
    """A delivery order and its current status."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_hub_status", "hub_id", "status"),
        Index("ix_orders_hub_created", "hub_id", "created_at_s", "order_id"),
    )

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hub_id: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(32))
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_phone: Mapped[str] = mapped_column(String(64), default="")
    recipient_email: Mapped[str] = mapped_column(String(200), default="")
    latitude_deg: Mapped[float] = mapped_column(Float)
    longitude_deg: Mapped[float] = mapped_column(Float)
    street: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    postcode: Mapped[str] = mapped_column(String(20), default="")
    weight_kg: Mapped[float] = mapped_column(Float)
    customs_cleared: Mapped[bool] = mapped_column(Boolean, default=False)
    window_start_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    window_end_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    allow_leave_at_door: Mapped[bool] = mapped_column(Boolean, default=False)
    leave_at_door: Mapped[bool] = mapped_column(Boolean, default=False)
    mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    vehicle_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mission_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    locker_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at_s: Mapped[float] = mapped_column(Float)
    updated_at_s: Mapped[float] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, default=1)
    handling: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # cold_chain / fragile (domain.handling)
    address_resolution: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # typed text + resolution
    unplannable_reason: Mapped[str] = mapped_column(Text, default="")
    eta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # predicted hand-over window (0004)
    customs_forecast: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # predicted clearance (0004)


class OrderEventRow(Base):
    """Audit: one row per status change (time, actor, reason); its event_id is the outbox event's id."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order", "order_id", "seq"),)

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id", ondelete="CASCADE"))
    hub_id: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_status: Mapped[str] = mapped_column(String(32))
    at_s: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OutboxRow(Base):
    """A domain event waiting for (or done with) delivery: written in the same transaction as its cause."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "hub_id", "delivered_at_s", "dead_lettered_at_s", "next_attempt_s"),
        Index("ix_outbox_subject_seq", "subject", "seq"),  # in-order delivery per order (0003)
        Index("ix_outbox_time", "time_s"),  # pruning (0003)
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    hub_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(200))
    time_s: Mapped[float] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    webhook: Mapped[bool] = mapped_column(Boolean, default=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_s: Mapped[float] = mapped_column(Float, default=0.0)
    delivered_at_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    dead_lettered_at_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


class WebhookAttemptRow(Base):
    """One POST of one event to the backend, successful or not."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_event", "event_id"),)

    attempt_id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    hub_id: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    at_s: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")


class IdempotencyKeyRow(Base):
    """A remembered create request, so a retried POST returns the first answer."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created", "created_at_s"),)  # pruning (0003)

    scope: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    hub_id: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(String(64))
    created_at_s: Mapped[float] = mapped_column(Float)


class VehicleRow(Base):
    """A vehicle of a hub, how to reach it, and its newest telemetry."""

    __tablename__ = "vehicles"
    __table_args__ = (Index("ix_vehicles_hub", "hub_id"),)

    vehicle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hub_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    adapter_url: Mapped[str] = mapped_column(String(300), default="")
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state_stamp_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    registered_at_s: Mapped[float] = mapped_column(Float)
    updated_at_s: Mapped[float] = mapped_column(Float)


class VehicleCommandRow(Base):
    """An operator command (pause/resume/return/land) and what became of it."""

    __tablename__ = "vehicle_commands"
    __table_args__ = (Index("ix_vehicle_commands_vehicle", "vehicle_id", "requested_at_s"),)

    command_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(ForeignKey("vehicles.vehicle_id", ondelete="CASCADE"))
    hub_id: Mapped[str] = mapped_column(String(64))
    command: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at_s: Mapped[float] = mapped_column(Float)
    finished_at_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")


class MissionRow(Base):
    """A mission sent (or to be sent) to one vehicle."""

    __tablename__ = "missions"
    __table_args__ = (Index("ix_missions_hub_status", "hub_id", "status"),)

    mission_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hub_id: Mapped[str] = mapped_column(String(64))
    vehicle_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    order_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    steps: Mapped[list[Any]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at_s: Mapped[float] = mapped_column(Float)
    updated_at_s: Mapped[float] = mapped_column(Float)


class ZoneRow(Base):
    """An airspace zone of a hub, kept as its GeoJSON Feature."""

    __tablename__ = "zones"

    hub_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    zone_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    feature: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at_s: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(128), default="")


class LockerRow(Base):
    """A parcel locker of a hub."""

    __tablename__ = "lockers"
    __table_args__ = (Index("ix_lockers_hub", "hub_id"),)

    locker_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hub_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    latitude_deg: Mapped[float] = mapped_column(Float)
    longitude_deg: Mapped[float] = mapped_column(Float)
    compartments: Mapped[int] = mapped_column(Integer, default=24)
    conditioned: Mapped[bool] = mapped_column(Boolean, default=False)  # temperature-controlled (cold chain)


class PickupCodeRow(Base):
    """The one-time locker code of an order: only a salted hash is kept; wrong tries are counted."""

    __tablename__ = "pickup_codes"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id", ondelete="CASCADE"), primary_key=True)
    hub_id: Mapped[str] = mapped_column(String(64))
    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.locker_id"))
    compartment: Mapped[str] = mapped_column(String(16))
    code_salt: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(128))
    wrong_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_at_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    used_at_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    expires_at_s: Mapped[float] = mapped_column(Float)
    created_at_s: Mapped[float] = mapped_column(Float)


class NotificationRow(Base):
    """A recipient notification (its payload without the plain pickup code)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_order", "order_id"),)

    notification_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id", ondelete="CASCADE"))
    hub_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at_s: Mapped[float] = mapped_column(Float)


class ParcelReadingRow(Base):
    """One sensor reading of a parcel (from MQTT): temperature, humidity, shock, and whether it broke a limit."""

    __tablename__ = "parcel_readings"
    __table_args__ = (Index("ix_parcel_readings_order", "order_id", "at_s"),)

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id", ondelete="CASCADE"))
    hub_id: Mapped[str] = mapped_column(String(64))
    at_s: Mapped[float] = mapped_column(Float)
    temperature_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    humidity_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    shock_g: Mapped[float | None] = mapped_column(Float, nullable=True)
    excursion: Mapped[str] = mapped_column(Text, default="")  # what the reading broke; "" within limits


class ParcelConditionRow(Base):
    """A parcel's newest reading and its excursion count (one row per sensed parcel)."""

    __tablename__ = "parcel_conditions"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id", ondelete="CASCADE"), primary_key=True)
    hub_id: Mapped[str] = mapped_column(String(64))
    at_s: Mapped[float] = mapped_column(Float)
    temperature_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    humidity_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    shock_g: Mapped[float | None] = mapped_column(Float, nullable=True)
    readings: Mapped[int] = mapped_column(Integer, default=0)
    excursions: Mapped[int] = mapped_column(Integer, default=0)  # episodes: a run of readings out of limits
    in_excursion: Mapped[bool] = mapped_column(Boolean, default=False)
    first_excursion_at_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class HubLeaseRow(Base):
    """Who leads a hub: one row per hub, its fencing token raised by one at every change of holder (0006).

    Times are database-server seconds (PostgreSQL's clock, so processes on several machines agree).
    """

    __tablename__ = "hub_leases"

    hub_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    token: Mapped[int] = mapped_column(BigInteger)
    acquired_at_s: Mapped[float] = mapped_column(Float)
    renewed_at_s: Mapped[float] = mapped_column(Float)
    expires_at_s: Mapped[float] = mapped_column(Float)


class RelayCursorRow(Base):
    """How far a relay has copied the outbox to the bus: the last seq the bus acknowledged (0006)."""

    __tablename__ = "relay_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at_s: Mapped[float] = mapped_column(Float)
class TrafficReportRow(Base):
    """Reported congestion or an incident on the streets around a point, for a time (POST /v1/traffic)."""

    __tablename__ = "traffic_reports"
    __table_args__ = (Index("ix_traffic_reports_hub_end", "hub_id", "ends_at_s"),)

    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hub_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    latitude_deg: Mapped[float] = mapped_column(Float)
    longitude_deg: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[float] = mapped_column(Float)
    speed_factor: Mapped[float] = mapped_column(Float)
    starts_at_s: Mapped[float] = mapped_column(Float)
    ends_at_s: Mapped[float] = mapped_column(Float)
    created_at_s: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(128), default="")


class TrackingTokenRow(Base):
    """A recipient's tracking link: only the SHA-256 of its token is kept (the link itself went out once) (0009)."""

    __tablename__ = "tracking_tokens"
    __table_args__ = (Index("ix_tracking_tokens_order", "order_id", "created_at_s"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id", ondelete="CASCADE"))
    hub_id: Mapped[str] = mapped_column(String(64))
    created_at_s: Mapped[float] = mapped_column(Float)
    expires_at_s: Mapped[float] = mapped_column(Float)  # the latest it works, whatever the order does

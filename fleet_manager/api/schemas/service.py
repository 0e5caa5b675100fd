"""Bodies of the live event stream, health and readiness, and traffic reports."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from fleet_manager.store.outbox import OutboxEvent, redacted
from fleet_manager.traffic import TrafficReport

from ..limits import SaneTime
from .common import Strict, _utc, to_time


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
    """`degraded`: ready, but some vehicles are down (listed); `not_ready` (503) names what is missing."""

    status: Literal["ready", "degraded", "not_ready"]
    database: bool
    jobs_alive: bool
    jobs_down: list[str]
    vehicles: VehiclesReady
    vehicle_policy: str  # FINALMILE_READYZ_VEHICLES
    hubs_without_vehicles: list[str]  # served hubs with vehicles, none of them up


class TrafficReportIn(Strict):
    """Congestion or an incident on the streets within `radius_m` of a point (a traffic feed's report)."""

    kind: Literal["congestion", "incident"]
    hub_id: str | None = Field(default=None, max_length=64, description="default: the hub whose area holds it")
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=2000, description="street segments whose midpoint is this near are affected")
    speed_factor: float = Field(ge=0, le=1, description="their speed times this (0: closed)")
    starts_at: SaneTime | None = Field(default=None, description="default: now")
    ends_at: SaneTime


class TrafficReportOut(BaseModel):
    report_id: str
    hub_id: str
    kind: str
    latitude_deg: float
    longitude_deg: float
    radius_m: float
    speed_factor: float
    starts_at: dt.datetime
    ends_at: dt.datetime

    @classmethod
    def of(cls, report: TrafficReport, *, hub_id: str) -> TrafficReportOut:
        """From the stored report of `hub_id`."""
        return cls(report_id=report.report_id, hub_id=hub_id, kind=report.kind, latitude_deg=report.latitude_deg,
                   longitude_deg=report.longitude_deg, radius_m=report.radius_m, speed_factor=report.speed_factor,
                   starts_at=_utc(report.starts_at_s), ends_at=_utc(report.ends_at_s))

"""Bodies of the recipient tracking page (`/v1/track/{token}`) and of the backend's tracking-link request.

What a tracking token shows is only what the recipient needs: no name, no phone, no vehicle id, no
other order; the destination point only while the vehicle is shown next to it.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from fleet_manager.domain.orders import DeliveryMode, OrderStatus

from ..limits import ResourceId
from .common import Strict


class TrackEtaOut(BaseModel):
    """When the parcel is expected at the door."""

    earliest: dt.datetime
    latest: dt.datetime
    source: Literal["model", "planned", "requested"] = Field(
        description="model: the trained ETA model's p10-p90, refreshed on the way; planned: the planner's ETA with "
        "its fixed margin (as in the out_for_delivery notification); requested: the delivery window asked for")


class TrackPointOut(BaseModel):
    latitude_deg: float
    longitude_deg: float


class TrackVehicleOut(BaseModel):
    """The parcel's vehicle, shown only within `radius_m` of the destination (never its id, never another)."""

    kind: DeliveryMode | None
    position: TrackPointOut
    destination: TrackPointOut
    distance_m: float
    radius_m: float


class TrackLockerOut(BaseModel):
    locker_id: str
    name: str
    address: str
    distance_m: float = Field(description="from the delivery address")
    conditioned: bool


class TrackSlotOut(BaseModel):
    start: dt.datetime
    end: dt.datetime


class TrackOptionOut(BaseModel):
    """One of the recipient's choices: open or not, and why not."""

    available: bool
    reason: str = Field(default="", description="why it is not available ('' when it is)")


class TrackRescheduleOut(TrackOptionOut):
    slots: list[TrackSlotOut] = Field(default_factory=list, description="windows offered (any window may be sent)")


class TrackRedirectOut(TrackOptionOut):
    lockers: list[TrackLockerOut] = Field(default_factory=list, description="nearest lockers that may take the parcel")


class TrackLeaveAtDoorOut(TrackOptionOut):
    chosen: bool = Field(default=False, description="the recipient asked to leave it at the door")


class TrackOptionsOut(BaseModel):
    reschedule: TrackRescheduleOut
    redirect_to_locker: TrackRedirectOut
    leave_at_door: TrackLeaveAtDoorOut


class TrackOut(BaseModel):
    """The tracking page's data."""

    reference: str = Field(description="the sender's order number")
    status: OrderStatus
    status_text: str
    street: str = Field(description="the street of the delivery address (no more of it)")
    on_the_way: bool
    eta: TrackEtaOut | None
    window: TrackSlotOut | None = Field(description="the delivery window asked for, when there is one")
    vehicle: TrackVehicleOut | None = Field(description="null until the vehicle is within radius_m of the door")
    locker: TrackLockerOut | None = Field(description="the locker the parcel goes to, once chosen")
    options: TrackOptionsOut
    updated_at: dt.datetime
    refresh_s: float = Field(description="how often the page asks again")


class TrackStreetsOut(BaseModel):
    """The streets around the door, for the page's map (it has no tiles): segments of [latitude, longitude]."""

    streets: list[list[tuple[float, float]]]


class TrackRedirectIn(Strict):
    locker_id: ResourceId


class TrackingLinkOut(BaseModel):
    """A new tracking link for the backend to send to the recipient (the token is never stored in plain)."""

    order_id: str
    url: str
    expires_at: dt.datetime = Field(description="the latest the link works; it stops earlier after delivery")

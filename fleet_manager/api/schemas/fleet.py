"""Bodies of vehicles, operator commands, missions, lockers and pickups."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.domain.orders import OrderStatus
from fleet_manager.store.fleet import CommandKind, CommandStatus, MissionRecord, MissionStatus, Vehicle, VehicleCommand
from fleet_manager.store.lockers import Locker

from .common import Strict, to_time


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

"""Vehicles (registration and newest telemetry), operator commands, and missions."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.domain.errors import Conflict, NotFound

from .models import MissionRow, VehicleCommandRow, VehicleRow
from .outbox import append_event


class CommandKind(enum.StrEnum):
    """What an operator can tell a vehicle to do."""

    PAUSE = "pause"
    RESUME = "resume"
    RETURN = "return"
    LAND = "land"


class CommandStatus(enum.StrEnum):
    """Where a command is: queued until a commander takes it, then accepted or failed."""

    QUEUED = "queued"
    SENT = "sent"
    ACCEPTED = "accepted"
    FAILED = "failed"


class MissionStatus(enum.StrEnum):
    """Lifecycle of a vehicle mission."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Vehicle:
    """A registered vehicle and its newest telemetry (a JSON form of `VehicleState`)."""

    vehicle_id: str
    hub_id: str
    kind: VehicleKind
    name: str
    adapter_url: str
    state: dict[str, Any]
    state_stamp_s: float | None
    registered_at_s: float
    updated_at_s: float


@dataclass(frozen=True)
class VehicleCommand:
    """An operator command and its outcome."""

    command_id: str
    vehicle_id: str
    hub_id: str
    command: CommandKind
    reason: str
    status: CommandStatus
    requested_by: str
    requested_at_s: float
    finished_at_s: float | None
    error: str


@dataclass(frozen=True)
class MissionRecord:
    """A mission as stored (steps as JSON dicts of `MissionStep`)."""

    mission_id: str
    hub_id: str
    vehicle_id: str
    status: MissionStatus
    order_ids: list[str]
    steps: list[dict[str, Any]]
    details: dict[str, Any] = field(default_factory=dict)
    created_at_s: float = 0.0
    updated_at_s: float = 0.0


def _to_vehicle(row: VehicleRow) -> Vehicle:
    return Vehicle(
        row.vehicle_id,
        row.hub_id,
        VehicleKind(row.kind),
        row.name,
        row.adapter_url,
        dict(row.state or {}),
        row.state_stamp_s,
        row.registered_at_s,
        row.updated_at_s,
    )


def _to_command(row: VehicleCommandRow) -> VehicleCommand:
    return VehicleCommand(
        row.command_id,
        row.vehicle_id,
        row.hub_id,
        CommandKind(row.command),
        row.reason,
        CommandStatus(row.status),
        row.requested_by,
        row.requested_at_s,
        row.finished_at_s,
        row.error,
    )


def _to_mission(row: MissionRow) -> MissionRecord:
    return MissionRecord(
        row.mission_id,
        row.hub_id,
        row.vehicle_id,
        MissionStatus(row.status),
        list(row.order_ids),
        list(row.steps),
        dict(row.details or {}),
        row.created_at_s,
        row.updated_at_s,
    )


def upsert_vehicle(
    session: Session,
    *,
    vehicle_id: str,
    hub_id: str,
    kind: VehicleKind,
    at_s: float,
    name: str = "",
    adapter_url: str = "",
) -> Vehicle:
    """Register a vehicle (or update its name/adapter URL); it cannot move to another hub or kind."""
    row = session.get(VehicleRow, vehicle_id)
    if row is None:
        row = VehicleRow(
            vehicle_id=vehicle_id, hub_id=hub_id, kind=kind.value, state={}, registered_at_s=at_s, updated_at_s=at_s
        )
        session.add(row)
    elif row.hub_id != hub_id or row.kind != kind.value:
        raise Conflict(f"vehicle {vehicle_id!r} is a {row.kind} of hub {row.hub_id!r}")
    row.name, row.adapter_url, row.updated_at_s = name, adapter_url, at_s
    session.flush()
    return _to_vehicle(row)


def get_vehicle(session: Session, *, vehicle_id: str, hub_ids: Collection[str] | None = None) -> Vehicle:
    """One vehicle; NotFound otherwise."""
    row = session.get(VehicleRow, vehicle_id)
    if row is None or (hub_ids is not None and row.hub_id not in hub_ids):
        raise NotFound(f"vehicle {vehicle_id!r} not found")
    return _to_vehicle(row)


def list_vehicles(
    session: Session, *, hub_ids: Collection[str] | None = None, kind: VehicleKind | None = None
) -> list[Vehicle]:
    """Vehicles of the given hubs, by id."""
    query = select(VehicleRow)
    if hub_ids is not None:
        query = query.where(VehicleRow.hub_id.in_(list(hub_ids)))
    if kind is not None:
        query = query.where(VehicleRow.kind == kind.value)
    return [_to_vehicle(r) for r in session.scalars(query.order_by(VehicleRow.vehicle_id))]


def update_vehicle_state(session: Session, *, vehicle_id: str, state: Mapping[str, Any], stamp_s: float) -> None:
    """Store the newest telemetry snapshot (older stamps are ignored)."""
    row = session.get(VehicleRow, vehicle_id)
    if row is None:
        raise NotFound(f"vehicle {vehicle_id!r} not found")
    if row.state_stamp_s is not None and stamp_s < row.state_stamp_s:
        return
    row.state, row.state_stamp_s, row.updated_at_s = dict(state), stamp_s, stamp_s


def request_command(
    session: Session, *, vehicle_id: str, command: CommandKind, requested_by: str, reason: str, at_s: float
) -> VehicleCommand:
    """Queue an operator command for a vehicle (the commander executes it) and emit an event."""
    vehicle = get_vehicle(session, vehicle_id=vehicle_id)
    row = VehicleCommandRow(
        command_id=str(uuid.uuid4()),
        vehicle_id=vehicle_id,
        hub_id=vehicle.hub_id,
        command=command.value,
        reason=reason,
        status=CommandStatus.QUEUED.value,
        requested_by=requested_by,
        requested_at_s=at_s,
        error="",
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        hub_id=vehicle.hub_id,
        event_type="vehicle.command_requested",
        subject=f"vehicles/{vehicle_id}",
        data={"command_id": row.command_id, "vehicle_id": vehicle_id, "command": command.value, "reason": reason},
        at_s=at_s,
        webhook=False,
    )
    return _to_command(row)


def finish_command(
    session: Session, *, command_id: str, status: CommandStatus, at_s: float, error: str = ""
) -> VehicleCommand:
    """Record what became of a command (sent / accepted / failed with the vehicle's error)."""
    row = session.get(VehicleCommandRow, command_id)
    if row is None:
        raise NotFound(f"command {command_id!r} not found")
    row.status, row.error = status.value, error
    if status in (CommandStatus.ACCEPTED, CommandStatus.FAILED):
        row.finished_at_s = at_s
    append_event(
        session,
        hub_id=row.hub_id,
        event_type="vehicle.command_" + status.value,
        subject=f"vehicles/{row.vehicle_id}",
        data={"command_id": command_id, "vehicle_id": row.vehicle_id, "command": row.command, "error": error},
        at_s=at_s,
        webhook=False,
    )
    return _to_command(row)


def get_command(session: Session, *, command_id: str) -> VehicleCommand:
    """One command; NotFound otherwise."""
    row = session.get(VehicleCommandRow, command_id)
    if row is None:
        raise NotFound(f"command {command_id!r} not found")
    return _to_command(row)


def list_commands(
    session: Session, *, hub_ids: Collection[str], statuses: Collection[CommandStatus] | None = None, limit: int = 100
) -> list[VehicleCommand]:
    """Commands of the hubs, oldest first (a commander starting up drains the queued ones)."""
    query = select(VehicleCommandRow).where(VehicleCommandRow.hub_id.in_(list(hub_ids)))
    if statuses:
        query = query.where(VehicleCommandRow.status.in_([s.value for s in statuses]))
    return [_to_command(r) for r in session.scalars(query.order_by(VehicleCommandRow.requested_at_s).limit(limit))]


def create_mission(
    session: Session,
    *,
    mission_id: str,
    hub_id: str,
    vehicle_id: str,
    order_ids: Sequence[str],
    steps: Sequence[Mapping[str, Any]],
    at_s: float,
    details: Mapping[str, Any] | None = None,
) -> MissionRecord:
    """Store a new mission (status pending) and emit `mission.created`."""
    if session.get(MissionRow, mission_id) is not None:
        raise Conflict(f"mission {mission_id!r} already exists")
    row = MissionRow(
        mission_id=mission_id,
        hub_id=hub_id,
        vehicle_id=vehicle_id,
        status=MissionStatus.PENDING.value,
        order_ids=list(order_ids),
        steps=[dict(s) for s in steps],
        details=dict(details or {}),
        created_at_s=at_s,
        updated_at_s=at_s,
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        hub_id=hub_id,
        event_type="mission.created",
        subject=f"missions/{mission_id}",
        data={"mission_id": mission_id, "vehicle_id": vehicle_id, "order_ids": list(order_ids)},
        at_s=at_s,
        webhook=False,
    )
    return _to_mission(row)


def update_mission(
    session: Session, *, mission_id: str, status: MissionStatus, at_s: float, details: Mapping[str, Any] | None = None
) -> MissionRecord:
    """Change a mission's status (and merge details) and emit `mission.<status>`."""
    row = session.get(MissionRow, mission_id)
    if row is None:
        raise NotFound(f"mission {mission_id!r} not found")
    row.status, row.updated_at_s = status.value, at_s
    if details:
        row.details = {**row.details, **details}
    append_event(
        session,
        hub_id=row.hub_id,
        event_type=f"mission.{status.value}",
        subject=f"missions/{mission_id}",
        data={"mission_id": mission_id, "vehicle_id": row.vehicle_id, "status": status.value},
        at_s=at_s,
        webhook=False,
    )
    return _to_mission(row)


def get_mission(session: Session, *, mission_id: str, hub_ids: Collection[str] | None = None) -> MissionRecord:
    """One mission; NotFound otherwise."""
    row = session.get(MissionRow, mission_id)
    if row is None or (hub_ids is not None and row.hub_id not in hub_ids):
        raise NotFound(f"mission {mission_id!r} not found")
    return _to_mission(row)


def list_missions(
    session: Session,
    *,
    hub_ids: Collection[str],
    statuses: Collection[MissionStatus] | None = None,
    vehicle_id: str | None = None,
    limit: int = 100,
) -> list[MissionRecord]:
    """Missions of the hubs, newest first."""
    query = select(MissionRow).where(MissionRow.hub_id.in_(list(hub_ids)))
    if statuses:
        query = query.where(MissionRow.status.in_([s.value for s in statuses]))
    if vehicle_id:
        query = query.where(MissionRow.vehicle_id == vehicle_id)
    return [_to_mission(r) for r in session.scalars(query.order_by(MissionRow.created_at_s.desc()).limit(limit))]

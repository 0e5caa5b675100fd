"""Vehicles: registration, newest state, and operator commands (pause / resume / return / land)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.bus.commands import CommandRouter, NoLeaderAnswered
from fleet_manager.store import fleet as fleet_store

from ..deps import Operator, Reader, ServiceDep
from ..hub_scope import hubs_to_read
from ..limits import PathId
from ..schemas import CommandIn, CommandOut, VehicleIn, VehicleOut
from ..service import FleetService

router = APIRouter(prefix="/vehicles", tags=["vehicles"])

NO_COMMANDER = "queued: no vehicle commander is running in this process; the dispatcher executes it when it starts"


@router.get("")
def list_vehicles(
    service: ServiceDep, _caller: Reader, kind: Annotated[VehicleKind | None, Query()] = None,
    hub_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[VehicleOut]:
    """The vehicles of `hub_id`, else of every hub served here, with their newest telemetry."""
    with service.database.read() as session:
        vehicles = fleet_store.list_vehicles(session, hub_ids=hubs_to_read(service, hub_id), kind=kind)
    return [VehicleOut.of(v) for v in vehicles]


@router.get("/{vehicle_id}")
def get_vehicle(vehicle_id: PathId, service: ServiceDep, _caller: Reader) -> VehicleOut:
    """One vehicle and its newest state."""
    with service.database.read() as session:
        return VehicleOut.of(fleet_store.get_vehicle(session, vehicle_id=vehicle_id, hub_ids=service.hub_ids))


@router.put("/{vehicle_id}")
def register_vehicle(vehicle_id: PathId, body: VehicleIn, service: ServiceDep, _caller: Operator) -> VehicleOut:
    """Register a vehicle (or update its name and adapter URL)."""
    hub_id = body.hub_id or service.settings.hub_id
    if hub_id not in service.hub_ids:
        raise HTTPException(422, f"hub_id {hub_id!r} is not served here")
    with service.write() as session:
        vehicle = fleet_store.upsert_vehicle(
            session,
            vehicle_id=vehicle_id,
            hub_id=hub_id,
            kind=body.kind,
            name=body.name,
            adapter_url=body.adapter_url,
            at_s=service.now(),
        )
    return VehicleOut.of(vehicle)


@router.post("/{vehicle_id}/commands", status_code=status.HTTP_202_ACCEPTED,
             responses={503: {"description": "scale-out: no leader of the vehicle's hub took the command in time"}})
async def command_vehicle(vehicle_id: PathId, body: CommandIn, service: ServiceDep, caller: Operator) -> CommandOut:
    """Queue a command; 202 with its id. Poll `GET .../commands/{id}` for accepted/failed."""

    def store() -> fleet_store.VehicleCommand:
        with service.write() as session:
            fleet_store.get_vehicle(session, vehicle_id=vehicle_id, hub_ids=service.hub_ids)
            return fleet_store.request_command(
                session,
                vehicle_id=vehicle_id,
                command=body.command,
                requested_by=caller.actor,
                reason=body.reason,
                at_s=service.now(),
            )

    command = await asyncio.to_thread(store)
    if service.command_router is not None:
        return await _via_hub_leader(service, service.command_router, command)
    if service.commander is None:
        return CommandOut.of(command, NO_COMMANDER)
    service.spawn(service.execute_command(command), name=f"command-{command.command_id}")
    return CommandOut.of(command, "sent to the vehicle commander")


async def _via_hub_leader(service: FleetService, router: CommandRouter,
                          command: fleet_store.VehicleCommand) -> CommandOut:
    """Send the stored command to the hub's leader over NATS and answer with its outcome; 503 if none answers."""
    try:
        await router.send(hub_id=command.hub_id, command_id=command.command_id)
    except NoLeaderAnswered as exc:
        # Recorded as failed: a late leader that finds it will not send it (only queued commands are executed).
        await asyncio.to_thread(service.finish_command, command.command_id, fleet_store.CommandStatus.FAILED,
                                str(exc))
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), {"Retry-After": "5"}) from exc

    def read() -> fleet_store.VehicleCommand:
        with service.database.read() as session:
            return fleet_store.get_command(session, command_id=command.command_id)

    return CommandOut.of(await asyncio.to_thread(read), f"carried out by the leader of hub {command.hub_id}")


@router.get("/{vehicle_id}/commands/{command_id}")
def get_command(vehicle_id: PathId, command_id: PathId, service: ServiceDep, _caller: Reader) -> CommandOut:
    """What became of a command."""
    with service.database.read() as session:
        command = fleet_store.get_command(session, command_id=command_id)
    if command.vehicle_id != vehicle_id:
        raise HTTPException(404, f"command {command_id!r} is not a command of vehicle {vehicle_id!r}")
    return CommandOut.of(command)

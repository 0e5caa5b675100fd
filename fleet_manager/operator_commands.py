"""Operator vehicle commands (pause, resume, return, land) carried out through the vehicles' adapters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import NotConnected
from .fleet import Fleet
from .leadership import HubFence
from .store import fleet as fleet_store
from .store.db import Database

logger = logging.getLogger(__name__)


class AdapterCommander:
    """The `VehicleCommander` the API hands operator commands to."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    async def execute(self, command: fleet_store.VehicleCommand) -> None:
        """Pause / resume / return / land a vehicle (AdapterError with the vehicle's code when it refuses)."""
        if command.vehicle_id not in self.fleet:
            # Scale-out: another process leads the vehicle's hub (or none does yet); it is not driven from here.
            raise NotConnected(command.vehicle_id, f"{command.command}()",
                               "this fleet-manager process does not lead the vehicle's hub; send the command to "
                               "the process that holds the hub's lease")
        vehicle = self.fleet.get(command.vehicle_id)
        adapter = vehicle.adapter
        kind = fleet_store.CommandKind(command.command)
        if kind is fleet_store.CommandKind.PAUSE:
            await adapter.pause()
        elif kind is fleet_store.CommandKind.RESUME:
            await adapter.resume()
        elif kind is fleet_store.CommandKind.RETURN:
            await adapter.return_home()
        elif kind is fleet_store.CommandKind.LAND:
            await adapter.land()
        logger.info("%s: operator %s (%s)", vehicle.vehicle_id, kind.value, command.reason or "no reason given")


class HubCommandExecutor:
    """What a hub's leader does with a command id sent over the bus (`bus.commands.CommandResponder`).

    Executes a queued command once (a repeated request gets the recorded outcome), records what the
    vehicle said, and answers with it; stays silent (None) when this process no longer leads the hub,
    so the new leader's answer is the one the requester gets.
    """

    def __init__(self, *, hub_id: str, fence: HubFence, database: Database,
                 execute: Callable[[fleet_store.VehicleCommand], Awaitable[None]]) -> None:
        self.hub_id = hub_id
        self.fence = fence
        self.database = database
        self.execute = execute

    async def __call__(self, command_id: str) -> dict[str, Any] | None:
        """The command's outcome to reply with, or None when not leading."""
        if not self.fence.leading:
            return None
        command = await asyncio.to_thread(self._read, command_id)
        if command.hub_id != self.hub_id:
            return {"status": "failed", "error": f"command {command_id!r} is for hub {command.hub_id!r}, "
                                                 f"not {self.hub_id!r}"}
        if command.status is fleet_store.CommandStatus.QUEUED:
            await self.execute(command)
            command = await asyncio.to_thread(self._read, command_id)
        return {"status": command.status.value, "error": command.error}

    def _read(self, command_id: str) -> fleet_store.VehicleCommand:
        with self.database.read() as session:
            return fleet_store.get_command(session, command_id=command_id)

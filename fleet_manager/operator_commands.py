"""Operator vehicle commands (pause, resume, return, land) carried out through the vehicles' adapters."""

from __future__ import annotations

import logging

from .errors import NotConnected
from .fleet import Fleet
from .store import fleet as fleet_store

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

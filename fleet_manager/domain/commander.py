"""The seam between the API and whatever drives vehicles: the dispatcher implements `VehicleCommander`."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from fleet_manager.store.fleet import VehicleCommand


@runtime_checkable
class VehicleCommander(Protocol):
    """Executes an operator command on a vehicle (through its adapter).

    Returns once the vehicle accepted the command; raises an `AdapterError` subclass (with the
    vehicle's own result code) when it refused or did not answer.
    """

    async def execute(self, command: VehicleCommand) -> None:
        """Carry out `command` (pause / resume / return / land) on `command.vehicle_id`."""
        ...

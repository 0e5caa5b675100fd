"""Every vehicle's newest telemetry into the store, once a period: the API and the dashboard read it there.

It also notices a vehicle that has just become plannable, connected and located (a drone after its GPS fix,
or back on its link after a drop or a reboot), and tells the planning cycle, so orders placed while the fleet
booted or the vehicle was away are not left for the periodic plan (two minutes).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from .adapters.base import LinkStatus, VehicleState
from .errors import StaleLeader
from .fleet import Fleet, FleetVehicle
from .store import fleet as fleet_store
from .store.db import Database

logger = logging.getLogger(__name__)


class TelemetryRecorder:
    """Stores each vehicle's state of one hub every `period_wall_s`."""

    def __init__(
        self, *, database: Database, fleet: Fleet, hub_id: str, on_vehicle_located: Callable[[], None],
        period_wall_s: float = 1.0,
    ) -> None:
        self.database = database
        self.fleet = fleet
        self.hub_id = hub_id
        self.period_wall_s = period_wall_s
        self._on_vehicle_located = on_vehicle_located
        self._located: set[str] = set()

    async def run(self, _service: object = None) -> None:
        """Record until cancelled."""
        while True:
            await asyncio.sleep(self.period_wall_s)
            await self.record_once()

    async def record_once(self) -> None:
        """One snapshot of the fleet (taken in the event loop: adapters are not thread-safe) into the store."""
        states = [(v, v.state()) for v in self.fleet.vehicles(self.hub_id)]
        # A drone back on its link keeps its last position: its link going down and up is the change to see (an
        # order placed as its rebooted simulator came back waited 120 s for the periodic plan in CI).
        located = {v.vehicle_id for v, state in states
                   if state is not None and state.position_valid and state.link is LinkStatus.CONNECTED}
        if located - self._located:
            self._on_vehicle_located()  # a vehicle that could not be planned (no position, no link) now can
        self._located = located
        rows = [(v.vehicle_id, state_json(state, v), state.stamp_s) for v, state in states if state is not None]
        try:
            await self.database.write_async(functools.partial(_store, rows=rows))
        except StaleLeader:
            raise  # deposed: the hub's services stop (fleet_manager.leadership)
        except Exception:
            logger.exception("recording telemetry failed")


def state_json(state: VehicleState, vehicle: FleetVehicle) -> dict[str, Any]:
    """A telemetry snapshot as stored (enums by value) with what the fleet manager knows of the vehicle."""
    data: dict[str, Any] = {key: getattr(value, "value", value) for key, value in state.__dict__.items()}
    data.update({"mission_id": vehicle.mission_id, "order_ids": list(vehicle.order_ids),
                 "out_of_service": vehicle.out_of_service, "carried_by": vehicle.carried_by})
    carried = getattr(vehicle.adapter, "carried", None)  # a van: the drones and robots aboard (its cargo)
    if isinstance(carried, tuple):
        data["carried"] = list(carried)
    return data


def _store(session: Session, rows: list[tuple[str, dict[str, Any], float]]) -> None:
    for vehicle_id, data, stamp_s in rows:
        fleet_store.update_vehicle_state(session, vehicle_id=vehicle_id, state=data, stamp_s=stamp_s)

"""A van and the drones it carries: load at the hub, launch and recover at a stop, unload when back.

The van's mission has a WAIT step at each launch stop. When the van reaches it, the choreography
holds the van, launches the drone, starts the drone's own sortie through the mission control,
waits for it to land beside the van, takes it back aboard and lets the van drive on. A drone
that cannot be loaded, launched or recovered releases its orders to the next planning cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import TYPE_CHECKING

from .adapters.base import Carrier
from .errors import AdapterError
from .fleet import FleetVehicle
from .mission_runner import RunningMission
from .planning import Handoff

if TYPE_CHECKING:
    from .mission_control import MissionControl

logger = logging.getLogger(__name__)

RECOVER_ATTEMPTS = 20  # the drone disarms a moment after its mission ends; retry recovery meanwhile
RECOVER_RETRY_WALL_S = 0.5


class VanChoreography:
    """Load, launch, recover and unload for every van of a `MissionControl`."""

    def __init__(self, control: MissionControl) -> None:
        self.control = control

    async def load(self, running: RunningMission) -> None:
        """Stow the van's drones at the hub before it leaves; a drone that cannot be loaded stays home."""
        van = running.vehicle.adapter
        for index, handoff in list(running.handoffs.items()):
            try:
                if not isinstance(van, Carrier):
                    raise TypeError("its adapter has no load/launch/recover")
                if handoff.drone_id not in van.carried:
                    await van.load(handoff.drone_id)
            except (AdapterError, TypeError) as exc:
                logger.warning("%s: could not load %s: %s", running.vehicle.vehicle_id, handoff.drone_id, exc)
                del running.handoffs[index]
                self.control.release_handoff(handoff)

    async def launch_and_recover(self, running: RunningMission, handoff: Handoff) -> None:
        """At the launch stop: hold the van, launch the drone on its trip, take it back aboard, drive on."""
        van_vehicle = running.vehicle
        van = van_vehicle.adapter
        control = self.control
        drone = control.fleet.get(handoff.drone_id)
        if not isinstance(van, Carrier):
            control.release_handoff(handoff)
            return
        try:
            await van.pause()
            await van.launch(handoff.drone_id)
        except AdapterError as exc:
            logger.warning("%s: launch of %s failed: %s", van_vehicle.vehicle_id, handoff.drone_id, exc)
            control.release_handoff(handoff)
            with contextlib.suppress(AdapterError):
                await van.resume()
            return
        running.launched.add(handoff.drone_id)
        logger.info("%s launched %s for %s", van_vehicle.vehicle_id, handoff.drone_id,
                    ", ".join(handoff.sortie.order_ids))
        state = van_vehicle.state()
        launched_at = {"launched_from": van_vehicle.vehicle_id,
                       "launch_latitude_deg": state.latitude_deg if state else None,
                       "launch_longitude_deg": state.longitude_deg if state else None}
        task = await control.start(dataclasses.replace(handoff.sortie, details=launched_at))
        if task is None:
            control.release_handoff(handoff)
        else:
            await asyncio.wait({task}, timeout=control.clock.wall_s(control.config.mission_timeout_s))
        await self._recover(van_vehicle, van, drone)
        with contextlib.suppress(AdapterError):
            await van.resume()

    async def _recover(self, van_vehicle: FleetVehicle, van: Carrier, drone: FleetVehicle) -> None:
        """Take the landed drone back aboard (it disarms shortly after landing: retried a while)."""
        for attempt in range(RECOVER_ATTEMPTS):
            try:
                await van.recover(drone.vehicle_id)
            except AdapterError as exc:
                if attempt == RECOVER_ATTEMPTS - 1:
                    logger.error("%s: could not recover %s: %s", van_vehicle.vehicle_id, drone.vehicle_id, exc)
                    drone.out_of_service = f"left at a van stop: {exc}"[:200]
                    return
                await asyncio.sleep(RECOVER_RETRY_WALL_S)
            else:
                logger.info("%s recovered %s", van_vehicle.vehicle_id, drone.vehicle_id)
                return

    async def end(self, running: RunningMission) -> None:
        """Van back (or its mission over): trips never launched are released, carried drones unloaded."""
        van = running.vehicle.adapter
        unlaunched = list(running.handoffs.values())
        drone_ids = {h.drone_id for h in unlaunched} | running.launched
        running.handoffs.clear()
        if isinstance(van, Carrier):
            for drone_id in sorted(drone_ids & set(van.carried)):
                try:
                    await van.unload(drone_id)
                except AdapterError as exc:
                    logger.warning("%s: could not unload %s: %s", running.vehicle.vehicle_id, drone_id, exc)
                    stuck = self.control.fleet.get(drone_id)
                    stuck.out_of_service = f"stuck in {running.vehicle.vehicle_id}: {exc}"[:200]
        for handoff in unlaunched:
            self.control.release_handoff(handoff)
        self.control.riding.difference_update(drone_ids)

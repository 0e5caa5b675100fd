"""The airspace in force for a hub: the world's zones plus those operators published through the API.

Refreshed from the store when a zone event passes the outbox; listeners (the safety monitors)
hear of every change with the ids of the zones that are new, so a drone in flight can be
re-routed around a zone published a moment ago.
"""

from __future__ import annotations

from collections.abc import Callable

from mission_planner.airspace import Airspace
from mission_planner.geodesy import LocalFrame

from .store import zones as zone_store
from .store.db import Database

AirspaceListener = Callable[[Airspace, frozenset[str]], None]


class LiveAirspace:
    """World zones + stored zones of one hub, with change listeners."""

    def __init__(self, *, database: Database, hub_id: str, frame: LocalFrame, base: Airspace | None = None) -> None:
        self.database = database
        self.hub_id = hub_id
        self.frame = frame
        self.base = base or Airspace(frame)
        self.current = self.base
        self._listeners: list[AirspaceListener] = []

    def add_listener(self, listener: AirspaceListener) -> None:
        """Call `listener(airspace, new_zone_ids)` after every refresh."""
        self._listeners.append(listener)

    async def refresh(self) -> Airspace:
        """Re-read the stored zones; returns the airspace now in force."""
        stored = await self.database.read_async(
            lambda s: zone_store.load_airspace(s, hub_id=self.hub_id, frame=self.frame))
        airspace = self.base
        for zone in stored.zones:
            airspace = airspace.with_zone(zone)
        new_ids = frozenset(z.zone_id for z in airspace.zones) - frozenset(z.zone_id for z in self.current.zones)
        self.current = airspace
        for listener in self._listeners:
            listener(airspace, new_ids)
        return airspace

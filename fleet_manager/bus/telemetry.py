"""Vehicle telemetry on NATS (core, not JetStream: it is worth nothing a second later), for any process.

The hub's leader publishes each vehicle's newest state on `finalmile.telemetry.<hub>.<vehicle>` at
most once per `period_s` (and only when the vehicle reported something new), so the load on the bus
is bounded by vehicles / period whatever the vehicles' own rates. API replicas subscribe to
`finalmile.telemetry.>` and pass each message to their live streams as a `vehicle.telemetry` event
(no id: it is not stored and not replayed), which moves the dashboard's markers between its polls of
the stored states.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fleet_manager.fleet import Fleet
from fleet_manager.telemetry_recorder import state_json

from .link import BusLink

logger = logging.getLogger(__name__)

TELEMETRY_SUBJECT_PREFIX = "finalmile.telemetry"
TELEMETRY_EVENT_TYPE = "com.finalmile.vehicle.telemetry"


def telemetry_subject(hub_id: str, vehicle_id: str) -> str:
    """`finalmile.telemetry.<hub>.<vehicle>` ('.' in an id becomes '_': it would split the token)."""
    return f"{TELEMETRY_SUBJECT_PREFIX}.{hub_id.replace('.', '_')}.{vehicle_id.replace('.', '_')}"


class TelemetryPublisher:
    """The leader side for one hub: publishes its vehicles' states, rate-limited, while its job runs."""

    def __init__(self, url: str, *, hub_id: str, fleet: Fleet, period_s: float) -> None:
        self.link = BusLink(url, name=f"finalmile-telemetry-{hub_id}")
        self.hub_id = hub_id
        self.fleet = fleet
        self.period_s = period_s
        self.published = 0
        self._last_stamp: dict[str, float] = {}

    async def run(self, _service: object = None) -> None:
        """Publish every `period_s` until cancelled (messages while NATS is away are dropped by the client)."""
        link_task = asyncio.ensure_future(self.link.run())
        try:
            client = await self.link.client(30.0)
            while True:
                await self.publish_once(client)
                await asyncio.sleep(self.period_s)
        finally:
            link_task.cancel()
            await asyncio.gather(link_task, return_exceptions=True)

    async def publish_once(self, client: Any) -> None:
        """One message per vehicle whose state is newer than the last one sent."""
        for vehicle in self.fleet.vehicles(self.hub_id):
            state = vehicle.state()
            if state is None or state.stamp_s <= self._last_stamp.get(vehicle.vehicle_id, float("-inf")):
                continue
            self._last_stamp[vehicle.vehicle_id] = state.stamp_s
            body = {"hub_id": self.hub_id, **state_json(state, vehicle)}
            await client.publish(telemetry_subject(self.hub_id, vehicle.vehicle_id), json.dumps(body).encode())
            self.published += 1


def telemetry_cloudevent(data: dict[str, Any]) -> dict[str, Any]:
    """A telemetry message as the stream's CloudEvent (shaped as the dashboard reads telemetry)."""
    vehicle_id = str(data.get("vehicle_id", ""))
    hub_id = str(data.get("hub_id", ""))
    stamp_s = float(data.get("stamp_s") or 0.0)
    return {"specversion": "1.0", "id": f"vehicles/{vehicle_id}@{stamp_s:.3f}", "source": f"/finalmile/hubs/{hub_id}",
            "type": TELEMETRY_EVENT_TYPE, "subject": f"vehicles/{vehicle_id}", "time_s": stamp_s,
            "finalmilehub": hub_id, "data": data}

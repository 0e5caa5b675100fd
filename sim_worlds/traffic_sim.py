"""The traffic simulator of a simulated day: rush hours and incidents, in the world and on the traffic feed.

Two separate effects, as in a real city:
- the world: every event goes to the van simulator (its `traffic` sim-control message), whose vans
  then really drive slower on those street segments while it lasts;
- the feed: each reported event is posted to `POST /v1/traffic` (as an operator, like any traffic
  feed) `reported_after_s` after it starts; unreported events are never posted. The fleet manager's
  planner and re-router know only what was posted.

Rush hours (`scenario.traffic.rush_hours`) are congestion within `rush_radius_m` of the hub at the
rush hour's van speed factor; incidents are `scenario.traffic.incidents`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from dataclasses import dataclass

import httpx

from fleet_manager.traffic import TrafficReport
from mission_planner.clock import Clock

from .scenario import Scenario
from .street_traffic import event_to_wire

logger = logging.getLogger(__name__)


class TrafficSimError(RuntimeError):
    """The van simulator refused the traffic events, or did not answer."""


@dataclass(frozen=True)
class ScheduledEvent:
    """One traffic event of the day, and when (if ever) the feed posts it."""

    event: TrafficReport
    post_at_s: float | None  # None: never reported


def day_events(scenario: Scenario, hub_latitude_deg: float, hub_longitude_deg: float) -> list[ScheduledEvent]:
    """The day's rush hours and incidents as world events, in start order."""
    traffic = scenario.traffic
    events: list[ScheduledEvent] = []
    day_start_s = scenario.start_epoch_s
    day_end_s = day_start_s + scenario.duration_s
    for index, rush in enumerate(traffic.rush_hours):
        starts_s, ends_s = scenario.epoch_at(rush.start), scenario.epoch_at(rush.end)
        if ends_s <= day_start_s or starts_s >= day_end_s:
            continue
        event = TrafficReport(f"rush-{index + 1}", "congestion", hub_latitude_deg, hub_longitude_deg,
                              traffic.rush_radius_m, rush.van_speed_factor, starts_s, ends_s)
        events.append(ScheduledEvent(event, starts_s))
    for incident in traffic.incidents:
        starts_s = scenario.epoch_at(incident.starts_at)
        event = TrafficReport(incident.incident_id, incident.kind, incident.latitude_deg, incident.longitude_deg,
                              incident.radius_m, incident.speed_factor, starts_s, starts_s + incident.duration_s)
        events.append(ScheduledEvent(event, starts_s + incident.reported_after_s if incident.reported else None))
    return sorted(events, key=lambda e: (e.event.starts_at_s, e.event.report_id))


async def tell_van_simulator(van_control_url: str, events: list[TrafficReport], timeout_s: float = 10.0) -> None:
    """Send the world's traffic to the van simulator (`tcp:HOST:PORT`); TrafficSimError when it refuses."""
    host, _, port = van_control_url.removeprefix("tcp:").rpartition(":")
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout_s)
    try:
        message = {"type": "traffic", "request_id": 1, "events": [event_to_wire(e) for e in events]}
        writer.write((json.dumps(message) + "\n").encode())
        await writer.drain()
        ack = json.loads(await asyncio.wait_for(reader.readline(), timeout_s))
    except (TimeoutError, ValueError, OSError) as exc:
        raise TrafficSimError(f"the van simulator at {van_control_url} did not take the traffic: {exc}") from exc
    finally:
        writer.close()
    if not ack.get("ok"):
        raise TrafficSimError(f"the van simulator refused the traffic: {ack.get('error')}")


def feed_body(event: TrafficReport) -> dict[str, object]:
    """The `POST /v1/traffic` body that reports an event."""
    def iso(epoch_s: float) -> str:
        return dt.datetime.fromtimestamp(epoch_s, dt.UTC).isoformat()

    return {"kind": event.kind, "latitude_deg": event.latitude_deg, "longitude_deg": event.longitude_deg,
            "radius_m": event.radius_m, "speed_factor": event.speed_factor, "starts_at": iso(event.starts_at_s),
            "ends_at": iso(event.ends_at_s)}


class TrafficSimulator:
    """Puts the day's traffic into the world at once, and posts each reported event when its time comes."""

    def __init__(self, events: list[ScheduledEvent], *, clock: Clock, van_control_url: str | None) -> None:
        self.events = events
        self.clock = clock
        self.van_control_url = van_control_url
        self.posted: list[str] = []  # report ids the feed gave the fleet manager

    async def run(self, api_url: str, operator_key: str) -> None:
        """Until every reported event is posted (cancel to stop early)."""
        if self.van_control_url is not None:
            await tell_van_simulator(self.van_control_url, [e.event for e in self.events])
        await _wait_for_api(api_url, timeout_wall_s=60.0)
        feed = sorted((e for e in self.events if e.post_at_s is not None), key=lambda e: e.post_at_s or 0.0)
        async with httpx.AsyncClient(base_url=api_url, timeout=30.0,
                                     headers={"Authorization": f"Bearer {operator_key}"}) as http:
            for scheduled in feed:
                delay_s = (scheduled.post_at_s or 0.0) - self.clock.now()
                if delay_s > 0:
                    await self.clock.sleep(delay_s)
                if scheduled.event.ends_at_s <= self.clock.now():
                    continue  # over before the feed got to it
                response = await http.post("/v1/traffic", json=feed_body(scheduled.event))
                if response.status_code != 201:
                    logger.error("traffic feed: %s refused (%s): %s", scheduled.event.report_id,
                                 response.status_code, response.text[:300])
                    continue
                self.posted.append(str(response.json()["report_id"]))


async def _wait_for_api(api_url: str, timeout_wall_s: float) -> None:
    """The day's API may still be starting when the first event is due: wait for its health check."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_wall_s
    async with httpx.AsyncClient(base_url=api_url, timeout=5.0) as http:
        while True:
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass  # not listening yet
            if loop.time() > deadline:
                raise TrafficSimError(f"the Fleet API at {api_url} did not come up in {timeout_wall_s} s")
            await asyncio.sleep(0.2)


def day_traffic(scenario: Scenario, world_hub: tuple[float, float], clock: Clock,
                van_urls: list[tuple[str, str]], api_url: str, operator_key: str) -> asyncio.Task[None] | None:
    """The traffic simulator of a simulated day as a task (None when the scenario has no traffic)."""
    events = day_events(scenario, *world_hub)
    if not events:
        return None
    simulator = TrafficSimulator(events, clock=clock, van_control_url=van_urls[0][1] if van_urls else None)
    return asyncio.create_task(simulator.run(api_url, operator_key), name="traffic-sim")

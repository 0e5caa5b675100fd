"""Simulated parcel sensors: each cold-chain box warms toward its surroundings and publishes over MQTT.

An insulated box is a first-order thermal system: its temperature moves toward the temperature
around it with the box's time constant (hours for a good box with cooling packs, minutes for one
whose pack is spent). Around it: the hub's cold store, then the vehicle (the day's ambient air from
the scenario's weather, by season and hour, plus what the vehicle adds: a closed van's cargo
space, a robot's lid in the sun, the air a drone flies through), a doorstep (ambient plus sun) for
a parcel left at the door, a conditioned locker. Where the parcel is follows the order's status
changes the backend receives. Every `sensor_period_s` each live box publishes temperature,
humidity and the largest shock since the last reading on its parcel's topic, as a real sensor
would; the fleet manager cannot tell it from one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import uuid
from dataclasses import dataclass, field

import aiomqtt
import numpy as np

from mission_planner.clock import Clock

from .demand import DemandOrder
from .scenario import Scenario

logger = logging.getLogger(__name__)

# What surroundings add to the outdoor air, °C (why: a closed van's cargo space heats in the sun, a
# robot's dark lid too, a drone's box is ventilated by its flight; a doorstep is in the sun).
VEHICLE_OFFSET_C = {"van": 3.0, "robot": 2.5, "drone": -0.5}
DOORSTEP_OFFSET_C = 5.0
DOORSTEP_MINUTES = 10.0  # a parcel left at the door: sensed until the recipient takes it in
CONDITIONED_LOCKER_C = 5.0
WARM_PACK_START_C = 4.0  # a spent pack: the box arrives this much above its range
# Typical shocks (g): handling at the hub, the ride of each vehicle, a winch drop at the door.
SHOCK_G = {"hub": 0.3, "van": 1.2, "robot": 1.8, "drone": 1.0}
_TICK_S = 10.0  # simulated seconds between looks at which sensors are due
_WHERE_BY_STATUS = {
    "out_for_delivery": "vehicle", "handed_off": "vehicle", "attempt_failed": "vehicle",
    "returned_to_hub": "hub", "ready": "hub", "rescheduled": "hub", "on_hold": "hub", "planned": "hub",
    "assigned": "hub", "loaded": "hub", "diverted_to_locker": "hub", "awaiting_customs": "hub",
    "delivered_to_locker": "locker", "picked_up": "done", "cancelled": "done",
}


@dataclass
class _Box:
    order: DemandOrder
    order_id: str
    temperature_c: float
    time_constant_s: float
    where: str = "hub"  # hub | vehicle | doorstep | locker | done
    mode: str = "van"
    updated_s: float = 0.0
    done_at_s: float | None = None
    next_s: float = 0.0  # when the sensor publishes next (a new box at once: its check-in reading)
    readings: int = 0
    history: list[tuple[float, float, str]] = field(default_factory=list)  # (at_s, temperature, where)


class ParcelSensors:
    """One sensor per cold-chain parcel of the day, publishing to the fleet manager's broker."""

    def __init__(self, scenario: Scenario, *, clock: Clock, host: str, port: int, topic_prefix: str) -> None:
        self.scenario = scenario
        self.clock = clock
        self.host, self.port = host, port
        self.prefix = topic_prefix
        self.boxes: dict[str, _Box] = {}  # by order id
        self.published = 0
        self._rng = np.random.default_rng([scenario.seed, 41])

    def track(self, order: DemandOrder, order_id: str) -> None:
        """Start sensing a cold-chain parcel the fleet manager accepted (it is in the hub's cold store)."""
        spec = self.scenario.demand.cold_chain
        start_c = (spec.max_temp_c + WARM_PACK_START_C if order.failing_box
                   else (spec.min_temp_c + spec.max_temp_c) / 2.0)
        constant_min = spec.failing_box_time_constant_min if order.failing_box else spec.box_time_constant_min
        now_s = self.clock.now()
        self.boxes[order_id] = _Box(order, order_id, start_c, constant_min * 60.0, updated_s=now_s, next_s=now_s)

    def on_status(self, order_id: str, status: str, mode: str | None) -> None:
        """The order moved (a webhook the backend received): the parcel is now somewhere else."""
        box = self.boxes.get(order_id)
        if box is None or box.where == "done":
            return
        now_s = self.clock.now()
        self._advance(box, now_s)
        if mode:
            box.mode = mode
        if status == "delivered":
            box.where = "doorstep" if box.order.allow_leave_at_door else "done"
            box.done_at_s = now_s + DOORSTEP_MINUTES * 60.0 if box.where == "doorstep" else now_s
        elif status in _WHERE_BY_STATUS:
            box.where = _WHERE_BY_STATUS[status]

    def surroundings_c(self, box: _Box, at_s: float) -> float:
        """The temperature around the box where it is now."""
        if box.where == "hub":
            return self.scenario.weather.cold_store_temp_c
        if box.where == "locker":
            return CONDITIONED_LOCKER_C
        ambient = self.scenario.ambient_temp_c(at_s)
        if box.where == "doorstep":
            return ambient + DOORSTEP_OFFSET_C
        return ambient + VEHICLE_OFFSET_C.get(box.mode, 0.0)

    def _advance(self, box: _Box, now_s: float) -> None:
        dt_s = max(0.0, now_s - box.updated_s)
        if dt_s > 0:
            around = self.surroundings_c(box, now_s)
            box.temperature_c = around + (box.temperature_c - around) * math.exp(-dt_s / box.time_constant_s)
            box.updated_s = now_s

    def reading(self, box: _Box, now_s: float) -> dict[str, float]:
        """The sensor's message now: temperature, humidity, the largest shock since the last one."""
        self._advance(box, now_s)
        typical = SHOCK_G["hub"] if box.where in ("hub", "locker", "doorstep") else SHOCK_G.get(box.mode, 1.0)
        shock = float(self._rng.gamma(2.0, typical / 2.0))
        humidity = float(np.clip(55.0 + 2.0 * (box.temperature_c - 5.0) + self._rng.normal(0, 2), 20, 95))
        box.history.append((now_s, box.temperature_c, box.where))
        return {"temperature_c": round(box.temperature_c, 2), "humidity_pct": round(humidity, 1),
                "shock_g": round(shock, 2), "at_s": round(now_s, 3)}

    async def run(self, hub_id: str) -> None:
        """Publish each live box's reading every sensor period (a new box at once) until cancelled; reconnects."""
        period_s = self.scenario.demand.cold_chain.sensor_period_s
        tick_s = min(period_s, _TICK_S)
        while True:
            try:
                async with aiomqtt.Client(self.host, self.port, timeout=10.0,
                                          identifier=f"sim-parcel-sensors-{uuid.uuid4().hex[:6]}") as client:
                    while True:
                        now_s = self.clock.now()
                        for box in list(self.boxes.values()):
                            if box.where == "done" or (box.done_at_s is not None and now_s > box.done_at_s):
                                box.where = "done"
                                continue
                            if now_s < box.next_s:
                                continue
                            topic = f"{self.prefix}/{hub_id}/parcels/{box.order_id}/condition"
                            await client.publish(topic, json.dumps(self.reading(box, now_s)), qos=1)
                            box.next_s = now_s + period_s
                            box.readings += 1
                            self.published += 1
                        await self.clock.sleep(tick_s)
            except aiomqtt.MqttError as exc:
                logger.warning("parcel sensors: broker %s:%d: %s; retrying", self.host, self.port, exc)
                await asyncio.sleep(1.0)

"""The hub's battery-swap station in a simulated day: a drone that lands at the hub gets a full pack.

In reality a hub worker (or a swap robot) takes a landed, disarmed drone's pack out and puts a
charged one in. `SwapTracker` is the pure decision — which drone has stood disarmed at the hub,
needing charge, for `swap_time_s` simulated seconds — and `HubSwapStation` polls the drone
simulator's sim-control channel and recharges those drones through it. Carried drones (in a van)
and drones that arm or leave during the swap are not swapped; the timer restarts when they are
back.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mission_planner.errors import FinalMileError
from mission_planner.geodesy import LocalFrame

logger = logging.getLogger(__name__)

FULL_PCT = 99.5  # a pack at or above this needs no swap


class HubSwapError(FinalMileError):
    """Bad swap-station settings."""


@dataclass
class SwapTracker:
    """Pure: when is a drone due for a new pack."""

    hub_xy: tuple[float, float]
    frame: LocalFrame
    swap_time_s: float
    hub_radius_m: float = 30.0
    _since_s: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.swap_time_s) and self.swap_time_s >= 0):
            raise HubSwapError(f"swap_time_s must be >= 0, got {self.swap_time_s}")
        if not self.hub_radius_m > 0:
            raise HubSwapError(f"hub_radius_m must be > 0, got {self.hub_radius_m}")

    def waiting(self, status: Mapping[str, Any]) -> bool:
        """The drone stands disarmed at the hub, not in a van, with a pack that is not full."""
        if status["armed"] or not status["landed"] or status.get("carrier") is not None:
            return False
        if float(status["battery_remaining_pct"]) >= FULL_PCT:
            return False
        x_m, y_m = self.frame.to_local(float(status["latitude_deg"]), float(status["longitude_deg"]))
        return math.hypot(x_m - self.hub_xy[0], y_m - self.hub_xy[1]) <= self.hub_radius_m

    def due(self, status: Mapping[str, Any], now_s: float) -> bool:
        """True once `status`'s drone has waited `swap_time_s` (then the timer is cleared)."""
        index = int(status["vehicle"])
        if not self.waiting(status):
            self._since_s.pop(index, None)
            return False
        since_s = self._since_s.setdefault(index, now_s)
        if now_s - since_s < self.swap_time_s:
            return False
        del self._since_s[index]
        return True


class HubSwapStation:
    """Polls every drone through the sim-control client and swaps packs when due."""

    def __init__(self, control: Any, tracker: SwapTracker, now_s: Callable[[], float], *,
                 poll_wall_s: float = 0.5) -> None:
        self.control = control  # sim_worlds.mavsim.sim_control.MavsimControl (blocking: called in a thread)
        self.tracker = tracker
        self.now_s = now_s
        self.poll_wall_s = poll_wall_s
        self.swaps: list[tuple[float, int, float]] = []  # (sim time, vehicle index, pct before)

    def poll_once(self) -> None:
        """One pass over every drone (blocking)."""
        for index in range(self.control.ping()):
            status = self.control.status(index)
            now_s = self.now_s()
            if self.tracker.due(status, now_s):
                self.control.recharge(index, 100.0)
                self.swaps.append((now_s, index, float(status["battery_remaining_pct"])))
                logger.info("hub: drone index %d got a full pack (was %.0f %%)", index,
                            status["battery_remaining_pct"])

    async def run(self) -> None:
        """Poll until cancelled; a failing poll is logged and retried."""
        while True:
            try:
                await asyncio.to_thread(self.poll_once)
            except FinalMileError:
                logger.exception("hub swap station: poll failed")
            await asyncio.sleep(self.poll_wall_s)

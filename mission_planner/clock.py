"""One clock for every component: wall time, or simulation time running `speedup` times faster.

Planner, fleet manager and simulators all read time from a `Clock`, so that an accelerated
delivery day looks the same to every part (timeouts, telemetry stamps, time windows).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Clock:
    """Seconds since the Unix epoch, advancing `speedup` times faster than the wall clock.

    `Clock()` is the wall clock. `Clock(start_s=..., speedup=10)` is a simulation clock that
    starts at `start_s` (e.g. 08:00 on the simulated day) now.
    """

    start_s: float | None = None
    speedup: float = 1.0
    _monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)
    _origin_monotonic: float = field(init=False, repr=False)
    _origin_s: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.speedup <= 0:
            raise ValueError(f"speedup must be > 0, got {self.speedup}")
        self._origin_monotonic = self._monotonic()
        self._origin_s = time.time() if self.start_s is None else self.start_s

    def now(self) -> float:
        """Current (simulated) time, seconds since the epoch."""
        return self._origin_s + (self._monotonic() - self._origin_monotonic) * self.speedup

    def wall_s(self, sim_s: float) -> float:
        """How many wall-clock seconds `sim_s` simulated seconds take."""
        return sim_s / self.speedup

    async def sleep(self, sim_s: float) -> None:
        """Sleep for `sim_s` seconds of this clock's time."""
        await asyncio.sleep(max(0.0, sim_s) / self.speedup)

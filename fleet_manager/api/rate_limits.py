"""Rate limits for the endpoints people drive: codes typed at a locker, recipients' answers relayed by the backend.

A token bucket per key (the locker, the order): `per_minute` requests, refilled evenly, with a burst of
the same size. Buckets live in this process (at most `max_keys`, least recently used dropped first),
so with several API processes each one allows its own share; the locker lock-out after wrong codes is
in the store and holds across processes.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import HTTPException, status


@dataclass
class RateLimiter:
    """`check(key)` raises a 429 (with Retry-After) when `key` used its budget."""

    per_minute: int
    what: str
    max_keys: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)  # key -> (tokens, at)

    def check(self, key: str) -> None:
        """Take one token for `key`, or raise HTTP 429 saying when to retry."""
        now = self.clock()
        rate_per_s = self.per_minute / 60.0
        tokens, at = self._buckets.pop(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - at) * rate_per_s)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            retry_s = math.ceil((1.0 - tokens) / rate_per_s)
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many {self.what} (at most {self.per_minute} per minute); retry in {retry_s} s",
                {"Retry-After": str(retry_s)},
            )
        self._buckets[key] = (tokens - 1.0, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

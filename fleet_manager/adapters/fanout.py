"""One publisher, many subscribers: how every adapter hands out `telemetry()` and `mission_events()`.

Each subscriber gets its own bounded queue, so a slow reader never holds up the adapter (which
publishes from protocol callbacks and must not wait) nor the other readers: when a reader's queue
is full, its oldest item is dropped for the newest (telemetry is a stream of snapshots; the newest
one matters). `close()` ends every subscriber's iterator after the items it already holds (the end
marker never displaces an item, nor is it ever dropped). A subscriber is an async generator that registers its
queue when first iterated and removes it in `finally`, whether it ends, is closed (`aclose()`) or
its task is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class _End:
    """The end marker put in every queue by `Fanout.close()`."""


_END = _End()


class Fanout(Generic[T]):
    """Publish items to every current subscriber, each through a queue of at most `maxsize` items."""

    def __init__(self, maxsize: int, *, name: str = "fanout") -> None:
        if maxsize < 1:
            raise ValueError(f"{name}: maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.name = name
        self.dropped = 0  # items a slow subscriber lost to newer ones, over all subscribers
        self._queues: set[asyncio.Queue[T | _End]] = set()
        self._closed = False

    @property
    def subscribers(self) -> int:
        """How many subscriber iterators are registered now."""
        return len(self._queues)

    @property
    def closed(self) -> bool:
        """True after `close()` until `reopen()`: new subscribers end at once."""
        return self._closed

    def publish(self, item: T) -> None:
        """Hand `item` to every subscriber without waiting; a full queue loses its oldest item."""
        for queue in tuple(self._queues):
            self._put(queue, item)

    async def subscribe(self) -> AsyncIterator[T]:
        """Every item published from the first iteration on, until `close()`; ends at once when closed."""
        if self._closed:
            return
        queue: asyncio.Queue[T | _End] = asyncio.Queue()  # bounded by publish(), so close() always fits
        self._queues.add(queue)
        try:
            while not isinstance(item := await queue.get(), _End):
                yield item
        finally:
            self._queues.discard(queue)

    def close(self) -> None:
        """End every subscriber's iterator (after what it holds); later subscribers end at once."""
        self._closed = True
        queues, self._queues = self._queues, set()
        for queue in queues:
            queue.put_nowait(_END)

    def reopen(self) -> None:
        """Accept subscribers again (an adapter that reconnects after `close()`)."""
        self._closed = False

    def _put(self, queue: asyncio.Queue[T | _End], item: T) -> None:
        while queue.qsize() >= self.maxsize:
            queue.get_nowait()
            self.dropped += 1
            logger.debug("%s: a slow subscriber lost its oldest item", self.name)
        queue.put_nowait(item)

"""Live event fan-out: tails the outbox (so events of every process appear) and feeds many SSE listeners.

The tail is a seq cursor and nothing more: outbox seqs are taken in commit order (`store.outbox`), so no
event can commit below the newest seq seen, and every replica streams the same events in the same order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from fleet_manager.store import outbox
from fleet_manager.store.db import Database
from fleet_manager.webhooks.cloudevents import to_cloudevent

logger = logging.getLogger(__name__)

#: Stored events read per query when a stream replays (one page is all a replaying client holds).
REPLAY_PAGE = 200


@dataclass(frozen=True)
class StreamEvent:
    """One event on the stream: `seq` is its SSE id (None for ephemeral events such as telemetry)."""

    seq: int | None
    type: str
    hub_id: str
    cloudevent: dict[str, Any]


class EventSource(Protocol):
    """What the SSE route and the app need of a live event source: the store's tail here, or JetStream
    (`fleet_manager.bus.jetstream_stream`) on API replicas."""

    @property
    def listener_count(self) -> int:
        """How many streams are open."""

    def poke(self) -> None:
        """Events were committed."""

    async def run(self) -> None:
        """The source's background task (until cancelled)."""

    def subscribe(
        self, *, after_seq: int | None = None, hub_ids: Collection[str] | None = None,
        type_prefixes: Collection[str] = (),
    ) -> AsyncIterator[StreamEvent]:
        """Events after `after_seq`, or from now on, for one listener."""


@dataclass(eq=False)  # identity hash: listeners live in a set
class _Listener:
    queue: asyncio.Queue[StreamEvent | None]
    hub_ids: frozenset[str] | None
    type_prefixes: tuple[str, ...]
    overflowed: bool = False

    def wants(self, event: StreamEvent) -> bool:
        if self.hub_ids is not None and event.hub_id not in self.hub_ids:
            return False
        return not self.type_prefixes or event.type.startswith(self.type_prefixes)


@dataclass
class EventBroker:
    """One per app. `run()` is its tail task; `subscribe()` yields events for one listener."""

    database: Database
    hub_ids: tuple[str, ...]
    poll_interval_s: float = 0.25
    queue_size: int = 2000
    on_event: Callable[[StreamEvent], None] | None = None
    _listeners: set[_Listener] = field(default_factory=set)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _high_water: int = -1

    @property
    def listener_count(self) -> int:
        """How many streams are open."""
        return len(self._listeners)

    def poke(self) -> None:
        """Events were committed: tail now."""
        self._wake.set()

    def publish_ephemeral(
        self, *, hub_id: str, event_type: str, subject: str, data: dict[str, Any], at_s: float
    ) -> None:
        """Stream something that is not worth storing (telemetry) to current listeners only."""
        stamp = f"{at_s:.3f}"
        event = StreamEvent(
            None,
            event_type,
            hub_id,
            {
                "specversion": "1.0",
                "id": f"{subject}@{stamp}",
                "source": f"/finalmile/hubs/{hub_id}",
                "type": event_type,
                "subject": subject,
                "time_s": at_s,
                "data": data,
            },
        )
        self._dispatch(event)

    def _dispatch(self, event: StreamEvent) -> None:
        for listener in list(self._listeners):
            if listener.overflowed or not listener.wants(event):
                continue
            try:
                listener.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A listener that cannot keep up is cut off; it reconnects with Last-Event-ID and replays.
                listener.overflowed = True
                with contextlib.suppress(asyncio.QueueEmpty):
                    listener.queue.get_nowait()
                listener.queue.put_nowait(None)

    def _read_new(self) -> list[outbox.OutboxEvent]:
        with self.database.read() as session:
            if self._high_water < 0:
                self._high_water = outbox.last_seq(session)
                return []
            rows = outbox.events_after(session, after_seq=self._high_water, hub_ids=self.hub_ids)
        if rows:
            self._high_water = rows[-1].seq
        return rows

    async def run(self) -> None:
        """Tail the outbox until cancelled."""
        while True:
            self._wake.clear()
            try:
                rows = await asyncio.to_thread(self._read_new)
            except Exception:
                logger.exception("event stream tail failed; retrying")
                rows = []
            for row in rows:
                # Nobody listening: count the event, but do not build its CloudEvent (a burst of creates
                # would pay for it on every commit).
                event = self.to_stream_event(row) if self._listeners else StreamEvent(row.seq, row.type, row.hub_id, {})
                if self.on_event is not None:
                    self.on_event(event)
                self._dispatch(event)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval_s)

    @staticmethod
    def to_stream_event(row: outbox.OutboxEvent) -> StreamEvent:
        """An outbox row as a stream event (secrets redacted: the stream is for operators, not recipients)."""
        return StreamEvent(row.seq, row.type, row.hub_id, to_cloudevent(row, data=outbox.redacted(row.data)))

    def _replay_page(self, after_seq: int) -> list[outbox.OutboxEvent]:
        with self.database.read() as session:
            return outbox.events_after(session, after_seq=after_seq, hub_ids=self.hub_ids, limit=REPLAY_PAGE)

    async def subscribe(
        self,
        *,
        after_seq: int | None = None,
        hub_ids: Collection[str] | None = None,
        type_prefixes: Collection[str] = (),
    ) -> AsyncIterator[StreamEvent]:
        """Events from now on (or replayed from after `after_seq`); ends if the listener falls behind.

        A replay reads the store one page (REPLAY_PAGE events) at a time until it has caught up, however
        many events that takes, and only then listens live: a client replaying from the start holds one
        page in memory, not the whole history. The listener is removed when the stream ends or the client
        leaves (the generator is closed either way).
        """
        listener = _Listener(
            asyncio.Queue(self.queue_size), frozenset(hub_ids) if hub_ids else None, tuple(type_prefixes)
        )
        recent: collections.deque[int] = collections.deque(maxlen=4 * REPLAY_PAGE)  # replayed seqs near the tail
        try:
            listening = after_seq is None
            if listening:
                self._listeners.add(listener)
            cursor = after_seq
            while cursor is not None:
                page = await asyncio.to_thread(self._replay_page, cursor)
                for row in page:
                    cursor = row.seq
                    recent.append(row.seq)
                    event = self.to_stream_event(row)
                    if listener.wants(event):
                        yield event
                if len(page) < REPLAY_PAGE:
                    if listening:
                        break
                    # Caught up: listen, then read once more so nothing committed in between is missed.
                    self._listeners.add(listener)
                    listening = True
            replayed = set(recent)
            floor = min(recent) if recent else -1
            while True:
                item = await listener.queue.get()
                if item is None:
                    return
                if item.seq is not None and (item.seq in replayed or item.seq < floor):
                    continue
                yield item
        finally:
            self._listeners.discard(listener)

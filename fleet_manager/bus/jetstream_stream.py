"""The live event stream (SSE) read from NATS JetStream instead of the store: what `--api-only` replicas serve.

Each SSE client gets its own ordered JetStream consumer on the events stream the outbox relay fills
(`jetstream_relay`), so a replica that writes nothing still streams every hub's events, in the order
the relay published them (outbox seq order). Event ids stay the outbox seqs (header `Finalmile-Seq`),
the same ids a replica streaming from the store sends, so a client may reconnect to any replica with
`Last-Event-ID`: the consumer then starts at the first stream message whose seq is above it (found
by binary search over the stream, whose messages are in seq order). A reconnect that asks for events
older than the stream still holds (its limits trimmed them) gets what the stream has; the stored
log (`GET /v1/events?after=`) still has everything until retention prunes it. The leaders' vehicle
telemetry (core NATS, `bus.telemetry`) joins every live stream as `vehicle.telemetry` events without ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from typing import Any

from fleet_manager.api.broker import StreamEvent

from .jetstream_relay import SEQ_HEADER, RelayConfig, ensure_stream
from .link import BusLink
from .telemetry import TELEMETRY_EVENT_TYPE, TELEMETRY_SUBJECT_PREFIX, telemetry_cloudevent

logger = logging.getLogger(__name__)

CONNECT_WAIT_S = 10.0  # how long a new stream waits for the NATS connection before it ends (the client retries)


@dataclass(eq=False)  # identity hash: listeners live in a set
class _Listener:
    queue: asyncio.Queue[StreamEvent]
    hub_ids: frozenset[str]
    type_prefixes: tuple[str, ...]

    def wants(self, event: StreamEvent) -> bool:
        return event.hub_id in self.hub_ids and (not self.type_prefixes or event.type.startswith(self.type_prefixes))


@dataclass
class JetStreamEvents:
    """One per app. `run()` readies the stream and follows telemetry; `subscribe()` yields events for one client."""

    config: RelayConfig
    hub_ids: tuple[str, ...]
    link: BusLink  # the process's NATS connection (run by the app)
    queue_size: int = 2000
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _listeners: set[_Listener] = field(default_factory=set)

    @property
    def listener_count(self) -> int:
        """How many streams are open."""
        return len(self._listeners)

    def poke(self) -> None:
        """Nothing to do: events reach this stream through the relay, which its own commits wake."""

    async def run(self) -> None:
        """Once NATS is connected, make sure the stream exists and follow the leaders' telemetry (until cancelled)."""
        while True:
            with contextlib.suppress(TimeoutError):
                client = await self.link.client(CONNECT_WAIT_S)
                break
            logger.warning("event stream: NATS not connected after %.0f s; still waiting", CONNECT_WAIT_S)
        await ensure_stream(client.jetstream(timeout=self.config.publish_timeout_s), self.config)
        telemetry = await client.subscribe(f"{TELEMETRY_SUBJECT_PREFIX}.>", cb=self._telemetry)
        self._ready.set()
        try:
            await asyncio.Event().wait()
        finally:
            self._ready.clear()
            with contextlib.suppress(Exception):
                await telemetry.unsubscribe()

    async def _telemetry(self, message: Any) -> None:
        """A leader's telemetry message to every live listener that wants it (dropped for one that is full)."""
        try:
            data = json.loads(message.data)
            cloudevent = telemetry_cloudevent(data)
        except (ValueError, TypeError):
            return
        event = StreamEvent(None, TELEMETRY_EVENT_TYPE, cloudevent["finalmilehub"], cloudevent)
        for listener in list(self._listeners):
            if listener.wants(event):
                with contextlib.suppress(asyncio.QueueFull):  # telemetry is superseded by the next one anyway
                    listener.queue.put_nowait(event)

    async def subscribe(
        self, *, after_seq: int | None = None, hub_ids: Collection[str] | None = None,
        type_prefixes: Collection[str] = (),
    ) -> AsyncIterator[StreamEvent]:
        """Events after `after_seq` (an outbox seq), or from now on, with live telemetry; ends when NATS is not
        reachable in time."""
        from nats.js.api import ConsumerConfig, DeliverPolicy

        try:
            await asyncio.wait_for(self._ready.wait(), CONNECT_WAIT_S)
        except TimeoutError:
            logger.warning("event stream: NATS not connected within %.0f s; closing the stream", CONNECT_WAIT_S)
            return
        jetstream = (await self.link.client(CONNECT_WAIT_S)).jetstream(timeout=self.config.publish_timeout_s)
        start = await self._start_after(jetstream, after_seq)
        listener = _Listener(asyncio.Queue(self.queue_size), frozenset(hub_ids or self.hub_ids), tuple(type_prefixes))
        subject = (f"{self.config.subject_prefix}.{next(iter(listener.hub_ids)).replace('.', '_')}.>"
                   if len(listener.hub_ids) == 1 else f"{self.config.subject_prefix}.>")
        subscription = await jetstream.subscribe(
            subject, stream=self.config.stream, ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start))

        async def pump() -> None:
            last_seq = after_seq if after_seq is not None else -1
            async for message in subscription.messages:
                event = _to_event(message)
                # A batch the relay published twice beyond the duplicate window shows up again: seqs only rise.
                if event is None or event.seq is None or event.seq <= last_seq:
                    continue
                last_seq = event.seq
                if listener.wants(event):
                    await listener.queue.put(event)  # stored events wait for a slow client (back-pressure)

        pumping = asyncio.ensure_future(pump())
        getting: asyncio.Future[StreamEvent] | None = None
        self._listeners.add(listener)
        try:
            while True:
                getting = asyncio.ensure_future(listener.queue.get())
                await asyncio.wait({getting, pumping}, return_when=asyncio.FIRST_COMPLETED)
                if not getting.done():  # the consumer ended (its subscription closed): so does the stream
                    getting.cancel()
                    pumping.result()
                    return
                yield getting.result()
        finally:
            self._listeners.discard(listener)
            if getting is not None:
                getting.cancel()
            pumping.cancel()
            await asyncio.gather(pumping, return_exceptions=True)
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _start_after(self, jetstream: Any, after_seq: int | None) -> int:
        """The stream sequence of the first message whose outbox seq is above `after_seq` (now: the next one)."""
        info = await jetstream.stream_info(self.config.stream)
        first, last = int(info.state.first_seq), int(info.state.last_seq)
        if after_seq is None or last < first or last == 0:
            return last + 1
        low, high = max(first, 1), last + 1
        while low < high:
            middle = (low + high) // 2
            message = await jetstream.get_msg(self.config.stream, middle)
            if int((message.headers or {}).get(SEQ_HEADER, "0")) <= after_seq:
                low = middle + 1
            else:
                high = middle
        return low


def _to_event(message: Any) -> StreamEvent | None:
    """A relayed message as a stream event (None for one that is not the relay's)."""
    headers = message.headers or {}
    try:
        seq = int(headers[SEQ_HEADER])
        cloudevent = json.loads(message.data)
        return StreamEvent(seq, str(cloudevent["type"]), str(cloudevent["finalmilehub"]), cloudevent)
    except (KeyError, ValueError, TypeError):
        logger.warning("event stream: skipping a message on %s that the relay did not write", message.subject)
        return None

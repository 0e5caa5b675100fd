"""The live event stream (SSE) read from NATS JetStream instead of the store: what `--api-only` replicas serve.

Each SSE client gets its own ordered JetStream consumer on the events stream the outbox relay fills
(`jetstream_relay`), so a replica that writes nothing still streams every hub's events, in the order
the relay published them (outbox seq order). Event ids stay the outbox seqs (header `Finalmile-Seq`),
the same ids a replica streaming from the store sends, so a client may reconnect to any replica with
`Last-Event-ID`: the consumer then starts at the first stream message whose seq is above it (found
by binary search over the stream, whose messages are in seq order). A reconnect that asks for events
older than the stream still holds (its limits trimmed them) gets what the stream has; the stored
log (`GET /v1/events?after=`) still has everything until retention prunes it.
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

logger = logging.getLogger(__name__)

CONNECT_WAIT_S = 10.0  # how long a new stream waits for the NATS connection before it ends (the client retries)


@dataclass
class JetStreamEvents:
    """One per app. `run()` holds the NATS connection; `subscribe()` yields events for one SSE client."""

    config: RelayConfig
    hub_ids: tuple[str, ...]
    link: BusLink  # the process's NATS connection (run by the app)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _listeners: int = 0

    @property
    def listener_count(self) -> int:
        """How many streams are open."""
        return self._listeners

    def poke(self) -> None:
        """Nothing to do: events reach this stream through the relay, which its own commits wake."""

    async def run(self) -> None:
        """Once NATS is connected, make sure the stream exists; then streams may open (until cancelled)."""
        while True:
            with contextlib.suppress(TimeoutError):
                client = await self.link.client(CONNECT_WAIT_S)
                break
            logger.warning("event stream: NATS not connected after %.0f s; still waiting", CONNECT_WAIT_S)
        await ensure_stream(client.jetstream(timeout=self.config.publish_timeout_s), self.config)
        self._ready.set()
        try:
            await asyncio.Event().wait()
        finally:
            self._ready.clear()

    async def subscribe(
        self, *, after_seq: int | None = None, hub_ids: Collection[str] | None = None,
        type_prefixes: Collection[str] = (),
    ) -> AsyncIterator[StreamEvent]:
        """Events after `after_seq` (an outbox seq), or from now on; ends when NATS is not reachable in time."""
        from nats.js.api import ConsumerConfig, DeliverPolicy

        try:
            await asyncio.wait_for(self._ready.wait(), CONNECT_WAIT_S)
        except TimeoutError:
            logger.warning("event stream: NATS not connected within %.0f s; closing the stream", CONNECT_WAIT_S)
            return
        jetstream = (await self.link.client(CONNECT_WAIT_S)).jetstream(timeout=self.config.publish_timeout_s)
        start = await self._start_after(jetstream, after_seq)
        wanted = frozenset(hub_ids or self.hub_ids)
        prefixes = tuple(type_prefixes)
        subject = (f"{self.config.subject_prefix}.{next(iter(wanted)).replace('.', '_')}.>" if len(wanted) == 1
                   else f"{self.config.subject_prefix}.>")
        subscription = await jetstream.subscribe(
            subject, stream=self.config.stream, ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start))
        self._listeners += 1
        last_seq = after_seq if after_seq is not None else -1
        try:
            async for message in subscription.messages:
                event = _to_event(message)
                # A batch the relay published twice beyond the duplicate window shows up again: seqs only rise.
                if event is None or event.seq is None or event.seq <= last_seq:
                    continue
                last_seq = event.seq
                if event.hub_id in wanted and (not prefixes or event.type.startswith(prefixes)):
                    yield event
        finally:
            self._listeners -= 1
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

"""Outbox -> NATS JetStream: every stored domain event published once to one stream, subject per hub and kind.

The relay tails the outbox by seq (commit-ordered, `store.outbox`) and publishes each event to
`<prefix>.<hub>.<type>` (e.g. `finalmile.events.helsinki-west-harbour.order.status_changed`) with
the event id as `Nats-Msg-Id`, so JetStream drops a second publish of the same event within its
duplicate window. After JetStream acknowledges a batch the relay stores how far it got
(`relay_cursors`); a relay that restarts, or a NATS server that restarts, resumes from there and
nothing is lost (a batch published but not yet recorded is published again and de-duplicated).
One relay runs at a time: it holds the lease `relay:<stream>` (`fleet_manager.leadership`), and
its cursor writes are fenced by that lease's token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from fleet_manager.errors import ConfigError, StaleLeader
from fleet_manager.store import outbox
from fleet_manager.store.db import Database, WriteFence
from fleet_manager.store.models import RelayCursorRow
from fleet_manager.webhooks.cloudevents import to_cloudevent

logger = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
SEQ_HEADER = "Finalmile-Seq"


@dataclass(frozen=True)
class RelayConfig:
    """Where to publish; `duplicate_window_s` is JetStream's de-duplication window for the stream."""

    url: str
    stream: str = "FINALMILE_EVENTS"
    subject_prefix: str = "finalmile.events"
    batch_size: int = 200
    poll_interval_s: float = 0.2
    duplicate_window_s: float = 120.0
    publish_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("nats://", "tls://")):
            raise ConfigError(f"FINALMILE_NATS_URL must be nats:// or tls://, got {self.url!r}")
        if not self.stream.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"JetStream stream name {self.stream!r} must be letters, digits, '_' or '-'")

    @property
    def cursor_name(self) -> str:
        """The relay's row in `relay_cursors` (and its lease)."""
        return f"relay:{self.stream}"


def event_subject(prefix: str, hub_id: str, event_type: str) -> str:
    """`<prefix>.<hub>.<kind>`: a '.' in a hub id would split the token, so it becomes '_' there."""
    kind = event_type.removeprefix(outbox.EVENT_TYPE_PREFIX)
    return f"{prefix}.{hub_id.replace('.', '_')}.{kind}"


async def ensure_stream(jetstream: Any, config: RelayConfig) -> None:
    """Create the events stream unless it exists (the relay and the API's stream readers both may be first)."""
    from nats.js.api import StreamConfig

    wanted = StreamConfig(name=config.stream, subjects=[f"{config.subject_prefix}.>"],
                          duplicate_window=config.duplicate_window_s)
    try:
        await jetstream.add_stream(wanted)
    except Exception:  # exists (perhaps with other limits an operator chose): keep it, check it answers
        await jetstream.stream_info(config.stream)


def load_cursor(session: Session, *, name: str) -> int:
    """The last seq the bus acknowledged (0 before the first batch)."""
    row = session.get(RelayCursorRow, name)
    return 0 if row is None else int(row.last_seq)


def save_cursor(session: Session, *, name: str, last_seq: int, at_s: float) -> None:
    """Record progress (never backwards)."""
    row = session.get(RelayCursorRow, name, with_for_update=True)
    if row is None:
        session.add(RelayCursorRow(name=name, last_seq=last_seq, updated_at_s=at_s))
    elif last_seq > row.last_seq:
        row.last_seq = last_seq
        row.updated_at_s = at_s


class OutboxRelay:
    """Copies the outbox to a JetStream stream until cancelled; create one per process, run it under its lease."""

    def __init__(self, database: Database, config: RelayConfig) -> None:
        self.database = database
        self.config = config
        self.published = 0
        self._writes = database
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Events were committed: relay now."""
        self._wake.set()

    async def run(self, fence: WriteFence | None = None) -> None:
        """Connect (reconnecting for ever), make sure the stream exists, and relay until cancelled.

        With `fence` (the relay lease's, when run by `HubLeadership`), cursor writes are refused once the
        lease has moved to another process's relay.
        """
        import nats  # inside: only a process configured with FINALMILE_NATS_URL needs the client

        self._writes = self.database if fence is None else self.database.fenced(fence)

        async def on_disconnected() -> None:
            logger.warning("NATS connection lost; the relay resumes from its stored cursor on reconnect")

        client = await nats.connect(self.config.url, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                    disconnected_cb=on_disconnected, name=self.config.cursor_name)
        try:
            jetstream = client.jetstream(timeout=self.config.publish_timeout_s)
            await ensure_stream(jetstream, self.config)
            while True:
                self._wake.clear()
                try:
                    relayed = await self.relay_once(jetstream)
                except asyncio.CancelledError:
                    raise
                except StaleLeader:
                    raise  # another process relays now
                except Exception as exc:  # NATS down or restarting: the cursor did not move, try again
                    logger.warning("relaying the outbox failed (%s: %s); retrying", type(exc).__name__, exc)
                    relayed = 0
                    await asyncio.sleep(self.config.poll_interval_s)
                if relayed >= self.config.batch_size:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.config.poll_interval_s)
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    async def relay_once(self, jetstream: Any) -> int:
        """Publish the next batch after the stored cursor; store the new cursor once JetStream acked it all."""
        name = self.config.cursor_name

        def load() -> tuple[int, list[outbox.OutboxEvent]]:
            with self.database.read() as session:
                after = load_cursor(session, name=name)
                return after, outbox.events_after(session, after_seq=after, limit=self.config.batch_size)

        _after, events = await asyncio.to_thread(load)
        if not events:
            return 0
        acks = []
        for event in events:
            body = json.dumps(to_cloudevent(event, data=outbox.redacted(event.data)), separators=(",", ":"),
                              sort_keys=True).encode()
            acks.append(await jetstream.publish(
                event_subject(self.config.subject_prefix, event.hub_id, event.type), body,
                stream=self.config.stream, headers={MSG_ID_HEADER: event.event_id, SEQ_HEADER: str(event.seq)}))
        last_seq = events[-1].seq
        now_s = time.time()
        await self._writes.write_async(lambda s: save_cursor(s, name=name, last_seq=last_seq, at_s=now_s))
        self.published += sum(1 for ack in acks if not getattr(ack, "duplicate", False))
        return len(events)

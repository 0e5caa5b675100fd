"""The live event stream (SSE), the stored event log, and webhook dead letters."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import StringConstraints

from fleet_manager.store import outbox

from ..deps import Operator, Reader, ServiceDep, StreamReader
from ..limits import PathId
from ..schemas import EventOut

router = APIRouter(tags=["events"])
MAX_SEQ = 2**63 - 1  # event seqs are 64-bit integers in the store; a larger cursor is a 422, not a 500


@router.get("/events/stream", response_class=EventSourceResponse)
async def stream(
    service: ServiceDep,
    _caller: StreamReader,
    last_event_id: Annotated[str | None, Header(description="resume after this event (SSE reconnect)")] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_SEQ, description="replay stored events after this seq")] = None,
    types: Annotated[
        list[Annotated[str, StringConstraints(max_length=128)]] | None,
        Query(max_length=20, description="type prefixes, e.g. com.finalmile.order"),
    ] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: every stored event (id = its seq) and live telemetry, as CloudEvents JSON."""
    after_seq = after
    if last_event_id and last_event_id.isdigit() and int(last_event_id) <= MAX_SEQ:
        after_seq = int(last_event_id)
    service.metrics.stream_listeners.inc()
    try:
        yield ServerSentEvent(comment="connected")
        async for event in service.broker.subscribe(after_seq=after_seq, type_prefixes=tuple(types or ())):
            yield ServerSentEvent(
                raw_data=json.dumps(event.cloudevent, separators=(",", ":")),
                event=event.type,
                id=str(event.seq) if event.seq is not None else None,
            )
    finally:
        service.metrics.stream_listeners.dec()


@router.get("/events")
def list_events(
    service: ServiceDep,
    _caller: Reader,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EventOut]:
    """Stored events after a seq, oldest first (polling alternative to the stream)."""
    with service.database.read() as session:
        events = outbox.events_after(session, after_seq=after, hub_ids=service.hub_ids, limit=limit)
    return [EventOut.of(e) for e in events]


@router.get("/dead-letters", tags=["webhooks"])
def dead_letters(
    service: ServiceDep, _caller: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[EventOut]:
    """Webhook events that exhausted their attempts, newest first."""
    with service.database.read() as session:
        return [EventOut.of(e) for e in outbox.list_dead_letters(session, hub_ids=service.hub_ids, limit=limit)]


@router.post("/dead-letters/{event_id}/retry", tags=["webhooks"])
def retry_dead_letter(event_id: PathId, service: ServiceDep, _caller: Operator) -> EventOut:
    """Queue a dead-lettered event again with a fresh attempt budget."""
    with service.write() as session:
        event = outbox.retry_dead_letter(session, event_id=event_id, hub_ids=service.hub_ids, at_s=service.now())
    return EventOut.of(event)

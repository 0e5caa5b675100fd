"""The live event stream (SSE), the stored event log, and webhook dead letters."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field, StringConstraints

from fleet_manager.store import outbox

from ..deps import Operator, Principal, Reader, ServiceDep, StreamReader
from ..limits import PathId
from ..schemas import EventOut

router = APIRouter(tags=["events"])
MAX_SEQ = 2**63 - 1  # event seqs are 64-bit integers in the store; a larger cursor is a 422, not a 500


class StreamTicket(BaseModel):
    ticket: str = Field(description="pass as `?ticket=` to GET /v1/events/stream; it is not a key")
    expires_at: dt.datetime


@router.post("/events/stream-tickets", status_code=status.HTTP_201_CREATED)
def stream_ticket(service: ServiceDep, caller: Reader) -> StreamTicket:
    """A short-lived ticket for clients that cannot send headers (a browser's EventSource).

    Keys are never accepted in a URL; a ticket names the key id and expires after
    FINALMILE_STREAM_TICKET_TTL_S (60 s): open the stream before then.
    """
    ticket, expires_s = service.keyring.issue_ticket(caller)
    return StreamTicket(ticket=ticket, expires_at=dt.datetime.fromtimestamp(expires_s, dt.UTC))


def _stream_slot(service: ServiceDep, caller: StreamReader) -> Principal:
    """The caller, if its key has a stream to spare (checked before the response starts: a 429, not a cut)."""
    limit = service.settings.max_streams_per_key
    if service.streams_by_key[caller.key_id] >= limit:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"this key already has {limit} event streams open; close one (FINALMILE_MAX_STREAMS_PER_KEY)",
            {"Retry-After": "5"},
        )
    return caller


@router.get(
    "/events/stream",
    response_class=EventSourceResponse,
    responses={429: {"description": "this key already has FINALMILE_MAX_STREAMS_PER_KEY streams open"}},
)
async def stream(
    service: ServiceDep,
    caller: Annotated[Principal, Depends(_stream_slot)],
    last_event_id: Annotated[str | None, Header(description="resume after this event (SSE reconnect)")] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_SEQ, description="replay stored events after this seq")] = None,
    types: Annotated[
        list[Annotated[str, StringConstraints(max_length=128)]] | None,
        Query(max_length=20, description="type prefixes, e.g. com.finalmile.order"),
    ] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: every stored event (id = its seq) and live telemetry, as CloudEvents JSON.

    Authenticate with the Authorization header, or `?ticket=` from POST /v1/events/stream-tickets.
    A replay (`after`, `Last-Event-ID`) pages through the store until it has caught up, then goes live.
    """
    after_seq = after
    if last_event_id and last_event_id.isdigit() and int(last_event_id) <= MAX_SEQ:
        after_seq = int(last_event_id)
    service.streams_by_key[caller.key_id] += 1
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
        service.streams_by_key[caller.key_id] -= 1
        if service.streams_by_key[caller.key_id] <= 0:
            del service.streams_by_key[caller.key_id]


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

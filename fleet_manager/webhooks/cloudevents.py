"""CloudEvents 1.0 structured-mode JSON for outbox events, and the HMAC-SHA256 signature over the body."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from fleet_manager.store.outbox import OutboxEvent

CONTENT_TYPE = "application/cloudevents+json"
SIGNATURE_HEADER = "X-FinalMile-Signature"
TIMESTAMP_HEADER = "X-FinalMile-Timestamp"
EVENT_ID_HEADER = "X-FinalMile-Event-Id"
ATTEMPT_HEADER = "X-FinalMile-Attempt"


def iso_time(time_s: float) -> str:
    """RFC 3339 UTC time of a clock stamp."""
    return dt.datetime.fromtimestamp(time_s, dt.UTC).isoformat().replace("+00:00", "Z")


def to_cloudevent(event: OutboxEvent, *, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The CloudEvent (spec 1.0) of an outbox event; `id` is stable across retries."""
    return {
        "specversion": "1.0",
        "id": event.event_id,
        "source": f"/finalmile/hubs/{event.hub_id}",
        "type": event.type,
        "subject": event.subject,
        "time": iso_time(event.time_s),
        "datacontenttype": "application/json",
        "finalmilehub": event.hub_id,
        "finalmileseq": event.seq,
        "data": event.data if data is None else data,
    }


def encode(cloudevent: dict[str, Any]) -> bytes:
    """The exact bytes that are POSTed and signed."""
    return json.dumps(cloudevent, separators=(",", ":"), sort_keys=True).encode()


def sign(body: bytes, secret: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of body>`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature_header: str, secret: bytes) -> bool:
    """What a receiver does: recompute the HMAC over the raw body and compare in constant time."""
    return hmac.compare_digest(sign(body, secret), signature_header.strip())

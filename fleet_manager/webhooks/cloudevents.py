"""CloudEvents 1.0 structured-mode JSON for outbox events, signed as the Standard Webhooks specification defines.

The signature is `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">` under the key
of the `whsec_` secret, in the `webhook-signature` header; the id and the timestamp are signed, so a
captured request cannot be replayed later (receivers refuse timestamps more than 5 minutes off).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from fleet_manager.store.outbox import OutboxEvent

CONTENT_TYPE = "application/cloudevents+json"
EVENT_ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
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


def sign(msg_id: str, timestamp_s: int, body: bytes, key: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp_s}.{body}">`."""
    mac = hmac.new(key, f"{msg_id}.{timestamp_s}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(msg_id: str, timestamp_s: int, body: bytes, signature_header: str, key: bytes) -> bool:
    """What a receiver does (without the timestamp tolerance): any `v1,` signature in the header matches."""
    expected = sign(msg_id, timestamp_s, body, key)
    return any(hmac.compare_digest(expected, candidate) for candidate in signature_header.split())

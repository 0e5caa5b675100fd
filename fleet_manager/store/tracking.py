"""Recipient tracking links: an unguessable token per link, of which the store keeps only a hash.

A token is `secrets.token_urlsafe(24)` (192 random bits). The store keeps its SHA-256 (domain-separated),
never the token: unlike an API key, which a person may choose short (so key ids are HMACs under the server
secret), a 192-bit random token cannot be found from its hash, and a plain hash keeps links working when the
server secret changes. The plain link leaves the process twice only: in the `out_for_delivery`
notification (sealed in the outbox like a pickup code, scrubbed once delivered) and in the answer to the
backend's `POST /v1/orders/{id}/tracking-link`.

A link stops working `max_age_s` after it was made, or `after_done_s` after its order reached a final
status (delivered, picked up, cancelled), whichever comes first. Each order keeps at most
`max_per_order` links (the oldest go first).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fleet_manager.domain.errors import NotFound
from fleet_manager.domain.notifications import Notification
from fleet_manager.domain.orders import Order
from fleet_manager.domain.state_machine import TERMINAL

from .models import OrderEventRow, OrderRow, TrackingTokenRow

#: Where `Database` puts its `TrackingPolicy` on every write session (like the sealer).
TRACKING_KEY = "finalmile_tracking"
TOKEN_BYTES = 24
_HASH_CONTEXT = b"finalmile/tracking-token/v1:"
PAGE_PATH = "/t/"


@dataclass(frozen=True)
class TrackingPolicy:
    """How tracking links look and how long they live (FINALMILE_PUBLIC_URL, FINALMILE_TRACKING_*)."""

    base_url: str = "http://127.0.0.1:8000"
    max_age_s: float = 30 * 24 * 3600.0
    max_per_order: int = 10

    def link(self, token: str) -> str:
        """The public URL of the tracking page of `token`."""
        return self.base_url.rstrip("/") + PAGE_PATH + token


@dataclass(frozen=True)
class TrackedOrder:
    """An order found by its tracking token, and the token's short id (for the audit trail, never the token)."""

    order: Order
    token_id: str


def token_hash(token: str) -> str:
    """The stored form of a token (hex SHA-256 with a context prefix)."""
    return hashlib.sha256(_HASH_CONTEXT + token.encode("utf-8", "surrogatepass")).hexdigest()


def policy_of(session: Session) -> TrackingPolicy:
    """The session's policy (`Database` sets it), else the defaults."""
    policy = session.info.get(TRACKING_KEY)
    return policy if isinstance(policy, TrackingPolicy) else TrackingPolicy()


def issue_token(session: Session, *, order_id: str, hub_id: str, at_s: float) -> tuple[str, float]:
    """A new token for the order (its hash stored); returns (token, expires_at_s). Keeps `max_per_order` tokens."""
    policy = policy_of(session)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at_s = at_s + policy.max_age_s
    session.add(TrackingTokenRow(token_hash=token_hash(token), order_id=order_id, hub_id=hub_id, created_at_s=at_s,
                                 expires_at_s=expires_at_s))
    session.flush()
    keep = select(TrackingTokenRow.token_hash).where(TrackingTokenRow.order_id == order_id).order_by(
        TrackingTokenRow.created_at_s.desc(), TrackingTokenRow.token_hash).limit(policy.max_per_order)
    session.execute(delete(TrackingTokenRow).where(TrackingTokenRow.order_id == order_id,
                                                   TrackingTokenRow.token_hash.not_in(keep.scalar_subquery())))
    return token, expires_at_s


def issue_link(session: Session, *, order_id: str, hub_ids: Collection[str], at_s: float) -> tuple[str, float]:
    """(the tracking page URL, when it stops working at the latest) of a new token for an order of `hub_ids`."""
    row = session.get(OrderRow, order_id)
    if row is None or row.hub_id not in hub_ids:
        raise NotFound(f"order {order_id!r} not found")
    token, expires_at_s = issue_token(session, order_id=order_id, hub_id=row.hub_id, at_s=at_s)
    return policy_of(session).link(token), expires_at_s


def with_tracking_link(session: Session, note: Notification, *, hub_id: str, at_s: float) -> Notification:
    """The notification with a new tracking link in its payload (`tracking_url`, a secret field of the outbox)."""
    token, _ = issue_token(session, order_id=note.order_id, hub_id=hub_id, at_s=at_s)
    return dataclasses.replace(note, payload={**note.payload, "tracking_url": policy_of(session).link(token)})


def _done_at_s(session: Session, order: Order) -> float | None:
    """When the order reached its final status (None while it has not)."""
    if order.status not in TERMINAL:
        return None
    query = select(func.max(OrderEventRow.at_s)).where(OrderEventRow.order_id == order.order_id,
                                                       OrderEventRow.to_status == order.status.value)
    at_s = session.scalar(query)
    return float(at_s) if at_s is not None else order.updated_at_s


def resolve(session: Session, *, token: str, hub_ids: Collection[str], at_s: float,
            after_done_s: float) -> TrackedOrder | None:
    """The order of a live token of `hub_ids`, or None (unknown, expired, another hub's: all look the same).

    A token stops working `after_done_s` after its order reached a final status.
    The look-up is by hash (an attacker controls the token, not its hash, so an index look-up reveals
    nothing), then the hashes are compared in constant time.
    """
    from .orders import to_order  # orders imports this module (the out_for_delivery link)

    wanted = token_hash(token)
    row = session.get(TrackingTokenRow, wanted)
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    if at_s > row.expires_at_s or row.hub_id not in hub_ids:
        return None
    order_row = session.get(OrderRow, row.order_id)
    if order_row is None:
        return None
    order = to_order(order_row)
    done_at_s = _done_at_s(session, order)
    if done_at_s is not None and at_s > done_at_s + after_done_s:
        return None
    return TrackedOrder(order, wanted[:12])


def prune_expired(session: Session, *, hub_ids: Collection[str], now_s: float, batch: int = 5000) -> int:
    """Delete up to `batch` tokens past their `expires_at_s` (they can never open a page again); returns how many."""
    expired = list(session.scalars(select(TrackingTokenRow.token_hash).where(
        TrackingTokenRow.hub_id.in_(list(hub_ids)), TrackingTokenRow.expires_at_s < now_s).limit(batch)))
    if expired:
        session.execute(delete(TrackingTokenRow).where(TrackingTokenRow.token_hash.in_(expired)))
    return len(expired)

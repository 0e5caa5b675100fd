"""Retention: old idempotency keys, old settled outbox events and expired tracking tokens are deleted, so the store
does not grow for ever."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from . import tracking
from .models import IdempotencyKeyRow, OutboxRow, WebhookAttemptRow


@dataclass(frozen=True)
class Pruned:
    """How many rows one pass deleted."""

    idempotency_keys: int
    outbox_events: int
    webhook_attempts: int
    tracking_tokens: int = 0  # tracking links past their lifetime


def prune(
    session: Session,
    *,
    hub_ids: Collection[str],
    now_s: float,
    idempotency_ttl_s: float,
    outbox_retention_s: float,
    batch: int = 5000,
) -> Pruned:
    """Delete idempotency keys older than the TTL (a retry after that creates a new order) and outbox
    events older than the retention that are settled: delivered, or never meant for the webhook.
    Undelivered and dead-lettered events stay until they are delivered or retried. At most `batch` each."""
    hubs = list(hub_ids)
    old_keys = select(IdempotencyKeyRow.scope, IdempotencyKeyRow.key).where(
        IdempotencyKeyRow.hub_id.in_(hubs), IdempotencyKeyRow.created_at_s < now_s - idempotency_ttl_s
    )
    keys = list(session.execute(old_keys.limit(batch)))
    for scope, key in keys:
        session.execute(
            delete(IdempotencyKeyRow).where(IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.key == key)
        )
    cutoff_s = now_s - outbox_retention_s
    settled = or_(
        and_(OutboxRow.delivered_at_s.is_not(None), OutboxRow.delivered_at_s < cutoff_s),
        and_(OutboxRow.webhook.is_(False), OutboxRow.time_s < cutoff_s),
    )
    events = list(session.scalars(select(OutboxRow.event_id).where(OutboxRow.hub_id.in_(hubs), settled).limit(batch)))
    attempts = 0
    if events:
        result = session.execute(delete(WebhookAttemptRow).where(WebhookAttemptRow.event_id.in_(events)))
        attempts = getattr(result, "rowcount", 0)
        session.execute(delete(OutboxRow).where(OutboxRow.event_id.in_(events)))
    tokens = tracking.prune_expired(session, hub_ids=hubs, now_s=now_s, batch=batch)
    return Pruned(len(keys), len(events), int(attempts or 0), tokens)

"""Retention on SQLite and PostgreSQL: old idempotency keys and settled old outbox events are pruned, nothing else."""

from __future__ import annotations

from sqlalchemy import func, select

from fleet_manager.domain.orders import Address, Recipient
from fleet_manager.store import orders, outbox, retention
from fleet_manager.store.db import Database
from fleet_manager.store.models import IdempotencyKeyRow, OutboxRow

DAY_S = 24 * 3600.0
T0 = 1_800_000_000.0


def _order(database: Database, hub_id: str, key: str, at_s: float) -> None:
    new = orders.NewOrder(hub_id=hub_id, recipient=Recipient("A"), destination=Address(60.17, 24.94), weight_kg=1.0)
    with database.transaction() as session:
        orders.create_order(session, new=new, actor="t", at_s=at_s, idempotency=("scope", f"{hub_id}-{key}", "h"))


def test_prune_keeps_what_is_young_or_unsettled(database: Database, hub_id: str) -> None:
    """Keys older than the TTL go; delivered events and stream-only events older than the retention go;
    undelivered and dead-lettered events stay whatever their age."""
    _order(database, hub_id, "old", T0)
    _order(database, hub_id, "young", T0 + 9 * DAY_S)
    with database.transaction() as session:
        stream_only = outbox.append_event(session, hub_id=hub_id, event_type="zone.created", subject="zones/z",
                                          data={}, at_s=T0, webhook=False)
        events = list(session.scalars(select(OutboxRow).where(OutboxRow.hub_id == hub_id, OutboxRow.webhook)))
    delivered, pending = events[0].event_id, events[1].event_id
    with database.transaction() as session:
        outbox.record_attempt(session, event_id=delivered, at_s=T0 + 1, status_code=200, error="", delivered=True,
                              next_attempt_s=None)
    with database.transaction() as session:
        pruned = retention.prune(session, hub_ids=[hub_id], now_s=T0 + 10 * DAY_S, idempotency_ttl_s=DAY_S,
                                 outbox_retention_s=7 * DAY_S)
    assert (pruned.idempotency_keys, pruned.outbox_events, pruned.webhook_attempts) == (1, 2, 1)
    with database.read() as session:
        keys = set(session.scalars(select(IdempotencyKeyRow.key).where(IdempotencyKeyRow.hub_id == hub_id)))
        left = set(session.scalars(select(OutboxRow.event_id).where(OutboxRow.hub_id == hub_id)))
        assert keys == {f"{hub_id}-young"}
        assert pending in left and delivered not in left and stream_only not in left
        assert session.scalar(select(func.count()).where(OutboxRow.hub_id == hub_id)) == len(left)

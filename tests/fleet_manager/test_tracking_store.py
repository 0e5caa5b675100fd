"""Tracking tokens in the store, on SQLite and PostgreSQL: only hashes at rest, the link in the out_for_delivery
notification (sealed in the outbox), expiry after delivery and by age, and the newest links per order kept."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from fleet_manager.domain import Address, Recipient
from fleet_manager.domain.orders import DeliveryMode, OrderStatus
from fleet_manager.store import orders, outbox, retention, tracking
from fleet_manager.store.db import Database
from fleet_manager.store.models import OutboxRow, TrackingTokenRow
from fleet_manager.store.sealing import is_sealed

S = OrderStatus
T0 = 1_790_000_000.0
DAY_S = 24 * 3600.0
AFTER_DONE_S = 2 * DAY_S


def _order(database: Database, hub_id: str) -> str:
    new = orders.NewOrder(hub_id=hub_id, recipient=Recipient("Aino"), destination=Address(60.17, 24.94),
                          weight_kg=1.0, customs_cleared=True)
    with database.transaction() as session:
        order, _ = orders.create_order(session, new=new, actor="backend:test", at_s=T0)
    return order.order_id


def _move(database: Database, order_id: str, status: OrderStatus, at_s: float, **kwargs: object) -> None:
    with database.transaction() as session:
        orders.transition_order(session, order_id=order_id, to_status=status, actor="test", reason="test",
                                at_s=at_s, **kwargs)  # type: ignore[arg-type]


def _resolve(database: Database, token: str, hub_id: str, at_s: float) -> str | None:
    with database.read() as session:
        found = tracking.resolve(session, token=token, hub_ids=[hub_id], at_s=at_s, after_done_s=AFTER_DONE_S)
    return None if found is None else found.order.order_id


def test_out_for_delivery_link_is_sealed_and_only_its_hash_is_kept(database: Database, hub_id: str) -> None:
    order_id = _order(database, hub_id)
    for step, status in enumerate((S.PLANNED, S.ASSIGNED, S.LOADED)):
        _move(database, order_id, status, T0 + step, vehicle_id="drone-1")
    _move(database, order_id, S.OUT_FOR_DELIVERY, T0 + 10, mode=DeliveryMode.DRONE, details={"eta_s": T0 + 900})

    with database.read() as session:
        row = session.scalars(select(OutboxRow).where(OutboxRow.subject == f"orders/{order_id}",
                                                      OutboxRow.type.like("%notification.out_for_delivery"))).one()
        stored = list(session.scalars(select(TrackingTokenRow.token_hash).where(TrackingTokenRow.order_id == order_id)))
        event = outbox.get_event(session, event_id=row.event_id)
    sealed = event.data["tracking_url"]
    assert is_sealed(sealed)
    url = outbox.unsealed(event, database.sealer)["tracking_url"]
    token = url.rsplit("/t/", 1)[1]
    assert url == tracking.TrackingPolicy().link(token)
    assert stored == [tracking.token_hash(token)]
    assert token not in str(event.data) and token not in stored[0]
    assert _resolve(database, token, hub_id, T0 + 20) == order_id
    assert _resolve(database, token, "another-hub", T0 + 20) is None
    assert _resolve(database, token + "x", hub_id, T0 + 20) is None


def test_links_expire_after_delivery_and_by_age(database: Database, hub_id: str) -> None:
    order_id = _order(database, hub_id)
    with database.transaction() as session:
        token, expires_at_s = tracking.issue_token(session, order_id=order_id, hub_id=hub_id, at_s=T0)
    assert expires_at_s == T0 + tracking.TrackingPolicy().max_age_s
    assert _resolve(database, token, hub_id, expires_at_s) == order_id
    assert _resolve(database, token, hub_id, expires_at_s + 1) is None  # too old, whatever the order does

    for step, status in enumerate((S.PLANNED, S.ASSIGNED, S.LOADED)):
        _move(database, order_id, status, T0 + step, vehicle_id="drone-1")
    _move(database, order_id, S.OUT_FOR_DELIVERY, T0 + 10, mode=DeliveryMode.DRONE)
    done_s = T0 + DAY_S
    _move(database, order_id, S.DELIVERED, done_s)
    assert _resolve(database, token, hub_id, done_s + AFTER_DONE_S) == order_id
    assert _resolve(database, token, hub_id, done_s + AFTER_DONE_S + 1) is None


def test_only_the_newest_links_of_an_order_work(database: Database, hub_id: str) -> None:
    order_id = _order(database, hub_id)
    kept = database.tracking
    database.tracking = dataclasses.replace(kept, max_per_order=3)
    try:
        tokens = []
        for i in range(5):
            with database.transaction() as session:
                tokens.append(tracking.issue_token(session, order_id=order_id, hub_id=hub_id, at_s=T0 + i)[0])
    finally:
        database.tracking = kept
    assert len(set(tokens)) == 5
    assert [_resolve(database, t, hub_id, T0 + 10) for t in tokens] == [None, None, order_id, order_id, order_id]


def test_retention_deletes_expired_tokens_only(database: Database, hub_id: str) -> None:
    order_id = _order(database, hub_id)
    with database.transaction() as session:
        _old, old_expiry_s = tracking.issue_token(session, order_id=order_id, hub_id=hub_id, at_s=T0)
        young, _ = tracking.issue_token(session, order_id=order_id, hub_id=hub_id, at_s=old_expiry_s)
    with database.transaction() as session:
        pruned = retention.prune(session, hub_ids=[hub_id], now_s=old_expiry_s + 1, idempotency_ttl_s=DAY_S,
                                 outbox_retention_s=DAY_S)
    assert pruned.tracking_tokens == 1
    with database.read() as session:
        left = set(session.scalars(select(TrackingTokenRow.token_hash).where(TrackingTokenRow.order_id == order_id)))
    assert left == {tracking.token_hash(young)}

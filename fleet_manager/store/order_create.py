"""Creating orders in a few statements: one order or a thousand, each with its idempotency key, audit and outbox.

Creating an order writes its idempotency key, the order row (already in its first resting status,
awaiting_customs or ready), two audit rows (received, then that status) and the two matching outbox
events, exactly what `orders.create_order` used to write through the ORM one flush at a time. Here
each table gets one multi-row INSERT for the whole batch, so a create costs five round trips however
many orders it carries, and the ORM's unit of work (most of the CPU of a create) is not involved.

The idempotency key goes in first with ON CONFLICT DO NOTHING: a key that was already there (a retry,
or a concurrent twin, which PostgreSQL makes wait until the first commits) returns the order created
under it, or IdempotencyMismatch when the body differs.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import JSON, Table, insert, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fleet_manager.domain.errors import IdempotencyMismatch, NotFound
from fleet_manager.domain.orders import Order, OrderStatus
from fleet_manager.domain.state_machine import check_transition
from fleet_manager.errors import StoreError

from . import outbox
from .address_reviews import announce_review, review_reason
from .models import Base, IdempotencyKeyRow, OrderEventRow, OrderRow, OutboxRow
from .orders import STATUS_CHANGED, NewOrder, new_order_values, order_data, to_order
from .outbox import EVENT_TYPE_PREFIX

#: From this many rows on, PostgreSQL gets them by COPY (below, a cached INSERT is cheaper than starting a COPY).
COPY_FROM_ROWS = 16
#: (the order, its idempotency (scope, key, request hash) or None, a chosen order id or None)
Item = tuple[NewOrder, tuple[str, str, str] | None, str | None]


@dataclass(frozen=True)
class Created:
    """What became of one item: the order (created or replayed), or the error that refused it."""

    order: Order | None
    created: bool
    error: StoreError | None = None


def _insert_keys(session: Session, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Insert idempotency keys, skipping those that exist; returns the (scope, key) pairs inserted."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql" and len(rows) >= COPY_FROM_ROWS:
        # One statement with six array parameters: compiling a 1,000-row VALUES list cost more than the insert.
        columns = ("scope", "key", "hub_id", "request_hash", "order_id", "created_at_s")
        arrays = ", ".join(
            f"CAST(:{name} AS {'float8' if name == 'created_at_s' else 'varchar'}[])" for name in columns
        )
        unnest = text(
            f"INSERT INTO idempotency_keys ({', '.join(columns)}) SELECT * FROM unnest({arrays}) "
            "ON CONFLICT DO NOTHING RETURNING scope, key"
        )
        params = {name: [row[name] for row in rows] for name in columns}
        return {(scope, key) for scope, key in session.execute(unnest, params)}
    table = cast(Table, IdempotencyKeyRow.__table__)
    if dialect == "postgresql":
        statement: Any = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - the store supports SQLite and PostgreSQL
        raise StoreError(f"idempotent inserts are not implemented for {dialect}")
    statement = statement.values(rows).returning(table.c.scope, table.c.key)
    # Core statements on the session's connection: the ORM's bulk-insert layer cost more than the insert.
    return {(scope, key) for scope, key in session.connection().execute(statement)}


def _order_of(values: dict[str, Any]) -> Order:
    """The domain record of row values (to_order reads attributes; a namespace has them, no ORM state needed)."""
    return to_order(cast(OrderRow, SimpleNamespace(**values)))


def _bulk_insert(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Insert rows (all with the same keys) in the session's transaction: COPY on PostgreSQL (one round trip,
    no per-row statement), executemany elsewhere (SQLite's executemany is a C loop)."""
    table = cast(Table, model.__table__)
    if len(rows) < COPY_FROM_ROWS or session.get_bind().dialect.name != "postgresql":
        session.connection().execute(insert(table), rows)
        return
    names = list(rows[0])
    json_columns = {column.name for column in table.columns if isinstance(column.type, JSON)}
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json.dumps(row[n]) if n in json_columns and row[n] is not None else row[n] for n in names])


def _event(
    order: Order, *, event_id: str, source: OrderStatus | None, actor: str, reason: str, at_s: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(audit row, outbox row) of one status change, as `orders._record_change` writes them."""
    audit: dict[str, Any] = {
        "event_id": event_id,
        "order_id": order.order_id,
        "hub_id": order.hub_id,
        "from_status": source.value if source else None,
        "to_status": order.status.value,
        "at_s": at_s,
        "actor": actor,
        "reason": reason,
        "details": {},
    }
    data = {
        **order_data(order),
        "from_status": source.value if source else None,
        "to_status": order.status.value,
        "actor": actor,
        "reason": reason,
        "at_s": at_s,
        "details": {},
    }
    event = {
        "event_id": event_id,
        "hub_id": order.hub_id,
        "type": EVENT_TYPE_PREFIX + STATUS_CHANGED,
        "subject": f"orders/{order.order_id}",
        "time_s": at_s,
        "data": data,
        "webhook": True,
        "attempts": 0,
        "next_attempt_s": at_s,
        "last_error": "",
    }
    return audit, event


def _replays(
    session: Session, items: Sequence[Item], pending: list[int], results: list[Created | None]
) -> None:
    """Fill the results of items whose key existed: the order created under it, or IdempotencyMismatch."""
    keyed = [(index, idempotency) for index in pending if (idempotency := items[index][1]) is not None]
    wanted = {(scope, key) for _, (scope, key, _) in keyed}
    if not wanted:
        return
    table = IdempotencyKeyRow
    rows = session.execute(
        select(table.scope, table.key, table.request_hash, table.order_id).where(
            tuple_(table.scope, table.key).in_(list(wanted))
        )
    ).all()
    known = {(scope, key): (request_hash, order_id) for scope, key, request_hash, order_id in rows}
    order_ids = [order_id for _, order_id in known.values()]
    query = select(OrderRow).where(OrderRow.order_id.in_(order_ids))
    orders = {row.order_id: to_order(row) for row in session.scalars(query)}
    for index, (scope, key, request_hash) in keyed:
        hit = known.get((scope, key))
        if hit is None:
            results[index] = Created(None, False, NotFound(f"the order of Idempotency-Key {key!r} is gone"))
        elif hit[0] != request_hash:
            message = f"Idempotency-Key {key!r} was already used with a different request body"
            results[index] = Created(None, False, IdempotencyMismatch(message))
        else:
            results[index] = Created(orders.get(hit[1]), False)


def create_orders(session: Session, *, items: Sequence[Item], actor: str, at_s: float) -> list[Created]:
    """Create every item in the caller's transaction (or find the order its idempotency key already made).

    Returns one `Created` per item, in order. Items repeating a key of an earlier item in the same call are
    replays of it (or mismatches). Nothing is written for a refused item.
    """
    results: list[Created | None] = [None] * len(items)
    order_ids = [order_id or str(uuid.uuid4()) for _, _, order_id in items]
    first_of_key: dict[tuple[str, str], int] = {}
    key_rows: list[dict[str, Any]] = []
    repeats: list[int] = []
    for index, (new, idempotency, _) in enumerate(items):
        if idempotency is None:
            continue
        scope, key, request_hash = idempotency
        if (scope, key) in first_of_key:
            repeats.append(index)
            continue
        first_of_key[(scope, key)] = index
        key_rows.append({"scope": scope, "key": key, "hub_id": new.hub_id, "request_hash": request_hash,
                         "order_id": order_ids[index], "created_at_s": at_s})
    inserted = _insert_keys(session, key_rows)
    existing = [index for pair, index in first_of_key.items() if pair not in inserted]
    for index in repeats:
        repeated = items[index][1]
        if repeated is not None and (repeated[0], repeated[1]) not in inserted:
            existing.append(index)  # a key that was already stored: compare with what it stored
    _replays(session, items, existing, results)
    repeats = [index for index in repeats if results[index] is None]
    repeated_items = set(repeats)

    order_rows: list[dict[str, Any]] = []
    reviews: list[tuple[Order, dict[str, Any]]] = []
    audits: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for index, (new, _, _) in enumerate(items):
        if results[index] is not None or index in repeated_items:
            continue
        values = new_order_values(new, order_id=order_ids[index], at_s=at_s)
        received = _order_of(values)
        if new.needs_address_review:  # a typed address nobody could resolve with confidence: an operator picks
            target, reason = OrderStatus.ADDRESS_REVIEW, review_reason(values["address_resolution"])
        elif new.customs_cleared:
            target, reason = OrderStatus.READY, "customs already cleared"
        else:
            target, reason = OrderStatus.AWAITING_CUSTOMS, "waiting for customs"
        check_transition(values["order_id"], OrderStatus.RECEIVED, target, customs_cleared=new.customs_cleared,
                         mode=None)
        values.update(status=target.value, version=2)
        order = _order_of(values)
        order_rows.append(values)
        if target is OrderStatus.ADDRESS_REVIEW:
            reviews.append((order, values["address_resolution"]))
        pair: tuple[dict[str, Any], dict[str, Any]]
        for pair in (
            _event(received, event_id=str(uuid.uuid4()), source=None, actor=actor, reason="order created", at_s=at_s),
            _event(order, event_id=str(uuid.uuid4()), source=OrderStatus.RECEIVED, actor="system", reason=reason,
                   at_s=at_s),
        ):
            audits.append(pair[0])
            events.append(pair[1])
        results[index] = Created(order, True)
    if order_rows:
        _bulk_insert(session, OrderRow, order_rows)
        _bulk_insert(session, OrderEventRow, audits)
        # At commit, so that outbox seqs follow commit order (store.outbox).
        outbox.insert_at_commit(session, functools.partial(_bulk_insert, session, OutboxRow, events))
    for order, resolution in reviews:
        announce_review(session, order, resolution, at_s=at_s)
    for index in repeats:
        repeated = items[index][1]
        if repeated is None:
            continue
        scope, key, _ = repeated
        first = results[first_of_key[(scope, key)]]
        if items[first_of_key[(scope, key)]][1] != repeated:
            message = f"Idempotency-Key {key!r} was already used with a different request body"
            results[index] = Created(None, False, IdempotencyMismatch(message))
        else:
            results[index] = Created(first.order if first else None, False, first.error if first else None)
    return [result if result is not None else Created(None, False, NotFound("not created")) for result in results]

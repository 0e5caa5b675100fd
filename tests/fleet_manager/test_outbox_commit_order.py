"""Outbox seqs follow commit order, so a tail that only remembers the newest seq it has seen misses nothing.

Writers in several threads append events and commit after random pauses (a transaction that appends first
may commit last); the live stream's tail (`EventBroker._read_new`, a seq cursor without look-back) runs
alongside and must see every committed event exactly once, in seq order.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from sqlalchemy import select

from fleet_manager.api.broker import EventBroker
from fleet_manager.store import outbox
from fleet_manager.store.db import Database
from fleet_manager.store.models import OutboxRow

WRITERS = 6
TRANSACTIONS_PER_WRITER = 15


def _write(database: Database, hub_id: str, writer: int, rng: random.Random, failures: list[BaseException]) -> None:
    try:
        for index in range(TRANSACTIONS_PER_WRITER):
            with database.transaction() as session:
                for part in range(2):
                    outbox.append_event(session, hub_id=hub_id, event_type="order.status_changed",
                                        subject=f"orders/{writer}-{index}", data={"part": part}, at_s=0.0)
                time.sleep(rng.random() * 0.01)  # commit later than a transaction that appended after us
    except BaseException as exc:  # reported by the test thread
        failures.append(exc)


@pytest.mark.timeout(120)
def test_a_seq_cursor_sees_every_event_once_while_writers_commit_out_of_order(
    database: Database, hub_id: str
) -> None:
    """Everything committed is seen by the cursor-only tail, once each, in increasing seq; each transaction's
    two events are adjacent in seq (inserted together at commit)."""
    broker = EventBroker(database, (hub_id,))
    assert broker._read_new() == []  # sets the cursor at the current end
    failures: list[BaseException] = []
    writers = [threading.Thread(target=_write, args=(database, hub_id, w, random.Random(w), failures))
               for w in range(WRITERS)]
    for thread in writers:
        thread.start()
    seen: list[outbox.OutboxEvent] = []
    while any(thread.is_alive() for thread in writers):
        seen.extend(broker._read_new())
    for thread in writers:
        thread.join(timeout=60)
    seen.extend(broker._read_new())
    assert not failures, failures
    with database.read() as session:
        committed = list(session.scalars(select(OutboxRow.event_id).where(OutboxRow.hub_id == hub_id)))
    assert len(committed) == WRITERS * TRANSACTIONS_PER_WRITER * 2
    assert sorted(e.event_id for e in seen) == sorted(committed)
    seqs = [e.seq for e in seen]
    assert seqs == sorted(seqs)
    by_subject: dict[str, list[int]] = {}
    for event in seen:
        by_subject.setdefault(event.subject, []).append(event.seq)
    assert all(b == a + 1 for a, b in by_subject.values())


def test_a_rolled_back_transaction_leaves_no_event(database: Database, hub_id: str) -> None:
    """Events are inserted at commit: a rollback writes none, and the next transaction does not inherit them."""
    with pytest.raises(RuntimeError), database.transaction() as session:
        outbox.append_event(session, hub_id=hub_id, event_type="order.status_changed", subject="orders/gone",
                            data={}, at_s=0.0)
        raise RuntimeError("abort")
    with database.transaction() as session:
        outbox.append_event(session, hub_id=hub_id, event_type="order.status_changed", subject="orders/kept",
                            data={}, at_s=0.0)
    with database.read() as session:
        subjects = list(session.scalars(select(OutboxRow.subject).where(OutboxRow.hub_id == hub_id)))
    assert subjects == ["orders/kept"]

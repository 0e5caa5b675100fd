"""Cost of commit-ordered outbox seqs on PostgreSQL: event-writing transactions per second.

`append_event` inserts a transaction's events at its commit under one advisory lock, so seqs follow
commit order (the live stream needs no look-back). That serialises the commits of event-writing
transactions. This measures them per second with 1, 4 and 8 writer threads, against the same rows
inserted without the lock (seqs then in insert order, not commit order: the former behaviour). Each
transaction writes two events, as an order status change with its notification does. Needs the
PostgreSQL server on 127.0.0.1 (a throw-away database is created and dropped); skips otherwise.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

from fleet_manager.store import outbox
from fleet_manager.store.db import Database
from fleet_manager.store.models import OutboxRow

from .pg_scratch import scratch_postgres

NAME = "outbox_commits"


def _ordered(session: Any, hub_id: str, subject: str) -> None:
    for part in range(2):
        outbox.append_event(session, hub_id=hub_id, event_type="order.status_changed", subject=subject,
                            data={"part": part}, at_s=0.0)


def _unordered(session: Any, hub_id: str, subject: str) -> None:
    for part in range(2):
        session.add(OutboxRow(event_id=str(uuid.uuid4()), hub_id=hub_id, type="com.finalmile.order.status_changed",
                              subject=subject, time_s=0.0, data={"part": part}, webhook=True, attempts=0,
                              next_attempt_s=0.0, last_error=""))


def _measure(database: Database, write: Any, threads: int, per_thread: int) -> float:
    hub_id = f"bench-{uuid.uuid4().hex[:8]}"

    def work(index: int) -> None:
        for n in range(per_thread):
            with database.transaction() as session:
                write(session, hub_id, f"orders/{index}-{n}")

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return threads * per_thread / (time.perf_counter() - started)


def run(args: Any = None) -> list[dict[str, Any]]:
    """Rows: writers, inserts (at commit under the lock / at append, no lock), transactions/s, load average."""
    rows: list[dict[str, Any]] = []
    with scratch_postgres() as url:
        if url is None:
            return []
        database = Database(url)
        try:
            per_thread = 50 if getattr(args, "quick", False) else 300
            for threads in (1, 4, 8):
                for label, write in (("at commit, advisory lock (commit-ordered)", _ordered),
                                     ("at append, no lock (insert-ordered)", _unordered)):
                    rate = _measure(database, write, threads, per_thread)
                    rows.append({"writers": threads, "outbox insert": label, "transactions": threads * per_thread,
                                 "transactions_per_s": round(rate, 1),
                                 "load_average_1m": round(os.getloadavg()[0], 2)})
        finally:
            database.dispose()
    return rows

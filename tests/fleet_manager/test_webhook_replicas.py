"""Two webhook deliverers on one PostgreSQL store (replicas): every event reaches the receiver exactly once,
and each order's events in order, while the receiver fails some POSTs (retries in between)."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from fm_helpers import SECRET, WebhookReceiver, webhook_receiver

from fleet_manager.config import webhook_secret_bytes
from fleet_manager.store import outbox
from fleet_manager.store.db import Database
from fleet_manager.webhooks import WebhookConfig, WebhookDeliverer
from mission_planner.clock import Clock

pytestmark = pytest.mark.postgres

ORDERS = 8
EVENTS_PER_ORDER = 25
TIMEOUT_S = 90.0


class _Outcomes(Counter[str]):
    """Attempt outcomes of one deliverer (its metrics hook)."""

    def update_one(self, outcome: str) -> None:
        """Count one attempt."""
        self[outcome] += 1


@pytest.fixture
def replicas(_postgres_database: Database, postgres_url: str) -> Iterator[tuple[Database, Database]]:
    """Two `Database` handles (two engines, two pools) on the session's migrated PostgreSQL database."""
    other = Database(postgres_url)
    try:
        yield _postgres_database, other
    finally:
        other.dispose()


def _append_interleaved(database: Database, hub_id: str, clock: Clock) -> list[str]:
    """EVENTS_PER_ORDER events for each of ORDERS orders, interleaved in seq, in one transaction."""
    with database.transaction() as session:
        return [
            outbox.append_event(session, hub_id=hub_id, event_type="order.status_changed",
                                subject=f"orders/{hub_id}-{order}", data={"order": order, "step": step},
                                at_s=clock.now())
            for step in range(EVENTS_PER_ORDER)
            for order in range(ORDERS)
        ]


def _run_in_thread(deliverer: WebhookDeliverer, stop: threading.Event) -> threading.Thread:
    """A deliverer on an event loop of its own (as in its own process) until `stop` is set."""

    async def main() -> None:
        task = asyncio.create_task(deliverer.run())
        while not stop.is_set():
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(150)
def test_two_deliverers_send_each_event_once_and_in_order_per_order(
    replicas: tuple[Database, Database], hub_id: str
) -> None:
    """Both replicas poll the same hub; the receiver sees each event id exactly once, each order's events in
    seq order, and the store records exactly one accepted attempt per event."""
    clock = Clock()
    ids = _append_interleaved(replicas[0], hub_id, clock)
    receiver = WebhookReceiver(fail_first=15)
    outcomes = {0: _Outcomes(), 1: _Outcomes()}
    stop = threading.Event()
    with webhook_receiver(receiver) as url:
        config = WebhookConfig(url=url, secret=webhook_secret_bytes(SECRET), max_attempts=20, backoff_base_s=0.02,
                               backoff_max_s=0.1, poll_interval_s=0.02, batch_size=40)
        threads = [
            _run_in_thread(WebhookDeliverer(database, config, hub_ids=[hub_id], clock=clock,
                                            on_attempt=outcomes[index].update_one), stop)
            for index, database in enumerate(replicas)
        ]
        try:
            deadline = clock.now() + TIMEOUT_S
            while True:
                with replicas[1].read() as session:
                    if outbox.webhook_backlog(session, hub_ids=[hub_id]) == (0, 0):
                        break
                if clock.now() > deadline:
                    raise AssertionError(f"backlog not delivered within {TIMEOUT_S} s: {outcomes}")
                stop.wait(0.1)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
    accepted = receiver.accepted_events()
    counts = Counter(event["id"] for event in accepted)
    assert set(counts) == set(ids) and max(counts.values()) == 1, [i for i, n in counts.items() if n > 1][:5]
    by_order: dict[str, list[int]] = {}
    for event in accepted:  # in the order the receiver answered them
        by_order.setdefault(event["subject"], []).append(event["finalmileseq"])
    assert len(by_order) == ORDERS
    for subject, seqs in by_order.items():
        assert seqs == sorted(seqs), f"{subject} out of order: {seqs}"
    with replicas[0].read() as session:
        for event_id in ids:
            accepted_attempts = [a for a in outbox.list_attempts(session, event_id=event_id) if a[2] == 200]
            assert len(accepted_attempts) == 1, (event_id, outbox.list_attempts(session, event_id=event_id))
    assert receiver.failures == 15
    delivered = {index: counter["delivered"] for index, counter in outcomes.items()}
    assert sum(delivered.values()) == len(ids), delivered

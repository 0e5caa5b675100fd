"""Webhooks over real HTTP: retries until the receiver answers, signatures verify, nothing lost; dead letters."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from fm_helpers import SECRET, WebhookReceiver, free_port, webhook_receiver

from fleet_manager.config import webhook_secret_bytes
from fleet_manager.store import outbox
from fleet_manager.store.db import Database
from fleet_manager.webhooks import WebhookConfig, WebhookDeliverer, sign, verify
from fleet_manager.webhooks.cloudevents import CONTENT_TYPE, EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from fleet_manager.webhooks.deliverer import backoff_s
from mission_planner.clock import Clock

HUB = "hub-webhooks"


def _db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'wh.db'}")
    db.migrate()
    return db


def _append(db: Database, count: int, clock: Clock) -> list[str]:
    with db.transaction() as session:
        return [
            outbox.append_event(
                session,
                hub_id=HUB,
                event_type="order.status_changed",
                subject=f"orders/o{i}",
                data={"i": i},
                at_s=clock.now(),
            )
            for i in range(count)
        ]


async def _run_until(deliverer: WebhookDeliverer, predicate: object, timeout_s: float) -> None:
    task = asyncio.create_task(deliverer.run())
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not predicate():  # type: ignore[operator]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("webhook delivery did not finish in time")
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_signature_round_trip_and_tamper() -> None:
    """A receiver recomputing the HMAC over id.timestamp.body accepts it and rejects a changed body, id or time."""
    body, key = b'{"id":"1"}', b"s3cret-key-of-24-bytes-at-least"
    header = sign("msg_1", 1_700_000_000, body, key)
    assert header.startswith("v1,") and verify("msg_1", 1_700_000_000, body, header, key)
    assert not verify("msg_1", 1_700_000_000, body + b" ", header, key)
    assert not verify("msg_2", 1_700_000_000, body, header, key)
    assert not verify("msg_1", 1_700_000_001, body, header, key)
    assert not verify("msg_1", 1_700_000_000, body, header, b"other")


def test_backoff_grows_exponentially_with_jitter_and_cap() -> None:
    """Delays double per attempt within [d/2, d] and never exceed the cap."""
    config = WebhookConfig(url="http://x", secret=b"k", backoff_base_s=1.0, backoff_max_s=30.0)
    rng = random.Random(1)
    for attempt in range(1, 12):
        nominal = min(30.0, 2 ** (attempt - 1))
        assert nominal / 2 <= backoff_s(attempt, config, rng) <= nominal


@pytest.mark.timeout(60)
async def test_flaky_receiver_gets_every_event_signed(tmp_path: Path) -> None:
    """The receiver fails the first 5 POSTs; after retries every event arrived once accepted, signed, same ids."""
    db, clock = _db(tmp_path), Clock()
    ids = _append(db, 12, clock)
    receiver = WebhookReceiver(fail_first=5)
    with webhook_receiver(receiver) as url:
        config = WebhookConfig(
            url=url,
            secret=webhook_secret_bytes(SECRET),
            max_attempts=8,
            backoff_base_s=0.05,
            backoff_max_s=0.2,
            poll_interval_s=0.05,
        )
        deliverer = WebhookDeliverer(db, config, hub_ids=[HUB], clock=clock)

        def settled() -> bool:  # every event received and its delivery recorded
            with db.read() as session:
                return outbox.webhook_backlog(session, hub_ids=[HUB]) == (0, 0)

        await _run_until(deliverer, lambda: len(receiver.accepted_events()) >= 12 and settled(), 30)
    assert receiver.failures == 5
    assert sorted(e["id"] for e in receiver.accepted_events()) == sorted(ids)
    for item in receiver.received:
        headers = item.headers
        timestamp_s = int(headers[TIMESTAMP_HEADER])
        key = webhook_secret_bytes(SECRET)
        assert verify(headers[EVENT_ID_HEADER], timestamp_s, item.body, headers[SIGNATURE_HEADER], key)
        assert item.headers["content-type"] == CONTENT_TYPE and headers[EVENT_ID_HEADER] == item.event["id"]
        event = item.event
        assert event["specversion"] == "1.0" and event["source"] == f"/finalmile/hubs/{HUB}"
        assert event["type"] == "com.finalmile.order.status_changed"
    with db.read() as session:
        assert outbox.webhook_backlog(session, hub_ids=[HUB]) == (0, 0)
        retried = [e for e in ids if len(outbox.list_attempts(session, event_id=e)) > 1]
    assert retried, "some events must have needed a retry"
    db.dispose()


@pytest.mark.timeout(60)
async def test_receiver_down_dead_letters_then_retry_delivers(tmp_path: Path) -> None:
    """With nobody listening, events are dead-lettered after max_attempts; a retry delivers once it is up."""
    db, clock = _db(tmp_path), Clock()
    ids = _append(db, 3, clock)
    config = WebhookConfig(
        url=f"http://127.0.0.1:{free_port()}/down",
        secret=b"k",
        max_attempts=3,
        backoff_base_s=0.02,
        backoff_max_s=0.05,
        poll_interval_s=0.02,
        timeout_s=1.0,
    )
    deliverer = WebhookDeliverer(db, config, hub_ids=[HUB], clock=clock)

    def all_dead() -> bool:
        with db.read() as session:
            return len(outbox.list_dead_letters(session, hub_ids=[HUB])) == 3

    await _run_until(deliverer, all_dead, 30)
    with db.read() as session:
        dead = outbox.list_dead_letters(session, hub_ids=[HUB])
        assert all(e.attempts == 3 and "ConnectError" in e.last_error for e in dead)
    receiver = WebhookReceiver()
    with webhook_receiver(receiver) as url:
        with db.transaction() as session:
            for event_id in ids:
                outbox.retry_dead_letter(session, event_id=event_id, hub_ids=[HUB], at_s=clock.now())
        config_up = WebhookConfig(url=url, secret=b"k", poll_interval_s=0.02)
        await _run_until(
            WebhookDeliverer(db, config_up, hub_ids=[HUB], clock=clock),
            lambda: len(receiver.accepted_events()) == 3,
            20,
        )
    assert sorted(e["id"] for e in receiver.accepted_events()) == sorted(ids)
    db.dispose()


def test_webhook_config_refuses_bad_values() -> None:
    """A non-http URL or an empty secret is refused up front."""
    with pytest.raises(ValueError, match="http"):
        WebhookConfig(url="ftp://x", secret=b"k")
    with pytest.raises(ValueError, match="secret"):
        WebhookConfig(url="http://x", secret=b"")

"""Outbox -> NATS JetStream relay against a nats-server of this test (`-js`, its own store directory and port).

Every event lands once in the stream (de-duplicated on its id), in seq order, on `<prefix>.<hub>.<kind>`;
a NATS server restarted in the middle of the run, and a relay restarted, lose nothing and duplicate nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fm_helpers import API_KEYS_ENV, auth, serve_in_thread
from nats_helpers import NATS_SERVER, NatsServer, running_nats

from fleet_manager.api import create_app
from fleet_manager.bus import OutboxRelay, RelayConfig, event_subject
from fleet_manager.bus.jetstream_relay import MSG_ID_HEADER, SEQ_HEADER
from fleet_manager.config import Settings
from fleet_manager.store import leases, outbox
from fleet_manager.store.db import Database, upgrade

nats = pytest.importorskip("nats")
pytestmark = pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed")
WAIT_S = 60.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    with running_nats(tmp_path / "jetstream") as running:
        yield running


def _append(database: Database, hub_id: str, count: int, start: int) -> list[str]:
    with database.transaction() as session:
        return [outbox.append_event(session, hub_id=hub_id, event_type="order.status_changed",
                                    subject=f"orders/{hub_id}-{(start + i) % 3}", data={"i": start + i}, at_s=0.0)
                for i in range(count)]


async def _stream_messages(url: str, stream: str, prefix: str) -> list[Any]:
    """Every message of the stream under `prefix`, in stream order (read by sequence, no consumer)."""
    client = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        jetstream = client.jetstream()
        info = await jetstream.stream_info(stream)
        messages = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await jetstream.get_msg(stream, seq)
            if message.subject.startswith(prefix):
                messages.append(message)
        return messages
    finally:
        await client.close()


async def _wait_for(url: str, stream: str, prefix: str, count: int) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        with contextlib.suppress(Exception):  # the stream may not exist yet, or the server be restarting
            messages = await _stream_messages(url, stream, prefix)
            if len(messages) >= count:
                return messages
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{count} messages under {prefix} not in {stream} within {WAIT_S} s")
        await asyncio.sleep(0.2)


def _start(relay: OutboxRelay) -> asyncio.Task[None]:
    return asyncio.create_task(relay.run())


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.timeout(180)
async def test_every_event_once_in_order_through_nats_and_relay_restarts(
    database: Database, hub_id: str, server: NatsServer
) -> None:
    """30 events relayed; the NATS server restarted while 20 more are written; the relay restarted and 5 more:
    the stream holds the 55 events once each (ids unique), in seq order, on the hub's subjects."""
    stream = f"FM_{uuid.uuid4().hex[:8].upper()}"
    config = RelayConfig(url=server.url, stream=stream, poll_interval_s=0.05)
    prefix = f"{config.subject_prefix}.{hub_id}."
    ids = _append(database, hub_id, 30, 0)
    task = _start(OutboxRelay(database, config))
    try:
        first = await _wait_for(server.url, stream, prefix, 30)
        assert [m.headers[MSG_ID_HEADER] for m in first] == ids
        server.stop()
        ids += _append(database, hub_id, 20, 30)
        await asyncio.sleep(0.5)  # the relay meets a server that is down
        server.start()
        await _wait_for(server.url, stream, prefix, 50)
    finally:
        await _stop(task)
    ids += _append(database, hub_id, 5, 50)
    task = _start(OutboxRelay(database, config))
    try:
        messages = await _wait_for(server.url, stream, prefix, 55)
    finally:
        await _stop(task)
    relayed = [m.headers[MSG_ID_HEADER] for m in messages]
    assert relayed == ids, "each event once, in seq order"
    seqs = [int(m.headers[SEQ_HEADER]) for m in messages]
    assert seqs == sorted(seqs)
    assert {m.subject for m in messages} == {event_subject(config.subject_prefix, hub_id, "order.status_changed")}


def test_subjects_are_per_hub_and_kind_and_a_bad_url_is_refused() -> None:
    """A '.' in a hub id cannot split the subject; only nats:// or tls:// URLs are taken."""
    assert event_subject("finalmile.events", "hub.a", "com.finalmile.vehicle.alert") == \
        "finalmile.events.hub_a.vehicle.alert"
    with pytest.raises(Exception, match="FINALMILE_NATS_URL"):
        RelayConfig(url="http://127.0.0.1:4222")


@pytest.mark.timeout(120)
def test_two_api_replicas_with_nats_relay_each_order_event_once(tmp_path: Path, server: NatsServer) -> None:
    """Two app replicas on one store, both configured with FINALMILE_NATS_URL: one holds the relay lease, and
    an order created through either replica reaches the stream once per event."""
    url = upgrade(f"sqlite:///{tmp_path / 'fm.db'}")
    stream = f"FM_{uuid.uuid4().hex[:8].upper()}"
    settings = [Settings(database_url=url, api_keys=API_KEYS_ENV, hub_id="hub-bus", nats_url=server.url,  # type: ignore[arg-type]
                         nats_stream=stream, node_id=f"replica-{i}", lease_ttl_s=2.0) for i in range(2)]
    order = {"recipient": {"name": "Aino"}, "weight_kg": 1.0, "customs_cleared": True,
             "destination": {"latitude_deg": 60.1699, "longitude_deg": 24.9384}}
    with serve_in_thread(create_app(settings[0])) as first, serve_in_thread(create_app(settings[1])) as second:
        for base in (first, second):
            created = httpx.post(f"{base}/v1/orders", json=order, timeout=30,
                                 headers={**auth("backend"), "Idempotency-Key": str(uuid.uuid4())})
            assert created.status_code == 201, created.text
        messages = asyncio.run(_wait_for(server.url, stream, "finalmile.events.hub-bus.", 4))
        database = Database(url)
        try:
            with database.read() as session:
                lease = leases.current(session, hub_id=RelayConfig(url=server.url, stream=stream).cursor_name)
        finally:
            database.dispose()
    assert lease is not None and lease.holder in ("replica-0", "replica-1") and lease.token == 1
    relayed = [m.headers[MSG_ID_HEADER] for m in messages]
    assert len(relayed) == len(set(relayed)) == 4  # created + ready, for each of the two orders

"""The API replica's live stream read from JetStream (`bus.jetstream_stream`), against a nats-server of the test.

Messages are published as the outbox relay does (subject per hub and kind, `Finalmile-Seq` header). A
stream from now on gets only what comes after; one resumed after an outbox seq starts right after it,
whatever the stream sequence, skips a repeat the relay published twice, and keeps to its hubs and type
prefixes; leaders' telemetry joins live streams without an id. `--api-only` set-ups missing their
fleet file or NATS URL are refused naming what to set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats_helpers import NATS_SERVER, running_nats

from fleet_manager.api.broker import StreamEvent
from fleet_manager.bus import RelayConfig, event_subject
from fleet_manager.bus.jetstream_relay import MSG_ID_HEADER, SEQ_HEADER
from fleet_manager.bus.jetstream_stream import JetStreamEvents
from fleet_manager.bus.link import BusLink
from fleet_manager.bus.telemetry import telemetry_subject
from fleet_manager.config import Settings
from fleet_manager.errors import ConfigError
from fleet_manager.runtime import Runtime

nats = pytest.importorskip("nats")
WAIT_S = 30.0


async def _publish(jetstream: object, config: RelayConfig, hub_id: str, kind: str, seq: int) -> None:
    cloudevent = {"specversion": "1.0", "id": f"ev-{seq}", "type": f"com.finalmile.{kind}", "finalmilehub": hub_id,
                  "source": f"/finalmile/hubs/{hub_id}", "data": {"seq": seq}}
    await jetstream.publish(event_subject(config.subject_prefix, hub_id, kind),  # type: ignore[attr-defined]
                            json.dumps(cloudevent).encode(), stream=config.stream,
                            headers={MSG_ID_HEADER: f"ev-{seq}-{uuid.uuid4().hex[:4]}", SEQ_HEADER: str(seq)})


async def _take(events: AsyncIterator[StreamEvent], count: int) -> list[StreamEvent]:
    """The first `count` events; the stream is closed afterwards (its listener and consumer removed)."""
    got: list[StreamEvent] = []
    async with asyncio.timeout(WAIT_S), contextlib.aclosing(events):  # type: ignore[type-var]
        async for event in events:
            got.append(event)
            if len(got) == count:
                break
    return got


@contextlib.asynccontextmanager
async def _events(url: str, hub_ids: tuple[str, ...]) -> AsyncIterator[tuple[JetStreamEvents, object, RelayConfig]]:
    config = RelayConfig(url=url, stream=f"FM_{uuid.uuid4().hex[:8].upper()}")
    link = BusLink(url, name="test-stream")
    source = JetStreamEvents(config, hub_ids, link)
    tasks = [asyncio.ensure_future(link.run()), asyncio.ensure_future(source.run())]
    try:
        client = await link.client(WAIT_S)
        async with asyncio.timeout(WAIT_S):
            await source._ready.wait()  # the stream exists: publishing may start
        yield source, client, config
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed")
@pytest.mark.timeout(120)
async def test_resume_after_a_seq_filters_and_telemetry(tmp_path: Path) -> None:
    with running_nats(tmp_path / "jetstream") as server:
        async with _events(server.url, ("hub-a", "hub-b")) as (source, client, config):
            jetstream = client.jetstream()  # type: ignore[attr-defined]
            # Outbox seqs with gaps (other hubs' events, pruned ones) and one batch published twice.
            for seq, hub_id, kind in ((3, "hub-a", "order.status_changed"), (5, "hub-b", "order.status_changed"),
                                      (9, "hub-a", "vehicle.alert"), (12, "hub-a", "order.status_changed"),
                                      (9, "hub-a", "vehicle.alert"), (12, "hub-a", "order.status_changed"),
                                      (14, "hub-c", "order.status_changed"), (15, "hub-a", "order.status_changed")):
                await _publish(jetstream, config, hub_id, kind, seq)

            resumed = await _take(source.subscribe(after_seq=5), 3)
            assert [e.seq for e in resumed] == [9, 12, 15]  # after 5, repeats and hub-c left out
            only_a_orders = await _take(source.subscribe(after_seq=0, hub_ids=["hub-a"],
                                                         type_prefixes=["com.finalmile.order"]), 3)
            assert [(e.seq, e.hub_id) for e in only_a_orders] == [(3, "hub-a"), (12, "hub-a"), (15, "hub-a")]

            assert source.listener_count == 0  # the streams above are closed
            live = source.subscribe()
            first = asyncio.ensure_future(_take(live, 2))
            async with asyncio.timeout(WAIT_S):
                while source.listener_count < 1:  # subscribed: what comes now is live
                    await asyncio.sleep(0.05)
            await client.publish(telemetry_subject("hub-b", "drone-7"),  # type: ignore[attr-defined]
                                 json.dumps({"hub_id": "hub-b", "vehicle_id": "drone-7", "stamp_s": 1.5,
                                             "latitude_deg": 60.1, "longitude_deg": 24.9}).encode())
            await _publish(jetstream, config, "hub-b", "order.status_changed", 20)
            got = await first
            assert sorted((e.seq or 0, e.type) for e in got) == [
                (0, "com.finalmile.vehicle.telemetry"), (20, "com.finalmile.order.status_changed")]
            telemetry = next(e for e in got if e.seq is None)
            assert telemetry.cloudevent["subject"] == "vehicles/drone-7"
            assert telemetry.cloudevent["data"]["latitude_deg"] == 60.1


async def test_api_only_refuses_a_set_up_it_cannot_serve(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="FINALMILE_NATS_URL"):
        Settings(api_only=True).check_safe_to_serve()
    with pytest.raises(ConfigError, match="--hubs"):
        Settings(api_only=True, hubs="a", nats_url="nats://127.0.0.1:4222").check_safe_to_serve()  # type: ignore[arg-type]
    from fleet_manager.store.db import upgrade

    settings = Settings(api_only=True, nats_url="nats://127.0.0.1:4222",
                        database_url=upgrade(f"sqlite:///{tmp_path / 'fm.db'}"))
    with pytest.raises(ConfigError, match="FINALMILE_FLEET_FILE"):
        await Runtime.start(settings)


@pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed")
@pytest.mark.timeout(180)
async def test_an_open_stream_goes_on_after_nats_restarts(tmp_path: Path) -> None:
    """The server is stopped and started again (its JetStream store kept) under an open stream: the next event
    still arrives on it, once (the ordered consumer is re-created after the last seq it delivered)."""
    with running_nats(tmp_path / "jetstream") as server:
        async with _events(server.url, ("hub-a",)) as (source, client, config):
            stream = source.subscribe(after_seq=0)
            async with contextlib.aclosing(stream):  # type: ignore[type-var]
                await _publish(client.jetstream(), config, "hub-a", "order.status_changed", 1)  # type: ignore[attr-defined]
                async with asyncio.timeout(WAIT_S):
                    assert (await anext(stream)).seq == 1
                await asyncio.to_thread(server.stop)
                await asyncio.to_thread(server.start)
                async with asyncio.timeout(60):
                    while True:  # publishing fails until the client has reconnected
                        try:
                            await _publish(client.jetstream(), config, "hub-a",  # type: ignore[attr-defined]
                                           "order.status_changed", 2)
                            break
                        except Exception:
                            await asyncio.sleep(0.3)
                async with asyncio.timeout(60):
                    assert (await anext(stream)).seq == 2

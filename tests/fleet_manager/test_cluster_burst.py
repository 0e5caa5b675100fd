"""A burst of orders through two API replicas onto two shards (one hub each), over real processes.

Forty orders posted concurrently, alternately to replica A and B, half in each hub's service area, no hub
id; each also re-sent to the other replica with the same Idempotency-Key (a client retry). Then: every
order stored once (0 lost, 0 duplicated), on the hub of its location, and replica B's live stream (from
JetStream) carries each order's status changes once each, in order, with increasing event ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from cluster_helpers import SOUTH_CENTRE, cluster_env, start_process, two_hub_fleet
from fm_helpers import auth
from nats_helpers import NATS_SERVER, running_nats
from sse_helpers import SseEvent, SseReader

from fleet_manager.world import load_world

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed")]

NORTH, SOUTH = "hub-north", "hub-south"
ORDERS_PER_HUB = 20
LIFECYCLE = ["received", "ready", "planned", "assigned", "loaded", "out_for_delivery", "delivered"]


@pytest.fixture
def topology(empty_database_url: str, tmp_path: Path) -> Iterator[tuple[str, str, tuple[float, float]]]:
    """(replica A, replica B, hub-north's site); shards lead hub-north and hub-south, one each."""
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("shards and replicas share one PostgreSQL store")
    hub = load_world("helsinki").hub
    fleet_path = two_hub_fleet(tmp_path / "fleet.yaml", north_radius_m=1000)
    with ExitStack() as stack:
        nats = stack.enter_context(running_nats(tmp_path / "jetstream"))
        env = cluster_env(empty_database_url, fleet_path, nats.url)
        bases = []
        for name, args in (("shard-n", ("--hubs", NORTH)), ("shard-s", ("--hubs", SOUTH)),
                           ("api-a", ("--api-only",)), ("api-b", ("--api-only",))):
            process, base = start_process(env, name, tmp_path, *args)
            stack.enter_context(process)
            bases.append(base)
        yield bases[2], bases[3], (hub.latitude_deg, hub.longitude_deg)


def _post(base: str, reference: str, at: tuple[float, float]) -> tuple[int, str]:
    reply = httpx.post(f"{base}/orders", headers={**auth("backend"), "Idempotency-Key": reference}, timeout=60,
                       json={"reference": reference, "recipient": {"name": "Aino"}, "weight_kg": 0.8,
                             "customs_cleared": True,
                             "destination": {"latitude_deg": at[0], "longitude_deg": at[1]}})
    assert reply.status_code in (200, 201), (reference, reply.status_code, reply.text)
    return reply.status_code, str(reply.json()["order_id"])


def _statuses(events: list[SseEvent], order_id: str) -> list[tuple[int | None, str]]:
    return [(e.event_id, str(e.data["data"].get("to_status"))) for e in events
            if e.event.endswith("order.status_changed") and e.data.get("data", {}).get("order_id") == order_id]


@pytest.mark.timeout(400)
def test_burst_through_two_replicas_and_two_shards(topology: tuple[str, str, tuple[float, float]]) -> None:
    replica_a, replica_b, north_site = topology
    places = {NORTH: (north_site[0] + 0.002, north_site[1]), SOUTH: (SOUTH_CENTRE[0] - 0.002, SOUTH_CENTRE[1])}
    plan = [(f"burst-{hub}-{i}", hub, (replica_a, replica_b)[i % 2]) for hub in (NORTH, SOUTH)
            for i in range(ORDERS_PER_HUB)]
    stream = SseReader(f"{replica_b}/events/stream?types=com.finalmile.order", auth("viewer"))
    with stream, ThreadPoolExecutor(8) as pool:
        first = list(pool.map(lambda p: _post(p[2], p[0], places[p[1]]), plan))
        # The retry goes to the other replica: same key, same order.
        retry = list(pool.map(lambda p: _post(replica_b if p[2] == replica_a else replica_a, p[0], places[p[1]]),
                              plan))
        ids = [order_id for _, order_id in first]
        assert [order_id for _, order_id in retry] == ids and len(set(ids)) == len(plan)
        events = stream.wait_for(lambda got: all(any(s == "ready" for _, s in _statuses(got, o)) for o in ids),
                                 timeout_s=120, what="every order's 'ready' on replica B's stream")
    for (reference, hub, _), order_id in zip(plan, ids, strict=True):
        stored = httpx.get(f"{replica_a}/orders/{order_id}", headers=auth("viewer"), timeout=30).json()
        assert (stored["reference"], stored["hub_id"]) == (reference, hub), stored
        changes = _statuses(events, order_id)
        statuses = [s for _, s in changes]
        event_ids = [i for i, _ in changes]
        assert statuses[:2] == ["received", "ready"] and len(set(statuses)) == len(statuses), (order_id, statuses)
        assert statuses == sorted(statuses, key=LIFECYCLE.index), (order_id, statuses)
        assert all(i is not None for i in event_ids) and event_ids == sorted(event_ids), (order_id, event_ids)
    for hub in (NORTH, SOUTH):  # nothing else was stored: no duplicates under other ids
        listed = httpx.get(f"{replica_b}/orders", params={"hub_id": hub, "limit": 200}, headers=auth("viewer"),
                           timeout=30)
        assert listed.status_code == 200, listed.text
        body = listed.json()
        items = body["items"] if isinstance(body, dict) else body
        assert sorted(o["order_id"] for o in items) == sorted(
            order_id for (_, h, _), order_id in zip(plan, ids, strict=True) if h == hub)

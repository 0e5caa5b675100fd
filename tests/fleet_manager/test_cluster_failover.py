"""Failover in the cluster topology, over real processes: a shard leading hub-north, a standby shard, an
API replica (`--api-only`), one PostgreSQL store, a nats-server of the test, a drone on mavsim and a
webhook receiver.

The order is posted to the replica; once the drone flies it, the leader is killed with SIGKILL. The
standby takes the hub's lease (next token), re-adopts the mission from the store and the drone (no
second upload: mavsim counts the mission lists it accepted), and the order is delivered, with one
out_for_delivery in its history. Every stored event of the order reaches the webhook receiver; a
repeat after the kill (at-least-once across a crash) carries the same id and the same body.
"""

from __future__ import annotations

import os
import signal
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import yaml
from cluster_helpers import clear_address, cluster_env, lease_holder, start_process
from fm_helpers import SECRET, WebhookReceiver, auth, post_order, wait_until, webhook_receiver
from nats_helpers import NATS_SERVER, running_nats

from fleet_manager.store import outbox
from fleet_manager.store.db import Database
from fleet_manager.world import load_world
from sim_worlds.fleet_setup import drone_parameters
from sim_worlds.mavsim.process import MavsimProcess
from sim_worlds.mavsim.sim_control import MavsimControl
from sim_worlds.scenario import load_scenario

pytestmark = [pytest.mark.postgres, pytest.mark.sim,
              pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed")]

HUB = "hub-north"
#: Generous on a shared box: the lease (3 s) must lapse and the standby's next round (1 s) come.
TAKEOVER_TIMEOUT_S = 60.0


@pytest.fixture
def postgres_url(empty_database_url: str) -> str:
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("shards and replicas share one PostgreSQL store")
    return empty_database_url


@pytest.mark.timeout(900)
def test_kill_9_the_leader_mid_delivery_and_the_standby_readopts_and_delivers(postgres_url: str,
                                                                              tmp_path: Path) -> None:
    hub = load_world("helsinki").hub
    target = clear_address(700.0)
    receiver = WebhookReceiver()
    database = Database(postgres_url)
    with ExitStack() as stack:
        stack.callback(database.dispose)
        nats = stack.enter_context(running_nats(tmp_path / "jetstream"))
        hook_url = stack.enter_context(webhook_receiver(receiver))
        sim = stack.enter_context(MavsimProcess(1, speedup=2.0, home=(hub.latitude_deg, hub.longitude_deg, 10.0),
                                                params=drone_parameters(load_scenario("helsinki_day")),
                                                extra_args=("--boot-s", "3"), control=True))
        assert sim.control_url is not None
        control = stack.enter_context(MavsimControl(sim.control_url))
        fleet_path = tmp_path / "fleet.yaml"
        fleet_path.write_text(yaml.safe_dump({
            "hubs": [{"hub_id": HUB, "world": "helsinki", "recipient_presence": {"kind": "always"}}],
            "vehicles": [{"vehicle_id": "drone-1", "kind": "drone", "url": sim.urls[0], "hub": HUB}]}))
        env = cluster_env(postgres_url, fleet_path, nats.url, FINALMILE_LEASE_TTL_S="3",
                          FINALMILE_WEBHOOK_URL=hook_url, FINALMILE_WEBHOOK_SECRET=SECRET,
                          FINALMILE_WEBHOOK_BACKOFF_BASE_S="0.2", FINALMILE_WEBHOOK_POLL_INTERVAL_S="0.2")
        leader_cm, _ = start_process(env, "leader", tmp_path, "--hubs", HUB)
        leader = stack.enter_context(leader_cm)
        wait_until(lambda: lease_holder(database, HUB) == ("leader", 1), timeout_s=60, what="the leader's lease",
                   interval_s=0.2)
        standby_cm, _ = start_process(env, "standby", tmp_path, "--hubs", HUB, "--standby")
        stack.enter_context(standby_cm)
        replica_cm, replica = start_process(env, "api", tmp_path, "--api-only")
        stack.enter_context(replica_cm)

        order_id = post_order(replica, auth("backend"), "failover-1", target.latitude_deg, target.longitude_deg)

        def order() -> dict[str, object]:
            return dict(httpx.get(f"{replica}/orders/{order_id}", headers=auth("viewer"), timeout=30).json())

        wait_until(lambda: order()["status"] == "out_for_delivery", timeout_s=240, what="the order going out",
                   interval_s=0.5)
        wait_until(lambda: control.status(0)["relative_alt_m"] > 15.0, timeout_s=120, what="drone-1 climbing out",
                   interval_s=0.5)
        os.killpg(leader.pid, signal.SIGKILL)  # mid-delivery: no lease released, no mission settled
        leader.wait(timeout=30)
        flying = control.status(0)
        assert flying["armed"] and not flying["landed"] and flying["mission_uploads"] == 1, flying

        wait_until(lambda: lease_holder(database, HUB) == ("standby", 2), timeout_s=TAKEOVER_TIMEOUT_S,
                   what="the standby leading the hub", interval_s=0.2)
        wait_until(lambda: order()["status"] == "delivered", timeout_s=480, what="the order delivered",
                   interval_s=1.0)
        assert control.status(0)["mission_uploads"] == 1  # re-adopted, never uploaded again
        assert "adopted" in (tmp_path / "standby.log").read_text()
        history = httpx.get(f"{replica}/orders/{order_id}/events", headers=auth("viewer"), timeout=30).json()
        statuses = [event["to_status"] for event in history]
        assert statuses.count("out_for_delivery") == 1 and statuses[-1] == "delivered", statuses

        with database.read() as session:
            stored = {e.event_id for e in outbox.events_after(session, after_seq=0, hub_ids=[HUB], limit=10_000)
                      if e.webhook and e.data.get("order_id") == order_id}

        def order_hooks() -> list[dict[str, object]]:
            return [e for e in receiver.accepted_events()
                    if isinstance(e.get("data"), dict) and e["data"].get("order_id") == order_id]

        # 0 lost: every stored webhook event of the order reaches the receiver (the dead leader's included).
        wait_until(lambda: stored <= {e["id"] for e in order_hooks()}, timeout_s=120,
                   what="every stored event of the order delivered as a webhook", interval_s=0.5)
    hooks = order_hooks()
    by_id: dict[object, dict[str, object]] = {}
    for event in hooks:
        assert by_id.setdefault(event["id"], event) == event, "a repeat carries the same id and body"
    delivered_statuses = [e["data"]["to_status"] for e in by_id.values()  # type: ignore[index]
                          if str(e["type"]).endswith("order.status_changed")]
    assert delivered_statuses.count("out_for_delivery") == 1 and "delivered" in delivered_statuses, \
        delivered_statuses

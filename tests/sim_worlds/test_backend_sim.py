"""The simulated backend over real HTTP: signed webhooks accepted, forged ones refused, presence answered."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from fleet_manager.config import webhook_secret_bytes
from fleet_manager.webhooks.cloudevents import sign
from fleet_manager.world import load_world
from mission_planner.clock import Clock
from sim_worlds.backend_sim import BackendSim, verify_signature
from sim_worlds.demand import generate_orders
from sim_worlds.scenario import load_scenario

pytestmark = pytest.mark.timeout(60)
SECRET = "whsec_YmFja2VuZC1zaW0tc2VjcmV0LW9mLTMyLWJ5dGVzISE="
OTHER = "whsec_b3RoZXItc2VjcmV0LW9mLWF0LWxlYXN0LTI0LWJ5dGVz"


def _signed(event: dict[str, object], secret: str = SECRET, at_s: float | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    msg_id, stamp = str(event["id"]), int(time.time() if at_s is None else at_s)
    return body, {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
                  "webhook-signature": sign(msg_id, stamp, body, webhook_secret_bytes(secret)),
                  "Content-Type": "application/cloudevents+json"}


def test_verify_signature() -> None:
    """Only the signature of the exact id, timestamp and body with the shared secret verifies, and only when fresh."""
    body, headers = _signed({"id": "1"})
    assert verify_signature(body, headers, SECRET)
    assert not verify_signature(body + b" ", headers, SECRET)
    assert not verify_signature(body, headers, OTHER)
    assert not verify_signature(body, {**headers, "webhook-id": "2"}, SECRET)
    stale_body, stale = _signed({"id": "1"}, at_s=time.time() - 600)  # a captured request replayed 10 min later
    assert not verify_signature(stale_body, stale, SECRET)


async def test_receiver_checks_signatures_dedupes_and_answers_presence() -> None:
    """Forged webhooks get 401, a redelivered event id is counted once, presence is answered per reference."""
    scenario = load_scenario("helsinki_day")
    orders = generate_orders(scenario, load_world("helsinki").addresses)
    backend = BackendSim(api_url="http://127.0.0.1:9", backend_key="b" * 12, operator_key="o" * 12,
                         webhook_secret=SECRET, scenario=scenario, orders=orders, clock=Clock(speedup=100))
    url = await backend.start_receiver()
    try:
        event = {"id": "evt-1", "type": "com.finalmile.order.status_changed",
                 "data": {"order_id": "o-1", "to_status": "delivered", "reference": orders[0].reference, "at_s": 1.0}}
        body, headers = _signed(event)
        async with httpx.AsyncClient() as client:
            assert (await client.post(url, content=body, headers=headers)).status_code == 204
            assert (await client.post(url, content=body, headers=headers)).status_code == 204  # at-least-once
            forged, forged_headers = _signed(event, OTHER)
            assert (await client.post(url, content=forged, headers=forged_headers)).status_code == 401
            answer = await client.get(f"{backend.url}/recipients/{orders[0].reference}/presence")
            assert answer.status_code == 200 and isinstance(answer.json()["present"], bool)
            assert (await client.get(f"{backend.url}/recipients/nope/presence")).status_code == 404
        assert backend.stats.webhooks_received == 1 and backend.stats.webhooks_duplicate == 1
        assert backend.stats.bad_signatures == 1
        assert backend.stats.status_by_order == {"o-1": "delivered"}
    finally:
        await backend.close()

"""The simulated backend over real HTTP: signed webhooks accepted, forged ones refused, presence answered."""

from __future__ import annotations

import asyncio
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


async def test_an_order_create_is_sent_again_with_its_key_after_a_5xx_or_a_dropped_connection_but_not_after_a_4xx(
) -> None:
    """A loaded API must not change the day's demand: the create is retried with the same Idempotency-Key."""
    scenario = load_scenario("helsinki_day")
    orders = generate_orders(scenario, load_world("helsinki").addresses)[:3]
    seen: list[tuple[str, str]] = []  # (reference, what the API did)

    def api(request: httpx.Request) -> httpx.Response:
        key = request.headers["Idempotency-Key"]
        tries = sum(1 for reference, _ in seen if reference == key)
        if key == orders[0].reference and tries == 0:
            seen.append((key, "dropped"))
            raise httpx.ReadTimeout("the API did not answer in time", request=request)
        if key == orders[0].reference and tries == 1:
            seen.append((key, "503"))
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"title": "busy"})
        if key == orders[1].reference:
            seen.append((key, "422"))
            return httpx.Response(422, json={"title": "invalid", "errors": [{"loc": ["body", "weight_kg"]}]})
        seen.append((key, "201"))
        return httpx.Response(201, json={"order_id": f"o-{key}", "status": "ready"})

    backend = BackendSim(api_url="http://api.test", backend_key="b" * 12, operator_key="o" * 12,
                         webhook_secret=SECRET, scenario=scenario, orders=orders, clock=Clock(speedup=100))
    await backend._backend.aclose()
    backend._backend = httpx.AsyncClient(base_url="http://api.test", transport=httpx.MockTransport(api))
    try:
        for order in orders:
            await backend._create(order)
    finally:
        await backend.close()
    assert seen == [(orders[0].reference, "dropped"), (orders[0].reference, "503"), (orders[0].reference, "201"),
                    (orders[1].reference, "422"), (orders[2].reference, "201")]
    assert backend.order_id(orders[0].reference) == f"o-{orders[0].reference}"
    assert backend.order_id(orders[1].reference) is None
    assert backend.stats.orders_sent == 2 and backend.stats.api_retries == 2
    assert len(backend.stats.api_errors) == 1 and "422" in backend.stats.api_errors[0]


async def test_a_slow_api_still_gets_every_order_released_before_the_end_and_none_after() -> None:
    """The day's demand does not depend on how fast the API answers: run() sends what the day released, late."""
    scenario = load_scenario("helsinki_day")
    orders = generate_orders(scenario, load_world("helsinki").addresses)[:6]
    end_s = scenario.start_epoch_s + (orders[3].release_s + orders[4].release_s) / 2  # orders 0-3 are in the day
    sent: list[str] = []

    async def slow_api(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.3)  # at speed-up 10,000 each answer takes 50 simulated minutes
        sent.append(request.headers["Idempotency-Key"])
        return httpx.Response(201, json={"order_id": f"o-{len(sent)}", "status": "ready"})

    clock = Clock(start_s=scenario.start_epoch_s, speedup=10_000)
    backend = BackendSim(api_url="http://api.test", backend_key="b" * 12, operator_key="o" * 12,
                         webhook_secret=SECRET, scenario=scenario.model_copy(update={"zone_events": []}),
                         orders=orders, clock=clock)
    await backend._backend.aclose()
    backend._backend = httpx.AsyncClient(base_url="http://api.test", transport=httpx.MockTransport(slow_api))
    try:
        await asyncio.wait_for(backend.run(until_epoch_s=end_s), timeout=30)
    finally:
        await backend.close()
    assert clock.now() > end_s  # the API was slower than the day
    assert sent == [order.reference for order in orders[:4]]

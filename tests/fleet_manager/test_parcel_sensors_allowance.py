"""A warm-time allowance for cold-chain parcels, through the real MQTT path (a private Mosquitto) on SQLite and
PostgreSQL: readings above the range add up, and only the reading that takes the total past
FINALMILE_COLD_CHAIN_WARM_ALLOWANCE_MIN is an excursion (webhook, hold); freezing stays an excursion at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fm_helpers import WebhookReceiver, auth, wait_until
from mqtt_helpers import publish, sensor_stack

from fleet_manager.condition_monitor import parcel_topic
from fleet_manager.store.db import Database

COLD = {"cold_chain": {"min_temp_c": 2, "max_temp_c": 8, "max_minutes_out_of_conditioning": 120}}
T0 = 1_749_704_400.0


@pytest.fixture
def stack(database: Database, hub_id: str, tmp_path: Path) -> Iterator[tuple[httpx.Client, WebhookReceiver, int, Any]]:
    """Broker, webhook receiver, and the API with a 15-minute warm allowance."""
    with sensor_stack(database, hub_id, tmp_path, cold_chain_warm_allowance_min=15) as stack:
        yield stack


def _order(client: httpx.Client, handling: dict[str, Any] | None = None) -> str:
    body = {"recipient": {"name": "Helmi"}, "weight_kg": 1.0, "customs_cleared": True, "handling": handling or COLD,
            "destination": {"latitude_deg": 60.1690, "longitude_deg": 24.9410}}
    response = client.post("/v1/orders", json=body, headers={**auth("backend"), "Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 201, response.text
    return str(response.json()["order_id"])


def _excursions(receiver: WebhookReceiver, order_id: str) -> list[dict[str, Any]]:
    return [e for e in receiver.accepted_events()
            if e["type"].endswith("parcel.condition_excursion") and e["data"]["order_id"] == order_id]


def test_warm_minutes_add_up_and_only_passing_the_allowance_is_an_excursion(
    stack: tuple[httpx.Client, WebhookReceiver, int, Any], hub_id: str
) -> None:
    """Warm 10 min, cool again, warm 4 min: 14 min, within 15 — no alert, the parcel stays ready. Warm again
    for 2 min: 16 min in total — the excursion webhook, with the total, and the parcel held."""
    client, receiver, port, app = stack
    service = app.state.service
    order_id = _order(client)
    topic = parcel_topic(service.settings.mqtt_topic_prefix, hub_id, order_id)
    temperatures = [(0, 5.0), (60, 9.5), (660, 6.0), (900, 10.0), (1140, 9.0), (1260, 10.5), (1380, 11.0)]
    for offset_s, temperature_c in temperatures[:5]:
        publish(port, topic, {"temperature_c": temperature_c, "at_s": T0 + offset_s})
    wait_until(lambda: service.conditions.received >= 5, timeout_s=10, what="five readings")
    assert _excursions(receiver, order_id) == [] and service.conditions.excursions == 0
    assert client.get(f"/v1/orders/{order_id}", headers=auth("viewer")).json()["status"] != "on_hold"
    for offset_s, temperature_c in temperatures[5:]:
        publish(port, topic, {"temperature_c": temperature_c, "at_s": T0 + offset_s})
    # 10 (60..660) + 4 (900..1140) + 2 (1140..1260) = 16 min above 8 °C: passed when the 10.5 °C reading comes
    wait_until(lambda: _excursions(receiver, order_id) != [], timeout_s=15, what="the excursion webhook")
    (event,) = _excursions(receiver, order_id)
    assert event["data"]["minutes_above_range"] == pytest.approx(16.0)
    assert event["data"]["broken"][-1] == "16.0 min above 8 °C in total, allowance 15 min"
    assert event["data"]["held"] is True
    assert client.get(f"/v1/orders/{order_id}", headers=auth("viewer")).json()["status"] == "on_hold"


def test_freezing_is_an_excursion_at_once_even_with_an_allowance(
    stack: tuple[httpx.Client, WebhookReceiver, int, Any], hub_id: str
) -> None:
    client, receiver, port, app = stack
    order_id = _order(client)
    topic = parcel_topic(app.state.service.settings.mqtt_topic_prefix, hub_id, order_id)
    publish(port, topic, {"temperature_c": 0.5, "at_s": T0})
    wait_until(lambda: _excursions(receiver, order_id) != [], timeout_s=15, what="the freezing excursion webhook")
    assert _excursions(receiver, order_id)[0]["data"]["broken"] == ["temperature 0.5 °C below 2 °C"]


def test_a_parcels_own_allowance_overrides_the_servers(
    stack: tuple[httpx.Client, WebhookReceiver, int, Any], hub_id: str
) -> None:
    """A vaccine with no warm time at all (`warm_allowance_min: 0`) on a server allowing 15 min: the first warm
    reading is an excursion. A negative allowance is a 422 naming the field."""
    client, receiver, port, app = stack
    strict = {"cold_chain": {**COLD["cold_chain"], "warm_allowance_min": 0}}
    order_id = _order(client, strict)
    topic = parcel_topic(app.state.service.settings.mqtt_topic_prefix, hub_id, order_id)
    publish(port, topic, {"temperature_c": 5.0, "at_s": T0})
    publish(port, topic, {"temperature_c": 8.6, "at_s": T0 + 60})
    wait_until(lambda: _excursions(receiver, order_id) != [], timeout_s=15, what="the excursion webhook")
    assert _excursions(receiver, order_id)[0]["data"]["broken"] == ["temperature 8.6 °C above 8 °C"]
    body = {"recipient": {"name": "Helmi"}, "weight_kg": 1.0, "customs_cleared": True,
            "handling": {"cold_chain": {**COLD["cold_chain"], "warm_allowance_min": -5}},
            "destination": {"latitude_deg": 60.1690, "longitude_deg": 24.9410}}
    refused = client.post("/v1/orders", json=body, headers={**auth("backend"), "Idempotency-Key": str(uuid.uuid4())})
    assert refused.status_code == 422 and "warm_allowance_min" in refused.text

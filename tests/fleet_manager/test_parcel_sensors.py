"""Parcel sensors over MQTT (a private Mosquitto) into the running Fleet API, on SQLite and PostgreSQL.

A reading out of a cold-chain parcel's range is an excursion: it reaches the backend's webhook
receiver as `parcel.condition_excursion`, the parcel (still at the hub) goes on hold, and the API
shows the newest reading and the recent ones; a bad payload is refused and stores nothing.
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

COLD = {"cold_chain": {"min_temp_c": 2, "max_temp_c": 8, "max_minutes_out_of_conditioning": 60},
        "fragile": {"max_shock_g": 5}}


@pytest.fixture
def stack(database: Database, hub_id: str, tmp_path: Path) -> Iterator[tuple[httpx.Client, WebhookReceiver, int, Any]]:
    """Broker, webhook receiver and the API subscribed to the broker; yields (client, receiver, port, app)."""
    with sensor_stack(database, hub_id, tmp_path) as stack:
        yield stack


def _cold_order(client: httpx.Client) -> dict[str, Any]:
    body = {"recipient": {"name": "Helmi"}, "weight_kg": 1.0, "customs_cleared": True, "handling": COLD,
            "destination": {"latitude_deg": 60.1690, "longitude_deg": 24.9410}, "reference": "PHARMA-1"}
    response = client.post("/v1/orders", json=body, headers={**auth("backend"), "Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_excursion_from_mqtt_reaches_the_webhook_and_holds_the_parcel(
    stack: tuple[httpx.Client, WebhookReceiver, int, Any], hub_id: str
) -> None:
    """5 °C is fine; 11.5 °C breaks 2-8 °C: webhook, alert data, order on hold; the API shows the readings."""
    client, receiver, port, app = stack
    order = _cold_order(client)
    order_id = order["order_id"]
    prefix = app.state.service.settings.mqtt_topic_prefix
    topic = parcel_topic(prefix, hub_id, order_id)
    publish(port, topic, {"temperature_c": 5.0, "humidity_pct": 60, "shock_g": 0.3, "at_s": 1_749_704_400.0})
    publish(port, topic, {"temperature_c": 11.5, "humidity_pct": 62, "shock_g": 0.4, "at_s": 1_749_704_460.0})

    def excursion() -> dict[str, Any] | None:
        return next((e for e in receiver.accepted_events()
                     if e["type"].endswith("parcel.condition_excursion") and e["data"]["order_id"] == order_id), None)

    wait_until(lambda: excursion() is not None, timeout_s=15, what="the condition_excursion webhook")
    event = excursion()
    assert event is not None
    assert event["data"]["broken"] == ["temperature 11.5 °C above 8 °C"]
    assert event["data"]["held"] is True and event["data"]["reference"] == "PHARMA-1"
    assert client.get(f"/v1/orders/{order_id}", headers=auth("viewer")).json()["status"] == "on_hold"
    condition = client.get(f"/v1/orders/{order_id}/condition", headers=auth("viewer")).json()
    assert condition["latest"]["temperature_c"] == 11.5 and condition["excursions"] == 1 and condition["in_excursion"]
    assert [r["temperature_c"] for r in condition["recent"]] == [5.0, 11.5]
    # A held parcel is released by an operator (the state machine still decides).
    released = client.post(f"/v1/orders/{order_id}/status", json={"to_status": "ready", "reason": "box re-iced"},
                           headers=auth("operator"))
    assert released.status_code == 200 and released.json()["status"] == "ready"


def test_shock_over_the_limit_is_an_excursion_and_bad_payloads_are_refused(
    stack: tuple[httpx.Client, WebhookReceiver, int, Any], hub_id: str
) -> None:
    """A 9 g shock on a 5 g parcel is one; a non-JSON or out-of-range payload stores nothing."""
    client, receiver, port, app = stack
    order_id = _cold_order(client)["order_id"]
    service = app.state.service
    topic = parcel_topic(service.settings.mqtt_topic_prefix, hub_id, order_id)
    publish(port, topic, b"not json")
    publish(port, topic, {"temperature_c": "warm"})
    publish(port, topic, {"temperature_c": 4.0, "shock_g": 9.0})
    wait_until(lambda: service.conditions.received >= 1, timeout_s=10, what="the good reading")
    assert service.conditions.rejected == 2
    condition = client.get(f"/v1/orders/{order_id}/condition", headers=auth("viewer")).json()
    assert condition["readings_total"] == 1 and condition["recent"][0]["excursion"] == "shock 9.0 g above 5 g"
    wait_until(lambda: any(e["type"].endswith("parcel.condition_excursion") and e["data"]["order_id"] == order_id
                           for e in receiver.accepted_events()), timeout_s=15, what="the shock excursion webhook")

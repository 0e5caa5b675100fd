"""Typed addresses and handling classes on orders, over real HTTP on SQLite and PostgreSQL.

A confident address becomes the destination (201, with the resolution); a doubtful one waits in
the review queue (202, state address_review, never dispatchable, webhook to the backend) until an
operator picks the building; `on_unresolved=reject` refuses it; handling classes are validated.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fm_helpers import API_KEYS_ENV, SECRET, WebhookReceiver, auth, serve_in_thread, wait_until, webhook_receiver

from fleet_manager.api import create_app
from fleet_manager.config import Settings
from fleet_manager.store import order_queries
from fleet_manager.store.db import Database


@pytest.fixture
def api(database: Database, hub_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[httpx.Client, WebhookReceiver]]:
    """The Fleet API on `database` with a webhook receiver; yields (client, receiver)."""
    receiver = WebhookReceiver()
    with webhook_receiver(receiver) as hook_url:
        settings = Settings(database_url="sqlite://", api_keys=API_KEYS_ENV, hub_id=hub_id,  # type: ignore[arg-type]
                            webhook_url=hook_url, webhook_secret=SECRET,  # type: ignore[arg-type]
                            webhook_poll_interval_s=0.05,
                            address_cache_dir=tmp_path_factory.getbasetemp() / "address-cache")
        with serve_in_thread(create_app(settings, database=database)) as url, httpx.Client(
                base_url=url, timeout=30.0) as client:
            yield client, receiver


def _post(client: httpx.Client, **body: Any) -> httpx.Response:
    full = {"recipient": {"name": "Saara Tamm"}, "weight_kg": 1.0, "customs_cleared": True, **body}
    return client.post("/v1/orders", json=full, headers={**auth("backend"), "Idempotency-Key": str(uuid.uuid4())})


def _event_types(receiver: WebhookReceiver, order_id: str) -> list[str]:
    return [e["type"].removeprefix("com.finalmile.") for e in receiver.accepted_events()
            if e.get("data", {}).get("order_id") == order_id]


def test_confident_address_becomes_the_destination(api: tuple[httpx.Client, WebhookReceiver]) -> None:
    """201: the drop point is the destination; the response carries building, confidence and index fingerprint."""
    client, _receiver = api
    response = _post(client, address={"text": "Aleksanterinkatu 11, 00100 Helsinki", "country": "FI"})
    assert response.status_code == 201, response.text
    order = response.json()
    resolution = order["address_resolution"]
    assert order["status"] == "ready"
    assert resolution["status"] == "resolved" and resolution["confidence"] >= 0.75
    assert resolution["building_id"] and resolution["index_fingerprint"]
    assert resolution["text"] == "Aleksanterinkatu 11, 00100 Helsinki"
    assert (order["destination"]["latitude_deg"], order["destination"]["longitude_deg"]) == (
        resolution["latitude_deg"], resolution["longitude_deg"])
    assert order["destination"]["street"].startswith("Aleksanterinkatu 11")


def test_review_queue_holds_a_doubtful_order_until_an_operator_decides(
    api: tuple[httpx.Client, WebhookReceiver], database: Database, hub_id: str
) -> None:
    """'Fredrikinkatu 3' is not certain (0.64): 202, never dispatchable; the operator's pick makes it ready."""
    client, receiver = api
    response = _post(client, reference="EST-77", address={"text": "Fredrikinkatu 3"})
    assert response.status_code == 202, response.text
    order = response.json()
    order_id = order["order_id"]
    assert order["status"] == "address_review" and order["destination"] is None
    assert order["address_resolution"]["status"] == "needs_review"
    with database.read() as session:
        assert order_id not in [o.order_id for o in order_queries.list_dispatchable_orders(session, hub_id=hub_id)]
    queue = client.get("/v1/address-reviews", headers=auth("viewer")).json()
    entry = next(r for r in queue if r["order_id"] == order_id)
    assert entry["text"] == "Fredrikinkatu 3" and entry["confidence"] < 0.75 and entry["alternatives"]
    wait_until(lambda: "order.address_review_required" in _event_types(receiver, order_id), timeout_s=10,
               what="the address_review_required webhook")
    # The backend cannot decide; an operator can.
    pick = {"building_id": entry["alternatives"][0]["building_id"], "reason": "checked on the map"}
    assert client.post(f"/v1/orders/{order_id}/address", json=pick, headers=auth("backend")).status_code == 403
    decided = client.post(f"/v1/orders/{order_id}/address", json=pick, headers=auth("operator"))
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["status"] == "ready"
    assert body["destination"]["latitude_deg"] == pytest.approx(entry["alternatives"][0]["latitude_deg"])
    assert body["address_resolution"]["decision"]["building_id"] == pick["building_id"]
    assert body["address_resolution"]["decision"]["by"].startswith("operator:")
    with database.read() as session:
        assert order_id in [o.order_id for o in order_queries.list_dispatchable_orders(session, hub_id=hub_id)]
    events = client.get(f"/v1/orders/{order_id}/events", headers=auth("viewer")).json()
    assert [e["to_status"] for e in events] == ["received", "address_review", "ready"]
    assert events[-1]["details"]["how"] == "building"
    assert order_id not in [r["order_id"] for r in client.get("/v1/address-reviews", headers=auth("viewer")).json()]
    again = client.post(f"/v1/orders/{order_id}/address", json=pick, headers=auth("operator"))
    assert again.status_code == 409
    wait_until(lambda: "order.address_confirmed" in _event_types(receiver, order_id), timeout_s=10,
               what="the address_confirmed webhook")


def test_operator_may_answer_with_a_point_or_corrected_text(api: tuple[httpx.Client, WebhookReceiver]) -> None:
    """A point on the map, or a corrected address that resolves; an unknown building is a 422 naming it."""
    client, _receiver = api
    first = _post(client, address={"text": "Mannerheimintie 999"}).json()
    second = _post(client, address={"text": "Esplanadi 33"}).json()
    assert first["address_resolution"]["status"] == "not_found" and first["status"] == "address_review"
    unknown = client.post(f"/v1/orders/{first['order_id']}/address", json={"building_id": "osm-way-1"},
                          headers=auth("operator"))
    assert unknown.status_code == 422 and "osm-way-1" in unknown.json()["detail"]
    point = client.post(f"/v1/orders/{first['order_id']}/address",
                        json={"latitude_deg": 60.1690, "longitude_deg": 24.9410}, headers=auth("operator"))
    assert point.status_code == 200 and point.json()["destination"]["latitude_deg"] == 60.1690
    text = client.post(f"/v1/orders/{second['order_id']}/address", json={"text": "Pohjoisesplanadi 33"},
                       headers=auth("operator"))
    assert text.status_code == 200, text.text
    assert text.json()["address_resolution"]["decision"]["how"] == "corrected_text"
    both = client.post(f"/v1/orders/{second['order_id']}/address", json={"text": "x", "building_id": "y"},
                       headers=auth("operator"))
    assert both.status_code == 422


def test_reject_option_and_field_errors(api: tuple[httpx.Client, WebhookReceiver]) -> None:
    """on_unresolved=reject: a synchronous 422 naming address.text; bad bodies name their field."""
    client, _receiver = api
    rejected = _post(client, address={"text": "Fredrikinkatu 3"}, on_unresolved="reject")
    assert rejected.status_code == 422
    assert "address.text" in rejected.json()["detail"] and "Eerikinkatu 3" in rejected.json()["detail"]
    both = _post(client, address={"text": "Bulevardi 5"}, destination={"latitude_deg": 60.17, "longitude_deg": 24.94})
    assert both.status_code == 422 and both.json()["errors"][0]["loc"] == ["body", "destination"]
    neither = _post(client)
    assert neither.status_code == 422 and "destination" in neither.json()["errors"][0]["loc"]
    empty = _post(client, address={"text": ""})
    assert empty.status_code == 422 and empty.json()["errors"][0]["loc"] == ["body", "address", "text"]


@pytest.mark.parametrize(
    ("handling", "field"),
    [
        ({"cold_chain": {"min_temp_c": 8, "max_temp_c": 2, "max_minutes_out_of_conditioning": 60}}, "cold_chain"),
        ({"cold_chain": {"min_temp_c": 2, "max_temp_c": 8, "max_minutes_out_of_conditioning": 0}},
         "max_minutes_out_of_conditioning"),
        ({"cold_chain": {"min_temp_c": 2, "max_temp_c": 8}}, "max_minutes_out_of_conditioning"),
        ({"fragile": {"max_shock_g": -1}}, "max_shock_g"),
        ({"frozen": {}}, "frozen"),
    ],
    ids=["range-inverted", "zero-minutes", "missing-minutes", "negative-shock", "unknown-class"],
)
def test_handling_classes_are_validated_naming_the_field(
    api: tuple[httpx.Client, WebhookReceiver], handling: dict[str, Any], field: str
) -> None:
    """422 whose error location names the bad field of the handling class."""
    client, _receiver = api
    response = _post(client, destination={"latitude_deg": 60.17, "longitude_deg": 24.94}, handling=handling)
    assert response.status_code == 422
    assert any(field in [str(p) for p in error["loc"]] for error in response.json()["errors"]), response.text


def test_handling_class_is_kept_on_the_order(api: tuple[httpx.Client, WebhookReceiver]) -> None:
    """A cold-chain, fragile parcel keeps its limits (the API shows them back)."""
    client, _receiver = api
    handling = {"cold_chain": {"min_temp_c": 2, "max_temp_c": 8, "max_minutes_out_of_conditioning": 45},
                "fragile": {"max_shock_g": 4}}
    response = _post(client, destination={"latitude_deg": 60.17, "longitude_deg": 24.94}, handling=handling)
    assert response.status_code == 201
    assert response.json()["handling"] == {
        "cold_chain": {"min_temp_c": 2.0, "max_temp_c": 8.0, "max_minutes_out_of_conditioning": 45.0},
        "fragile": {"max_shock_g": 4.0}}

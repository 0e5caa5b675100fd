"""POST /v1/orders:batch over real HTTP on SQLite and PostgreSQL: 1,000 orders in one call, per-item results."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fm_helpers import API_KEYS_ENV, SERVER_SECRET, auth, database_url_for, serve_in_thread

from fleet_manager.api import create_app
from fleet_manager.config import Settings

HUB = "hub-batch"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A client of the API served on SQLite, then PostgreSQL."""
    database_url = database_url_for(request, tmp_path_factory, "batch")
    settings = Settings(database_url=database_url, api_keys=API_KEYS_ENV, hub_id=HUB,  # type: ignore[arg-type]
                        server_secret=SERVER_SECRET)  # type: ignore[arg-type]
    with serve_in_thread(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as http:
        yield http


def _item(key: str, **extra: Any) -> dict[str, Any]:
    order = {"reference": key, "recipient": {"name": "Aino"}, "weight_kg": 1.0, "customs_cleared": True,
             "destination": {"latitude_deg": 60.17, "longitude_deg": 24.94}, **extra}
    return {"idempotency_key": key, "order": order}


def test_a_batch_of_1000_is_created_then_replayed(client: httpx.Client) -> None:
    """1,000 new orders: 1,000 results of 201, each with its audit trail; the same batch again: 200 each, same ids."""
    keys = [f"b-{uuid.uuid4().hex}" for _ in range(1000)]
    first = client.post("/v1/orders:batch", json={"orders": [_item(k) for k in keys]}, headers=auth("backend"))
    assert first.status_code == 200, first.text[:500]
    body = first.json()
    assert (body["created"], body["replayed"], body["refused"]) == (1000, 0, 0)
    assert [r["index"] for r in body["results"]] == list(range(1000))
    assert {r["status"] for r in body["results"]} == {201}
    ids = [r["order_id"] for r in body["results"]]
    assert len(set(ids)) == 1000 and {r["order_status"] for r in body["results"]} == {"ready"}
    sample = ids[537]
    assert client.get(f"/v1/orders/{sample}", headers=auth("viewer")).json()["reference"] == keys[537]
    events = client.get(f"/v1/orders/{sample}/events", headers=auth("viewer")).json()
    assert [e["to_status"] for e in events] == ["received", "ready"] and events[0]["actor"].startswith("backend:")
    again = client.post("/v1/orders:batch", json={"orders": [_item(k) for k in keys]}, headers=auth("backend")).json()
    assert (again["created"], again["replayed"]) == (0, 1000)
    assert [r["order_id"] for r in again["results"]] == ids


def test_per_item_results_for_reused_keys_and_hubs(client: httpx.Client) -> None:
    """A key reused with another body and an unknown hub are refused item by item; the rest is created."""
    key = f"b-{uuid.uuid4().hex}"
    single = client.post("/v1/orders", json=_item(key)["order"], headers={**auth("backend"), "Idempotency-Key": key})
    assert single.status_code == 201
    fresh = f"b-{uuid.uuid4().hex}"
    items = [_item(key, weight_kg=2.0), _item(fresh), _item(f"b-{uuid.uuid4().hex}", hub_id="elsewhere"),
             _item(key), _item(fresh, weight_kg=3.0)]
    body = client.post("/v1/orders:batch", json={"orders": items}, headers=auth("backend")).json()
    assert [r["status"] for r in body["results"]] == [422, 201, 422, 200, 422]
    assert key in body["results"][0]["problem"]["detail"] and "elsewhere" in body["results"][2]["problem"]["detail"]
    assert body["results"][3]["order_id"] == single.json()["order_id"]


def test_a_bad_batch_creates_nothing_and_names_the_item(client: httpx.Client) -> None:
    """An invalid item or more than 1,000 items: 422 naming where, and no order of that batch exists."""
    reference = f"b-{uuid.uuid4().hex}"
    bad = client.post("/v1/orders:batch", json={"orders": [_item(reference), _item("x", weight_kg=-1)]},
                      headers=auth("backend"))
    assert bad.status_code == 422 and "body.orders.1.order.weight_kg" in bad.json()["detail"]
    listed = client.get("/v1/orders", params={"limit": 500}, headers=auth("viewer")).json()["items"]
    assert reference not in [o["reference"] for o in listed]
    too_many = client.post("/v1/orders:batch", json={"orders": [_item(f"k{i}") for i in range(1001)]},
                           headers=auth("backend"))
    assert too_many.status_code == 422 and "body.orders" in too_many.json()["detail"]
    assert client.post("/v1/orders:batch", json={"orders": [_item("v")]}, headers=auth("viewer")).status_code == 403

"""Typed Andorran addresses on orders over real HTTP (SQLite and PostgreSQL): buildings without a house number.

A named building resolves to the world's derived drop point (201); a street dozens of buildings share waits for
an operator (202), who picks one of them on the map and the order goes on to that building's drop point.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fm_helpers import API_KEYS_ENV, auth, serve_in_thread

from fleet_manager.api import create_app
from fleet_manager.config import Settings
from fleet_manager.store.db import Database
from fleet_manager.world import load_world


@pytest.fixture
def client(database: Database, hub_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = Settings(database_url="sqlite://", api_keys=API_KEYS_ENV, hub_id=hub_id,  # type: ignore[arg-type]
                        world="andorra", address_cache_dir=tmp_path_factory.getbasetemp() / "address-cache")
    with serve_in_thread(create_app(settings, database=database)) as url, httpx.Client(
            base_url=url, timeout=60.0) as http:
        yield http


def _post(client: httpx.Client, text: str) -> httpx.Response:
    body: dict[str, Any] = {"recipient": {"name": "Núria Puig"}, "weight_kg": 1.0, "customs_cleared": True,
                            "address": {"text": text, "country": "AD"}}
    return client.post("/v1/orders", json=body, headers={**auth("backend"), "Idempotency-Key": str(uuid.uuid4())})


def _derived(building_id: str) -> tuple[float, float]:
    building = next(b for b in load_world("andorra").buildings if b.building_id == building_id)
    assert building.derived is not None
    return building.derived.latitude_deg, building.derived.longitude_deg


def test_a_named_building_without_a_number_becomes_the_destination(client: httpx.Client) -> None:
    response = _post(client, "Casa de la Vall, Calle de la Grau, AD500 Andorra la Vieja")
    assert response.status_code == 201, response.text
    order = response.json()
    resolution = order["address_resolution"]
    assert resolution["status"] == "resolved" and resolution["drop_point"] == "street_side"
    destination = order["destination"]
    assert (destination["latitude_deg"], destination["longitude_deg"]) == _derived(resolution["building_id"])
    assert destination["street"].startswith("Casa de la Vall, Carrer de la Grau (no number)")
    assert destination["postcode"] == "AD500"


def test_a_shared_street_waits_for_the_operator_who_picks_the_building(client: httpx.Client) -> None:
    response = _post(client, "Carrer del Cortals, AD200 Encamp")
    assert response.status_code == 202, response.text
    order = response.json()
    assert order["status"] == "address_review" and order["destination"] is None
    alternatives = order["address_resolution"]["alternatives"]
    assert len(alternatives) >= 2 and all(a["confidence"] < 0.75 for a in alternatives)
    picked = alternatives[1]["building_id"]
    decided = client.post(f"/v1/orders/{order['order_id']}/address",
                          json={"building_id": picked, "reason": "the recipient's house, checked on the map"},
                          headers=auth("operator"))
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["status"] == "ready"
    assert (body["destination"]["latitude_deg"], body["destination"]["longitude_deg"]) == _derived(picked)

"""The dashboard's hub selector and all-hubs overview in real headless Chromium (Playwright), and the endpoint
behind them (`GET /v1/hubs/overview`) over HTTP on SQLite and PostgreSQL.

The app serves two hubs led through leases (as a shard or an API replica does): hub-a has a leader, two
vehicles (one with a low battery) and an open order; hub-b has no leader, one vehicle and two open orders.
Picking hub-b in the selector narrows the vehicle and order panels to hub-b; "All hubs" shows both again.
Screenshots go to var/test-artifacts/dashboard/.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fm_helpers import API_KEYS_ENV, auth, dashboard_page, serve_in_thread, wait_until

from fleet_manager.api import create_app
from fleet_manager.config import Settings
from fleet_manager.store import fleet as fleet_store
from fleet_manager.store import leases
from fleet_manager.store.db import Database

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "fleet_manager" / "dashboard" / "static"
ARTIFACTS = REPO / "var" / "test-artifacts" / "dashboard"


def _hub_ids() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:6]
    return f"hub-a-{suffix}", f"hub-b-{suffix}"


def _populate(base: str, database: Database, hub_a: str, hub_b: str) -> None:
    """Vehicles, states, orders (over the API where it has an operation) and hub-a's lease."""
    vehicles = {f"{hub_a}-drone": hub_a, f"{hub_a}-robot": hub_a, f"{hub_b}-drone": hub_b}
    for vehicle_id, hub_id in vehicles.items():
        kind = "robot" if vehicle_id.endswith("robot") else "drone"
        answer = httpx.put(f"{base}/v1/vehicles/{vehicle_id}", headers=auth("operator"), timeout=30,
                           json={"kind": kind, "hub_id": hub_id})
        assert answer.status_code == 200, answer.text
    with database.transaction() as session:  # telemetry as the hub's recorder stores it
        for vehicle_id in vehicles:
            low = vehicle_id == f"{hub_a}-drone"
            fleet_store.update_vehicle_state(session, vehicle_id=vehicle_id, stamp_s=1.0, state={
                "vehicle_id": vehicle_id, "stamp_s": 1.0, "latitude_deg": 60.17, "longitude_deg": 24.94,
                "battery_remaining_pct": 9.0 if low else 80.0, "link": "connected", "mode": "STANDBY"})
    with database.transaction() as session:
        assert leases.try_acquire(session, hub_id=hub_a, holder="shard-1", ttl_s=600.0) is not None
    for index, hub_id in enumerate((hub_a, hub_b, hub_b)):
        answer = httpx.post(f"{base}/v1/orders", headers={**auth("backend"), "Idempotency-Key": str(uuid.uuid4())},
                            timeout=30, json={"hub_id": hub_id, "reference": f"{hub_id}-{index}",
                                              "recipient": {"name": "Oona"}, "weight_kg": 1.0,
                                              "customs_cleared": True,
                                              "destination": {"latitude_deg": 60.168, "longitude_deg": 24.94}})
        assert answer.status_code == 201, answer.text


def _app(database_url: str, hubs: tuple[str, str]) -> Any:
    settings = Settings(database_url=database_url, api_keys=API_KEYS_ENV, hubs=",".join(hubs))  # type: ignore[arg-type]
    return create_app(settings, dashboard_dir=STATIC)


@pytest.mark.timeout(120)
def test_overview_counts_vehicles_open_orders_and_alerts_per_hub(database: Database) -> None:
    hub_a, hub_b = _hub_ids()
    with serve_in_thread(_app(database.url.render_as_string(hide_password=False), (hub_a, hub_b))) as base:
        _populate(base, database, hub_a, hub_b)
        answer = httpx.get(f"{base}/v1/hubs/overview", headers=auth("viewer"), timeout=30)
    assert answer.status_code == 200, answer.text
    first, second = answer.json()
    assert (first["hub_id"], first["leader"], first["lease_token"]) == (hub_a, "shard-1", 1)
    assert (first["vehicles"], first["vehicles_by_kind"], first["open_orders"]) == (2, {"drone": 1, "robot": 1}, 1)
    assert [(a["kind"], a["severity"], a["vehicle_id"]) for a in first["alerts"]] == [
        ("low battery", "critical", f"{hub_a}-drone")]
    assert (second["hub_id"], second["leader"], second["vehicles"], second["open_orders"]) == (hub_b, None, 1, 2)
    assert [a["kind"] for a in second["alerts"]] == ["no leader"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, tuple[str, str]]]:
    if not (STATIC / "index.html").exists():
        pytest.skip("dashboard not built (make dashboard)")
    from fleet_manager.store.db import upgrade

    url = upgrade(f"sqlite:///{tmp_path_factory.mktemp('dashboard-hubs') / 'fm.db'}")
    hubs = _hub_ids()
    database = Database(url)
    try:
        with serve_in_thread(_app(url, hubs)) as base:
            _populate(base, database, *hubs)
            yield base, hubs
    finally:
        database.dispose()


def _rows(page: Any, table: str, attribute: str) -> list[str]:
    return sorted(page.eval_on_selector_all(f"#{table} tbody tr[data-{attribute}]",
                                            f"rows => rows.map(r => r.dataset.{attribute.replace('-i', 'I')})"))


@pytest.mark.browser
@pytest.mark.timeout(180)
def test_hub_selector_narrows_the_panels_and_the_overview_shows_each_hub(
    served: tuple[str, tuple[str, str]],
) -> None:
    base, (hub_a, hub_b) = served
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with dashboard_page(base, "viewer") as page:
        page.locator(f'#hubs tr[data-hub-id="{hub_b}"]').wait_for(timeout=30_000)
        row_a = page.locator(f'#hubs tr[data-hub-id="{hub_a}"]')
        assert row_a.locator('[data-field="leader"]').inner_text() == "shard-1 (#1)"
        assert row_a.locator('[data-field="vehicles"]').inner_text() == "2"
        assert row_a.locator('[data-field="open-orders"]').inner_text() == "1"
        row_b = page.locator(f'#hubs tr[data-hub-id="{hub_b}"]')
        assert row_b.locator('[data-field="leader"]').inner_text() == "—"
        assert row_b.locator('td.alert-critical[data-field="alerts"]').inner_text() == "1"  # no leader
        everything = [f"{hub_a}-drone", f"{hub_a}-robot", f"{hub_b}-drone"]
        wait_until(lambda: _rows(page, "vehicles", "vehicle-id") == everything, timeout_s=20,
                   what="all vehicles listed")
        page.select_option("#hub-select", hub_b)
        wait_until(lambda: _rows(page, "vehicles", "vehicle-id") == [f"{hub_b}-drone"], timeout_s=20,
                   what="only hub-b's vehicle")
        wait_until(lambda: len(_rows(page, "orders", "order-id")) == 2, timeout_s=20, what="only hub-b's orders")
        assert all(hub_b in text for text in page.locator("#orders tbody tr").all_inner_texts()), \
            page.locator("#orders tbody").inner_text()
        page.screenshot(path=str(ARTIFACTS / "hubs-1-one-hub.png"))
        row_a.click()  # a row picks its hub too
        wait_until(lambda: _rows(page, "vehicles", "vehicle-id") == [f"{hub_a}-drone", f"{hub_a}-robot"],
                   timeout_s=20, what="hub-a's vehicles after clicking its row")
        assert page.input_value("#hub-select") == hub_a
        page.select_option("#hub-select", "")
        wait_until(lambda: _rows(page, "vehicles", "vehicle-id") == everything, timeout_s=20,
                   what="all vehicles again")
        assert page.page_errors == []  # type: ignore[attr-defined]

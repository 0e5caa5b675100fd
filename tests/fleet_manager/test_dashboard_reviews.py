"""The dashboard's address-review and cold-chain panels in real headless Chromium (Playwright).

The Fleet API (with the built dashboard) runs on a free port, subscribed to a private Mosquitto.
A typed address the resolver doubts waits in the review panel with its alternatives on the map;
the operator clicks one and the order becomes ready. A cold-chain parcel's sensor readings (over
MQTT) show as its current temperature and a sparkline, the excursion marked. Screenshots go to
var/test-artifacts/dashboard/.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fm_helpers import API_KEYS_ENV, auth, dashboard_page, serve_in_thread, wait_until
from mqtt_helpers import private_broker, publish

from fleet_manager.api import create_app
from fleet_manager.condition_monitor import parcel_topic
from fleet_manager.config import Settings
from fleet_manager.store.db import upgrade

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "fleet_manager" / "dashboard" / "static"
ARTIFACTS = REPO / "var" / "test-artifacts" / "dashboard"
HUB = "hub-dashboard-reviews"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """API + dashboard + broker; yields (base URL, broker port)."""
    if not (STATIC / "index.html").exists():
        pytest.skip("dashboard not built (make dashboard)")
    tmp = tmp_path_factory.mktemp("dashboard-reviews")
    with private_broker(tmp / "mosquitto.log") as port:
        settings = Settings(database_url=upgrade(f"sqlite:///{tmp / 'fm.db'}"), api_keys=API_KEYS_ENV,  # type: ignore[arg-type]
                            hub_id=HUB, mqtt_url=f"mqtt://127.0.0.1:{port}", mqtt_topic_prefix="dash",
                            address_cache_dir=tmp / "cache")
        app = create_app(settings, dashboard_dir=STATIC)
        with serve_in_thread(app) as url:
            wait_until(lambda: app.state.service.conditions.subscribed.is_set(), timeout_s=10, what="subscription")
            yield url, port


@pytest.fixture(scope="module")
def page(stack: tuple[str, int]) -> Iterator[Any]:
    """The dashboard signed in with the operator key."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with dashboard_page(stack[0], "operator") as page:
        yield page


def _order(base: str, **body: Any) -> dict[str, Any]:
    full = {"recipient": {"name": "Oona"}, "weight_kg": 1.0, "customs_cleared": True, **body}
    response = httpx.post(f"{base}/v1/orders", json=full, timeout=30,
                          headers={**auth("backend"), "Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code in (201, 202), response.text
    return dict(response.json())


def test_operator_picks_the_building_of_a_doubtful_address(page: Any, stack: tuple[str, int]) -> None:
    """The review lists the typed text and the alternatives; clicking one confirms it (the order is ready)."""
    base, _port = stack
    order = _order(base, reference="REVIEW-1", address={"text": "Fredrikinkatu 3"})
    assert order["status"] == "address_review"
    item = page.locator(f'.review[data-order-id="{order["order_id"]}"]')
    item.wait_for(timeout=30_000)
    assert "Fredrikinkatu 3" in item.inner_text()
    page.screenshot(path=str(ARTIFACTS / "reviews-1-queue.png"))
    item.locator('button[data-action="pick-building"]').first.click()
    wait_until(lambda: httpx.get(f"{base}/v1/orders/{order['order_id']}", headers=auth("viewer")).json()["status"]
               == "ready", timeout_s=15, what="the order to become ready")
    item.wait_for(state="detached", timeout=15_000)
    assert page.page_errors == []  # type: ignore[attr-defined]


def test_cold_chain_panel_shows_the_reading_and_a_sparkline(page: Any, stack: tuple[str, int]) -> None:
    """Readings published over MQTT: the newest temperature (marked as an excursion) and a sparkline."""
    base, port = stack
    handling = {"cold_chain": {"min_temp_c": 2, "max_temp_c": 8, "max_minutes_out_of_conditioning": 60}}
    order = _order(base, reference="PHARMA-9", handling=handling,
                   destination={"latitude_deg": 60.169, "longitude_deg": 24.941})
    topic = parcel_topic("dash", HUB, order["order_id"])
    for minute, temperature in enumerate((4.0, 5.5, 7.0, 9.5)):
        publish(port, topic, {"temperature_c": temperature, "humidity_pct": 60, "shock_g": 0.2,
                              "at_s": 1_749_704_400.0 + 60 * minute})
    row = page.locator(f'#coldchain tr[data-order-id="{order["order_id"]}"]')
    row.wait_for(timeout=30_000)
    reading = row.locator("td.reading--excursion")
    reading.wait_for(timeout=30_000)
    assert reading.inner_text() == "9.5 °C"
    row.locator('td.order-status--on_hold').wait_for(timeout=30_000)  # held at the hub: the table follows
    points = row.locator("polyline.sparkline-line").get_attribute("points") or ""
    assert len(points.split()) == 4
    page.screenshot(path=str(ARTIFACTS / "coldchain-1-panel.png"))
    alerts = page.locator("#alerts").inner_text()
    assert "cold chain" in alerts and "PHARMA-9" in alerts


def test_operator_clicks_the_building_on_the_map(page: Any, stack: tuple[str, int]) -> None:
    """'Pick on map', then a click on an addressed building: the order gets that building's drop point."""
    from fleet_manager.world import load_world

    base, _port = stack
    world = load_world("helsinki")
    building = next(b for b in sorted(world.addresses, key=lambda b: b.building_id) if b.footprint.area > 600)
    inside = building.footprint.representative_point()
    latitude_deg, longitude_deg = world.frame.to_wgs84(inside.x, inside.y)
    order = _order(base, reference="REVIEW-2", address={"text": "Annankatu, 00120 Helsinki"})
    assert order["status"] == "address_review"
    item = page.locator(f'.review[data-order-id="{order["order_id"]}"]')
    item.wait_for(timeout=30_000)
    item.locator('button[data-action="pick-on-map"]').click()
    x, y = page.evaluate(
        """([lat, lon]) => {
            const map = window.finalmileMap;
            map.setView([lat, lon], 18, { animate: false });
            const point = map.latLngToContainerPoint([lat, lon]);
            const box = map.getContainer().getBoundingClientRect();
            return [point.x + box.left, point.y + box.top];
        }""",
        [latitude_deg, longitude_deg],
    )
    page.mouse.click(x, y)

    def decided() -> dict[str, Any] | None:
        body = httpx.get(f"{base}/v1/orders/{order['order_id']}", headers=auth("viewer")).json()
        return body if body["status"] == "ready" else None

    wait_until(lambda: decided() is not None, timeout_s=15, what="the order to become ready")
    body = decided()
    assert body is not None
    decision = body["address_resolution"]["decision"]
    assert decision["how"] == "building" and decision["building_id"] == building.building_id
    page.screenshot(path=str(ARTIFACTS / "reviews-2-picked-on-map.png"))

"""The recipient tracking page in real headless Chromium (Playwright) on a phone-sized viewport.

The Fleet API with the built dashboard (and its tracking bundle) runs on a free port. A parcel goes out on a
drone; its tracking link opens without any key and shows the status and the ETA window. While the drone is
2 km away the page says "on the way" and draws no map; once its telemetry puts it 200 m from the door the map
appears with its marker. The recipient's buttons change the order (checked through the backend's API).
Screenshots go to var/test-artifacts/tracking/.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fm_helpers import API_KEYS_ENV, CHROMIUM, auth, serve_in_thread
from pyproj import Geod

from fleet_manager.api import create_app
from fleet_manager.config import Settings
from fleet_manager.store import fleet as fleet_store
from fleet_manager.store.db import Database, upgrade

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "fleet_manager" / "dashboard" / "static"
ARTIFACTS = REPO / "var" / "test-artifacts" / "tracking"
HUB = "hub-tracking-browser"
PUBLIC_URL = "https://track.example.test"
DOOR = (60.1700, 24.9400)
PHONE = {"width": 390, "height": 844}
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database]]:
    """API + dashboard static files; yields (base URL, the store handle used to record telemetry)."""
    if not (STATIC / "track" / "index.html").exists():
        pytest.skip("tracking page not built (make dashboard)")
    tmp = tmp_path_factory.mktemp("tracking-browser")
    settings = Settings(database_url=upgrade(f"sqlite:///{tmp / 'fm.db'}"), api_keys=API_KEYS_ENV,  # type: ignore[arg-type]
                        hub_id=HUB, public_url=PUBLIC_URL, tracking_refresh_s=0.5,
                        tracking_requests_per_minute=10_000, tracking_vehicle_radius_m=500.0)
    database = Database(settings.database_url)
    with serve_in_thread(create_app(settings, database=database, dashboard_dir=STATIC)) as url:
        yield url, database
    database.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (skips without Chromium or Playwright)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (PyPI) is not installed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, timeout=60_000,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A phone-sized page (touch, 2x pixels); its uncaught errors collect in `page.page_errors`."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.page_errors = errors
    try:
        yield page
    finally:
        context.close()


def _api(base: str, method: str, path: str, role: str, **kwargs: Any) -> dict[str, Any]:
    headers = {**auth(role), **kwargs.pop("headers", {})}
    response = httpx.request(method, f"{base}{path}", headers=headers, timeout=10, **kwargs)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def _order(base: str) -> str:
    body = {"reference": f"REF-{uuid.uuid4().hex[:6]}", "recipient": {"name": "Aino"}, "weight_kg": 1.0,
            "customs_cleared": True, "allow_leave_at_door": True,
            "destination": {"latitude_deg": DOOR[0], "longitude_deg": DOOR[1], "street": "Mannerheimintie 14"}}
    return str(_api(base, "POST", "/v1/orders", "backend", json=body,
                    headers={"Idempotency-Key": uuid.uuid4().hex})["order_id"])


def _page_url(base: str, order_id: str) -> str:
    url = str(_api(base, "POST", f"/v1/orders/{order_id}/tracking-link", "backend")["url"])
    assert url.startswith(PUBLIC_URL + "/t/")
    return base + url.removeprefix(PUBLIC_URL)


def _send_out(base: str, order_id: str, vehicle_id: str) -> None:
    _api(base, "PUT", f"/v1/vehicles/{vehicle_id}", "operator", json={"kind": "drone"})
    for status in ("planned", "assigned", "loaded"):
        _api(base, "POST", f"/v1/orders/{order_id}/status", "operator",
             json={"to_status": status, "reason": "test", "vehicle_id": vehicle_id})
    eta_s = dt.datetime.now(dt.UTC).timestamp() + 1800
    _api(base, "POST", f"/v1/orders/{order_id}/status", "operator",
         json={"to_status": "out_for_delivery", "reason": "test", "mode": "drone", "vehicle_id": vehicle_id,
               "details": {"eta_s": eta_s}})


def _place(database: Database, vehicle_id: str, distance_m: float) -> None:
    """Telemetry as the recorder stores it: the drone `distance_m` north of the door."""
    longitude, latitude, _ = Geod(ellps="WGS84").fwd(DOOR[1], DOOR[0], 0.0, distance_m)
    state = {"vehicle_id": vehicle_id, "kind": "drone", "latitude_deg": latitude, "longitude_deg": longitude,
             "position_valid": True}
    with database.transaction() as session:
        fleet_store.update_vehicle_state(session, vehicle_id=vehicle_id, state=state, stamp_s=0.0)


def test_phone_shows_status_and_eta_then_the_drone_once_it_is_near(stack: tuple[str, Database], phone: Any) -> None:
    base, database = stack
    order_id = _order(base)
    vehicle_id = f"drone-{uuid.uuid4().hex[:6]}"
    url = _page_url(base, order_id)
    _send_out(base, order_id, vehicle_id)
    _place(database, vehicle_id, 2000.0)

    phone.goto(url, timeout=60_000)
    phone.wait_for_selector("body[data-ready=true][data-status=out_for_delivery]", timeout=WAIT_MS)
    assert phone.inner_text("#status-text") == "Your parcel is on the way"
    assert phone.is_visible("#eta") and phone.inner_text("#eta-from") and phone.inner_text("#eta-to")
    assert phone.is_visible("#on-the-way") and not phone.is_visible("#map-card")
    assert phone.locator(".vehicle-marker").count() == 0
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    phone.screenshot(path=str(ARTIFACTS / "01-on-the-way.png"), full_page=True)

    _place(database, vehicle_id, 200.0)
    phone.wait_for_selector(".vehicle-marker", state="visible", timeout=WAIT_MS)
    assert phone.is_visible("#map-card") and not phone.is_visible("#on-the-way")
    assert "m away" in phone.inner_text("#distance")
    phone.wait_for_selector("body[data-streets]", timeout=WAIT_MS)
    assert int(phone.get_attribute("body", "data-streets") or 0) > 20  # the streets around the door, no tiles
    assert vehicle_id not in phone.content()
    phone.screenshot(path=str(ARTIFACTS / "02-drone-near.png"), full_page=True)

    phone.click("#door-btn")
    phone.wait_for_selector("#message[data-kind=ok]", timeout=WAIT_MS)
    assert _api(base, "GET", f"/v1/orders/{order_id}", "backend")["leave_at_door"] is True
    assert "already on a vehicle" in phone.inner_text("#opt-reschedule .reason")
    assert not phone.is_visible("#reschedule-btn")
    assert phone.page_errors == []


def test_phone_reschedules_before_loading(stack: tuple[str, Database], phone: Any) -> None:
    base, _ = stack
    order_id = _order(base)
    phone.goto(_page_url(base, order_id), timeout=60_000)
    phone.wait_for_selector("body[data-ready=true][data-status=ready]", timeout=WAIT_MS)
    assert not phone.is_visible("#map-card") and not phone.is_visible("#eta")
    chosen = phone.locator("#slot option").nth(2).get_attribute("value")
    assert chosen is not None
    phone.select_option("#slot", chosen)
    phone.click("#reschedule-btn")
    phone.wait_for_selector("#message[data-kind=ok]", timeout=WAIT_MS)
    start, _end = chosen.split("|")
    order = _api(base, "GET", f"/v1/orders/{order_id}", "backend")
    assert dt.datetime.fromisoformat(order["window_start"]) == dt.datetime.fromisoformat(start)
    assert phone.is_visible("#window")
    phone.screenshot(path=str(ARTIFACTS / "03-rescheduled.png"), full_page=True)
    assert phone.page_errors == []

"""The dashboard's demand-forecast panel and staging layer in real headless Chromium (Playwright).

The Fleet API (with the built dashboard) reads a trained demand forecast with a peak next hour and has
one staging event in its outbox; the panel lists the coming hours with the peak marked, the staged
van, and the map shows the staging point. Screenshot in var/test-artifacts/dashboard/.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fm_helpers import API_KEYS_ENV, dashboard_page, serve_in_thread

from fleet_manager.api import create_app
from fleet_manager.config import Settings
from fleet_manager.learning.demand_model import DemandForecast
from fleet_manager.learning.model_store import save_models
from fleet_manager.prepositioning import STAGED
from fleet_manager.store import outbox
from fleet_manager.store.db import Database, upgrade

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "fleet_manager" / "dashboard" / "static"
ARTIFACTS = REPO / "var" / "test-artifacts" / "dashboard"
HUB = "hub-dashboard-forecast"
AREA = "cell:13371:2770"  # central Helsinki


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (STATIC / "index.html").exists():
        pytest.skip("dashboard not built (make dashboard)")
    tmp = tmp_path_factory.mktemp("dashboard-forecast")
    peak_hour = (dt.datetime.now(dt.UTC).hour + 1) % 24
    rates = tuple(10.0 if h == peak_hour else 1.0 for h in range(24))
    save_models(tmp / "models", metrics={}, demand=DemandForecast("UTC", {AREA: rates}, 14, 7.0))
    database_url = upgrade(f"sqlite:///{tmp / 'fm.db'}")
    database = Database(database_url)
    with database.transaction() as session:
        outbox.append_event(session, hub_id=HUB, event_type=STAGED, subject=f"hubs/{HUB}", webhook=False,
                            at_s=dt.datetime.now(dt.UTC).timestamp(),
                            data={"peak_starts_at_s": 0.0, "local_hour": peak_hour, "expected_orders": 10.0,
                                  "points": [{"vehicle_id": "van-7", "latitude_deg": 60.1699, "longitude_deg": 24.9384,
                                              "expected_orders": 10.0, "areas": [AREA]}]})
    database.dispose()
    settings = Settings(database_url=database_url, api_keys=API_KEYS_ENV, hub_id=HUB,  # type: ignore[arg-type]
                        models_dir=tmp / "models")
    with serve_in_thread(create_app(settings, dashboard_dir=STATIC)) as url:
        yield url


def test_forecast_panel_shows_the_peak_and_the_staged_van(base_url: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    peak_hour = (dt.datetime.now(dt.UTC).hour + 1) % 24
    page: Any
    with dashboard_page(base_url, "viewer") as page:
        page.wait_for_selector("#forecast tbody tr", timeout=30_000)
        rows = page.locator("#forecast tbody tr")
        assert rows.count() == 6
        peak = page.locator("#forecast tbody tr td.peak")
        assert peak.count() == 1
        assert peak.locator("xpath=..").get_attribute("data-hour") == str(peak_hour)
        assert "van-7" in page.locator('#staging li[data-vehicle-id="van-7"]').inner_text()
        page.wait_for_selector(".staging-point", timeout=10_000)
        assert page.locator(".forecast-area").count() == 1
        page.screenshot(path=str(ARTIFACTS / "forecast-panel.png"))
        assert page.page_errors == []

"""`GET /v1/forecast` on a process serving two hubs (issue #15), over HTTP.

The trained demand forecast covers the areas of both hubs; each hub gets the areas in its service area and
its own stagings, each result naming its hub; `?hub_id=` narrows to one hub, and a hub not served is a 422.
It used to read the first hub's stagings only, and gave every area as if it were that hub's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cluster_helpers import SOUTH_CENTRE, two_hub_fleet
from fm_helpers import API_KEYS_ENV, auth, serve_in_thread

from fleet_manager.api import create_app
from fleet_manager.config import Settings
from fleet_manager.fleet_file import load_fleet_file
from fleet_manager.hub_routing import router_for_fleet
from fleet_manager.learning.areas import area_of
from fleet_manager.learning.demand_model import DemandForecast
from fleet_manager.learning.model_store import save_models
from fleet_manager.prepositioning import STAGED
from fleet_manager.store import outbox
from fleet_manager.store.db import Database, upgrade
from fleet_manager.world import load_world

pytestmark = pytest.mark.timeout(120)

NORTH, SOUTH = "hub-north", "hub-south"
FAR = (60.205, 24.655)  # in neither hub's area


@pytest.fixture(scope="module")
def areas() -> dict[str, str]:
    hub = load_world("helsinki").hub
    return {NORTH: area_of(hub.latitude_deg, hub.longitude_deg), SOUTH: area_of(*SOUTH_CENTRE), "far": area_of(*FAR)}


@pytest.fixture
def base(tmp_path: Path, areas: dict[str, str]) -> Iterator[str]:
    """Base URL of an API process serving hub-north (first) and hub-south, with their service areas."""
    peak_hour = (dt.datetime.now(dt.UTC).hour + 1) % 24
    # north peaks next hour; south expects a steady 2 orders an hour (no peak); far away: 5 an hour
    rates = {areas[NORTH]: tuple(12.0 if h == peak_hour else 1.0 for h in range(24)),
             areas[SOUTH]: (2.0,) * 24, areas["far"]: (5.0,) * 24}
    save_models(tmp_path / "models", metrics={}, demand=DemandForecast("UTC", rates, 14, 7.0))
    database_url = upgrade(f"sqlite:///{tmp_path / 'fm.db'}")
    database = Database(database_url)
    with database.transaction() as session:
        for hub_id, van in ((NORTH, "van-north"), (SOUTH, "van-south")):
            outbox.append_event(session, hub_id=hub_id, event_type=STAGED, subject=f"hubs/{hub_id}", webhook=False,
                                at_s=dt.datetime.now(dt.UTC).timestamp(),
                                data={"local_hour": peak_hour, "expected_orders": 12.0,
                                      "points": [{"vehicle_id": van, "latitude_deg": 60.17, "longitude_deg": 24.94,
                                                  "expected_orders": 12.0, "areas": [areas[hub_id]]}]})
    database.dispose()
    fleet_file = load_fleet_file(two_hub_fleet(tmp_path / "fleet.yaml", north_radius_m=1500))
    settings = Settings(database_url=database_url, api_keys=API_KEYS_ENV, hub_id=NORTH,  # type: ignore[arg-type]
                        hubs=(NORTH, SOUTH), models_dir=tmp_path / "models")
    app = create_app(settings)
    app.state.service.hub_router = router_for_fleet(fleet_file)  # as `finalmile serve` with a fleet file does
    with serve_in_thread(app) as url:
        yield f"{url}/v1"


def _forecast(base: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{base}/forecast", params={"hours": 3, **params}, headers=auth("viewer"), timeout=30)


def _areas(result: dict[str, Any]) -> set[str]:
    return {area["area"] for hour in result["hours"] for area in hour["areas"]}


def test_forecast_covers_every_hub_served_each_naming_its_hub(base: str, areas: dict[str, str]) -> None:
    reply = _forecast(base)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    by_hub = {result["hub_id"]: result for result in body["hubs"]}
    assert list(by_hub) == [NORTH, SOUTH]
    assert _areas(by_hub[NORTH]) == {areas[NORTH]} and _areas(by_hub[SOUTH]) == {areas[SOUTH]}
    peak_hour = (dt.datetime.now(dt.UTC).hour + 1) % 24
    assert by_hub[NORTH]["peak_hours"] == [peak_hour] and by_hub[SOUTH]["peak_hours"] == []
    assert [hour["expected_orders"] for hour in by_hub[SOUTH]["hours"]] == [2.0, 2.0, 2.0]
    assert [s["points"][0]["vehicle_id"] for s in by_hub[SOUTH]["staging"]] == ["van-south"]
    assert {s["hub_id"] for s in by_hub[NORTH]["staging"]} == {NORTH}
    # over both hubs: their areas (not the one in neither hub's area), every staging naming its hub
    assert _areas(body) == {areas[NORTH], areas[SOUTH]}
    assert sorted((s["hub_id"], s["points"][0]["vehicle_id"]) for s in body["staging"]) == [
        (NORTH, "van-north"), (SOUTH, "van-south")]


def test_forecast_narrowed_to_one_hub_and_a_hub_not_served_is_a_422(base: str, areas: dict[str, str]) -> None:
    reply = _forecast(base, hub_id=SOUTH)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert [result["hub_id"] for result in body["hubs"]] == [SOUTH]
    assert _areas(body) == {areas[SOUTH]}
    assert [s["hub_id"] for s in body["staging"]] == [SOUTH]
    unknown = _forecast(base, hub_id="hub-west")
    assert unknown.status_code == 422, unknown.text
    assert "hub_id" in unknown.text and "hub-west" in unknown.text

"""The dashboard's van handoff view in real headless Chromium (Playwright): a van with its cargo, and the points where
it launched and recovered a drone, from the vehicles' stored state and the `vehicle.launched` / `vehicle.recovered`
events on the live stream (what the choreography writes to the outbox).

The Fleet API (with the built dashboard) runs on a free port; the test writes the van's state and the two events
into the store as the fleet manager would. Screenshot in var/test-artifacts/dashboard/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fm_helpers import API_KEYS_ENV, dashboard_page, serve_in_thread

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.api import create_app
from fleet_manager.config import Settings
from fleet_manager.store import fleet as fleet_store
from fleet_manager.store import outbox
from fleet_manager.store.db import upgrade
from mission_planner.clock import Clock

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "fleet_manager" / "dashboard" / "static"
ARTIFACTS = REPO / "var" / "test-artifacts" / "dashboard"
HUB = "hub-dashboard-handoff"
NOW_S = 1_749_704_400.0
LAUNCH = (60.1690, 24.9330)
RECOVERY = (60.1662, 24.9405)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """API + dashboard; yields (base URL, the app's service)."""
    if not (STATIC / "index.html").exists():
        pytest.skip("dashboard not built (make dashboard)")
    tmp = tmp_path_factory.mktemp("dashboard-handoff")
    settings = Settings(database_url=upgrade(f"sqlite:///{tmp / 'fm.db'}"), api_keys=API_KEYS_ENV,  # type: ignore[arg-type]
                        hub_id=HUB, address_cache_dir=tmp / "cache")
    app = create_app(settings, dashboard_dir=STATIC, clock=Clock(start_s=NOW_S, speedup=1.0))
    with serve_in_thread(app) as url:
        yield url, app.state.service


@pytest.fixture(scope="module")
def page(stack: tuple[str, Any]) -> Iterator[Any]:
    """The dashboard signed in with the viewer key."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    service = stack[1]
    with service.write() as session:  # the van on its way with drone-1 and two parcels aboard, before the page opens
        for vehicle_id, kind in (("van-1", VehicleKind.VAN), ("drone-1", VehicleKind.DRONE)):
            fleet_store.upsert_vehicle(session, vehicle_id=vehicle_id, hub_id=HUB, kind=kind, at_s=NOW_S)
        fleet_store.update_vehicle_state(session, vehicle_id="van-1", stamp_s=NOW_S, state={
            "vehicle_id": "van-1", "kind": "van", "stamp_s": NOW_S, "latitude_deg": LAUNCH[0],
            "longitude_deg": LAUNCH[1], "mode": "DRIVING", "battery_remaining_pct": 90.0, "carried": ["drone-1"],
            "order_ids": ["o-a", "o-b"], "link": "connected"})
        fleet_store.update_vehicle_state(session, vehicle_id="drone-1", stamp_s=NOW_S, state={
            "vehicle_id": "drone-1", "kind": "drone", "stamp_s": NOW_S, "latitude_deg": LAUNCH[0],
            "longitude_deg": LAUNCH[1], "mode": "STANDBY", "battery_remaining_pct": 100.0, "carried_by": "van-1",
            "link": "connected"})
    with dashboard_page(stack[0], "viewer") as page:
        yield page


def _event(service: Any, what: str, data: dict[str, Any]) -> None:
    with service.write() as session:
        outbox.append_event(session, hub_id=HUB, event_type=f"vehicle.{what}", subject="vehicles/drone-1",
                            data={"van_id": "van-1", "vehicle_id": "drone-1", "mission_id": "drone-1-m1",
                                  "at_s": NOW_S, **data}, at_s=NOW_S)


def test_van_cargo_and_its_launch_and_recovery_points(page: Any, stack: tuple[str, Any]) -> None:
    """The van's row names what it carries; a launch draws a ▲ at the stop and a dashed line to the planned
    recovery point; the recovery draws a ▼ there and the line goes."""
    service = stack[1]
    van_row = page.locator('#vehicles tr[data-vehicle-id="van-1"]')
    van_row.wait_for(timeout=30_000)
    assert "drone-1" in van_row.inner_text() and "2 parcels" in van_row.inner_text()
    page.locator('.vehicle--riding[data-vehicle-id="drone-1"]').wait_for(timeout=15_000)  # drawn inside the van

    _event(service, "launched", {"launch_stop_order_id": "o-a", "latitude_deg": LAUNCH[0],
                                 "longitude_deg": LAUNCH[1], "recovery_latitude_deg": RECOVERY[0],
                                 "recovery_longitude_deg": RECOVERY[1]})
    page.locator('.handoff__glyph[data-kind="launch"][data-vehicle-id="drone-1"]').wait_for(timeout=30_000)
    page.locator("path.handoff-link").wait_for(timeout=10_000)

    _event(service, "recovered", {"recovery_stop_order_id": "o-b", "latitude_deg": RECOVERY[0],
                                  "longitude_deg": RECOVERY[1], "later_stop": True, "van_waited": False})
    page.locator('.handoff__glyph[data-kind="recovery"][data-vehicle-id="drone-1"]').wait_for(timeout=30_000)
    page.locator("path.handoff-link").wait_for(state="detached", timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "handoff-1-launch-and-recovery.png"))
    assert page.page_errors == []  # type: ignore[attr-defined]


def test_a_drone_that_flew_home_to_the_hub_is_marked_there_and_its_launch_line_goes(
        page: Any, stack: tuple[str, Any]) -> None:
    """A launch whose planned end is the hub (the plan sent the drone home from its drop) draws its dashed line to
    the hub; `vehicle.returned_to_hub` draws a ⌂ there and the line goes."""
    service = stack[1]
    hub = (60.1675, 24.9290)
    for what, data in (("launched", {"launch_stop_order_id": "o-c", "latitude_deg": LAUNCH[0],
                                     "longitude_deg": LAUNCH[1], "recovery_stop_order_id": "",
                                     "recovery_latitude_deg": hub[0], "recovery_longitude_deg": hub[1]}),):
        with service.write() as session:
            outbox.append_event(session, hub_id=HUB, event_type=f"vehicle.{what}", subject="vehicles/drone-1",
                                data={"van_id": "van-1", "vehicle_id": "drone-1", "mission_id": "drone-1-m2",
                                      "at_s": NOW_S + 60, **data}, at_s=NOW_S + 60)
    page.locator("path.handoff-link").wait_for(timeout=30_000)
    with service.write() as session:
        outbox.append_event(session, hub_id=HUB, event_type="vehicle.returned_to_hub", subject="vehicles/drone-1",
                            data={"van_id": "van-1", "vehicle_id": "drone-1", "mission_id": "drone-1-m2",
                                  "launch_stop_order_id": "o-c", "latitude_deg": hub[0], "longitude_deg": hub[1],
                                  "at_s": NOW_S + 600}, at_s=NOW_S + 600)
    page.locator('.handoff__glyph[data-kind="home"][data-vehicle-id="drone-1"]').wait_for(timeout=30_000)
    page.locator("path.handoff-link").wait_for(state="detached", timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "handoff-2-home-to-the-hub.png"))
    assert page.page_errors == []  # type: ignore[attr-defined]

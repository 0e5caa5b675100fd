"""The mission dashboard in real headless Chromium (Debian `chromium`, driven by Playwright).

The real main job serves it: `finalmile sim` on the Helsinki day with two drones only and no
generated demand (MAVLink simulator drones over the real adapter, the simulated backend,
dispatcher, safety monitors, Fleet API) in its own process group, keys read from the run folder's
api-keys.json; the test's own orders are what the drones fly. The test acts as an operator: the page loads
and draws the world, drones move on the map once orders arrive, a no-fly zone drawn on the map
across a flying drone's leg makes it re-route (new mission, new route drawn, never inside the
zone), Pause stops a drone, and Cancel cancels an order. Screenshots go to var/test-artifacts/dashboard/.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from shapely.geometry import Point, Polygon

from fleet_manager.world import World, load_world
from sim_worlds.scenario import load_scenario

pytestmark = [pytest.mark.browser, pytest.mark.sim, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "fleet_manager" / "dashboard"
ARTIFACTS = REPO / "var" / "test-artifacts" / "dashboard"
CHROMIUM = os.environ.get("FINALMILE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Slow enough that a drone's leg lasts the few wall seconds an operator needs to draw a zone across it.
SPEEDUP = 4.0
DRONES = 2


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def world() -> World:
    """The Helsinki world the sim serves."""
    return load_world("helsinki")


@pytest.fixture(scope="module")
def dashboard_built() -> Path:
    """The built dashboard (static/); built here with npm when setup has not done it yet."""
    index = DASHBOARD / "static" / "index.html"
    if not index.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("dashboard not built and npm missing: run `npm ci && npm run build` in fleet_manager/dashboard")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=DASHBOARD, check=True, timeout=300)
        subprocess.run([npm, "run", "build"], cwd=DASHBOARD, check=True, timeout=120)
    return index.parent


@contextlib.contextmanager
def _process_group(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` in its own session; SIGTERM then SIGKILL the whole process group on exit."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # anything of the group that outlived its parent


@dataclass(frozen=True)
class SimRun:
    """A running `finalmile sim`: its API base URL and the keys it wrote to its run folder."""

    base: str
    operator_key: str
    backend_key: str


def _drones_only_day(folder: Path) -> Path:
    """The Helsinki day with drones only and no generated demand: the test's own orders go to the drones."""
    data = load_scenario("helsinki_day").model_dump(mode="json")
    data.update(name="dashboard_day")
    data["fleet"]["robots"]["count"] = 0
    data["fleet"]["vans"]["count"] = 0
    data["demand"]["orders_per_hour"] = [0.0]
    data["demand"]["cold_chain"].update(orders=0, failing_boxes=0)  # nor the day's cold-chain parcels
    data["demand"]["typed_addresses"]["orders"] = 0  # nor its typed addresses
    data["zone_events"] = []
    path = folder / "dashboard_day.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def stack(dashboard_built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimRun]:
    """`finalmile sim helsinki` with DRONES drones, no robots, headless, on a free port."""
    runs = tmp_path_factory.mktemp("runs")
    port = _free_port()
    command = [
        sys.executable, "-m", "fleet_manager.cli", "sim", str(_drones_only_day(runs)), "--duration", "1h",
        "--speedup", f"{SPEEDUP:g}", "--port", str(port), "--no-robots", "--drone-count", str(DRONES), "--headless",
        "--runs-dir", str(runs), "--run-id", "dashboard",
    ]  # fmt: skip
    log = runs / "sim-console.log"
    base = f"http://127.0.0.1:{port}"
    keys_file = runs / "dashboard" / "api-keys.json"
    with _process_group(command, log) as process:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"finalmile sim exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if keys_file.exists() and httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"finalmile sim did not answer /healthz in 120 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        keys = json.loads(keys_file.read_text())
        try:
            yield SimRun(base, keys["operator"], keys["backend"])
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for name in ("sim.log",):
                with contextlib.suppress(OSError):
                    shutil.copy(runs / "dashboard" / name, ARTIFACTS / name)


@pytest.fixture(scope="module")
def api(stack: SimRun) -> Iterator[httpx.Client]:
    """An HTTP client on the Fleet API with the operator key."""
    with httpx.Client(base_url=stack.base, headers={"Authorization": f"Bearer {stack.operator_key}"},
                      timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def page(stack: SimRun) -> Iterator[Any]:
    """The dashboard open in headless Chromium, signed in through the URL fragment."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (PyPI) is not installed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, timeout=60_000)
        page = browser.new_page(viewport={"width": 1400, "height": 860})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(f"{stack.base}/#key={stack.operator_key}", timeout=60_000)
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        page.page_errors = errors  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(ARTIFACTS / "99-last.png"))
            browser.close()


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _vehicles(api: httpx.Client) -> dict[str, dict[str, Any]]:
    response = api.get("/v1/vehicles")
    response.raise_for_status()
    return {v["vehicle_id"]: v["state"] for v in response.json()}


def _create_order(stack: SimRun, latitude_deg: float, longitude_deg: float, reference: str, *, cleared: bool) -> str:
    response = httpx.post(
        f"{stack.base}/v1/orders",
        headers={"Authorization": f"Bearer {stack.backend_key}", "Idempotency-Key": str(uuid.uuid4())},
        json={
            "reference": reference,
            "recipient": {"name": "Test Recipient"},
            "destination": {"latitude_deg": latitude_deg, "longitude_deg": longitude_deg, "city": "Helsinki"},
            "weight_kg": 1.0,
            "customs_cleared": cleared,
        },
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["order_id"])


def _wait(what: str, predicate: Any, timeout_s: float, period_s: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(period_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _marker_center(page: Any, vehicle_id: str) -> tuple[float, float] | None:
    box = page.locator(f'.vehicle[data-vehicle-id="{vehicle_id}"]').bounding_box()
    return None if box is None else (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def _far_addresses(world: World, count: int) -> list[Any]:
    """Delivery addresses 450-700 m from the hub, spread over bearings, outside standing no-fly zones."""
    hub = world.hub
    blocked = [z.polygon.buffer(40) for z in world.airspace.zones if z.blocks()]
    chosen: list[Any] = []
    for building in sorted(world.addresses, key=lambda b: b.building_id):
        distance_m = math.hypot(building.x_m - hub.x_m, building.y_m - hub.y_m)
        if not 450 <= distance_m <= 700 or any(p.contains(Point(building.x_m, building.y_m)) for p in blocked):
            continue
        if all(math.hypot(building.x_m - c.x_m, building.y_m - c.y_m) > 250 for c in chosen):
            chosen.append(building)
        if len(chosen) == count:
            break
    assert len(chosen) == count, "the world has too few far delivery addresses for this test"
    return chosen


@pytest.mark.timeout(240)
def test_page_loads_and_draws_the_world(page: Any, world: World, stack: SimRun) -> None:
    """World name, buildings and streets drawn, standing zones listed, both drones shown; key not left in the URL."""
    assert page.inner_text("#world-name") == world.name
    assert page.locator(".leaflet-overlay-pane canvas").count() >= 1
    zone_ids = page.locator("#zones li").evaluate_all("items => items.map(i => i.dataset.zoneId)")
    assert {z.zone_id for z in world.airspace.zones} <= set(zone_ids)
    assert page.locator("path.zone--no_fly").count() >= len([z for z in world.airspace.zones if z.kind == "no_fly"])
    _wait("both drones on the map", lambda: page.locator(".vehicle--drone[data-vehicle-id]").count() == DRONES, 30)
    assert page.locator("#vehicles tbody tr").count() == page.locator(".vehicle[data-vehicle-id]").count() == DRONES
    assert page.locator(".site--hub").count() == 1
    assert page.locator(".site--locker").count() == len(world.lockers)
    assert stack.operator_key not in page.url
    _wait("the live event stream", lambda: page.get_attribute("#stream-status", "data-status") == "live", 20)
    _shot(page, "01-loaded")
    assert page.page_errors == []


@pytest.mark.timeout(240)
def test_drones_move_on_the_map_after_orders_arrive(page: Any, stack: SimRun, world: World) -> None:
    """Orders from the backend are dispatched; the drones' markers move across the screen."""
    for index, building in enumerate(_far_addresses(world, DRONES)):
        _create_order(stack, building.latitude_deg, building.longitude_deg, f"E2E-{index}", cleared=True)
    _wait("orders in the table", lambda: page.locator("#orders tbody tr").count() >= DRONES, 20)
    start = {vid: _marker_center(page, f"drone-{vid}") for vid in range(1, DRONES + 1)}

    def moved() -> bool:
        for vid, origin in start.items():
            now = _marker_center(page, f"drone-{vid}")
            if origin and now and math.dist(origin, now) > 20:
                return True
        return False

    _wait("a drone marker moving more than 20 px", moved, 90)
    # The route is drawn when the mission list refreshes, which can trail the first telemetry by a moment.
    _wait("a planned route drawn", lambda: page.locator(".route").count() >= 1, 20)
    _shot(page, "02-moving")


@pytest.mark.timeout(300)
def test_drawing_a_no_fly_zone_makes_a_drone_reroute(
    page: Any, api: httpx.Client, world: World, stack: SimRun
) -> None:
    """A zone drawn across a flying drone's leg: the drone gets a new mission (its new route drawn, the old
    one canceled), goes around, never enters the zone, and reaches its drop."""
    frame = world.frame
    # Orders of this test's own: the earlier test's drones may be past their long legs (or home) by now.
    for index, building in enumerate(_far_addresses(world, 2 * DRONES)[DRONES:]):
        _create_order(stack, building.latitude_deg, building.longitude_deg, f"E2E-REROUTE-{index}", cleared=True)

    def candidate() -> tuple[str, str, tuple[float, float], tuple[float, float], tuple[float, float]] | None:
        for vehicle_id, state in _vehicles(api).items():
            mission_id = state.get("mission_id")
            if not mission_id or state.get("relative_altitude_m", 0) < 30 or state.get("ground_speed_m_s", 0) < 3:
                continue
            steps = api.get(f"/v1/missions/{mission_id}").json()["steps"]
            step = state.get("mission_step") or 0
            ahead = [s for s in steps[step:] if s.get("latitude_deg") is not None]
            drops = [s for s in steps[step:] if s["kind"] == "deliver"]
            if not ahead or not drops:
                continue
            here = frame.to_local(state["latitude_deg"], state["longitude_deg"])
            leg_end = frame.to_local(ahead[0]["latitude_deg"], ahead[0]["longitude_deg"])
            drop = frame.to_local(drops[0]["latitude_deg"], drops[0]["longitude_deg"])
            if math.dist(here, leg_end) > 280:
                return vehicle_id, mission_id, here, leg_end, drop
        return None

    # Up to two round trips of the earlier orders (drones busy) before one of these flies its long leg.
    vehicle_id, first_mission, here, leg_end, drop = _wait("a drone cruising a leg over 280 m long", candidate, 150,
                                                           period_s=0.1)
    # A 60 x 120 m rectangle across the leg, 160 m ahead of the drone (a few wall seconds at this speed-up).
    length = math.dist(here, leg_end)
    ux, uy = (leg_end[0] - here[0]) / length, (leg_end[1] - here[1]) / length
    cx, cy = here[0] + 160.0 * ux, here[1] + 160.0 * uy
    half_along, half_across = 30.0, 60.0
    corners_local = [
        (cx + sa * half_along * ux - sc * half_across * uy, cy + sa * half_along * uy + sc * half_across * ux)
        for sa, sc in ((-1, -1), (1, -1), (1, 1), (-1, 1))
    ]
    corners = [frame.to_wgs84(x, y) for x, y in corners_local]
    zones_before = page.locator("path.zone--no_fly").count()
    page.click("#draw-zone")
    map_box = page.locator("#map").bounding_box()
    for latitude_deg, longitude_deg in [*corners, corners[0]]:
        point = page.evaluate(
            "([lat, lon]) => { const p = window.finalmileMap.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
            [latitude_deg, longitude_deg],
        )
        page.mouse.click(map_box["x"] + point[0], map_box["y"] + point[1])
    drawn_at = time.monotonic()
    _wait("the new zone drawn on the map", lambda: page.locator("path.zone--no_fly").count() > zones_before, 15)
    stored = [f for f in api.get("/v1/zones").json()["features"] if f["properties"]["id"].startswith("temp-")]
    assert len(stored) == 1, stored
    zone_local = Polygon(frame.to_local(lat, lon) for lon, lat in stored[0]["geometry"]["coordinates"][0])
    inside = zone_local.buffer(-2.0)  # the click-drawn outline is a pixel or two off the intended corners

    samples: list[tuple[float, float]] = []

    def sample() -> dict[str, Any]:
        state = _vehicles(api)[vehicle_id]
        position = frame.to_local(state["latitude_deg"], state["longitude_deg"])
        samples.append(position)
        assert not inside.contains(Point(position)), f"{vehicle_id} flew into the new no-fly zone at {position}"
        return state

    new_mission = _wait("a new mission for the drone",
                        lambda: (m := sample().get("mission_id")) != first_mission and m, 20, period_s=0.1)
    reroute_s = time.monotonic() - drawn_at
    _wait("the new route drawn", lambda: page.locator(f'path.route[data-mission-id="{new_mission}"]').count() == 1, 10)
    _shot(page, "03-rerouted")
    assert api.get(f"/v1/missions/{first_mission}").json()["status"] == "canceled"
    assert page.locator(f'path.route[data-mission-id="{first_mission}"]').count() == 0
    _wait("the drone at its drop", lambda: math.dist(drop, frame.to_local(
        sample()["latitude_deg"], sample()["longitude_deg"])) < 25, 60, period_s=0.2)
    assert len(samples) > 20, f"too few position samples ({len(samples)}) to judge the track"
    _shot(page, "04-at-drop")
    (ARTIFACTS / "reroute.txt").write_text(f"new mission {new_mission} {reroute_s:.2f} s after the zone was drawn\n")


@pytest.mark.timeout(240)
def test_pausing_a_moving_drone_stops_it(page: Any, api: httpx.Client, world: World, stack: SimRun) -> None:
    """Pause in the vehicles table stops a moving drone where it is; Resume lets it go on."""

    def moving() -> str | None:
        for vehicle_id, state in _vehicles(api).items():
            if state.get("ground_speed_m_s", 0) > 3 and state.get("relative_altitude_m", 0) > 15:
                return vehicle_id
        return None

    if moving() is None:
        far = _far_addresses(world, DRONES + 1)[-1]
        _create_order(stack, far.latitude_deg, far.longitude_deg, "E2E-pause", cleared=True)
    vehicle_id = _wait("a drone flying faster than 3 m/s", moving, 120)
    pause = page.query_selector(f'#vehicles tr[data-vehicle-id="{vehicle_id}"] button[data-action="pause"]')
    # The table is redrawn with every telemetry frame; a button replaced between press and release gets no click.
    time.sleep(2.0)
    assert pause.evaluate("b => b.isConnected"), "the Pause button was replaced while the drone's telemetry came in"
    page.click(f'#vehicles tr[data-vehicle-id="{vehicle_id}"] button[data-action="pause"]')
    _wait(
        "the pause command accepted",
        lambda: page.get_attribute(f'#vehicles tr[data-vehicle-id="{vehicle_id}"] button[data-action]', "data-action")
        == "resume",
        30,
    )
    _wait("the drone to come to rest", lambda: _vehicles(api)[vehicle_id].get("ground_speed_m_s", 99) < 0.5, 30)
    frame = world.frame
    first = _vehicles(api)[vehicle_id]
    time.sleep(3.0)
    later = _vehicles(api)[vehicle_id]
    drift_m = math.dist(
        frame.to_local(first["latitude_deg"], first["longitude_deg"]),
        frame.to_local(later["latitude_deg"], later["longitude_deg"]),
    )
    assert drift_m < 2.0, f"{vehicle_id} moved {drift_m:.1f} m while paused"
    _shot(page, "05-paused")
    page.click(f'#vehicles tr[data-vehicle-id="{vehicle_id}"] button[data-action="resume"]')
    _wait("the drone moving again", lambda: _vehicles(api)[vehicle_id].get("ground_speed_m_s", 0) > 1.0, 60)


@pytest.mark.timeout(120)
def test_cancelling_an_order_from_the_table(page: Any, api: httpx.Client, stack: SimRun, world: World) -> None:
    """An order waiting for customs can be cancelled from the orders table; the API shows it cancelled."""
    building = world.addresses[0]
    order_id = _create_order(stack, building.latitude_deg, building.longitude_deg, "E2E-cancel", cleared=False)
    button = f'#orders tr[data-order-id="{order_id}"] button[data-action="cancel-order"]'
    page.wait_for_selector(button, timeout=30_000)
    page.click(button)
    _wait("the order cancelled", lambda: api.get(f"/v1/orders/{order_id}").json()["status"] == "cancelled", 20)
    page.uncheck("#orders-open-only")
    _wait(
        "the table showing it cancelled",
        lambda: page.get_attribute(f'#orders tr[data-order-id="{order_id}"]', "data-status") == "cancelled",
        20,
    )
    _shot(page, "06-order-cancelled")
    assert page.page_errors == []

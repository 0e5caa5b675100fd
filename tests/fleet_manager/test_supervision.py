"""No silent death (issue 19, item 2): a crashed job restarts and says so; a vehicle down does not stop the API."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from fm_helpers import KEYS, SERVER_SECRET, auth, free_port, serve_subprocess, wait_until
from test_dispatcher import HUB, _create, _order, fake_drone_hub

from fleet_manager.api.app import create_app
from fleet_manager.config import Settings
from fleet_manager.domain.orders import OrderStatus
from fleet_manager.store.db import Database, upgrade
from fleet_manager.supervisor import Supervisor, SupervisorConfig
from fleet_manager.world import load_world
from mission_planner.model import VehicleKind

pytestmark = pytest.mark.timeout(180)


async def test_a_job_that_raises_is_logged_and_started_again_with_backoff() -> None:
    runs: list[int] = []
    supervisor = Supervisor(SupervisorConfig(backoff_initial_s=0.01, backoff_max_s=0.02))

    async def job() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise RuntimeError(f"boom {len(runs)}")
        await asyncio.Event().wait()

    task = asyncio.create_task(supervisor.supervise("flaky", job))
    for _ in range(500):
        await asyncio.sleep(0.01)
        if len(runs) == 3:
            break
    health = supervisor.jobs["flaky"]
    assert len(runs) == 3 and health.alive and health.restarts == 2 and health.last_error == "RuntimeError: boom 2"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not health.alive


def test_a_crashed_dispatcher_restarts_shows_it_in_healthz_and_orders_are_still_dispatched(tmp_path: Path) -> None:
    world = load_world("helsinki")
    settings = Settings(database_url=upgrade(f"sqlite:///{tmp_path / 'fm.db'}"), hub_id=HUB,
                        server_secret=SERVER_SECRET,  # type: ignore[arg-type]
                        api_keys=f"operator:{KEYS['operator']},viewer:{KEYS['viewer']}")  # type: ignore[arg-type]
    database = Database(settings.database_url)
    database.migrate()
    hub, _drone, _recipients, clock = fake_drone_hub(database, world)
    # The dispatcher dies at its first start (an unexpected exception, as the operator's kind change once caused).
    refresh = hub.airspace.refresh
    failures = [RuntimeError("airspace store hiccup")]

    async def refresh_once_broken() -> Any:
        if failures:
            raise failures.pop()
        return await refresh()

    hub.airspace.refresh = refresh_once_broken  # type: ignore[method-assign]
    app = create_app(settings, clock=clock, database=database, frame=world.frame, background=hub.jobs())
    try:
        with TestClient(app) as client:
            def restarted() -> bool:
                jobs = client.get("/healthz").json()["jobs"]
                return bool(jobs["dispatcher"]["restarts"] == 1 and jobs["dispatcher"]["alive"])

            wait_until(restarted, timeout_s=60, what="the dispatcher restarted", interval_s=0.05)
            health = client.get("/healthz").json()
            assert "airspace store hiccup" in health["jobs"]["dispatcher"]["last_error"]
            assert client.get("/readyz").status_code == 200
            # The crash the issue saw: drone-1 registered as a robot. Refused by name, and nothing dies.
            response = client.put("/v1/vehicles/drone-1", headers=auth("operator"),
                                  json={"kind": "robot", "name": "drone-1"})
            assert response.status_code == 409, response.text
            order_id = _create(database, world, "after-crash")
            wait_until(lambda: _order(database, order_id).status is OrderStatus.DELIVERED, timeout_s=90,
                       what="the order delivered after the restart", interval_s=0.1)
            jobs = client.get("/healthz").json()["jobs"]
            assert jobs["dispatcher"]["restarts"] == 1 and all(job["alive"] for job in jobs.values()), jobs
    finally:
        database.dispose()


@pytest.mark.timeout(240)
def test_an_unreachable_vehicle_at_start_up_is_down_in_readyz_and_the_api_serves(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on: the drone never answers
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    port = free_port()
    env = {
        "FINALMILE_VEHICLES": f"drone-1=tcp:127.0.0.1:{dead_port}",
        "FINALMILE_VEHICLE_CONNECT_TIMEOUT_S": "3",
        "FINALMILE_RECIPIENT_PRESENCE": "always",
        "FINALMILE_API_KEYS": f"backend:{KEYS['backend']},viewer:{KEYS['viewer']}",
        "FINALMILE_SERVER_SECRET": SERVER_SECRET,
        "FINALMILE_DATABASE_URL": upgrade(f"sqlite:///{tmp_path / 'serve.db'}"),
    }
    with serve_subprocess(env, port=port, log_path=tmp_path / "serve.log", timeout_s=150.0):
        base = f"http://127.0.0.1:{port}"
        ready = httpx.get(f"{base}/readyz", timeout=30)
        # the hub's only vehicle is down: it cannot deliver, so the process is not ready (default policy)
        assert ready.status_code == 503, ready.text
        body = ready.json()
        assert body["status"] == "not_ready" and body["vehicle_policy"] == "every_hub_has_one", body
        assert body["hubs_without_vehicles"] and body["jobs_alive"] and body["database"], body
        vehicles = body["vehicles"]
        assert vehicles["connected"] == 0 and vehicles["total"] == 1, vehicles
        assert "drone-1" in vehicles["down"] and "link down" in vehicles["down"]["drone-1"], vehicles
        jobs = httpx.get(f"{base}/healthz", timeout=30).json()["jobs"]
        assert jobs["vehicle-link-drone-1"]["alive"] and jobs["dispatcher"]["alive"], jobs
        response = httpx.post(
            f"{base}/v1/orders", headers={"Authorization": f"Bearer {KEYS['backend']}", "Idempotency-Key": "down-1"},
            json={"reference": "down-1", "recipient": {"name": "Aino"}, "weight_kg": 0.8, "customs_cleared": True,
                  "destination": {"latitude_deg": 60.1702, "longitude_deg": 24.9410}}, timeout=30)
        assert response.status_code == 201, response.text


def test_readiness_policy_for_vehicles_down() -> None:
    """A hub with none of its vehicles up makes the process unready by default; some down is only degraded."""
    from fleet_manager.supervisor import VehicleLink, VehiclePolicy, vehicle_readiness

    some_down = [VehicleLink("drone-1", True, hub_id="a"), VehicleLink("drone-2", False, "link down", "a"),
                 VehicleLink("van-1", True, hub_id="b")]
    hub_b_empty = [*some_down[:2], VehicleLink("van-1", False, "link down", "b")]
    assert vehicle_readiness(some_down, VehiclePolicy.EVERY_HUB_HAS_ONE) == (True, [])
    assert vehicle_readiness(hub_b_empty, VehiclePolicy.EVERY_HUB_HAS_ONE) == (False, ["b"])
    assert vehicle_readiness(some_down, VehiclePolicy.ALL_UP) == (False, [])
    assert vehicle_readiness(hub_b_empty, VehiclePolicy.IGNORE) == (True, ["b"])
    assert vehicle_readiness([], VehiclePolicy.ALL_UP) == (True, [])


def test_readyz_reports_degraded_vehicles_and_follows_the_configured_policy(tmp_path: Path) -> None:
    """Over HTTP: one drone of two down is `degraded` (200); both down is 503, unless the policy ignores them."""
    from fleet_manager.supervisor import VehicleLink

    database_url = upgrade(f"sqlite:///{tmp_path / 'ready.db'}")
    links = [VehicleLink("drone-1", True, hub_id=HUB), VehicleLink("drone-2", False, "link down: refused", HUB)]
    for policy, both_down_code in (("every_hub_has_one", 503), ("ignore", 200)):
        settings = Settings(database_url=database_url, hub_id=HUB, readyz_vehicles=policy)
        app = create_app(settings)
        with TestClient(app) as client:
            app.state.service.vehicle_links = lambda: list(links)
            one_down = client.get("/readyz")
            assert one_down.status_code == 200 and one_down.json()["status"] == "degraded", one_down.text
            assert one_down.json()["vehicles"]["down"] == {"drone-2": "link down: refused"}
            app.state.service.vehicle_links = lambda: [links[1], VehicleLink("drone-1", False, "link lost", HUB)]
            both_down = client.get("/readyz")
            assert both_down.status_code == both_down_code, (policy, both_down.text)
            assert both_down.json()["hubs_without_vehicles"] == [HUB]


async def test_a_vehicle_the_store_knows_as_another_kind_is_held_and_the_dispatcher_runs(tmp_path: Path) -> None:
    """drone-1 registered as a robot before the fleet started: that vehicle waits with the reason; nothing dies."""
    from fleet_manager.store import fleet as fleet_store

    world = load_world("helsinki")
    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    try:
        with database.transaction() as session:
            fleet_store.upsert_vehicle(session, vehicle_id="drone-1", hub_id=HUB, kind=VehicleKind.ROBOT, at_s=0.0)
        hub, _drone, _recipients, _clock = fake_drone_hub(database, world)
        await hub.dispatcher.start()
        vehicle = hub.dispatcher.fleet.get("drone-1")
        assert "is a robot" in vehicle.out_of_service and not vehicle.is_available()
    finally:
        database.dispose()

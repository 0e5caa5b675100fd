"""A vehicle lost after start-up comes back into service (issue 19, item 4).

`finalmile serve` flies a drone on mavsim; the simulator process is stopped mid-day (the drone's
link drops: /readyz turns 503, the hub has no vehicle up), then started again on the same port (a
rebooted autopilot): the link is dialled again, /readyz is ready, and the drone delivers a new
order.
"""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest
from fm_helpers import KEYS, SERVER_SECRET, free_port, post_order, serve_subprocess, wait_until

from fleet_manager.store.db import upgrade
from fleet_manager.world import load_world
from sim_worlds.fleet_setup import drone_parameters
from sim_worlds.mavsim.process import MavsimProcess
from sim_worlds.scenario import load_scenario


@pytest.mark.sim
@pytest.mark.timeout(600)
def test_a_drone_whose_simulator_restarts_on_the_same_port_is_back_in_service(tmp_path: Path) -> None:
    world = load_world("helsinki")
    hub = world.hub
    target = min(world.addresses, key=lambda b: abs(math.hypot(b.x_m - hub.x_m, b.y_m - hub.y_m) - 250.0))
    backend = {"Authorization": f"Bearer {KEYS['backend']}"}

    def simulator(base_port: int | None = None, udp_base_port: int | None = None) -> MavsimProcess:
        return MavsimProcess(1, speedup=5.0, home=(hub.latitude_deg, hub.longitude_deg, 10.0),
                             params=drone_parameters(load_scenario("helsinki_day")), base_port=base_port,
                             udp_base_port=udp_base_port, extra_args=("--boot-s", "2"))

    first = simulator()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "FINALMILE_VEHICLES": f"drone-1={first.urls[0]}",
        "FINALMILE_RECIPIENT_PRESENCE": "always",
        "FINALMILE_API_KEYS": f"backend:{KEYS['backend']},viewer:{KEYS['viewer']}",
        "FINALMILE_SERVER_SECRET": SERVER_SECRET,
        "FINALMILE_DATABASE_URL": upgrade(f"sqlite:///{tmp_path / 'serve.db'}"),
    }

    def readiness() -> tuple[int, dict[str, object]]:
        response = httpx.get(f"{base}/readyz", timeout=30)
        return response.status_code, dict(response.json())

    def order_status(order_id: str) -> str:
        return str(httpx.get(f"{base}/v1/orders/{order_id}", headers=backend, timeout=30).json()["status"])

    with first, serve_subprocess(env, port=port, log_path=tmp_path / "serve.log", timeout_s=150.0):
        wait_until(lambda: readiness()[0] == 200, timeout_s=120, what="the drone up (/readyz 200)", interval_s=0.5)
        first.stop()  # the link drops mid-day: the simulator (the drone's autopilot) is gone
        wait_until(lambda: readiness()[0] == 503, timeout_s=120, what="/readyz 503 with the drone down",
                   interval_s=0.5)
        body = readiness()[1]
        assert body["hubs_without_vehicles"] and "drone-1" in body["vehicles"]["down"], body  # type: ignore[operator,index]
        with simulator(first.base_port, first.udp_base_port):  # the drone reboots on the same port
            wait_until(lambda: readiness()[1]["status"] == "ready", timeout_s=180,
                       what="the drone re-dialled and back (/readyz ready, nothing down)", interval_s=0.5)
            order_id = post_order(f"{base}/v1", backend, "redial-1", target.latitude_deg, target.longitude_deg)
            wait_until(lambda: order_status(order_id) == "delivered", timeout_s=300,
                       what="the order delivered by the drone back in service", interval_s=1.0)

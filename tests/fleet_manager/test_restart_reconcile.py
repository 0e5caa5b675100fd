"""A restart takes over the vehicles in flight (issue 19, item 1).

`finalmile serve` is killed with SIGKILL while a drone flies an order on mavsim, then started
again on the same database: the mission is adopted (not uploaded again), followed to the door and
settled; a new order goes to the drone that is free.
"""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path

import httpx
import pytest
from fm_helpers import KEYS, SERVER_SECRET, free_port, post_order, serve_subprocess, wait_until
from shapely.geometry import LineString

from fleet_manager.store.db import upgrade
from fleet_manager.world import load_world
from fleet_manager.world.model import Building
from mission_planner.airspace import ZoneKind
from sim_worlds.fleet_setup import drone_parameters
from sim_worlds.mavsim.process import MavsimProcess
from sim_worlds.mavsim.sim_control import MavsimControl
from sim_worlds.scenario import load_scenario


@pytest.mark.sim
@pytest.mark.timeout(900)
def test_kill_9_with_a_drone_in_flight_then_restart_adopts_and_settles_the_mission(tmp_path: Path) -> None:
    world = load_world("helsinki")
    hub = world.hub
    # An address ~800 m from the hub whose straight route crosses no zone: the drone is still out when
    # the second process is up, and its flight is not cut short by a fence.
    blocked = [z.polygon.buffer(80.0) for z in world.airspace.zones if z.kind is not ZoneKind.OPERATING_AREA]

    def clear_route(b: Building) -> bool:
        return not any(LineString([(hub.x_m, hub.y_m), (b.x_m, b.y_m)]).intersects(p) for p in blocked)

    target = min((b for b in world.addresses if clear_route(b)),
                 key=lambda b: abs(math.hypot(b.x_m - hub.x_m, b.y_m - hub.y_m) - 800.0))
    near = min((b for b in world.addresses if b is not target and clear_route(b)),
               key=lambda b: math.hypot(b.x_m - hub.x_m, b.y_m - hub.y_m))
    backend = {"Authorization": f"Bearer {KEYS['backend']}"}
    viewer = {"Authorization": f"Bearer {KEYS['viewer']}"}
    with MavsimProcess(2, speedup=2.0, home=(hub.latitude_deg, hub.longitude_deg, 10.0), control=True,
                       params=drone_parameters(load_scenario("helsinki_day")),
                       extra_args=("--boot-s", "3")) as sim:
        assert sim.control_url is not None
        env = {
            "FINALMILE_VEHICLES": f"drone-1={sim.urls[0]},drone-2={sim.urls[1]}",
            "FINALMILE_RECIPIENT_PRESENCE": "always",
            "FINALMILE_API_KEYS": f"backend:{KEYS['backend']},viewer:{KEYS['viewer']}",
            "FINALMILE_SERVER_SECRET": SERVER_SECRET,
            "FINALMILE_DATABASE_URL": upgrade(f"sqlite:///{tmp_path / 'serve.db'}"),
        }
        port = free_port()
        base = f"http://127.0.0.1:{port}/v1"
        with MavsimControl(sim.control_url) as control:
            with serve_subprocess(env, port=port, log_path=tmp_path / "serve-1.log", timeout_s=120.0) as first:
                order_id = post_order(base, backend, "restart-1", target.latitude_deg, target.longitude_deg)

                def order() -> dict[str, object]:
                    return dict(httpx.get(f"{base}/orders/{order_id}", headers=backend, timeout=30).json())

                wait_until(lambda: order()["status"] == "out_for_delivery", timeout_s=180,
                           what="the order going out", interval_s=0.5)
                vehicle_id = str(order()["vehicle_id"])
                index = int(vehicle_id.removeprefix("drone-")) - 1
                wait_until(lambda: control.status(index)["relative_alt_m"] > 15.0, timeout_s=120,
                           what=f"{vehicle_id} climbing out", interval_s=0.5)
                os.killpg(first.pid, signal.SIGKILL)  # no shutdown: the store keeps the mission running
                first.wait(timeout=30)
            flying = control.status(index)
            assert flying["armed"] and not flying["landed"], flying
            assert flying["mission_uploads"] == 1, flying

            with serve_subprocess(env, port=port, log_path=tmp_path / "serve-2.log", timeout_s=120.0):
                # A second order while the first drone is still out: it goes to the other, free drone.
                second_id = post_order(base, backend, "restart-2", near.latitude_deg, near.longitude_deg)

                def second() -> dict[str, object]:
                    return dict(httpx.get(f"{base}/orders/{second_id}", headers=backend, timeout=30).json())

                wait_until(lambda: second()["status"] in ("out_for_delivery", "delivered"), timeout_s=240,
                           what="the second order going out", interval_s=0.5)
                assert second()["vehicle_id"] != vehicle_id, (second(), vehicle_id)
                wait_until(lambda: order()["status"] == "delivered", timeout_s=480,
                           what="the adopted order delivered", interval_s=1.0)
                mission_id = str(order()["mission_id"])

                def mission() -> dict[str, object]:
                    return dict(httpx.get(f"{base}/missions/{mission_id}", headers=viewer, timeout=30).json())

                wait_until(lambda: mission()["status"] == "succeeded", timeout_s=300,
                           what="the adopted mission settled", interval_s=1.0)
                # Adopted, never uploaded again: the drone got the mission list once.
                assert control.status(index)["mission_uploads"] == 1
                history = httpx.get(f"{base}/orders/{order_id}/events", headers=viewer, timeout=30)
                assert history.status_code == 200, history.text
                statuses = [event["to_status"] for event in history.json()]
                # One departure, one hand-over: the parcel was never brought back nor sent out again.
                assert statuses.count("out_for_delivery") == 1 and statuses[-1] == "delivered", statuses
                assert "ready" not in statuses[statuses.index("out_for_delivery"):], statuses
            log = (tmp_path / "serve-2.log").read_text()
            assert "adopted" in log, log[-3000:]

"""`finalmile serve` with FINALMILE_VEHICLES drives real vehicles: the dispatcher sends a drone out for an order."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fm_helpers import free_port, serve_subprocess, wait_until

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.errors import ConfigError
from fleet_manager.vehicle_config import parse_vehicles
from fleet_manager.world import load_world
from sim_worlds.mavsim.process import MavsimProcess


def test_vehicle_urls_name_the_kind() -> None:
    """The URL scheme decides the adapter: MAVLink for tcp/udp, ROS 2 for ros2:/ns, the van app for van:tcp."""
    endpoints = parse_vehicles("drone-1=tcp:127.0.0.1:5760, drone-2=udpout:127.0.0.1:14560,"
                               "robot_1=ros2:/robot_1,van-1=van:tcp:127.0.0.1:7100")
    assert [(e.vehicle_id, e.kind) for e in endpoints] == [
        ("drone-1", VehicleKind.DRONE), ("drone-2", VehicleKind.DRONE),
        ("robot_1", VehicleKind.ROBOT), ("van-1", VehicleKind.VAN),
    ]
    assert parse_vehicles("") == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("drone-1", "is not 'vehicle_id=URL'"),
        ("drone-1=http://example.invalid", "unknown URL"),
        ("d=tcp:1.2.3.4:5760,d=tcp:1.2.3.4:5770", "twice"),
        ("bad id=tcp:127.0.0.1:5760", "is not 'vehicle_id=URL'"),
    ],
)
def test_bad_vehicle_entries_are_refused_by_name(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_vehicles(raw)


@pytest.mark.sim
@pytest.mark.timeout(180)
def test_serve_dispatches_an_order_to_a_configured_drone(tmp_path: Path) -> None:
    """An order POSTed to `finalmile serve` goes out by drone on the MAVLink simulator named in FINALMILE_VEHICLES."""
    world = load_world("helsinki")
    hub = world.hub
    # The address nearest to Kaivokatu, ~250 m from the hub with no zone in between.
    kaivokatu_xy = world.frame.to_local(60.1702, 24.9410)
    target = min(world.addresses, key=lambda b: (b.x_m - kaivokatu_xy[0]) ** 2 + (b.y_m - kaivokatu_xy[1]) ** 2)
    keys = {"backend": "backend-key-serve", "viewer": "viewer-key-serve"}
    with MavsimProcess(1, speedup=1.0, home=(hub.latitude_deg, hub.longitude_deg, 10.0),
                       extra_args=("--boot-s", "3")) as sim:
        port = free_port()
        env = {
            "FINALMILE_VEHICLES": f"drone-1={sim.urls[0]}",
            "FINALMILE_API_KEYS": f"backend:{keys['backend']},viewer:{keys['viewer']}",
            "FINALMILE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        }
        with serve_subprocess(env, port=port, log_path=tmp_path / "serve.log", timeout_s=90.0):
            base = f"http://127.0.0.1:{port}/v1"
            backend = {"Authorization": f"Bearer {keys['backend']}"}
            response = httpx.post(
                f"{base}/orders", headers={**backend, "Idempotency-Key": "serve-1"}, timeout=10,
                json={"reference": "serve-1", "recipient": {"name": "Aino"}, "weight_kg": 0.8, "customs_cleared": True,
                      "destination": {"latitude_deg": target.latitude_deg, "longitude_deg": target.longitude_deg}},
            )
            assert response.status_code == 201, response.text
            order_id = response.json()["order_id"]

            def out_by_drone() -> bool:
                order = httpx.get(f"{base}/orders/{order_id}", headers=backend, timeout=10).json()
                return order["status"] in ("out_for_delivery", "delivered") and order.get("vehicle_id") == "drone-1"

            wait_until(out_by_drone, timeout_s=90, what="the order going out on drone-1", interval_s=0.5)
            viewer = {"Authorization": f"Bearer {keys['viewer']}"}
            vehicles = httpx.get(f"{base}/vehicles", headers=viewer, timeout=10).json()
            assert "drone-1" in str(vehicles)

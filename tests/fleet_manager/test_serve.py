"""`finalmile serve` drives the vehicles of a fleet file (or the FINALMILE_VEHICLES shorthand).

The fleet file is validated with errors that name the file, the vehicle and the field; the
served dispatcher takes its lockers, recipient-presence service and van-carried drones from it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml
from fm_helpers import API_KEYS_ENV, KEYS, SECRET, SERVER_SECRET, free_port, post_order, serve_subprocess, wait_until

from fleet_manager.errors import ConfigError
from fleet_manager.fleet_file import FleetFileError, fleet_from_vehicles, load_fleet_file, parse_fleet
from fleet_manager.world import load_world
from mission_planner.model import VehicleKind
from mission_planner.profiles import DEFAULT_PROFILES
from sim_worlds.fleet_setup import default_ports_fleet, drone_parameters
from sim_worlds.mavsim.process import MavsimProcess
from sim_worlds.scenario import load_scenario

SHIPPED_FLEET = Path(__file__).resolve().parents[2] / "sim_worlds" / "scenarios" / "helsinki_day.fleet.yaml"
HUB = {"hub_id": "hub-a", "world": "helsinki", "recipient_presence": {"kind": "always"}}


def test_vehicle_shorthand_yields_the_fleet_model() -> None:
    """FINALMILE_VEHICLES: the URL scheme decides the kind; the hub and presence come from their settings."""
    fleet = fleet_from_vehicles("drone-1=tcp:127.0.0.1:5760, drone-2=udpout:127.0.0.1:14560,"
                                "robot_1=ros2:/robot_1,van-1=van:tcp:127.0.0.1:7100",
                                hub_id="hub-a", world="helsinki", recipient_presence="always")
    assert [(v.vehicle_id, v.kind, v.hub) for v in fleet.vehicles] == [
        ("drone-1", VehicleKind.DRONE, "hub-a"), ("drone-2", VehicleKind.DRONE, "hub-a"),
        ("robot_1", VehicleKind.ROBOT, "hub-a"), ("van-1", VehicleKind.VAN, "hub-a"),
    ]
    assert fleet.vehicles[3].url == "tcp:127.0.0.1:7100"
    assert fleet.hubs[0].recipient_presence.kind == "always"
    assert fleet.profile(fleet.vehicles[0]) == DEFAULT_PROFILES[VehicleKind.DRONE]


@pytest.mark.parametrize(
    ("raw", "presence", "message"),
    [
        ("drone-1", "always", "is not 'vehicle_id=URL'"),
        ("drone-1=http://example.invalid", "always", "unknown URL"),
        ("d=tcp:1.2.3.4:5760,d=tcp:1.2.3.4:5770", "always", "twice"),
        ("bad id=tcp:127.0.0.1:5760", "always", "is not 'vehicle_id=URL'"),
        ("d=tcp:1.2.3.4:5760", "", "FINALMILE_RECIPIENT_PRESENCE is empty"),
        ("d=tcp:1.2.3.4:5760", "ftp://backend", "kind http needs an http"),
    ],
)
def test_bad_vehicle_entries_are_refused_by_name(raw: str, presence: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        fleet_from_vehicles(raw, hub_id="hub-a", world="helsinki", recipient_presence=presence)


@pytest.mark.parametrize(
    ("vehicles", "message"),
    [
        ([{"vehicle_id": "drone-1", "kind": "drone", "url": "tcp:h:1", "profile": {"max_payload_kg": -1}}],
         "fleet.yaml: vehicle 'drone-1': profile.max_payload_kg: Input should be greater than 0 (got -1)"),
        ([{"vehicle_id": "drone-1", "kind": "drone", "url": "ros2:/x"}],
         "fleet.yaml: vehicle 'drone-1': url 'ros2:/x' is not a MAVLink URL"),
        ([{"vehicle_id": "robot_1", "kind": "robot", "url": "ros2:/r", "adapter": "mavlink"}],
         "vehicle 'robot_1': adapter 'mavlink' cannot drive a robot"),
        ([{"vehicle_id": "drone-1", "kind": "drone", "url": "tcp:h:1", "carried_by": "van-9"}],
         "vehicle 'drone-1': carried_by 'van-9' is not a van of this fleet"),
        ([{"vehicle_id": "drone-1", "kind": "drone", "url": "tcp:h:1", "hub": "elsewhere"}],
         "vehicle 'drone-1': hub 'elsewhere' is not one of"),
        ([{"vehicle_id": "drone-1", "kind": "drone", "url": "tcp:h:1"},
          {"vehicle_id": "drone-1", "kind": "drone", "url": "tcp:h:2"}], "vehicle id 'drone-1' appears twice"),
        ([{"vehicle_id": "drone-1", "kind": "blimp", "url": "tcp:h:1"}], "vehicle 'drone-1': kind: Input should be"),
    ],
)
def test_fleet_file_errors_name_the_file_the_vehicle_and_the_field(
    tmp_path: Path, vehicles: list[dict[str, object]], message: str
) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump({"hubs": [HUB], "vehicles": vehicles}))
    with pytest.raises(FleetFileError) as caught:
        load_fleet_file(path)
    assert message in str(caught.value).replace(str(tmp_path) + "/", "")


def test_a_hub_without_a_presence_service_is_refused() -> None:
    """`always` is an explicit choice: a hub must say who answers for the recipients."""
    with pytest.raises(FleetFileError, match="hub 'hub-a': recipient_presence: Field required"):
        parse_fleet({"hubs": [{"hub_id": "hub-a"}], "vehicles": []}, "fleet.yaml")


def test_profiles_layer_kind_defaults_fleet_and_vehicle() -> None:
    """Kind defaults, then the fleet's `profiles`, then the vehicle's own `profile`."""
    fleet = parse_fleet({"hubs": [HUB], "profiles": {"drone": {"battery_wh": 400}}, "vehicles": [
        {"vehicle_id": "d1", "kind": "drone", "url": "tcp:h:1"},
        {"vehicle_id": "d2", "kind": "drone", "url": "tcp:h:2", "profile": {"battery_wh": 300, "speed_m_s": 9}},
        {"vehicle_id": "van-1", "kind": "van", "url": "tcp:h:3", "carries": ["d2"]},
    ]}, "fleet.yaml")
    d1, d2, _van = fleet.vehicles
    assert fleet.profile(d1).battery_wh == 400 and fleet.profile(d1).max_payload_kg == 2.5
    assert (fleet.profile(d2).battery_wh, fleet.profile(d2).speed_m_s) == (300, 9)
    assert fleet.carrier_of("d2") == "van-1" and fleet.carrier_of("d1") is None


def test_the_shipped_demo_fleet_is_the_demo_scenarios_fleet() -> None:
    """sim_worlds/scenarios/helsinki_day.fleet.yaml = what `finalmile sim helsinki` builds, on default ports."""
    shipped = load_fleet_file(SHIPPED_FLEET)
    assert shipped == default_ports_fleet(load_scenario("helsinki_day"))
    assert [v.vehicle_id for v in shipped.vehicles if v.kind is VehicleKind.DRONE] == [f"drone-{i}" for i in
                                                                                        range(1, 7)]
    andorra = SHIPPED_FLEET.with_name("andorra_day.fleet.yaml")  # the rural world's, kept in step the same way
    assert load_fleet_file(andorra) == default_ports_fleet(load_scenario("andorra_day"))


@contextmanager
def presence_service(present: bool) -> Iterator[tuple[str, list[str]]]:
    """The backend's recipient-presence endpoint: answers `present`, records which orders were asked about."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = json.dumps({"present": present}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def van_simulator(control_url: str, log_path: Path) -> Iterator[str]:
    """One simulated van that can carry the mavsim drones; yields its URL."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sim_worlds.vans", "--count", "1", "--port", "0", "--mavsim-control", control_url],
            stdout=subprocess.PIPE, stderr=log, start_new_session=True,
        )
    try:
        assert process.stdout is not None
        handshake = json.loads(process.stdout.readline())
        yield f"tcp:127.0.0.1:{handshake['van_port']}"
    finally:
        os.killpg(process.pid, 9)
        process.wait(timeout=10)


@pytest.mark.sim
@pytest.mark.timeout(240)
def test_serve_from_a_fleet_file_configures_lockers_presence_and_van_carried_drones(tmp_path: Path) -> None:
    """`finalmile serve` with FINALMILE_FLEET_FILE against mavsim and the van simulator:
    the hub's lockers are the two the file lists, the drone asks the file's presence service at the door
    (which says nobody is home, so the attempt fails), and drone-2 rides on van-1 as the file says."""
    world = load_world("helsinki")
    hub = world.hub
    kaivokatu_xy = world.frame.to_local(60.1702, 24.9410)  # ~250 m from the hub, no zone in between
    target = min(world.addresses, key=lambda b: (b.x_m - kaivokatu_xy[0]) ** 2 + (b.y_m - kaivokatu_xy[1]) ** 2)
    keys = {"backend": KEYS["backend"], "viewer": KEYS["viewer"]}
    lockers = [world.lockers[0].site_id, world.lockers[2].site_id]
    # The delivery parameters an operator sets (README): polygon fence only, no 150 m circle around home.
    with (MavsimProcess(2, speedup=4.0, home=(hub.latitude_deg, hub.longitude_deg, 10.0),
                        params=drone_parameters(load_scenario("helsinki_day")), extra_args=("--boot-s", "3"),
                        control=True) as sim,
          van_simulator(sim.control_url, tmp_path / "vans.log") as van_url,
          presence_service(present=False) as (presence_url, asked)):
        fleet_path = tmp_path / "fleet.yaml"
        fleet_path.write_text(yaml.safe_dump({
            "hubs": [{"hub_id": "hub-fleet-file", "world": "helsinki", "lockers": lockers,
                      "recipient_presence": {"kind": "http", "url": presence_url}}],
            "vehicles": [
                {"vehicle_id": "drone-1", "kind": "drone", "url": sim.urls[0]},
                {"vehicle_id": "drone-2", "kind": "drone", "url": sim.urls[1], "carried_by": "van-1"},
                {"vehicle_id": "van-1", "kind": "van", "url": van_url},
            ],
        }))
        port = free_port()
        env = {
            "FINALMILE_FLEET_FILE": str(fleet_path),
            "FINALMILE_API_KEYS": f"backend:{keys['backend']},viewer:{keys['viewer']}",
            "FINALMILE_SERVER_SECRET": SERVER_SECRET,
            "FINALMILE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        }
        with serve_subprocess(env, port=port, log_path=tmp_path / "serve.log", timeout_s=120.0):
            base = f"http://127.0.0.1:{port}/v1"
            backend = {"Authorization": f"Bearer {keys['backend']}"}
            viewer = {"Authorization": f"Bearer {keys['viewer']}"}
            served = httpx.get(f"{base}/lockers", headers=viewer, timeout=10).json()
            assert sorted(locker["locker_id"] for locker in served) == sorted(lockers)

            def carried() -> bool:
                state = httpx.get(f"{base}/vehicles/drone-2", headers=viewer, timeout=10).json().get("state") or {}
                return state.get("carried_by") == "van-1"

            wait_until(carried, timeout_s=30, what="drone-2 reported as carried by van-1", interval_s=0.5)
            order_id = post_order(base, backend, "fleet-file-1", target.latitude_deg, target.longitude_deg)

            def attempt_failed() -> bool:
                order = httpx.get(f"{base}/orders/{order_id}", headers=backend, timeout=10).json()
                return order["status"] == "attempt_failed"

            wait_until(attempt_failed, timeout_s=150, what="the drone's attempt failing at the door", interval_s=0.5)
            assert any("fleet-file-1" in path for path in asked), asked


@pytest.mark.sim
@pytest.mark.timeout(180)
def test_serve_dispatches_an_order_to_a_drone_named_in_the_shorthand(tmp_path: Path) -> None:
    """An order POSTed to `finalmile serve` goes out by drone on the MAVLink simulator named in FINALMILE_VEHICLES."""
    world = load_world("helsinki")
    hub = world.hub
    kaivokatu_xy = world.frame.to_local(60.1702, 24.9410)
    target = min(world.addresses, key=lambda b: (b.x_m - kaivokatu_xy[0]) ** 2 + (b.y_m - kaivokatu_xy[1]) ** 2)
    keys = {"backend": KEYS["backend"], "viewer": KEYS["viewer"]}
    with MavsimProcess(1, speedup=1.0, home=(hub.latitude_deg, hub.longitude_deg, 10.0),
                       extra_args=("--boot-s", "3")) as sim:
        port = free_port()
        env = {
            "FINALMILE_VEHICLES": f"drone-1={sim.urls[0]}",
            "FINALMILE_RECIPIENT_PRESENCE": "always",
            "FINALMILE_API_KEYS": f"backend:{keys['backend']},viewer:{keys['viewer']}",
            "FINALMILE_SERVER_SECRET": SERVER_SECRET,
            "FINALMILE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        }
        with serve_subprocess(env, port=port, log_path=tmp_path / "serve.log", timeout_s=90.0):
            base = f"http://127.0.0.1:{port}/v1"
            backend = {"Authorization": f"Bearer {keys['backend']}"}
            order_id = post_order(base, backend, "serve-1", target.latitude_deg, target.longitude_deg)

            def out_by_drone() -> bool:
                order = httpx.get(f"{base}/orders/{order_id}", headers=backend, timeout=10).json()
                return order["status"] in ("out_for_delivery", "delivered") and order.get("vehicle_id") == "drone-1"

            wait_until(out_by_drone, timeout_s=90, what="the order going out on drone-1", interval_s=0.5)
            viewer = {"Authorization": f"Bearer {keys['viewer']}"}
            vehicles = httpx.get(f"{base}/vehicles", headers=viewer, timeout=10).json()
            assert "drone-1" in str(vehicles)


def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    """A short API key or a bad fleet file: one line naming the variable or field, no traceback, no key echoed."""
    code = "import sys; from fleet_manager.cli import main; sys.exit(main(sys.argv[1:]))"
    for env, expected in (
        ({"FINALMILE_API_KEYS": "backend:short1"}, "FINALMILE_API_KEYS"),
        ({"FINALMILE_API_KEYS": f"short1,{KEYS['backend']}"}, "FINALMILE_API_KEYS"),  # no role: was echoed
        ({"FINALMILE_API_KEYS": f"{KEYS['backend']}:backend"}, "FINALMILE_API_KEYS"),  # reversed: was echoed
        ({"FINALMILE_API_KEYS": "backend:change-me-backend-key-change-me-backend"}, "placeholder"),
        ({"FINALMILE_API_KEYS": f"locker:{KEYS['locker']}"}, "locker@"),
        ({"FINALMILE_API_KEYS": API_KEYS_ENV}, "FINALMILE_SERVER_SECRET"),
        ({"FINALMILE_WEBHOOK_SECRET": "short1-not-whsec"}, "FINALMILE_WEBHOOK_SECRET"),
        ({"FINALMILE_WEBHOOK_URL": "http://backend.example/short1", "FINALMILE_WEBHOOK_SECRET": SECRET},
         "https"),
        ({"FINALMILE_DATABASE_URL": "nope://short1:short1@db"}, "FINALMILE_DATABASE_URL"),
        ({"FINALMILE_PORT": "eighty"}, "FINALMILE_PORT"),
        ({"FINALMILE_FLEET_FILE": str(tmp_path / "missing.yaml")}, "FINALMILE_FLEET_FILE"),
    ):
        done = subprocess.run([sys.executable, "-c", code, "serve"], env={**os.environ, **env},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr and expected in done.stderr, done.stderr
        assert "short1" not in done.stderr and all(key not in done.stderr for key in KEYS.values())
        assert SECRET.removeprefix("whsec_") not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr

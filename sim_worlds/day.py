"""Run one simulated delivery day end to end: the wiring behind `finalmile sim`.

Starts, in order: the MAVLink drone simulator (or ArduPilot SITL) in a subprocess, the ROS 2
sim robots in a subprocess on a private ROS_DOMAIN_ID (when ROS 2 is installed), the van
simulator in a subprocess and the simulated backend's webhook receiver. Then it describes those
vehicles in a fleet file (`fleet_setup`, written to the run folder) and points the fleet
manager's one composition root (`fleet_manager.runtime.Runtime`) at them, as `finalmile serve`
would be pointed at real ones. The backend feeds the day's orders and the clock runs to the end
of the day. Everything started here is stopped here (process groups killed), also on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import importlib.util
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from mission_planner.errors import FinalMileError

from .fleet_setup import drone_parameters, scenario_fleet
from .leases import lease_ros_domain
from .parcel_sensors import ParcelSensors
from .process_group import exit_with_parent, stop_group
from .scenario import Scenario
from .special_demand import day_orders
from .tracks import Track, TrackRecorder
from .traffic_sim import day_traffic

logger = logging.getLogger(__name__)
FEEDER_DRAIN_WALL_S = 60.0  # how long a finished day waits for the backend to send orders it released late


class SimRunError(FinalMileError):
    """The simulated day could not start or run (a simulator did not come up, a port is taken)."""


class SimInterrupted(SimRunError):
    """The run was interrupted (Ctrl-C, SIGTERM) and shut down cleanly."""


@dataclass(frozen=True)
class RunOptions:
    """What `finalmile sim` was asked for."""

    drones_backend: str = "embedded"  # embedded | sitl
    port: int = 0
    headless: bool = True
    runs_dir: Path = Path("var/runs")
    run_id: str | None = None
    with_robots: bool = True
    sitl_binary: str | None = None
    progress: Callable[[float, float, dict[str, Any]], None] | None = None  # (elapsed_s, total_s, counters)
    on_url: Callable[[str], None] | None = None
    # Benchmarks (`python -m benchmarks safety`): the drones' MAVLink URLs as the fleet manager should dial them
    # (through a relay that drops links), and tasks that follow the running day (cancelled at its end).
    drone_links: Callable[[list[str]], list[str]] | None = None
    observers: Callable[[DayHandles], list[Coroutine[Any, Any, None]]] | None = None
    # The longest a due van trip waits at the hub for more parcels (FINALMILE_VAN_HOLD_MAX_S); None: the setting's
    # own value. Short days that judge flights set 0: a 30-minute hold fills most of a 40-minute day.
    van_hold_max_s: float | None = None


@dataclass(frozen=True)
class DayHandles:
    """What `RunOptions.observers` get once every vehicle is connected and the day's clock runs."""

    runtime: Any  # fleet_manager.runtime.Runtime
    clock: Clock
    drone_control_url: str | None


@dataclass
class RunResult:
    """Everything the report needs."""

    run_dir: Path
    scenario: Scenario
    world: World
    drone_backend: str
    database_url: str
    started_wall_s: float
    wall_s: float
    tracks: dict[str, Track]
    geofence_violations: list[tuple[float, str, str]]
    terrain_clearance: list[Any] | None  # ClearanceViolation episodes; None in worlds without terrain
    clearance_samples: list[list[dict[str, Any]]]  # per episode, its drone's reports around it (see TrackRecorder)
    alerts: list[Any]
    backend_stats: Any
    skipped: list[str]
    webhook_counts: dict[str, int]


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def managed_process(command: list[str], *, env: dict[str, str] | None = None, log_path: Path) -> Iterator[
        subprocess.Popen[bytes]]:
    """Start `command` in its own process group, logging to `log_path`; kill the group on exit."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
            env={**os.environ, **(env or {})}, preexec_fn=exit_with_parent,
        )
        try:
            yield process
        finally:
            stop_group(process, grace_s=5.0)
            if process.stdout is not None:
                process.stdout.close()


def _read_handshake(process: subprocess.Popen[bytes], timeout_s: float, what: str) -> dict[str, Any]:
    """The first stdout line of a child that prints its ports as JSON."""
    if process.stdout is None:
        raise SimRunError(f"{what}: no stdout to read its ports from")
    deadline = time.monotonic() + timeout_s
    os.set_blocking(process.stdout.fileno(), False)
    buffer = b""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SimRunError(f"{what} exited with code {process.returncode} before it was ready")
        chunk = process.stdout.read() or b""
        buffer += chunk
        if b"\n" in buffer:
            return dict(json.loads(buffer.split(b"\n", 1)[0]))
        time.sleep(0.05)
    raise SimRunError(f"{what} did not report its ports within {timeout_s} s")


def _drone_sources(scenario: Scenario, world: World, options: RunOptions, run_dir: Path,
                   stack: ExitStack) -> tuple[list[str], str | None]:
    """Start the drone back-end; returns MAVLink URLs and the sim-control URL (embedded simulator only)."""
    hub = world.hub
    # Home is the hub's ground above sea level (the elevation model's, in a world with terrain), so the
    # drones' reported altitudes compare with the ground under them (`terrain_clearance_violations`).
    home_alt_m = hub_ground_m(world)
    over_terrain = world.terrain is not None
    if options.drones_backend == "sitl":
        from .sitl import SitlFleet

        count = scenario.fleet.sitl_drones
        if count == 0:
            return [], None
        fleet = SitlFleet(
            options.sitl_binary, count=count, speedup=scenario.speedup,
            home=(hub.latitude_deg, hub.longitude_deg, home_alt_m, 0.0), workdir=run_dir / "sitl",
            params=drone_parameters(scenario, over_terrain=over_terrain),
        )
        stack.enter_context(fleet)
        return list(fleet.urls), None
    if options.drones_backend != "embedded":
        raise SimRunError(f"--drones {options.drones_backend!r}: choose 'embedded' or 'sitl'")
    count = scenario.fleet.drones.count
    if count == 0:
        return [], None
    from .mavsim.process import MavsimProcess

    # mavsim gets the ground's heights from the world (--terrain-world); SITL would wait for TERRAIN_DATA, which
    # the fleet manager does not serve yet: there RTLs stay relative to home
    sim = MavsimProcess(count, speedup=scenario.speedup, home=(hub.latitude_deg, hub.longitude_deg, home_alt_m),
                        params=drone_parameters(scenario, over_terrain=over_terrain, terrain_data=over_terrain),
                        extra_args=("--event-log", str(run_dir / "mavsim-events.jsonl"),
                                    *(("--terrain-world", scenario.world) if over_terrain else ())), control=True,
                        exit_with_parent=True)
    stack.enter_context(sim)
    return list(sim.urls), sim.control_url


def hub_ground_m(world: World) -> float:
    """The hub's ground above sea level: the elevation model's there, 10 m in flat worlds (Helsinki's harbour)."""
    if world.terrain is None:
        return 10.0
    return float(world.terrain.elevation_at(world.hub.x_m, world.hub.y_m))


async def run_day(scenario: Scenario, options: RunOptions) -> RunResult:
    """Run the scenario's day and return what the report needs; stops everything it started."""
    import uvicorn
    from pydantic import SecretStr

    from fleet_manager.config import Role, Settings
    from fleet_manager.runtime import Runtime
    from fleet_manager.store.db import upgrade

    from .backend_sim import BackendSim

    started_wall = time.monotonic()
    world = load_world(scenario.world)
    run_id = options.run_id or f"{dt.datetime.now():%Y%m%d-%H%M%S}-{scenario.name}-s{scenario.seed}"
    run_dir = options.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{run_dir / 'finalmile.db'}"
    upgrade(database_url)  # the day's own `finalmile db upgrade` step: the service never migrates
    keys = {name: secrets.token_urlsafe(32) for name in ("backend", "operator", "viewer")}
    webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    (run_dir / "api-keys.json").write_text(json.dumps(keys, indent=1))
    skipped: list[str] = []
    orders = day_orders(scenario, world, _address_index(scenario))

    with ExitStack() as processes:
        drone_urls, drone_control_url = _drone_sources(scenario, world, options, run_dir, processes)
        if options.drone_links is not None:
            drone_urls = options.drone_links(drone_urls)
        robots_control_port = free_port() if scenario.fleet.vans.carries_robots > 0 else None
        robot_domain = None
        if options.with_robots and scenario.fleet.robots.count > 0:
            robot_domain, reason = _start_robots(scenario, run_dir, processes, robots_control_port)
            if reason:
                skipped.append(reason)
        origin_monotonic = time.monotonic()
        van_urls = _start_vans(scenario, run_dir, processes, origin_monotonic, drone_control_url,
                               robots_control_port if robot_domain is not None else None)
        from .vans import SPARE_PACKS, shared_clock

        # Provisional until every vehicle is connected; then the day starts at its start time for all.
        clock = shared_clock(scenario.start_epoch_s, scenario.speedup, origin_monotonic)
        mqtt_port = _start_broker(scenario, run_dir, processes, skipped)
        sensors = (ParcelSensors(scenario, clock=clock, host="127.0.0.1", port=mqtt_port, topic_prefix=MQTT_PREFIX)
                   if mqtt_port is not None else None)
        backend = BackendSim(
            api_url="http://127.0.0.1:0", backend_key=keys["backend"], operator_key=keys["operator"],
            webhook_secret=webhook_secret, scenario=scenario, orders=orders, clock=clock, sensors=sensors,
        )
        webhook_url = await backend.start_receiver()
        vans_carry_drones = drone_control_url is not None  # the van moves a drone through its simulator only
        if not vans_carry_drones and scenario.fleet.vans.carries_drones and drone_urls:
            skipped.append("van-carried drones fly from the hub: a SITL drone cannot be set down or taken aboard "
                           "by the simulated van (no sim-control channel to move it)")
        fleet_file = scenario_fleet(scenario, drone_urls=drone_urls,
                                    robot_count=scenario.fleet.robots.count if robot_domain is not None else 0,
                                    van_urls=van_urls, recipient_presence_url=backend.url,
                                    vans_carry_drones=vans_carry_drones)
        (run_dir / "fleet.yaml").write_text(fleet_file.to_yaml())
        port = options.port or free_port()
        settings = Settings(
            database_url=database_url,
            api_keys={keys["backend"]: frozenset({Role.BACKEND}), keys["operator"]: frozenset({Role.OPERATOR}),
                      keys["viewer"]: frozenset({Role.VIEWER})},
            host="127.0.0.1", port=port, hub_id=scenario.hub_id, world=scenario.world,
            public_url=f"http://127.0.0.1:{port}",  # the tracking links in the day's notifications open here
            hub_latitude_deg=world.frame.origin_latitude_deg, hub_longitude_deg=world.frame.origin_longitude_deg,
            webhook_url=webhook_url, webhook_secret=SecretStr(webhook_secret), webhook_backoff_base_s=2.0,
            server_secret=SecretStr(secrets.token_urlsafe(32)),
            webhook_max_attempts=8, ros_domain_id=robot_domain, vehicle_connect_timeout_s=120.0,
            van_spare_packs=SPARE_PACKS,  # the simulated vans' charged packs: the planner counts on what they carry
            mqtt_url=f"mqtt://127.0.0.1:{mqtt_port}" if mqtt_port is not None else None, mqtt_topic_prefix=MQTT_PREFIX,
        )
        if options.van_hold_max_s is not None:
            settings = settings.model_copy(update={"van_hold_max_s": options.van_hold_max_s})
        try:
            runtime = await Runtime.start(settings, fleet_file, clock=clock)
        except BaseException:
            await backend.close()
            raise
        try:
            await _start_day(clock, scenario, van_urls)
            hub = runtime.hub
            recorder = TrackRecorder(runtime.fleet, world, lambda: hub.airspace.current, clock)
            followers = [asyncio.create_task(recorder.follow(v), name=f"track-{v.vehicle_id}") for v in runtime.fleet]
            if sensors is not None:
                followers.append(asyncio.create_task(sensors.run(scenario.hub_id), name="parcel-sensors"))
            traffic = day_traffic(scenario, (world.hub.latitude_deg, world.hub.longitude_deg), clock, van_urls,
                                  f"http://127.0.0.1:{port}", keys["operator"])  # rush hours and incidents
            followers.extend([traffic] if traffic is not None else [])
            if drone_control_url is not None:
                followers.append(asyncio.create_task(
                    _hub_swap_station(drone_control_url, scenario, world, clock).run(), name="hub-swap"))
            if options.observers is not None:
                followers += [asyncio.create_task(observer) for observer in
                              options.observers(DayHandles(runtime, clock, drone_control_url))]
            server = uvicorn.Server(uvicorn.Config(runtime.app, host="127.0.0.1", port=port, log_level="warning",
                                                   lifespan="on"))
            server_task = asyncio.create_task(server.serve(), name="fleet-api")
            try:
                await _run_the_day(scenario, options, server, server_task, backend, hub.monitor, clock, port, keys)
                await _drain_webhooks(runtime.database, scenario.hub_id, timeout_wall_s=10.0)
            finally:
                for task in followers:
                    task.cancel()
                await backend.close()
                server.should_exit = True
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(server_task, 15.0)
            webhook_counts = await asyncio.to_thread(_webhook_counts, runtime.database, scenario.hub_id)
            alerts = hub.monitor.alerts
        finally:
            await runtime.close()
    episodes = recorder.terrain_clearance()
    return RunResult(
        run_dir=run_dir, scenario=scenario, world=world, drone_backend=options.drones_backend,
        database_url=database_url, started_wall_s=started_wall, wall_s=time.monotonic() - started_wall,
        tracks=recorder.tracks, geofence_violations=recorder.violations,
        terrain_clearance=episodes, clearance_samples=[recorder.clearance_samples(e) for e in episodes or []],
        alerts=alerts,
        backend_stats=backend.stats, skipped=skipped, webhook_counts=webhook_counts,
    )


async def _run_the_day(
    scenario: Scenario, options: RunOptions, server: Any, server_task: asyncio.Task[None], backend: Any,
    monitor: Any, clock: Clock, port: int, keys: dict[str, str],
) -> None:
    """Wait for the API, let the backend feed the day's orders, and run the clock to the end of the day."""
    deadline = time.monotonic() + 30.0
    while not server.started:
        if server_task.done() or time.monotonic() > deadline:
            raise SimRunError(f"the fleet manager did not start on port {port}")
        await asyncio.sleep(0.05)
    api_url = f"http://127.0.0.1:{port}"
    backend.use_api(api_url)
    if options.on_url:
        options.on_url(f"{api_url}/#key={keys['operator']}")  # a fragment: never sent to the server
    end_s = scenario.start_epoch_s + scenario.duration_s
    feeder = asyncio.create_task(backend.run(until_epoch_s=end_s), name="backend-feeder")
    day_over = False
    try:
        while clock.now() < end_s:
            if server_task.done():
                if server.should_exit:  # uvicorn took the Ctrl-C / SIGTERM
                    raise SimInterrupted("interrupted: every process of the run was stopped")
                raise SimRunError("the fleet manager stopped during the day")
            if options.progress:
                counters = {
                    "sent": backend.stats.orders_sent,
                    "delivered": sum(1 for s in backend.stats.status_by_order.values()
                                     if s in ("delivered", "delivered_to_locker")),
                    "webhooks": backend.stats.webhooks_received,
                    "alerts": len(monitor.alerts),
                }
                options.progress(clock.now() - scenario.start_epoch_s, scenario.duration_s, counters)
            await asyncio.sleep(0.25)
        day_over = True
    finally:
        if day_over and not feeder.done():
            # Orders released before the end that a loaded API has not taken yet are still the day's demand (the
            # fleets of a comparison must get the same orders): they are sent, late, before the day is closed.
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(feeder), FEEDER_DRAIN_WALL_S)
            if not feeder.done():
                logger.error("the backend had not sent every order of the day %.0f s after its end",
                             FEEDER_DRAIN_WALL_S)
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await feeder


MQTT_PREFIX = "finalmile"


def _address_index(scenario: Scenario) -> Any:
    """The world's address index when the day has typed-address orders (they are written from it), else None."""
    if scenario.demand.typed_addresses.orders == 0:
        return None
    from fleet_manager.world.addresses import address_index_for_world

    return address_index_for_world(scenario.world, cache_dir=Path("var") / "cache")


def _start_broker(scenario: Scenario, run_dir: Path, stack: ExitStack, skipped: list[str]) -> int | None:
    """A private Mosquitto for the day's parcel sensors (a run never mixes with another); None without one."""
    if scenario.demand.cold_chain.orders == 0:
        return None
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        skipped.append("parcel sensors skipped: mosquitto is not installed (apt-get install mosquitto)")
        return None
    port = free_port()
    process = stack.enter_context(managed_process([binary, "-p", str(port)], log_path=run_dir / "mosquitto.log"))
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return port
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise SimRunError(f"mosquitto did not listen on port {port} (see {run_dir / 'mosquitto.log'})")


def _start_vans(scenario: Scenario, run_dir: Path, stack: ExitStack, origin_monotonic: float,
                drone_control_url: str | None, robots_control_port: int | None) -> list[tuple[str, str]]:
    """The van simulator in a subprocess (carrying drones / robots through their sim-control channels)."""
    vans = scenario.fleet.vans
    if vans.count == 0:
        return []
    process = stack.enter_context(managed_process(
        [sys.executable, "-m", "sim_worlds.vans", "--world", scenario.world, "--count", str(vans.count),
         "--speedup", f"{scenario.speedup:g}", "--start-s", f"{scenario.start_epoch_s:.3f}",
         "--origin-monotonic", f"{origin_monotonic:.6f}", "--energy-wh-per-km", f"{vans.energy_wh_per_km:g}",
         "--stop-duration-s", f"{vans.stop_duration_s:g}", "--battery-wh", f"{vans.battery_wh:g}",
         "--charge-kw", f"{vans.charge_kw:g}",
         *(("--mavsim-control", drone_control_url) if drone_control_url and vans.carries_drones > 0 else ()),
         *(("--robots-control", f"tcp:127.0.0.1:{robots_control_port}") if robots_control_port is not None else ())],
        log_path=run_dir / "vans.log"))
    handshake = _read_handshake(process, 60.0, "van simulator")
    return [(van_id, f"tcp:127.0.0.1:{handshake['van_port']}") for van_id in handshake["vans"]]


def _hub_swap_station(control_url: str, scenario: Scenario, world: World, clock: Clock) -> Any:
    """The hub's battery swap (fleet.drones.swap_time_s) through mavsim's sim-control channel."""
    from .hub_swap import HubSwapStation, SwapTracker
    from .mavsim.sim_control import MavsimControl

    tracker = SwapTracker((world.hub.x_m, world.hub.y_m), world.frame, scenario.fleet.drones.swap_time_s)
    return HubSwapStation(MavsimControl(control_url), tracker, clock.now)


def _start_robots(scenario: Scenario, run_dir: Path, stack: ExitStack,
                  control_port: int | None = None) -> tuple[int | None, str]:
    """ROS 2 sim robots in a subprocess on a private domain (sim-control on `control_port`); (domain, why skipped)."""
    if importlib.util.find_spec("rclpy") is None or importlib.util.find_spec("nav2_msgs") is None:
        return None, "robots skipped: ROS 2 (rclpy, nav2_msgs) is not importable; run `make setup` to build it"
    # Leased for the whole day: another simulated day or test on this machine draws a different domain.
    domain_id = stack.enter_context(lease_ros_domain()).number
    count = scenario.fleet.robots.count
    stack.enter_context(managed_process(
        [sys.executable, "-m", "fleet_manager.cli", "robots", "--count", str(count), "--world", scenario.world,
         "--speedup", f"{scenario.speedup:g}", "--domain-id", str(domain_id),
         "--speed-limit", f"{scenario.fleet.robots.speed_m_s:g}",
         *(("--control-port", str(control_port)) if control_port is not None else ())],
        env={"ROS_DOMAIN_ID": str(domain_id)}, log_path=run_dir / "robots.log"))
    return domain_id, ""


async def _start_day(clock: Clock, scenario: Scenario, van_urls: list[tuple[str, str]]) -> None:
    """Every vehicle is up: restart the day's clock at the scenario's start, in this process and the vans'."""
    origin_monotonic = time.monotonic()
    clock.start_s = scenario.start_epoch_s
    clock.__post_init__()  # re-anchor the one Clock object every adapter already holds, at this instant
    if not van_urls:
        return
    host, _, port = van_urls[0][1].removeprefix("tcp:").rpartition(":")
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 10.0)
    try:
        message = {"type": "clock", "request_id": 1, "start_s": scenario.start_epoch_s,
                   "speedup": scenario.speedup, "origin_monotonic": origin_monotonic}
        writer.write((json.dumps(message) + "\n").encode())
        await writer.drain()
        ack = json.loads(await asyncio.wait_for(reader.readline(), 10.0))
        if not ack.get("ok"):
            raise SimRunError(f"van simulator refused the clock: {ack.get('error')}")
    finally:
        writer.close()


async def _drain_webhooks(database: Any, hub_id: str, timeout_wall_s: float) -> None:
    """Give the webhook deliverer a moment to empty the outbox before the service stops."""
    from fleet_manager.store import outbox

    deadline = time.monotonic() + timeout_wall_s
    while time.monotonic() < deadline:
        def backlog() -> tuple[int, int]:
            with database.read() as session:
                return outbox.webhook_backlog(session, hub_ids=[hub_id])

        pending, _dead = await asyncio.to_thread(backlog)
        if pending == 0:
            return
        await asyncio.sleep(0.25)


def _webhook_counts(database: Any, hub_id: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from fleet_manager.store.models import OutboxRow

    with database.read() as session:
        base = select(func.count()).select_from(OutboxRow).where(OutboxRow.hub_id == hub_id,
                                                                 OutboxRow.webhook.is_(True))
        delivered = session.scalar(base.where(OutboxRow.delivered_at_s.is_not(None))) or 0
        dead = session.scalar(base.where(OutboxRow.dead_lettered_at_s.is_not(None))) or 0
        total = session.scalar(base) or 0
    return {"delivered": int(delivered), "dead_lettered": int(dead), "total": int(total)}

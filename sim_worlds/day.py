"""Run one simulated delivery day end to end: the wiring behind `finalmile sim`.

Starts, in order: the MAVLink drone simulator (or ArduPilot SITL) in a subprocess, the ROS 2
sim robots in a subprocess on a private ROS_DOMAIN_ID (when the ROS 2 adapter is installed),
the van simulator in a subprocess, the simulated backend's webhook receiver, and the fleet
manager (Fleet API + dashboard, dispatcher, monitors) on a local port. Then the backend feeds
the day's orders and the clock runs to the end of the day. Everything started here is stopped
here (process groups killed), also on Ctrl-C. Only this module knows which drone back-end runs:
the fleet manager sees `VehicleAdapter`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import math
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet_manager.adapters.base import VehicleAdapter, VehicleKind, VehicleState
from fleet_manager.fleet import Fleet, FleetVehicle, VehicleProfile
from fleet_manager.monitors import position_violation
from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from mission_planner.energy import Wind
from mission_planner.errors import FinalMileError

from .demand import generate_orders
from .process_group import exit_with_parent, stop_group
from .scenario import Scenario

logger = logging.getLogger(__name__)


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


@dataclass
class Track:
    """What a vehicle reported over the day, summarised for the KPIs and the map."""

    vehicle_id: str
    kind: VehicleKind
    points: list[tuple[float, float, float]] = field(default_factory=list)  # (stamp_s, lat, lon), thinned
    distance_m: float = 0.0
    energy_wh: float = 0.0
    busy_s: float = 0.0
    min_battery_pct: float = 100.0
    samples: int = 0
    _last: VehicleState | None = None


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


class TrackRecorder:
    """Follows every vehicle's own telemetry: distance, energy, busy time, battery, geofence conformance."""

    def __init__(self, fleet: Fleet, world: World, airspace_now: Callable[[], Any], clock: Clock) -> None:
        self.fleet = fleet
        self.world = world
        self.clock = clock
        self.tracks = {v.vehicle_id: Track(v.vehicle_id, v.kind) for v in fleet}
        self.violations: list[tuple[float, str, str]] = []
        self._airspace_now = airspace_now
        self._inside: set[tuple[str, str]] = set()

    async def follow(self, vehicle: FleetVehicle) -> None:
        """Consume one vehicle's telemetry until its adapter closes."""
        async for state in vehicle.adapter.telemetry():
            self.observe(vehicle, state)

    def observe(self, vehicle: FleetVehicle, state: VehicleState) -> None:
        """Fold one telemetry sample in."""
        track = self.tracks[vehicle.vehicle_id]
        track.samples += 1
        last = track._last
        if state.battery_remaining_pct is not None:
            track.min_battery_pct = min(track.min_battery_pct, state.battery_remaining_pct)
        if last is not None and state.position_valid and last.position_valid:
            dt_s = max(0.0, state.stamp_s - last.stamp_s)
            x0, y0 = self.world.frame.to_local(last.latitude_deg, last.longitude_deg)
            x1, y1 = self.world.frame.to_local(state.latitude_deg, state.longitude_deg)
            step_m = math.hypot(x1 - x0, y1 - y0)
            if step_m < 500.0:  # a jump (re-home, simulator restart) is not distance travelled
                track.distance_m += step_m
            if (
                state.battery_remaining_wh is not None
                and last.battery_remaining_wh is not None
                and state.battery_remaining_wh < last.battery_remaining_wh
            ):
                track.energy_wh += last.battery_remaining_wh - state.battery_remaining_wh
            if vehicle.mission_id is not None:
                track.busy_s += dt_s
        if not track.points or state.stamp_s - track.points[-1][0] >= 5.0:
            track.points.append((state.stamp_s, state.latitude_deg, state.longitude_deg))
        track._last = state
        if vehicle.kind is VehicleKind.DRONE:
            self._check_fence(vehicle.vehicle_id, state)

    def _check_fence(self, vehicle_id: str, state: VehicleState) -> None:
        keys = {k for k in self._inside if k[0] == vehicle_id}
        if state.relative_altitude_m < 1.0 or not state.position_valid:
            self._inside -= keys
            return
        x_m, y_m = self.world.frame.to_local(state.latitude_deg, state.longitude_deg)
        zone_id = position_violation(self._airspace_now(), x_m, y_m, state.relative_altitude_m, self.clock.now())
        if zone_id is None:
            self._inside -= keys
            return
        if (vehicle_id, zone_id) not in self._inside:
            self._inside.add((vehicle_id, zone_id))
            self.violations.append((self.clock.now(), vehicle_id, zone_id))
            logger.error("GEOFENCE VIOLATION: %s reported a position inside %s", vehicle_id, zone_id)


@asynccontextmanager
async def _connected(adapters: list[VehicleAdapter], timeout_s: float) -> AsyncIterator[list[VehicleAdapter]]:
    try:
        await asyncio.gather(*(a.connect(timeout_s=timeout_s) for a in adapters))
        yield adapters
    finally:
        for adapter in adapters:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(adapter.close(), 5.0)


def _near(world: World, state: VehicleState, within_m: float = 200.0) -> bool:
    """True when a reported position is within `within_m` of the world's hub."""
    x_m, y_m = world.frame.to_local(state.latitude_deg, state.longitude_deg)
    return math.hypot(x_m - world.hub.x_m, y_m - world.hub.y_m) <= within_m


def _drone_profile(scenario: Scenario) -> VehicleProfile:
    drones = scenario.fleet.drones
    return VehicleProfile(
        max_payload_kg=drones.max_payload_kg, battery_wh=drones.battery_wh, speed_m_s=drones.cruise_speed_m_s,
        cruise_altitude_m=drones.cruise_altitude_m, reserve_pct=drones.reserve_pct,
    )


def _robot_profile(scenario: Scenario) -> VehicleProfile:
    robots = scenario.fleet.robots
    return VehicleProfile(
        max_payload_kg=robots.max_payload_kg, battery_wh=robots.battery_wh, speed_m_s=robots.speed_m_s,
        reserve_pct=robots.reserve_pct, energy_wh_per_km=robots.energy_wh_per_km,
    )


def _van_profile(scenario: Scenario) -> VehicleProfile:
    vans = scenario.fleet.vans
    return VehicleProfile(
        max_payload_kg=vans.max_payload_kg, battery_wh=60_000.0, speed_m_s=8.0, capacity_parcels=vans.capacity_parcels,
        reserve_pct=10.0, energy_wh_per_km=vans.energy_wh_per_km,
    )


def drone_parameters(scenario: Scenario) -> dict[str, float]:
    """Autopilot parameters of the scenario's delivery drones (same names on SITL and the simulator)."""
    drones = scenario.fleet.drones
    return {
        "FENCE_ENABLE": 1,
        "FENCE_TYPE": 5,  # max altitude + polygons; the fleet manager uploads the polygons per mission
        "FENCE_ACTION": 1,  # RTL
        "FENCE_ALT_MAX": 120,
        "RTL_ALT": round(drones.cruise_altitude_m * 100),
        "WPNAV_SPEED": round(drones.cruise_speed_m_s * 100),
        "SIM_WIND_SPD": scenario.wind.speed_m_s,
        "SIM_WIND_DIR": scenario.wind.direction_deg,
        "SIM_BATT_CAP_AH": round(drones.battery_wh / 11.1, 2),  # 3S pack at 11.1 V nominal
    }


def _drone_sources(scenario: Scenario, world: World, options: RunOptions, run_dir: Path,
                   stack: ExitStack) -> tuple[list[str], str | None]:
    """Start the drone back-end; returns MAVLink URLs and the sim-control URL (embedded simulator only)."""
    hub = world.hub
    if options.drones_backend == "sitl":
        from .sitl import SitlFleet

        count = scenario.fleet.sitl_drones
        if count == 0:
            return [], None
        fleet = SitlFleet(
            options.sitl_binary, count=count, speedup=scenario.speedup,
            home=(hub.latitude_deg, hub.longitude_deg, 10.0, 0.0), workdir=run_dir / "sitl",
            params=drone_parameters(scenario),
        )
        stack.enter_context(fleet)
        return list(fleet.urls), None
    if options.drones_backend != "embedded":
        raise SimRunError(f"--drones {options.drones_backend!r}: choose 'embedded' or 'sitl'")
    count = scenario.fleet.drones.count
    if count == 0:
        return [], None
    from .mavsim.process import MavsimProcess

    sim = MavsimProcess(count, speedup=scenario.speedup, home=(hub.latitude_deg, hub.longitude_deg, 10.0),
                        params=drone_parameters(scenario),
                        extra_args=("--event-log", str(run_dir / "mavsim-events.jsonl")), control=True,
                        exit_with_parent=True)
    stack.enter_context(sim)
    return list(sim.urls), sim.control_url


def _assign_carried_drones(fleet: Fleet, scenario: Scenario) -> None:
    """The first `carries_drones` drones per van ride on it (the dispatcher launches them from its stops)."""
    per_van = scenario.fleet.vans.carries_drones
    if per_van <= 0:
        return
    drones = [v for v in fleet.vehicles(scenario.hub_id) if v.kind is VehicleKind.DRONE]
    vans = [v for v in fleet.vehicles(scenario.hub_id) if v.kind is VehicleKind.VAN]
    for number, van in enumerate(vans):
        for drone in drones[number * per_van:(number + 1) * per_van]:
            drone.carried_by = van.vehicle_id
            logger.info("%s rides on %s", drone.vehicle_id, van.vehicle_id)


async def run_day(scenario: Scenario, options: RunOptions) -> RunResult:
    """Run the scenario's day and return what the report needs; stops everything it started."""
    import uvicorn
    from pydantic import SecretStr

    from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter, MavlinkTimeouts
    from fleet_manager.adapters.van_adapter import VanAdapter
    from fleet_manager.api.app import create_app
    from fleet_manager.config import Role, Settings
    from fleet_manager.dispatcher import Dispatcher, DispatcherConfig
    from fleet_manager.handover import HttpRecipientCheck
    from fleet_manager.monitors import SafetyMonitor
    from fleet_manager.planning import FleetPlanner
    from fleet_manager.store import lockers as locker_store
    from fleet_manager.store.db import Database

    from .backend_sim import BackendSim

    started_wall = time.monotonic()
    world = load_world(scenario.world)
    run_id = options.run_id or f"{dt.datetime.now():%Y%m%d-%H%M%S}-{scenario.name}-s{scenario.seed}"
    run_dir = options.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{run_dir / 'finalmile.db'}"
    keys = {name: secrets.token_hex(16) for name in ("backend", "operator", "viewer")}
    webhook_secret = secrets.token_hex(24)
    (run_dir / "api-keys.json").write_text(json.dumps(keys, indent=1))
    orders = generate_orders(scenario, world.addresses)
    skipped: list[str] = []
    hub = world.hub

    with ExitStack() as processes:
        drone_urls, drone_control_url = _drone_sources(scenario, world, options, run_dir, processes)
        bridge = None
        robots_control_port = free_port() if scenario.fleet.vans.carries_robots > 0 else None
        if options.with_robots and scenario.fleet.robots.count > 0:
            bridge, reason = _start_robots(scenario, run_dir, processes, robots_control_port)
            if reason:
                skipped.append(reason)
        origin_monotonic = time.monotonic()
        van_urls: list[tuple[str, str]] = []
        if scenario.fleet.vans.count > 0:
            vans = processes.enter_context(managed_process(
                [sys.executable, "-m", "sim_worlds.vans", "--world", scenario.world, "--count",
                 str(scenario.fleet.vans.count), "--speedup", f"{scenario.speedup:g}",
                 "--start-s", f"{scenario.start_epoch_s:.3f}", "--origin-monotonic", f"{origin_monotonic:.6f}",
                 "--energy-wh-per-km", f"{scenario.fleet.vans.energy_wh_per_km:g}",
                 "--stop-duration-s", f"{scenario.fleet.vans.stop_duration_s:g}",
                 *(("--mavsim-control", drone_control_url)
                   if drone_control_url and scenario.fleet.vans.carries_drones > 0 else ()),
                 *(("--robots-control", f"tcp:127.0.0.1:{robots_control_port}")
                   if bridge is not None and robots_control_port is not None else ())],
                log_path=run_dir / "vans.log"))
            handshake = _read_handshake(vans, 60.0, "van simulator")
            van_urls = [(vid, f"tcp:127.0.0.1:{handshake['van_port']}") for vid in handshake["vans"]]
        from .vans import shared_clock

        # Provisional until every vehicle is connected; then the day starts at its start time for all.
        clock = shared_clock(scenario.start_epoch_s, scenario.speedup, origin_monotonic)
        # Clock-second timeouts shrink with the speed-up; on a busy machine the round trips do not.
        timeouts = MavlinkTimeouts(
            mode_change_clock_s=max(5.0, 2.0 * scenario.speedup),
            link_lost_clock_s=max(5.0, 3.0 * scenario.speedup),
            takeoff_clock_s=max(60.0, 10.0 * scenario.speedup),
        )
        drone_adapters: list[VehicleAdapter] = [
            MavlinkAdapter(f"drone-{i + 1}", url, clock=clock, battery_capacity_wh=scenario.fleet.drones.battery_wh,
                           timeouts=timeouts)
            for i, url in enumerate(drone_urls)
        ]
        van_adapters: list[VehicleAdapter] = [VanAdapter(vid, url) for vid, url in van_urls]
        robot_adapters = _robot_adapters(scenario, bridge, world, clock) if bridge is not None else []
        adapters = drone_adapters + robot_adapters + van_adapters
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(_connected(adapters, timeout_s=120.0))
            await _start_day(clock, scenario, van_urls)
            fleet = Fleet()
            profiles = {VehicleKind.DRONE: _drone_profile(scenario), VehicleKind.ROBOT: _robot_profile(scenario),
                        VehicleKind.VAN: _van_profile(scenario)}
            for adapter in adapters:
                state = adapter.latest_state()
                # Before its GPS fix a drone reports 0/0: its home is then the hub it stands on.
                located = state is not None and state.position_valid and _near(world, state)
                home = (state.latitude_deg, state.longitude_deg) if located and state else (
                    hub.latitude_deg, hub.longitude_deg)
                fleet.add(scenario.hub_id, adapter, profiles[adapter.kind], home_latitude_deg=home[0],
                          home_longitude_deg=home[1])
            _assign_carried_drones(fleet, scenario)
            backend = BackendSim(
                api_url="http://127.0.0.1:0", backend_key=keys["backend"], operator_key=keys["operator"],
                webhook_secret=webhook_secret.encode(), scenario=scenario, orders=orders, clock=clock,
            )
            webhook_url = await backend.start_receiver()
            port = options.port or free_port()
            settings = Settings(
                database_url=database_url,
                api_keys={keys["backend"]: frozenset({Role.BACKEND}), keys["operator"]: frozenset({Role.OPERATOR}),
                          keys["viewer"]: frozenset({Role.VIEWER})},
                host="127.0.0.1", port=port, hub_id=scenario.hub_id, world=scenario.world,
                hub_latitude_deg=world.frame.origin_latitude_deg, hub_longitude_deg=world.frame.origin_longitude_deg,
                webhook_url=webhook_url, webhook_secret=SecretStr(webhook_secret), webhook_backoff_base_s=2.0,
                webhook_max_attempts=8,
            )
            database = Database(database_url)
            await asyncio.to_thread(database.migrate)
            with database.transaction() as session:
                for locker in world.lockers:
                    locker_store.upsert_locker(
                        session, locker_id=locker.site_id, hub_id=scenario.hub_id, name=locker.name,
                        address=locker.name.split("(")[-1].rstrip(")"), latitude_deg=locker.latitude_deg,
                        longitude_deg=locker.longitude_deg,
                    )
            recipients = HttpRecipientCheck(backend.url)
            planner = FleetPlanner(
                world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph,
                hub_xy=(hub.x_m, hub.y_m), wind=Wind(scenario.wind.speed_m_s, scenario.wind.direction_deg),
            )
            dispatcher = Dispatcher(
                database=database, fleet=fleet, planner=planner, clock=clock, frame=world.frame,
                recipients=recipients, config=DispatcherConfig(hub_id=scenario.hub_id),
                base_airspace=world.airspace,
            )
            monitor = SafetyMonitor(fleet=fleet, dispatcher=dispatcher, clock=clock, frame=world.frame)
            recorder = TrackRecorder(fleet, world, lambda: dispatcher.airspace, clock)
            app = create_app(settings, clock=clock, database=database, commander=dispatcher, frame=world.frame,
                             background=[dispatcher.run, monitor.run])
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                   lifespan="on"))
            server_task = asyncio.create_task(server.serve(), name="fleet-api")
            followers = [asyncio.create_task(recorder.follow(v), name=f"track-{v.vehicle_id}") for v in fleet]
            if drone_control_url is not None:
                followers.append(asyncio.create_task(
                    _hub_swap_station(drone_control_url, scenario, world, clock).run(), name="hub-swap"))
            try:
                deadline = time.monotonic() + 30.0
                while not server.started:
                    if server_task.done() or time.monotonic() > deadline:
                        raise SimRunError(f"the fleet manager did not start on port {port}")
                    await asyncio.sleep(0.05)
                api_url = f"http://127.0.0.1:{port}"
                backend.api_url = api_url
                backend._backend.base_url = api_url
                backend._operator.base_url = api_url
                if options.on_url:
                    options.on_url(f"{api_url}/?key={keys['operator']}")
                feeder = asyncio.create_task(backend.run(), name="backend-feeder")
                end_s = scenario.start_epoch_s + scenario.duration_s
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
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await feeder
                await _drain_webhooks(database, scenario.hub_id, timeout_wall_s=10.0)
            finally:
                for task in followers:
                    task.cancel()
                await backend.close()
                await recipients.close()
                server.should_exit = True
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(server_task, 15.0)
            webhook_counts = await asyncio.to_thread(_webhook_counts, database, scenario.hub_id)
            database.dispose()
    return RunResult(
        run_dir=run_dir, scenario=scenario, world=world, drone_backend=options.drones_backend,
        database_url=database_url, started_wall_s=started_wall, wall_s=time.monotonic() - started_wall,
        tracks=recorder.tracks, geofence_violations=recorder.violations, alerts=monitor.alerts,
        backend_stats=backend.stats, skipped=skipped, webhook_counts=webhook_counts,
    )


def _hub_swap_station(control_url: str, scenario: Scenario, world: World, clock: Clock) -> Any:
    """The hub's battery swap (fleet.drones.swap_time_s) through mavsim's sim-control channel."""
    from .hub_swap import HubSwapStation, SwapTracker
    from .mavsim.sim_control import MavsimControl

    tracker = SwapTracker((world.hub.x_m, world.hub.y_m), world.frame, scenario.fleet.drones.swap_time_s)
    return HubSwapStation(MavsimControl(control_url), tracker, clock.now)


def _start_robots(scenario: Scenario, run_dir: Path, stack: ExitStack,
                  control_port: int | None = None) -> tuple[Any, str]:
    """ROS 2 sim robots in a subprocess on a private domain (sim-control on `control_port`), and their bridge."""
    try:
        from fleet_manager.adapters.ros2_bridge import Ros2Bridge
    except ImportError as exc:
        return None, f"robots skipped: ROS 2 is not importable ({exc}); run through tools/env.sh"
    domain_id = 100 + secrets.randbelow(100)
    count = scenario.fleet.robots.count
    stack.enter_context(managed_process(
        [sys.executable, "-m", "fleet_manager.cli", "robots", "--count", str(count), "--world", scenario.world,
         "--speedup", f"{scenario.speedup:g}", "--domain-id", str(domain_id),
         "--speed-limit", f"{scenario.fleet.robots.speed_m_s:g}",
         *(("--control-port", str(control_port)) if control_port is not None else ())],
        env={"ROS_DOMAIN_ID": str(domain_id)}, log_path=run_dir / "robots.log"))
    bridge = Ros2Bridge(domain_id=domain_id)
    try:
        bridge.start()
    except Exception as exc:  # rclpy raises its own types; the day goes on without robots
        return None, f"robots skipped: the ROS 2 bridge did not start ({exc})"
    stack.callback(bridge.close)
    return bridge, ""


def _robot_adapters(scenario: Scenario, bridge: Any, world: World, clock: Clock) -> list[VehicleAdapter]:
    from fleet_manager.adapters.ros2_adapter import Ros2Adapter

    return [Ros2Adapter(f"robot_{i + 1}", bridge, world.frame, namespace=f"robot_{i + 1}", clock=clock)
            for i in range(scenario.fleet.robots.count)]


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

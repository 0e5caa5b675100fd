"""One process, one asyncio loop, N simulated ArduCopters: sockets, the physics tick, telemetry.

The simulated clock is `mission_planner.clock.Clock(speedup=K)`; the tick runs at up to 50 Hz of
wall time and integrates the physics in sub-steps of at most 0.05 simulated seconds, so a high
speed-up costs sub-steps, not wakeups. No thread per vehicle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mission_planner.clock import Clock
from mission_planner.errors import FinalMileError
from sim_worlds.mavsim import telemetry
from sim_worlds.mavsim.autopilot import BootTimeline, PowerModel, ReleaseEvent, Vehicle
from sim_worlds.mavsim.params import ParamTable
from sim_worlds.mavsim.physics import GeoOrigin
from sim_worlds.mavsim.server import serve_serial, serve_vehicle

logger = logging.getLogger(__name__)

MIN_TICK_WALL_S = 0.02
HOME_SPACING_M = 3.0


class SimulatorConfigError(FinalMileError):
    """The simulator was asked for something impossible (bad count, port, speed-up, home)."""


@dataclass(frozen=True)
class FleetConfig:
    """Everything `finalmile mavsim` takes."""

    count: int
    home_latitude_deg: float
    home_longitude_deg: float
    home_altitude_m: float = 10.0
    base_port: int = 5760
    udp_base_port: int | None = 14550
    host: str = "127.0.0.1"
    speedup: float = 1.0
    params: dict[str, float] = field(default_factory=dict)
    timeline: BootTimeline = field(default_factory=BootTimeline)
    event_log: Path | None = None
    control_port: int | None = None  # sim-control channel (sim_control.py); 0 = any free port
    serial: str | None = None  # DEVICE[,BAUD]: every vehicle also on this serial line (one link, several sysids)
    # (lat, lon) -> ground m AMSL: a world's elevation model; vehicles placed by sim-control stand on it
    ground: Callable[[float, float], float] | None = None
    names_before_4_7: bool = False  # parameter names of firmware before ArduCopter 4.7 (params.NAMES_BEFORE_4_7)

    def __post_init__(self) -> None:
        if self.count < 1:
            raise SimulatorConfigError(f"count must be >= 1, got {self.count}")
        if not self.speedup > 0:
            raise SimulatorConfigError(f"speedup must be > 0, got {self.speedup}")
        top = self.base_port + 10 * (self.count - 1)
        if not self.base_port > 0 or top > 65535:
            raise SimulatorConfigError(f"base_port {self.base_port} with count {self.count} leaves 1..65535")
        if self.udp_base_port is not None and not (
            self.udp_base_port > 0 and self.udp_base_port + 10 * (self.count - 1) <= 65535
        ):
            raise SimulatorConfigError(f"udp_base_port {self.udp_base_port} with count {self.count} leaves 1..65535")
        if not (-90 <= self.home_latitude_deg <= 90 and -180 <= self.home_longitude_deg <= 180):
            raise SimulatorConfigError(
                f"home ({self.home_latitude_deg}, {self.home_longitude_deg}) is not a WGS84 lat/lon")


def default_power_model() -> PowerModel:
    """The planner's multirotor energy model (imported lazily: the planner owns it)."""
    from mission_planner.energy import MultirotorModel

    model: PowerModel = MultirotorModel()
    return model


class Fleet:
    """N vehicles sharing one clock and one loop."""

    def __init__(self, config: FleetConfig, power_model: PowerModel | None = None,
                 clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock(speedup=config.speedup)
        model = power_model or default_power_model()
        origin = GeoOrigin(config.home_latitude_deg, config.home_longitude_deg, config.home_altitude_m)
        self.vehicles: list[Vehicle] = []
        for index in range(config.count):
            # Homes a few metres apart on a grid, so that vehicles never share a spot.
            x_m = HOME_SPACING_M * (index % 10)
            y_m = HOME_SPACING_M * (index // 10)
            latitude, longitude = origin.to_wgs84(x_m, y_m)
            home = GeoOrigin(latitude, longitude, config.home_altitude_m)
            params = ParamTable(config.params, names_before_4_7=config.names_before_4_7)
            self.vehicles.append(Vehicle(index, home, model, params, config.timeline,
                                         on_release=self._log_release, ground=config.ground))
        self._closers: list[Any] = []
        self.control_port: int | None = None

    def _log_release(self, event: ReleaseEvent) -> None:
        if self.config.event_log is None:
            return
        with self.config.event_log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"event": "payload_released", **asdict(event)}) + "\n")

    def tcp_port(self, index: int) -> int:
        """TCP port of vehicle `index`."""
        return self.config.base_port + 10 * index

    def urls(self) -> list[str]:
        """Connection strings (pymavlink style) of every vehicle's TCP port."""
        return [f"tcp:{self.config.host}:{self.tcp_port(i)}" for i in range(self.config.count)]

    async def open(self) -> None:
        """Bind every vehicle's sockets (raises SimulatorConfigError naming a port in use)."""
        config = self.config
        for index, vehicle in enumerate(self.vehicles):
            udp = None if config.udp_base_port is None else config.udp_base_port + 10 * index
            try:
                self._closers += await serve_vehicle(vehicle, config.host, self.tcp_port(index), udp,
                                                     self.clock.now)
            except OSError as exc:
                await self.close()
                raise SimulatorConfigError(
                    f"vehicle {index}: cannot listen on tcp {self.tcp_port(index)} / udp {udp}: {exc}") from exc
        if config.serial is not None:
            device, _, baud = config.serial.partition(",")
            try:
                self._closers.append(await serve_serial(self.vehicles, device, int(baud or 57600), self.clock.now))
            except (OSError, ValueError) as exc:
                await self.close()
                raise SimulatorConfigError(f"--serial {config.serial!r}: cannot open it: {exc}") from exc
        if config.control_port is not None:
            from sim_worlds.mavsim.sim_control import control_port, serve_control

            try:
                server = await serve_control(self.vehicles, config.host, config.control_port, config.ground)
            except OSError as exc:
                await self.close()
                raise SimulatorConfigError(f"sim-control: cannot listen on tcp {config.control_port}: {exc}") from exc
            self._closers.append(server)
            self.control_port = control_port(server)

    async def close(self) -> None:
        """Close every socket."""
        for closer in self._closers:
            closer.close()
        for closer in self._closers:
            if hasattr(closer, "wait_closed"):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(closer.wait_closed(), timeout=2.0)
        self._closers = []

    def tick(self) -> None:
        """Advance every vehicle to the clock's now and send what is due."""
        now_s = self.clock.now()
        for vehicle in self.vehicles:
            vehicle.step(now_s)
            telemetry.send_due(vehicle)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set."""
        period_s = max(MIN_TICK_WALL_S, 0.05 / self.config.speedup)
        while not stop.is_set():
            started = time.monotonic()
            self.tick()
            spent = time.monotonic() - started
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.001, period_s - spent))


async def run_fleet(config: FleetConfig, stop: asyncio.Event | None = None) -> None:
    """Open the sockets, log the URLs, tick until `stop` (or forever)."""
    fleet = Fleet(config)
    await fleet.open()
    logger.warning("mavsim: %d vehicle(s), speed-up %g: %s (udp base %s)", config.count, config.speedup,
                   " ".join(fleet.urls()), config.udp_base_port)
    if fleet.control_port is not None:
        logger.warning("mavsim: sim-control on tcp:%s:%d", config.host, fleet.control_port)
    try:
        await fleet.run(stop or asyncio.Event())
    finally:
        await fleet.close()

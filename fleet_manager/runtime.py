"""The one composition root: settings + a world + a fleet file -> a running fleet manager.

`finalmile serve` and `finalmile sim` both build the service here; the simulator only starts
simulated vehicles and a simulated backend and points the runtime at them (through the fleet
file it writes). For each hub of the fleet file the runtime builds (`build_hub`):

    OrderLifecycle ── order records          MissionControl ── missions in flight (runners, vans)
    LiveAirspace ──── zones in force         Dispatcher ────── the planning cycle (FleetPlanner)
    Rerouter + SafetyMonitor ── safety       TelemetryRecorder ── vehicle states into the store

and for the process: the store (migrated), the vehicle adapters (connected, ready), the fleet
registry, and the Fleet API app whose lifespan runs the dispatcher, monitors and recorder.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from mission_planner.clock import Clock

from .adapters.base import Geofence, VehicleAdapter, VehicleState
from .adapters.factory import AdapterFactory
from .api.app import BackgroundJob, create_app
from .config import Settings
from .dispatcher import Dispatcher, DispatcherConfig
from .errors import ConfigError
from .fleet import Fleet, FleetVehicle
from .fleet_file import AdapterKind, FleetFile, HubConfig, fleet_from_vehicles, load_fleet_file
from .handover import AlwaysPresent, HttpRecipientCheck, RecipientCheck
from .link_metrics import register_link_metrics
from .live_airspace import LiveAirspace
from .mavlink_config import mavlink_options
from .mission_control import MissionConfig, MissionControl
from .monitors import MonitorConfig, SafetyMonitor
from .operator_commands import AdapterCommander
from .order_lifecycle import AttemptPolicy, OrderLifecycle
from .planning import FleetPlanner
from .reroute import Rerouter
from .store import lockers as locker_store
from .store.db import Database
from .telemetry_recorder import TelemetryRecorder
from .world import World, load_world

logger = logging.getLogger(__name__)

HOME_RADIUS_M = 200.0  # a vehicle reporting a position this close to its hub has its home there


@dataclass
class HubServices:
    """Everything that runs for one hub, wired together."""

    hub_id: str
    world: World
    lifecycle: OrderLifecycle
    missions: MissionControl
    airspace: LiveAirspace
    planner: FleetPlanner
    dispatcher: Dispatcher
    rerouter: Rerouter
    monitor: SafetyMonitor
    telemetry: TelemetryRecorder

    def jobs(self) -> list[BackgroundJob]:
        """The background jobs of the hub (run by the app's lifespan)."""
        return [self.dispatcher.run, self.monitor.run, self.telemetry.run]


def build_hub(
    *, hub_id: str, database: Database, fleet: Fleet, world: World, clock: Clock, recipients: RecipientCheck,
    planner: FleetPlanner | None = None, dispatcher_config: DispatcherConfig | None = None,
    mission_config: MissionConfig | None = None, policy: AttemptPolicy | None = None,
    monitor_config: MonitorConfig | None = None,
) -> HubServices:
    """Wire the owners of one hub's order and mission lifecycle (no I/O until their jobs run)."""
    planner = planner or FleetPlanner(world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph,
                                      hub_xy=(world.hub.x_m, world.hub.y_m), terrain=world.terrain)
    airspace = LiveAirspace(database=database, hub_id=hub_id, frame=world.frame, base=world.airspace)
    lifecycle = OrderLifecycle(database=database, clock=clock, hub_id=hub_id, recipients=recipients, policy=policy)

    def geofence_for(vehicle: FleetVehicle) -> Geofence:
        fence = planner.fence_airspace(airspace.current, vehicle.profile.cruise_altitude_m, clock.now())
        return Geofence.from_airspace(fence)

    wake: list[Dispatcher] = []  # the dispatcher is built after the mission control it wakes
    missions = MissionControl(fleet=fleet, lifecycle=lifecycle, clock=clock, geofence_for=geofence_for,
                              on_vehicle_free=lambda: wake[0].wake() if wake else None, config=mission_config)
    dispatcher = Dispatcher(database=database, fleet=fleet, planner=planner, missions=missions, lifecycle=lifecycle,
                            airspace=airspace, clock=clock, config=dispatcher_config or DispatcherConfig(hub_id=hub_id))
    wake.append(dispatcher)
    rerouter = Rerouter(planner=planner, missions=missions, frame=world.frame)
    monitor = SafetyMonitor(fleet=fleet, clock=clock, frame=world.frame, airspace=airspace, missions=missions,
                            rerouter=rerouter, database=database, config=monitor_config)
    telemetry = TelemetryRecorder(database=database, fleet=fleet, hub_id=hub_id, on_vehicle_located=dispatcher.wake)
    return HubServices(hub_id, world, lifecycle, missions, airspace, planner, dispatcher, rerouter, monitor, telemetry)


def load_fleet_config(settings: Settings) -> FleetFile | None:
    """The fleet from `FINALMILE_FLEET_FILE`, else from the `FINALMILE_VEHICLES` shorthand; None when neither."""
    if settings.fleet_file is not None and settings.vehicles:
        raise ConfigError("set FINALMILE_FLEET_FILE or FINALMILE_VEHICLES, not both")
    if settings.fleet_file is not None:
        return load_fleet_file(settings.fleet_file)
    if settings.vehicles:
        return fleet_from_vehicles(settings.vehicles, hub_id=settings.hub_id, world=settings.world,
                                   recipient_presence=settings.recipient_presence)
    return None


@dataclass
class Runtime:
    """A fleet manager built from settings and a fleet file: store, adapters, hub services, API app."""

    settings: Settings
    clock: Clock
    database: Database
    fleet: Fleet
    app: FastAPI
    fleet_file: FleetFile | None = None
    hubs: dict[str, HubServices] = field(default_factory=dict)
    _factory: AdapterFactory | None = None
    _closers: list[Any] = field(default_factory=list)

    @classmethod
    async def start(
        cls, settings: Settings, fleet_file: FleetFile | None = None, *, clock: Clock | None = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> Runtime:
        """Connect the fleet's vehicles and build everything; the app's lifespan then runs the jobs.

        Without a fleet (no file, no FINALMILE_VEHICLES) it is the Fleet API alone.
        """
        clock = clock or Clock()
        fleet_file = fleet_file if fleet_file is not None else load_fleet_config(settings)
        if fleet_file is None:
            database = Database(settings.database_url)
            app = create_app(settings, clock=clock, database=database, webhook_transport=webhook_transport)
            app.state.service.prepare_address_resolver(settings.hub_id)
            return cls(settings, clock, database, Fleet(), app)
        if len(fleet_file.hubs) > 1:
            raise ConfigError(f"the fleet file names {len(fleet_file.hubs)} hubs; one process serves one hub for now "
                              "(give each process a fleet file of its own)")
        hub = fleet_file.hubs[0]
        settings = settings.model_copy(update={"hub_id": hub.hub_id, "world": hub.world})
        world = load_world(hub.world)
        factory = AdapterFactory(frame=world.frame, clock=clock, ros_domain_id=settings.ros_domain_id)
        adapters: list[VehicleAdapter] = []
        try:
            for vehicle in fleet_file.vehicles:
                options = (mavlink_options(fleet_file, vehicle, (world.hub.latitude_deg, world.hub.longitude_deg))
                           if vehicle.adapter_kind is AdapterKind.MAVLINK else None)
                adapters.append(factory.build(vehicle.vehicle_id, vehicle.adapter_kind.value, vehicle.url,
                                              fleet_file.profile(vehicle), options=options,
                                              map_datum=vehicle.map_datum, fromll_service=vehicle.fromll_service))
            await _connect(adapters, settings.vehicle_connect_timeout_s)
        except BaseException:
            await asyncio.gather(*(a.close() for a in adapters), return_exceptions=True)
            factory.close()
            raise
        database = Database(settings.database_url)
        await asyncio.to_thread(database.migrate)
        await database.write_async(lambda s: _seed_lockers(s, hub, world, clock.now()))
        fleet = Fleet()
        by_id = {a.vehicle_id: a for a in adapters}
        for vehicle in fleet_file.vehicles:
            adapter = by_id[vehicle.vehicle_id]
            home = _home(world, adapter.latest_state())
            fleet.add(hub.hub_id, adapter, fleet_file.profile(vehicle), home_latitude_deg=home[0],
                      home_longitude_deg=home[1], carried_by=fleet_file.carrier_of(vehicle.vehicle_id),
                      adapter_url=vehicle.url)
        recipients = _recipients(hub)
        services = build_hub(hub_id=hub.hub_id, database=database, fleet=fleet, world=world, clock=clock,
                             recipients=recipients,
                             policy=AttemptPolicy(locker_code_ttl_s=settings.locker_code_ttl_s))
        app = create_app(settings, clock=clock, database=database, commander=AdapterCommander(fleet),
                         frame=world.frame, background=services.jobs(), webhook_transport=webhook_transport)
        register_link_metrics(app.state.service.metrics.registry, fleet)
        app.state.service.prepare_address_resolver(hub.hub_id)
        runtime = cls(settings, clock, database, fleet, app, fleet_file, {hub.hub_id: services}, factory)
        if isinstance(recipients, HttpRecipientCheck):
            runtime._closers.append(recipients.close)
        logger.info("fleet manager for %s: %s", hub.hub_id, ", ".join(v.vehicle_id for v in fleet))
        # The world (graphs, footprints) and the fleet stay for the process's life: out of the collector's
        # way, a full collection no longer stalls telemetry for ~0.4 s (measured with 60 robots).
        gc.freeze()
        return runtime

    @property
    def hub(self) -> HubServices:
        """The services of the (only) hub."""
        return next(iter(self.hubs.values()))

    async def close(self) -> None:
        """Close vehicle links, the recipient client and the store (after the app has stopped)."""
        await asyncio.gather(*(asyncio.wait_for(v.adapter.close(), 5.0) for v in self.fleet),
                             return_exceptions=True)
        for close in self._closers:
            await close()
        if self._factory is not None:
            self._factory.close()
        self.database.dispose()
        gc.unfreeze()  # what start() froze may be garbage now (several runtimes in one process: tests)


async def _connect(adapters: list[VehicleAdapter], timeout_s: float) -> None:
    """Open every link, then wait until each vehicle can take a mission (a drone still booting cannot)."""
    await asyncio.gather(*(adapter.connect(timeout_s=timeout_s) for adapter in adapters))
    await asyncio.gather(*(adapter.wait_ready(timeout_s=timeout_s) for adapter in adapters))


def _recipients(hub: HubConfig) -> RecipientCheck:
    presence = hub.recipient_presence
    if presence.kind == "always":
        return AlwaysPresent()
    return HttpRecipientCheck(str(presence.url), timeout_s=presence.timeout_s)


def _seed_lockers(session: Any, hub: HubConfig, world: World, at_s: float) -> None:
    """The hub's lockers from its world (all of them, or those the fleet file lists)."""
    wanted = None if hub.lockers == "world" else set(hub.lockers)
    known = {locker.site_id for locker in world.lockers}
    if wanted is not None and wanted - known:
        raise ConfigError(f"hub {hub.hub_id!r}: lockers {sorted(wanted - known)} are not in world {world.name!r} "
                          f"(it has {sorted(known)})")
    for locker in world.lockers:
        if wanted is None or locker.site_id in wanted:
            locker_store.upsert_locker(
                session, locker_id=locker.site_id, hub_id=hub.hub_id, name=locker.name,
                address=locker.name.split("(")[-1].rstrip(")"), latitude_deg=locker.latitude_deg,
                longitude_deg=locker.longitude_deg, at_s=at_s, conditioned=locker.conditioned,
            )


def _home(world: World, state: VehicleState | None) -> tuple[float, float]:
    """Where a vehicle returns: where it stands when that is at the hub, else the hub (a drone before its fix)."""
    hub = world.hub
    if state is not None and state.position_valid:
        x_m, y_m = world.frame.to_local(state.latitude_deg, state.longitude_deg)
        if math.hypot(x_m - hub.x_m, y_m - hub.y_m) <= HOME_RADIUS_M:
            return state.latitude_deg, state.longitude_deg
    return hub.latitude_deg, hub.longitude_deg

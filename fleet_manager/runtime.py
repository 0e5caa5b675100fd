"""The one composition root: settings + a world + a fleet file -> a running fleet manager.

`finalmile serve` and `finalmile sim` both build the service here; the simulator only starts
simulated vehicles and a simulated backend and points the runtime at them (through the fleet
file it writes). For each hub of the fleet file the runtime builds (`build_hub`):

    OrderLifecycle ── order records          MissionControl ── missions in flight (runners, vans)
    LiveAirspace ──── zones in force         Dispatcher ────── the planning cycle (FleetPlanner)
    Rerouter + SafetyMonitor ── safety       TelemetryRecorder ── vehicle states into the store

and for the process: the store (its schema checked, never migrated here: `finalmile db upgrade`), the
vehicle adapters (connected, ready), the fleet registry, and the Fleet API app whose lifespan runs the
dispatcher, monitors and recorder.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame

from .adapters.base import Geofence, LinkStatus, Mission, VehicleAdapter, VehicleState
from .adapters.factory import AdapterFactory
from .api.app import BackgroundJob, create_app
from .bus.commands import CommandResponder, CommandRouter
from .bus.telemetry import TelemetryPublisher
from .config import Settings
from .customs_forecast import CustomsForecastConfig, CustomsForecaster
from .dispatcher import Dispatcher, DispatcherConfig
from .errors import AdapterError, ConfigError
from .fleet import LINK_DOWN, Fleet, FleetVehicle
from .fleet_file import AdapterKind, FleetFile, HubConfig, fleet_from_vehicles, load_fleet_file
from .fleet_file import VehicleConfig as FleetFileVehicle
from .handover import AlwaysPresent, HttpRecipientCheck, RecipientCheck
from .hub_routing import router_for_fleet
from .leadership import HubFence, HubLeadership, guard_commands
from .learning.demand_model import DemandForecast
from .learning.eta_model import LearningError
from .learning.eta_service import EtaService
from .learning.model_store import ModelSet, load_models
from .link_metrics import register_link_metrics
from .live_airspace import LiveAirspace
from .mavlink_config import mavlink_options
from .mission_control import MissionConfig, MissionControl
from .monitors import MonitorConfig, SafetyMonitor
from .operator_commands import AdapterCommander, HubCommandExecutor
from .order_lifecycle import AttemptPolicy, OrderLifecycle
from .planning import FleetPlanner
from .planning_config import PlanningConfig, dispatcher_handoff
from .prepositioning import Stager, StagingConfig
from .reroute import Rerouter
from .store import lockers as locker_store
from .store.db import Database
from .supervisor import NamedJob, VehicleLink
from .telemetry_recorder import TelemetryRecorder
from .traffic_reroute import TrafficRerouteConfig, TrafficRerouter
from .van_departure import VanConsolidation
from .world import World, load_world
from .world.model import world_spec
from .zone_rules import mission_conflicts

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
    traffic: TrafficRerouter | None = None  # vans on the road re-routed for reported traffic
    stager: Stager | None = None  # vans staged before forecast peaks (with a demand forecast)

    def jobs(self) -> list[BackgroundJob]:
        """The background jobs of the hub (run by the app's lifespan)."""
        return [self.dispatcher.run, self.monitor.run, self.telemetry.run,
                *((self.traffic.run,) if self.traffic is not None else ()),
                *((self.stager.run,) if self.stager is not None else ())]


def build_hub(
    *, hub_id: str, database: Database, fleet: Fleet, world: World, clock: Clock, recipients: RecipientCheck,
    planner: FleetPlanner | None = None, dispatcher_config: DispatcherConfig | None = None,
    mission_config: MissionConfig | None = None, policy: AttemptPolicy | None = None,
    monitor_config: MonitorConfig | None = None, eta: EtaService | None = None,
    customs: CustomsForecastConfig | None = None, planning: PlanningConfig | None = None,
    traffic_reroute: TrafficRerouteConfig | None = None, demand: DemandForecast | None = None,
    staging: StagingConfig | None = None,
) -> HubServices:
    """Wire the owners of one hub's order and mission lifecycle (no I/O until their jobs run)."""
    planner = planner or FleetPlanner(world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph,
                                      hub_xy=(world.hub.x_m, world.hub.y_m), terrain=world.terrain, config=planning)
    airspace = LiveAirspace(database=database, hub_id=hub_id, frame=world.frame, base=world.airspace)
    lifecycle = OrderLifecycle(database=database, clock=clock, hub_id=hub_id, recipients=recipients, policy=policy,
                               eta=eta)

    def geofence_for(vehicle: FleetVehicle) -> Geofence:
        fence = planner.fence_airspace(airspace.current, vehicle.profile.cruise_altitude_m, clock.now())
        return Geofence.from_airspace(fence)

    async def zones_crossed(vehicle: FleetVehicle, mission: Mission) -> list[str]:
        # The store's zones now: the dispatcher hears of a zone only between its planning cycles.
        current = await airspace.refresh()
        state = vehicle.state()
        start = (state.latitude_deg, state.longitude_deg) if state is not None and state.position_valid else None
        # A RETURN flies to where the drone took off: the hub, or for a van-launched trip the stop it was set down at
        # (a same-stop sortie was refused when the line from its drop to the hub crossed a zone).
        home = missions.return_point(vehicle)
        # within the paths' safety margin counts (the planner keeps at least that far from every zone it knew; a
        # drone flying a leg drifts, and the monitors re-route around the same margin)
        return mission_conflicts(current, world.frame, start, home, mission.steps,
                                 vehicle.profile.cruise_altitude_m or 60.0, clock.now(),
                                 margin_m=max(0.0, planner.config.drone_safety_margin_m - 1.0))

    wake: list[Dispatcher] = []  # the dispatcher is built after the mission control it wakes
    missions = MissionControl(fleet=fleet, lifecycle=lifecycle, clock=clock, geofence_for=geofence_for,
                              on_vehicle_free=lambda: wake[0].wake() if wake else None, config=mission_config,
                              zones_crossed=zones_crossed)
    forecaster = CustomsForecaster(database=database, clock=clock, hub_id=hub_id,
                                   config=customs) if customs is not None and customs.model is not None else None
    dispatcher = Dispatcher(database=database, fleet=fleet, planner=planner, missions=missions, lifecycle=lifecycle,
                            airspace=airspace, clock=clock, config=dispatcher_config or DispatcherConfig(hub_id=hub_id),
                            customs=forecaster)
    wake.append(dispatcher)
    rerouter = Rerouter(planner=planner, missions=missions, frame=world.frame)
    missions.recall_drone = lambda vehicle: rerouter.recall(vehicle, airspace.current, clock.now())
    monitor = SafetyMonitor(fleet=fleet, clock=clock, frame=world.frame, airspace=airspace, missions=missions,
                            rerouter=rerouter, database=database, config=monitor_config)
    missions.react_to_zones = monitor.react_to_zones
    telemetry = TelemetryRecorder(database=database, fleet=fleet, hub_id=hub_id, on_vehicle_located=dispatcher.wake)
    traffic = TrafficRerouter(database=database, fleet=fleet, missions=missions, clock=clock, frame=world.frame,
                              street_graph=world.street_graph, hub_id=hub_id, config=traffic_reroute)
    stager = Stager(database=database, fleet=fleet, missions=missions, clock=clock, frame=world.frame,
                    street_graph=world.street_graph, hub_id=hub_id, forecast=demand,
                    config=staging) if demand is not None else None
    return HubServices(hub_id, world, lifecycle, missions, airspace, planner, dispatcher, rerouter, monitor, telemetry,
                       traffic, stager)


def mission_config(settings: Settings) -> MissionConfig:
    """The mission control's knobs that come from settings (how long a van holds at a launch stop)."""
    return MissionConfig(launch_hold_margin_s=settings.van_launch_hold_margin_s)


def planning_config(settings: Settings) -> PlanningConfig:
    """The planner's knobs that come from settings: the van handoff search, the vans' spare packs, whether drones
    fly home from their last sortie, whether carried vehicles fly from the hub first, the energy margin trips keep
    above the reserve, how long a van waits at the hub for more parcels."""
    return PlanningConfig(handoff=dispatcher_handoff(settings.handoff_search_s, settings.van_spare_packs,
                                                     return_to_hub=settings.handoff_return_to_hub),
                          hub_first=settings.handoff_hub_first,
                          energy_margin_fraction=settings.planning_energy_margin_pct / 100.0,
                          van_consolidation=VanConsolidation(settings.van_hold_max_s, settings.van_keep_slack_s))


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
    leaderships: dict[str, HubLeadership] = field(default_factory=dict)  # with FINALMILE_HUBS: lease per hub
    _worlds: dict[str, World] = field(default_factory=dict)
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
        if settings.api_only and fleet_file is None:
            raise ConfigError("--api-only takes orders for the hubs of a fleet file: set FINALMILE_FLEET_FILE")
        database = Database(settings.database_url)
        try:
            # Before any vehicle link opens: a schema behind the code is the operator's to fix (`finalmile db upgrade`).
            await asyncio.to_thread(database.require_current_schema)
        except BaseException:
            database.dispose()
            raise
        if fleet_file is None:
            app = create_app(settings, clock=clock, database=database, webhook_transport=webhook_transport)
            app.state.service.prepare_address_resolver(settings.hub_id)
            return cls(settings, clock, database, Fleet(), app)
        if settings.api_only:
            return cls._start_api_only(settings, fleet_file, clock, database, webhook_transport)
        if len(fleet_file.hubs) > 1 and not settings.hubs:
            raise ConfigError(f"the fleet file names {len(fleet_file.hubs)} hubs: name the ones this process serves "
                              "with --hubs / FINALMILE_HUBS (each is then led through a lease)")
        if settings.hubs:
            return await cls._start_leading(settings, fleet_file, clock, database, webhook_transport)
        hub = fleet_file.hubs[0]
        settings = settings.model_copy(update={"hub_id": hub.hub_id, "world": hub.world})
        world = load_world(hub.world)
        factory = AdapterFactory(frame=world.frame, clock=clock, ros_domain_id=settings.ros_domain_id)
        build = functools.partial(_build_adapter, factory, fleet_file, world)
        adapters: list[VehicleAdapter] = []
        try:
            adapters = [build(vehicle) for vehicle in fleet_file.vehicles]
            # A vehicle that does not answer in time does not stop the service: it is down and keeps being dialled.
            down = await _connect(adapters, settings.vehicle_connect_timeout_s)
        except BaseException:
            factory.close()
            database.dispose()
            raise
        await database.write_async(lambda s: _seed_lockers(s, hub, world, clock.now()))
        fleet = Fleet()
        _register(fleet, fleet_file, hub.hub_id, world, adapters, down)
        recipients = _recipients(hub)
        models = await _load_models(settings)
        services = build_hub(hub_id=hub.hub_id, database=database, fleet=fleet, world=world, clock=clock,
                             recipients=recipients,
                             policy=AttemptPolicy(locker_code_ttl_s=settings.locker_code_ttl_s),
                             planning=planning_config(settings), mission_config=mission_config(settings),
                             **_learnt(settings, models))
        if models is not None and models.traffic is not None:
            services.planner.set_traffic(van_speed_at=models.traffic.factor_at)  # learnt rush hours
        links = [NamedJob(f"vehicle-link-{v.vehicle_id}", functools.partial(
                     _dial, fleet.get(v.vehicle_id), functools.partial(build, v), settings.vehicle_connect_timeout_s,
                     services.dispatcher.vehicle_connected))
                 for v in fleet_file.vehicles if v.vehicle_id in down]
        app = create_app(settings, clock=clock, database=database, commander=AdapterCommander(fleet),
                         frame=world.frame, background=[*services.jobs(), *links], webhook_transport=webhook_transport)
        app.state.service.vehicle_links = functools.partial(_links, fleet)
        register_link_metrics(app.state.service.metrics.registry, fleet)
        app.state.service.prepare_address_resolver(hub.hub_id)
        runtime = cls(settings, clock, database, fleet, app, fleet_file, {hub.hub_id: services}, _factory=factory)
        if isinstance(recipients, HttpRecipientCheck):
            runtime._closers.append(recipients.close)
        logger.info("fleet manager for %s: %s", hub.hub_id, ", ".join(v.vehicle_id for v in fleet))
        # The world (graphs, footprints) and the fleet stay for the process's life: out of the collector's
        # way, a full collection no longer stalls telemetry for ~0.4 s (measured with 60 robots).
        gc.freeze()
        return runtime

    @classmethod
    async def _start_leading(
        cls, settings: Settings, fleet_file: FleetFile, clock: Clock, database: Database,
        webhook_transport: httpx.AsyncBaseTransport | None,
    ) -> Runtime:
        """Scale-out: the API now, each hub of FINALMILE_HUBS once this process wins its lease.

        Nothing connects to a vehicle here: a hub's vehicles are connected, its services built and its
        jobs run by `_serve_hub` when its `HubLeadership` is elected, and stopped again when deposed.
        """
        known = [hub.hub_id for hub in fleet_file.hubs]
        unknown = [hub_id for hub_id in settings.hubs if hub_id not in known]
        if unknown:
            database.dispose()
            raise ConfigError(f"FINALMILE_HUBS: {', '.join(unknown)} not in the fleet file (it has {', '.join(known)})")
        first = fleet_file.hub(settings.hubs[0])
        settings = settings.model_copy(update={"hub_id": first.hub_id, "world": first.world})
        worlds = {name: load_world(name) for name in {fleet_file.hub(h).world for h in settings.hubs}}
        fleet = Fleet()
        runtime: Runtime | None = None

        def serve_hub(hub: HubConfig) -> Callable[[HubFence], Awaitable[None]]:
            async def serve(fence: HubFence) -> None:
                if runtime is None:
                    raise ConfigError("a hub was elected before the runtime was built")
                await runtime._serve_hub(hub, fence)
            return serve

        leaderships = [HubLeadership(database=database, hub_id=hub_id, holder=settings.node_id,
                                     serve_hub=serve_hub(fleet_file.hub(hub_id)), ttl_s=settings.lease_ttl_s,
                                     standby=settings.standby) for hub_id in settings.hubs]
        app = create_app(settings, clock=clock, database=database, commander=AdapterCommander(fleet),
                         frame=worlds[first.world].frame, background=[lead.run for lead in leaderships],
                         webhook_transport=webhook_transport)
        register_link_metrics(app.state.service.metrics.registry, fleet)
        bus = app.state.service.bus
        if bus is not None:  # a hub this process does not lead is commanded through its leader
            app.state.service.command_router = CommandRouter(bus, timeout_s=settings.command_timeout_s)
        for hub_id in settings.hubs:
            app.state.service.prepare_address_resolver(hub_id)
        runtime = cls(settings, clock, database, fleet, app, fleet_file)
        runtime.leaderships = {lead.hub_id: lead for lead in leaderships}
        runtime._worlds = worlds
        logger.info("fleet manager %s competing for hubs %s%s", settings.node_id, ", ".join(settings.hubs),
                    " (standby)" if settings.standby else "")
        return runtime

    @classmethod
    def _start_api_only(
        cls, settings: Settings, fleet_file: FleetFile, clock: Clock, database: Database,
        webhook_transport: httpx.AsyncBaseTransport | None,
    ) -> Runtime:
        """A stateless API replica for every hub of the fleet file: no vehicle link, no dispatcher, no lease.

        Orders go to their hub by hub id or destination (`hub_routing`) and wait in the store for the hub's
        leader; the live stream comes from JetStream; webhooks are delivered under SKIP LOCKED like any replica.
        """
        hub_ids = tuple(hub.hub_id for hub in fleet_file.hubs)
        first = fleet_file.hubs[0]
        settings = settings.model_copy(update={"hub_id": first.hub_id, "world": first.world, "hubs": hub_ids})
        origin = world_spec(first.world)[0]["origin"]  # the YAML only: a replica builds no world graphs
        app = create_app(settings, clock=clock, database=database, webhook_transport=webhook_transport,
                         frame=LocalFrame.at(float(origin["latitude_deg"]), float(origin["longitude_deg"])))
        service = app.state.service
        service.hub_router = router_for_fleet(fleet_file)
        service.hub_worlds = {hub.hub_id: hub.world for hub in fleet_file.hubs}
        if service.bus is not None:
            service.command_router = CommandRouter(service.bus, timeout_s=settings.command_timeout_s)
        logger.info("API replica %s for hubs %s", settings.node_id, ", ".join(hub_ids))
        return cls(settings, clock, database, Fleet(), app, fleet_file)

    async def _serve_hub(self, hub: HubConfig, fence: HubFence) -> None:
        """Run one hub while this process leads it: connect its vehicles (commands fenced), build its services on
        the fenced store, run their jobs until cancelled (deposed or stopping), then close its vehicle links.

        This is the plain start-up path: what a dead leader left in flight is re-queued by the dispatcher's
        start (`requeue_orphans`); re-adopting missions still flying arrives with the runtime branch.
        """
        if self.fleet_file is None:
            raise ConfigError("serving a hub needs the fleet file")
        world = self._worlds[hub.world]
        factory = AdapterFactory(frame=world.frame, clock=self.clock, ros_domain_id=self.settings.ros_domain_id)
        recipients = _recipients(hub)
        fenced = self.database.fenced(fence)
        fleet_file, database = self.fleet_file, self.database

        def build(vehicle: FleetFileVehicle) -> VehicleAdapter:
            adapter = _build_adapter(factory, fleet_file, world, vehicle)
            guard_commands(adapter, fence, database)  # a deposed leader's late commands are refused
            return adapter

        adapters: list[VehicleAdapter] = []
        try:
            adapters = [build(v) for v in fleet_file.vehicles if v.hub == hub.hub_id]
            down = await _connect(adapters, self.settings.vehicle_connect_timeout_s)
            await fenced.write_async(lambda s: _seed_lockers(s, hub, world, self.clock.now()))
            for vehicle in self.fleet.vehicles(hub.hub_id):  # links of an earlier term, closed when it ended
                self.fleet.remove(vehicle.vehicle_id)
            _register(self.fleet, fleet_file, hub.hub_id, world, adapters, down)
            services = build_hub(hub_id=hub.hub_id, database=fenced, fleet=self.fleet, world=world, clock=self.clock,
                                 recipients=recipients,
                                 policy=AttemptPolicy(locker_code_ttl_s=self.settings.locker_code_ttl_s),
                                 planning=planning_config(self.settings),
                                 mission_config=mission_config(self.settings),
                                 **_learnt(self.settings, await _load_models(self.settings)))
            self.hubs[hub.hub_id] = services
            links = [NamedJob(f"vehicle-link-{v.vehicle_id}", functools.partial(
                         _dial, self.fleet.get(v.vehicle_id), functools.partial(build, v),
                         self.settings.vehicle_connect_timeout_s, services.dispatcher.vehicle_connected))
                     for v in fleet_file.vehicles if v.vehicle_id in down]
            jobs: list[BackgroundJob] = [*services.jobs(), *links]
            if self.settings.nats_url:  # operator commands sent to any process reach this hub's leader over NATS
                service = self.app.state.service
                execute = HubCommandExecutor(hub_id=hub.hub_id, fence=fence, database=database,
                                             execute=service.execute_command)
                jobs.append(CommandResponder(self.settings.nats_url, hub_id=hub.hub_id, execute=execute).run)
                jobs.append(TelemetryPublisher(self.settings.nats_url, hub_id=hub.hub_id, fleet=self.fleet,
                                               period_s=self.settings.telemetry_publish_period_s).run)
            await _run_until_one_fails([job(self.app.state.service) for job in jobs])
        finally:
            self.hubs.pop(hub.hub_id, None)
            # The next leader connects to these vehicles; the fenced adapters stay registered, refusing commands.
            await asyncio.gather(*(asyncio.wait_for(a.close(), 5.0) for a in adapters), return_exceptions=True)
            if isinstance(recipients, HttpRecipientCheck):
                await recipients.close()
            factory.close()

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


async def _run_until_one_fails(jobs: list[Awaitable[None]]) -> None:
    """Run the jobs together; the first to fail (a StaleLeader write) stops the others and is raised."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _build_adapter(factory: AdapterFactory, fleet_file: FleetFile, world: World,
                   vehicle: FleetFileVehicle) -> VehicleAdapter:
    """The adapter of one vehicle of the fleet file (not connected)."""
    options = (mavlink_options(fleet_file, vehicle, (world.hub.latitude_deg, world.hub.longitude_deg))
               if vehicle.adapter_kind is AdapterKind.MAVLINK else None)
    return factory.build(vehicle.vehicle_id, vehicle.adapter_kind.value, vehicle.url, fleet_file.profile(vehicle),
                         options=options, map_datum=vehicle.map_datum, fromll_service=vehicle.fromll_service)


def _register(fleet: Fleet, fleet_file: FleetFile, hub_id: str, world: World, adapters: list[VehicleAdapter],
              down: dict[str, str]) -> None:
    """Add the hub's vehicles to the fleet, each with its home (where it stands, or the hub); those `down` at
    start-up are out of service until their link comes up."""
    by_id = {a.vehicle_id: a for a in adapters}
    for vehicle in fleet_file.vehicles:
        if vehicle.vehicle_id not in by_id:
            continue
        adapter = by_id[vehicle.vehicle_id]
        home = _home(world, adapter.latest_state())
        fleet.add(hub_id, adapter, fleet_file.profile(vehicle), home_latitude_deg=home[0],
                  home_longitude_deg=home[1], carried_by=fleet_file.carrier_of(vehicle.vehicle_id),
                  adapter_url=vehicle.url)
        if vehicle.vehicle_id in down:
            fleet.get(vehicle.vehicle_id).out_of_service = f"{LINK_DOWN}: {down[vehicle.vehicle_id]}"[:300]


async def _load_models(settings: Settings) -> ModelSet | None:
    """The newest trained models, or None (a broken model must not stop deliveries: fixed windows instead)."""
    try:
        models = await asyncio.to_thread(load_models, settings.models_dir)
    except LearningError as exc:
        logger.error("%s; running without trained models", exc)
        models = None
    logger.info("ETA windows: %s", f"model {models.version}" if models and models.eta else "fixed margin")
    return models


def _learnt(settings: Settings, models: ModelSet | None) -> dict[str, Any]:
    """build_hub's arguments for the ETA and customs models (fixed windows without them) and for the live
    traffic re-routing of vans."""
    return {"eta": EtaService(models, arriving_soon_s=settings.arriving_soon_s),
            "customs": CustomsForecastConfig(models.customs if models else None,
                                             f"model:{models.version}" if models else "",
                                             held_long_s=settings.customs_held_long_s),
            "demand": models.demand if models else None,
            "staging": StagingConfig(enabled=settings.staging_enabled, lead_s=settings.staging_lead_s,
                                     peak_ratio=settings.staging_peak_ratio,
                                     min_van_charge_pct=settings.staging_min_van_charge_pct,
                                     min_carried_charge_pct=settings.staging_min_carried_charge_pct),
            "traffic_reroute": TrafficRerouteConfig(enabled=settings.traffic_reroute_enabled,
                                                    min_saving_s=settings.traffic_reroute_min_saving_s,
                                                    min_saving_ratio=settings.traffic_reroute_min_saving_ratio)}


async def _connect_one(adapter: VehicleAdapter, timeout_s: float) -> None:
    """Open the link, then wait until the vehicle can take a mission (a drone still booting cannot)."""
    try:
        await adapter.connect(timeout_s=timeout_s)
        await adapter.wait_ready(timeout_s=timeout_s)
    except BaseException:
        await adapter.close()
        raise


async def _connect(adapters: list[VehicleAdapter], timeout_s: float) -> dict[str, str]:
    """Connect every vehicle at once; returns why, for each that did not connect (it is closed then)."""
    results = await asyncio.gather(*(_connect_one(a, timeout_s) for a in adapters), return_exceptions=True)
    down = {}
    for adapter, result in zip(adapters, results, strict=True):
        if isinstance(result, (AdapterError, OSError, TimeoutError)):
            logger.error("%s: not connected at start-up (%s); dialling it in the background", adapter.vehicle_id,
                         result)
            down[adapter.vehicle_id] = str(result) or type(result).__name__
        elif isinstance(result, BaseException):
            raise result
    return down


async def _dial(
    vehicle: FleetVehicle, build: Callable[[], VehicleAdapter], timeout_s: float, on_connected: Callable[[], None],
    _service: object = None, *, backoff_max_s: float = 30.0,
) -> None:
    """A background job: connect a vehicle that was down at start-up (a new adapter per try), then swap it in."""
    backoff_s = 1.0
    while True:
        adapter = build()
        try:
            await _connect_one(adapter, timeout_s)
        except (AdapterError, OSError, TimeoutError) as exc:
            vehicle.out_of_service = f"{LINK_DOWN}: {exc}"[:300]
            logger.warning("%s: still not connected (%s); next try in %.0f s", vehicle.vehicle_id, exc, backoff_s)
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_max_s, backoff_s * 2)
            continue
        vehicle.adapter = adapter
        vehicle.out_of_service = ""
        logger.info("%s: connected", vehicle.vehicle_id)
        on_connected()
        await asyncio.Event().wait()  # linked for good: the adapter keeps its own link from now on


def _links(fleet: Fleet) -> list[VehicleLink]:
    """Each vehicle's link for /readyz."""
    links = []
    for vehicle in fleet:
        state = vehicle.state()
        if vehicle.out_of_service.startswith(LINK_DOWN):
            links.append(VehicleLink(vehicle.vehicle_id, False, vehicle.out_of_service, vehicle.hub_id))
        elif state is None or state.link is not LinkStatus.CONNECTED:
            links.append(VehicleLink(vehicle.vehicle_id, False, f"link {state.link.value if state else 'not up'}",
                                     vehicle.hub_id))
        else:
            links.append(VehicleLink(vehicle.vehicle_id, True, hub_id=vehicle.hub_id))
    return links


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

"""The Fleet API app factory: `create_app(settings, ...)` wires store, stream, webhooks and routes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from fleet_manager.bus import OutboxRelay, RelayConfig
from fleet_manager.bus.jetstream_stream import JetStreamEvents
from fleet_manager.bus.link import BusLink
from fleet_manager.condition_monitor import ConditionMonitor
from fleet_manager.config import Settings, webhook_secret_bytes
from fleet_manager.domain.commander import VehicleCommander
from fleet_manager.leadership import HubLeadership
from fleet_manager.store import retention
from fleet_manager.store.db import Database
from fleet_manager.store.tracking import TrackingPolicy
from fleet_manager.supervisor import NamedJob
from fleet_manager.webhooks.deliverer import WebhookConfig, WebhookDeliverer
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame

from . import errors
from .broker import EventBroker, EventSource
from .edge import Edge
from .keyring import KeyRing
from .limits import BATCH_MAX_BODY_BYTES, MAX_BODY_BYTES
from .metrics import Metrics
from .rate_limits import RateLimiter
from .routes import events, health, lockers, missions, order_batch, orders, recipients, tracking, vehicles, world, zones
from .routes.address_reviews import router as address_reviews_router
from .routes.conditions import router as conditions_router
from .routes.delivery_reviews import router as delivery_reviews_router
from .routes.forecast import router as forecast_router
from .routes.hubs import router as hubs_router
from .routes.traffic import router as traffic_router
from .service import FleetService

if TYPE_CHECKING:
    from fleet_manager.world.address_resolver import AddressResolver

logger = logging.getLogger(__name__)

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard" / "static"
API_PREFIX = "/v1"

#: A background job started with the app (the dispatcher, monitors): gets the service, runs until cancelled.
BackgroundJob = Callable[[FleetService], Awaitable[None]]


def _named(jobs: Sequence[BackgroundJob]) -> dict[str, BackgroundJob]:
    """Jobs by a name for /healthz: 'dispatcher' for `Dispatcher.run`, the function's name otherwise."""
    named: dict[str, BackgroundJob] = {}
    for job in jobs:
        if isinstance(job, NamedJob):
            named[job.name] = job
            continue
        owner = getattr(job, "__self__", None)
        base = re.sub(r"(?<!^)(?=[A-Z])", "-", type(owner).__name__).lower() if owner is not None else getattr(
            job, "__name__", "job")
        name, n = base, 1
        while name in named:
            n += 1
            name = f"{base}-{n}"
        named[name] = job
    return named


async def _prune_forever(service: FleetService) -> None:
    """Delete expired idempotency keys and settled old outbox events every FINALMILE_PRUNE_INTERVAL_S."""
    settings = service.settings
    while True:
        try:
            pruned = await service.database.write_async(
                lambda session: retention.prune(
                    session,
                    hub_ids=service.hub_ids,
                    now_s=service.now(),
                    idempotency_ttl_s=settings.idempotency_ttl_s,
                    outbox_retention_s=settings.outbox_retention_s,
                )
            )
            if pruned.idempotency_keys or pruned.outbox_events or pruned.tracking_tokens:
                logger.info("pruned %s", pruned)
        except Exception:
            logger.exception("pruning the store failed; trying again at the next interval")
        await asyncio.sleep(settings.prune_interval_s)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    database: Database | None = None,
    commander: VehicleCommander | None = None,
    frame: LocalFrame | None = None,
    background: Sequence[BackgroundJob] = (),
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    dashboard_dir: Path | None = None,
    address_resolvers: Mapping[str, AddressResolver] | None = None,
) -> FastAPI:
    """Build the app. Nothing runs until the ASGI lifespan starts (schema check, stream tail, webhooks, jobs).

    `commander` receives operator vehicle commands; `background` jobs (the dispatcher) run with the app.
    """
    clock = clock or Clock()
    own_database = database is None
    database = database or Database(settings.database_url)
    metrics = Metrics()
    broker: EventSource
    bus = BusLink(settings.nats_url, name=f"finalmile-{settings.node_id}") if settings.nats_url else None
    if settings.api_only and settings.nats_url and bus is not None:
        # A replica that writes no vehicle state streams what the relay put on the bus (any replica, same ids).
        broker = JetStreamEvents(RelayConfig(url=settings.nats_url, stream=settings.nats_stream), settings.hub_ids,
                                 bus)
    else:
        broker = EventBroker(
            database,
            settings.hub_ids,
            poll_interval_s=settings.stream_poll_interval_s,
            on_event=lambda event: metrics.events.labels(type=event.type).inc(),
        )
    deliverer = None
    if settings.webhook_url:
        secret = webhook_secret_bytes(settings.webhook_secret.get_secret_value()) if settings.webhook_secret else b""
        config = WebhookConfig(
            url=settings.webhook_url,
            secret=secret,
            max_attempts=settings.webhook_max_attempts,
            backoff_base_s=settings.webhook_backoff_base_s,
            backoff_max_s=settings.webhook_backoff_max_s,
            timeout_s=settings.webhook_timeout_s,
            poll_interval_s=settings.webhook_poll_interval_s,
        )
        deliverer = WebhookDeliverer(
            database,
            config,
            hub_ids=settings.hub_ids,
            clock=clock,
            on_attempt=lambda outcome: metrics.webhook_attempts.labels(outcome=outcome).inc(),
            transport=webhook_transport,
        )
    if settings.server_secret is not None:
        server_secret = settings.server_secret.get_secret_value().encode()
    else:
        server_secret = secrets.token_bytes(32)
        if settings.api_keys:
            logger.warning("no FINALMILE_SERVER_SECRET: key ids and stream tickets change when this process restarts")
    database.use_secret(server_secret)
    database.tracking = TrackingPolicy(base_url=settings.public_url, max_age_s=settings.tracking_link_max_age_s)
    service = FleetService(
        settings=settings,
        database=database,
        clock=clock,
        frame=frame or LocalFrame.at(settings.hub_latitude_deg, settings.hub_longitude_deg),
        broker=broker,
        metrics=metrics,
        commander=commander,
        deliverer=deliverer,
        keyring=KeyRing(
            settings.api_keys,
            server_secret=server_secret,
            locker_keys=settings.locker_keys,
            ticket_ttl_s=settings.stream_ticket_ttl_s,
        ),
        pickup_limiter=RateLimiter(settings.pickups_per_minute, "pickup attempts at this locker"),
        recipient_limiter=RateLimiter(settings.recipient_actions_per_minute, "recipient actions on this order"),
        address_resolvers=dict(address_resolvers or {}),
        bus=bus,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Migrations are `finalmile db upgrade`'s job, run once; replicas starting together must not race on them.
        await asyncio.to_thread(database.require_current_schema)
        service.loop = asyncio.get_running_loop()
        if bus is not None:
            service.supervise("nats-link", bus.run)
        service.supervise("event-stream-tail", broker.run)
        if settings.mqtt_url:
            monitor = ConditionMonitor(database=database, clock=clock, hub_ids=settings.hub_ids,
                                       url=settings.mqtt_url, topic_prefix=settings.mqtt_topic_prefix,
                                       committed=service.committed, username=settings.mqtt_username,
                                       password=settings.mqtt_password.get_secret_value()
                                       if settings.mqtt_password else None, ca_file=settings.mqtt_ca_file,
                                       cert_file=settings.mqtt_cert_file, key_file=settings.mqtt_key_file,
                                       warm_allowance_s=settings.cold_chain_warm_allowance_min * 60.0)
            service.conditions = monitor
            service.supervise("parcel-sensors", monitor.run)
        if deliverer is not None:
            service.supervise("webhook-deliverer", deliverer.run)
        if settings.nats_url:
            relay = OutboxRelay(database, RelayConfig(url=settings.nats_url, stream=settings.nats_stream))
            relaying = HubLeadership(database=database, hub_id=relay.config.cursor_name, holder=settings.node_id,
                                     serve_hub=relay.run, ttl_s=settings.lease_ttl_s)
            service.supervise("outbox-relay", relaying.run)
        service.supervise("store-retention", functools.partial(_prune_forever, service))
        for name, job in _named(background).items():
            service.supervise(name, functools.partial(job, service))
        logger.info("fleet manager serving hubs %s", ", ".join(settings.hub_ids))
        try:
            yield
        finally:
            for task in list(service.tasks):
                task.cancel()
            for task in list(service.tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, timeout=5.0)
            if own_database:
                database.dispose()

    app = FastAPI(
        title="FinalMile Fleet API",
        version="1.0.0",
        description="Orders, vehicles, airspace, missions and live events of a FinalMile hub.",
        lifespan=lifespan,
    )
    app.state.service = service
    errors.install(app)

    app.add_middleware(
        Edge,  # type: ignore[arg-type]
        metrics=metrics,
        max_body_bytes=MAX_BODY_BYTES,
        body_limits={f"{API_PREFIX}/orders:batch": BATCH_MAX_BODY_BYTES},
    )

    for module in (orders, order_batch, recipients, vehicles, zones, missions, lockers, events, world):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(address_reviews_router, prefix=API_PREFIX)
    app.include_router(delivery_reviews_router, prefix=API_PREFIX)
    app.include_router(conditions_router, prefix=API_PREFIX)
    app.include_router(traffic_router, prefix=API_PREFIX)
    app.include_router(hubs_router, prefix=API_PREFIX)
    app.include_router(forecast_router, prefix=API_PREFIX)
    app.include_router(health.router)
    static_dir = dashboard_dir or DASHBOARD_DIR
    # The recipient tracking page: public, so its own per-address budget; its HTML is part of the dashboard build.
    app.state.tracking_limiter = RateLimiter(settings.tracking_requests_per_minute,
                                             "tracking page requests from this address")
    app.state.tracking_page = static_dir / "track" / "index.html"
    app.include_router(tracking.router)
    if static_dir.is_dir():
        app.mount("/", StaticFiles(directory=static_dir, html=True), name="dashboard")
    return app

"""The Fleet API app factory: `create_app(settings, ...)` wires store, stream, webhooks and routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from fleet_manager.condition_monitor import ConditionMonitor
from fleet_manager.config import Settings
from fleet_manager.domain.commander import VehicleCommander
from fleet_manager.store.db import Database
from fleet_manager.webhooks.deliverer import WebhookConfig, WebhookDeliverer
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame

from . import errors
from .broker import EventBroker
from .metrics import Metrics
from .routes import events, health, lockers, missions, orders, recipients, vehicles, world, zones
from .routes.address_reviews import router as address_reviews_router
from .routes.conditions import router as conditions_router
from .service import FleetService

if TYPE_CHECKING:
    from fleet_manager.world.address_resolver import AddressResolver

logger = logging.getLogger(__name__)

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard" / "static"
API_PREFIX = "/v1"

#: A background job started with the app (the dispatcher, monitors): gets the service, runs until cancelled.
BackgroundJob = Callable[[FleetService], Awaitable[None]]


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
    """Build the app. Nothing runs until the ASGI lifespan starts (migrations, stream tail, webhooks, jobs).

    `commander` receives operator vehicle commands; `background` jobs (the dispatcher) run with the app.
    """
    clock = clock or Clock()
    own_database = database is None
    database = database or Database(settings.database_url)
    metrics = Metrics()
    broker = EventBroker(
        database,
        settings.hub_ids,
        poll_interval_s=settings.stream_poll_interval_s,
        on_event=lambda event: metrics.events.labels(type=event.type).inc(),
    )
    deliverer = None
    if settings.webhook_url:
        secret = settings.webhook_secret.get_secret_value().encode() if settings.webhook_secret else b""
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
    service = FleetService(
        settings=settings,
        database=database,
        clock=clock,
        frame=frame or LocalFrame.at(settings.hub_latitude_deg, settings.hub_longitude_deg),
        broker=broker,
        metrics=metrics,
        commander=commander,
        deliverer=deliverer,
        address_resolvers=dict(address_resolvers or {}),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(database.migrate)
        service.loop = asyncio.get_running_loop()
        service.spawn(broker.run(), name="event-stream-tail")
        if settings.mqtt_url:
            monitor = ConditionMonitor(database=database, clock=clock, hub_ids=settings.hub_ids,
                                       url=settings.mqtt_url, topic_prefix=settings.mqtt_topic_prefix,
                                       committed=service.committed)
            service.conditions = monitor
            service.spawn(monitor.run(), name="parcel-sensors")
        if deliverer is not None:
            service.spawn(deliverer.run(), name="webhook-deliverer")
        for index, job in enumerate(background):
            service.spawn(job(service), name=f"background-{index}")
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

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.http_requests.labels(method=request.method, route=path, status=str(response.status_code)).inc()
        metrics.http_latency_s.labels(route=path).observe(time.perf_counter() - started)
        return response

    for module in (orders, recipients, vehicles, zones, missions, lockers, events, world):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(address_reviews_router, prefix=API_PREFIX)
    app.include_router(conditions_router, prefix=API_PREFIX)
    app.include_router(health.router)
    static_dir = dashboard_dir or DASHBOARD_DIR
    if static_dir.is_dir():
        app.mount("/", StaticFiles(directory=static_dir, html=True), name="dashboard")
    return app

"""Liveness and Prometheus metrics (no API key: scraped by infrastructure)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from fleet_manager.store import outbox

from ..deps import ServiceDep
from ..schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(service: ServiceDep) -> Health:
    """200 when the database answers."""
    with service.database.read() as session:
        session.execute(text("SELECT 1"))
    return Health(
        status="ok",
        database=service.database.url.get_backend_name(),
        hubs=list(service.hub_ids),
        stream_listeners=service.broker.listener_count,
        webhooks="on" if service.deliverer is not None else "off",
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(service: ServiceDep) -> Response:
    """Prometheus text exposition of this app's registry."""
    with service.database.read() as session:
        pending, dead = outbox.webhook_backlog(session, hub_ids=service.hub_ids)
    service.metrics.webhook_pending.set(pending)
    service.metrics.webhook_dead.set(dead)
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

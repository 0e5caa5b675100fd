"""Liveness and Prometheus metrics (no API key: scraped by infrastructure)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from fleet_manager.store import outbox

from ...supervisor import vehicle_readiness
from ..deps import ServiceDep
from ..schemas import Health, JobOut, Readiness, VehiclesReady

logger = logging.getLogger(__name__)
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
        jobs={name: JobOut(alive=job.alive, restarts=job.restarts, last_error=job.last_error)
              for name, job in sorted(service.supervisor.jobs.items())},
    )


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(service: ServiceDep) -> JSONResponse:
    """200 when the database answers, every background job runs and the vehicles down are within the policy
    (`FINALMILE_READYZ_VEHICLES`); 503 otherwise. Lists the vehicles down (status `degraded` while serving)."""
    try:
        with service.database.read() as session:
            session.execute(text("SELECT 1"))
        database_ok = True
    except Exception:  # readiness reports the database down rather than failing itself
        logger.warning("readiness: the database does not answer", exc_info=True)
        database_ok = False
    jobs_down = sorted(name for name, job in service.supervisor.jobs.items() if not job.alive)
    links = service.vehicle_links() if service.vehicle_links is not None else []
    policy = service.settings.readyz_vehicles
    vehicles_ok, empty_hubs = vehicle_readiness(links, policy)
    ready = database_ok and not jobs_down and vehicles_ok
    down = {link.vehicle_id: link.why for link in links if not link.connected}
    body = Readiness(
        status=("degraded" if down else "ready") if ready else "not_ready", database=database_ok,
        jobs_alive=not jobs_down, jobs_down=jobs_down,
        vehicles=VehiclesReady(connected=sum(link.connected for link in links), total=len(links), down=down),
        vehicle_policy=policy.value, hubs_without_vehicles=empty_hubs,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(service: ServiceDep) -> Response:
    """Prometheus text exposition of this app's registry."""
    with service.database.read() as session:
        pending, dead = outbox.webhook_backlog(session, hub_ids=service.hub_ids)
    service.metrics.webhook_pending.set(pending)
    service.metrics.webhook_dead.set(dead)
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

"""Street traffic: a feed reports congestion and incidents; the planner routes vans through them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from fleet_manager.store import traffic as traffic_store

from ..deps import Operator, Reader, ServiceDep
from ..hub_scope import hub_for, hubs_to_read
from ..schemas import TrafficReportIn, TrafficReportOut

router = APIRouter(prefix="/traffic", tags=["traffic"])


@router.post("", status_code=status.HTTP_201_CREATED)
def report_traffic(body: TrafficReportIn, service: ServiceDep, caller: Operator) -> TrafficReportOut:
    """Report congestion or an incident (for `hub_id`, else the hub whose area holds it); vans are planned
    through the slower streets from now on."""
    hub = hub_for(service, body.hub_id, latitude_deg=body.latitude_deg, longitude_deg=body.longitude_deg,
                  where="body")
    now_s = service.now()
    with service.write() as session:
        report = traffic_store.create_report(
            session, hub_id=hub, kind=body.kind, latitude_deg=body.latitude_deg,
            longitude_deg=body.longitude_deg, radius_m=body.radius_m, speed_factor=body.speed_factor,
            starts_at_s=body.starts_at.timestamp() if body.starts_at else now_s, ends_at_s=body.ends_at.timestamp(),
            actor=caller.actor, at_s=now_s,
        )
    return TrafficReportOut.of(report, hub_id=hub)


@router.get("")
def list_traffic(service: ServiceDep, _caller: Reader,
                 hub_id: Annotated[str | None, Query(max_length=64)] = None) -> list[TrafficReportOut]:
    """Reports in force now or later, of `hub_id`, else of every hub served here."""
    now_s = service.now()
    with service.database.read() as session:
        return [TrafficReportOut.of(r, hub_id=hub) for hub in hubs_to_read(service, hub_id)
                for r in traffic_store.list_reports(session, hub_id=hub, not_over_at_s=now_s)]

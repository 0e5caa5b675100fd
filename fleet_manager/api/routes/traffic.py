"""Street traffic: a feed reports congestion and incidents; the planner routes vans through them."""

from __future__ import annotations

from fastapi import APIRouter, status

from fleet_manager.store import traffic as traffic_store

from ..deps import Operator, Reader, ServiceDep
from ..schemas import TrafficReportIn, TrafficReportOut

router = APIRouter(prefix="/traffic", tags=["traffic"])


@router.post("", status_code=status.HTTP_201_CREATED)
def report_traffic(body: TrafficReportIn, service: ServiceDep, caller: Operator) -> TrafficReportOut:
    """Report congestion or an incident; vans are planned through the slower streets from now on."""
    now_s = service.now()
    with service.write() as session:
        report = traffic_store.create_report(
            session, hub_id=service.settings.hub_id, kind=body.kind, latitude_deg=body.latitude_deg,
            longitude_deg=body.longitude_deg, radius_m=body.radius_m, speed_factor=body.speed_factor,
            starts_at_s=body.starts_at.timestamp() if body.starts_at else now_s, ends_at_s=body.ends_at.timestamp(),
            actor=caller.actor, at_s=now_s,
        )
    return TrafficReportOut.of(report)


@router.get("")
def list_traffic(service: ServiceDep, _caller: Reader) -> list[TrafficReportOut]:
    """Reports in force now or later."""
    with service.database.read() as session:
        reports = traffic_store.list_reports(session, hub_id=service.settings.hub_id, not_over_at_s=service.now())
    return [TrafficReportOut.of(r) for r in reports]

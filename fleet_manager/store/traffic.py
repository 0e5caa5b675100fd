"""Traffic reports of a hub: congestion and incidents around a point, for a time (the planner's van streets)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain.errors import Conflict
from ..traffic import TrafficReport
from .models import TrafficReportRow
from .outbox import append_event

TRAFFIC_REPORTED = "traffic.reported"


def _report(row: TrafficReportRow) -> TrafficReport:
    return TrafficReport(report_id=row.report_id, kind=row.kind, latitude_deg=row.latitude_deg,
                         longitude_deg=row.longitude_deg, radius_m=row.radius_m, speed_factor=row.speed_factor,
                         starts_at_s=row.starts_at_s, ends_at_s=row.ends_at_s)


def create_report(
    session: Session, *, hub_id: str, kind: str, latitude_deg: float, longitude_deg: float, radius_m: float,
    speed_factor: float, starts_at_s: float, ends_at_s: float, actor: str, at_s: float,
) -> TrafficReport:
    """Store a report and tell the dispatcher (an outbox event, not a webhook); Conflict when already over."""
    if ends_at_s <= max(starts_at_s, at_s):
        raise Conflict("the traffic report ends before it starts or is already over")
    row = TrafficReportRow(report_id=f"traffic-{uuid.uuid4().hex[:12]}", hub_id=hub_id, kind=kind,
                           latitude_deg=latitude_deg, longitude_deg=longitude_deg, radius_m=radius_m,
                           speed_factor=speed_factor, starts_at_s=starts_at_s, ends_at_s=ends_at_s,
                           created_at_s=at_s, created_by=actor)
    session.add(row)
    session.flush()
    report = _report(row)
    append_event(session, hub_id=hub_id, event_type=TRAFFIC_REPORTED, subject=f"traffic/{row.report_id}",
                 data={"report_id": row.report_id, "kind": kind, "speed_factor": speed_factor,
                       "starts_at_s": starts_at_s, "ends_at_s": ends_at_s, "actor": actor}, at_s=at_s, webhook=False)
    return report


def list_reports(session: Session, *, hub_id: str, not_over_at_s: float) -> list[TrafficReport]:
    """The hub's reports that have not ended by `not_over_at_s` (current and coming), oldest first."""
    query = (select(TrafficReportRow)
             .where(TrafficReportRow.hub_id == hub_id, TrafficReportRow.ends_at_s > not_over_at_s)
             .order_by(TrafficReportRow.created_at_s, TrafficReportRow.report_id))
    return [_report(row) for row in session.scalars(query)]

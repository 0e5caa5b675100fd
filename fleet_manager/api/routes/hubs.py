"""Hubs: the all-hubs overview the dashboard's hub selector and overview panel show."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from fleet_manager.store.hub_overview import hub_overview

from ..deps import Reader, ServiceDep

router = APIRouter(prefix="/hubs", tags=["hubs"])


class HubAlertOut(BaseModel):
    severity: str
    kind: str
    message: str
    vehicle_id: str | None = None


class HubOverviewOut(BaseModel):
    hub_id: str
    leader: str | None
    lease_token: int | None
    vehicles: int
    vehicles_by_kind: dict[str, int]
    open_orders: int
    orders_by_status: dict[str, int]
    alerts: list[HubAlertOut]


@router.get("/overview")
def overview(service: ServiceDep, _caller: Reader) -> list[HubOverviewOut]:
    """Every hub this process serves (an API replica: all of the fleet's): its leader, vehicles, open orders
    and the alerts that need an operator (low battery, lost link, held or unreviewed orders, no leader)."""
    leased = bool(service.settings.hubs) or service.settings.api_only
    with service.database.read() as session:
        summaries = hub_overview(session, hub_ids=service.hub_ids, leased=leased)
    return [HubOverviewOut(hub_id=s.hub_id, leader=s.leader, lease_token=s.lease_token, vehicles=s.vehicles,
                           vehicles_by_kind=s.vehicles_by_kind, open_orders=s.open_orders,
                           orders_by_status=s.orders_by_status,
                           alerts=[HubAlertOut(severity=a.severity, kind=a.kind, message=a.message,
                                               vehicle_id=a.vehicle_id) for a in s.alerts])
            for s in summaries]

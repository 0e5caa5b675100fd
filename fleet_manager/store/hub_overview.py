"""All hubs at a glance (`GET /v1/hubs/overview`): who leads each, its vehicles, open orders and alerts.

Read from the store alone, so any process (an API replica included) answers for every hub. Alerts are
what needs an operator now: vehicles with a low battery or a lost link (from their newest telemetry,
the same thresholds as the dashboard), orders held at the hub or waiting for an address review, and
(scale-out) a hub nobody leads: no lease, or one that has expired.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet_manager.domain.orders import OrderStatus
from fleet_manager.domain.state_machine import TERMINAL

from . import fleet as fleet_store
from . import leases
from .models import OrderRow

LOW_BATTERY_PCT = 25.0  # as the dashboard's vehicle alerts (dashboard/src/model.js)
CRITICAL_BATTERY_PCT = 12.0
#: Open orders that wait on an operator, with what the alert says.
_WAITING_ON_OPERATOR = {OrderStatus.ON_HOLD: "held at the hub (cold chain)",
                        OrderStatus.ADDRESS_REVIEW: "waiting for an address review",
                        OrderStatus.NEEDS_REVIEW: "handed over or not? (a restart lost the evidence)"}


@dataclass(frozen=True)
class HubAlert:
    """Something at a hub that needs an operator."""

    severity: str  # "critical" or "warning"
    kind: str
    message: str
    vehicle_id: str | None = None


@dataclass
class HubSummary:
    """One hub's row of the overview."""

    hub_id: str
    leader: str | None  # the lease holder while its lease is in force
    lease_token: int | None
    vehicles: int = 0
    vehicles_by_kind: dict[str, int] = field(default_factory=dict)
    open_orders: int = 0
    orders_by_status: dict[str, int] = field(default_factory=dict)
    alerts: list[HubAlert] = field(default_factory=list)


def hub_overview(session: Session, *, hub_ids: Collection[str], leased: bool) -> list[HubSummary]:
    """A summary per hub of `hub_ids`, in that order; `leased`: hubs are led through leases (scale-out), so a
    hub without one in force is an alert."""
    now_s = leases.db_now_s(session)
    summaries = {}
    for hub_id in hub_ids:
        lease = leases.current(session, hub_id=hub_id)
        in_force = lease is not None and lease.expires_at_s > now_s
        summaries[hub_id] = HubSummary(hub_id, lease.holder if lease and in_force else None,
                                       lease.token if lease and in_force else None)
    open_statuses = [status.value for status in OrderStatus if status not in TERMINAL]
    counts = session.execute(
        select(OrderRow.hub_id, OrderRow.status, func.count())
        .where(OrderRow.hub_id.in_(list(hub_ids)), OrderRow.status.in_(open_statuses))
        .group_by(OrderRow.hub_id, OrderRow.status))
    for hub_id, status, count in counts:
        summary = summaries[hub_id]
        summary.orders_by_status[status] = int(count)
        summary.open_orders += int(count)
        waiting = _WAITING_ON_OPERATOR.get(OrderStatus(status))
        if waiting is not None:
            summary.alerts.append(HubAlert("warning", status, f"{count} order(s) {waiting}"))
    for vehicle in fleet_store.list_vehicles(session, hub_ids=hub_ids):
        summary = summaries[vehicle.hub_id]
        summary.vehicles += 1
        summary.vehicles_by_kind[vehicle.kind.value] = summary.vehicles_by_kind.get(vehicle.kind.value, 0) + 1
        summary.alerts.extend(_vehicle_alerts(vehicle))
    for summary in summaries.values():
        if leased and summary.leader is None:
            summary.alerts.insert(0, HubAlert("critical", "no leader",
                                              f"no fleet-manager process leads {summary.hub_id}: its vehicles are "
                                              "not dispatched until one takes the lease"))
    return list(summaries.values())


def _vehicle_alerts(vehicle: fleet_store.Vehicle) -> list[HubAlert]:
    alerts = []
    battery_pct = vehicle.state.get("battery_remaining_pct")
    if isinstance(battery_pct, (int, float)) and battery_pct < LOW_BATTERY_PCT:
        severity = "critical" if battery_pct < CRITICAL_BATTERY_PCT else "warning"
        alerts.append(HubAlert(severity, "low battery", f"{vehicle.vehicle_id} battery at {battery_pct:.0f} %",
                               vehicle.vehicle_id))
    if vehicle.state.get("link") == "lost":
        alerts.append(HubAlert("critical", "lost link", f"{vehicle.vehicle_id}: no telemetry", vehicle.vehicle_id))
    return alerts

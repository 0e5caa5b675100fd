"""History to features: the store's orders and audit events turned into training tables.

Three tables (pandas DataFrames), built with SQLAlchemy Core so the same code runs on SQLite and
PostgreSQL:

- **legs**: one row per departure of a parcel that reached the door (delivered or failed attempt):
  mode, planned route length and duration, local hour and weekday, wind, temperature, how many
  legs of the hub were in flight at departure (the live fleet state), and the actual duration.
- **clearances**: one row per parcel that waited for customs: origin, goods category, declared
  value, arrival, and the time customs took (NaN while it is still held).
- **area_hours**: one row per (area, local date, local hour): orders created, door attempts,
  failed attempts.

The store keeps only each vehicle's newest telemetry, not its history, so the fleet state of a leg
is taken from the audit trail (legs in flight) rather than from telemetry.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..domain.orders import OrderStatus
from ..store.models import OrderEventRow, OrderRow
from . import leg_facts as facts
from .areas import area_of
from .customs_facts import customs_facts

_ARRIVALS = frozenset({OrderStatus.DELIVERED.value, OrderStatus.ATTEMPT_FAILED.value})
_LEG_ENDS = _ARRIVALS | {OrderStatus.RETURNED_TO_HUB.value, OrderStatus.DIVERTED_TO_LOCKER.value,
                         OrderStatus.DELIVERED_TO_LOCKER.value}

LEG_COLUMNS = (
    "order_id", "hub_id", "mode", "depart_at_s", "local_hour", "weekday", "planned_duration_s",
    "planned_distance_m", "stop_index", "bearing_deg", "wind_speed_m_s", "wind_direction_deg", "headwind_m_s",
    "ambient_temp_c", "weight_kg", "legs_in_flight", "eta_s", "actual_duration_s", "delivered",
)
CLEARANCE_COLUMNS = (
    "order_id", "hub_id", "origin", "goods_category", "declared_value_eur", "weight_kg", "arrived_at_s",
    "local_hour", "weekday", "cleared_at_s", "clearance_s",
)
AREA_HOUR_COLUMNS = ("hub_id", "area", "local_date", "local_hour", "orders", "attempts", "failed_attempts")


@dataclass(frozen=True)
class TrainingTables:
    """The three tables built from one slice of history."""

    legs: pd.DataFrame
    clearances: pd.DataFrame
    area_hours: pd.DataFrame


@dataclass(frozen=True)
class _Event:
    order_id: str
    from_status: str | None
    to_status: str
    at_s: float
    details: Mapping[str, Any]


def build_tables(
    connection: Connection, *, hub_ids: Collection[str] | None = None, since_s: float | None = None,
    until_s: float | None = None, timezone: str = "UTC",
) -> TrainingTables:
    """Training tables of the orders created in [since_s, until_s) of `hub_ids` (all hubs when None).

    Local hours and weekdays are in `timezone` (an IANA name), where the history's day happened.
    """
    zone = ZoneInfo(timezone)
    orders = _orders(connection, hub_ids, since_s, until_s)
    events = _events(connection, list(orders))
    legs = _legs(orders, events, zone)
    return TrainingTables(
        legs=pd.DataFrame(legs, columns=list(LEG_COLUMNS)),
        clearances=pd.DataFrame(_clearances(orders, events, zone), columns=list(CLEARANCE_COLUMNS)),
        area_hours=pd.DataFrame(_area_hours(orders, legs, zone), columns=list(AREA_HOUR_COLUMNS)),
    )


def _orders(connection: Connection, hub_ids: Collection[str] | None, since_s: float | None,
            until_s: float | None) -> dict[str, Mapping[str, Any]]:
    table = OrderRow.__table__
    query = select(table.c.order_id, table.c.hub_id, table.c.latitude_deg, table.c.longitude_deg,
                   table.c.weight_kg, table.c.extra, table.c.created_at_s)
    if hub_ids is not None:
        query = query.where(table.c.hub_id.in_(list(hub_ids)))
    if since_s is not None:
        query = query.where(table.c.created_at_s >= since_s)
    if until_s is not None:
        query = query.where(table.c.created_at_s < until_s)
    return {row.order_id: dict(row._mapping) for row in connection.execute(query.order_by(table.c.order_id))}


def _events(connection: Connection, order_ids: list[str], chunk: int = 500) -> dict[str, list[_Event]]:
    """Every audited status change of these orders, oldest first per order (in chunks: IN-list limits)."""
    table = OrderEventRow.__table__
    by_order: dict[str, list[_Event]] = defaultdict(list)
    for start in range(0, len(order_ids), chunk):
        query = (select(table.c.order_id, table.c.from_status, table.c.to_status, table.c.at_s, table.c.details)
                 .where(table.c.order_id.in_(order_ids[start:start + chunk]))
                 .order_by(table.c.order_id, table.c.seq))
        for row in connection.execute(query):
            by_order[row.order_id].append(_Event(row.order_id, row.from_status, row.to_status, float(row.at_s),
                                                 dict(row.details or {})))
    return by_order


def _number(details: Mapping[str, Any], key: str) -> float:
    value = details.get(key)
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _local(at_s: float, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(at_s, zone)


def _legs(orders: Mapping[str, Mapping[str, Any]], events: Mapping[str, list[_Event]],
          zone: ZoneInfo) -> list[dict[str, Any]]:
    """Departures paired with the arrival at the door that ended them (returns to the hub are not legs)."""
    legs: list[dict[str, Any]] = []
    for order_id, history in events.items():
        order = orders[order_id]
        depart: _Event | None = None
        for event in history:
            if event.to_status == OrderStatus.OUT_FOR_DELIVERY.value:
                depart = event
            elif depart is not None and event.to_status in _LEG_ENDS:
                if event.to_status in _ARRIVALS:
                    legs.append(_leg_row(order, depart, event, zone))
                depart = None
    _count_in_flight(legs)
    return legs


def _leg_row(order: Mapping[str, Any], depart: _Event, arrival: _Event, zone: ZoneInfo) -> dict[str, Any]:
    details = depart.details
    local = _local(depart.at_s, zone)
    wind = _number(details, facts.WIND_SPEED_KEY)
    wind_from = _number(details, facts.WIND_DIRECTION_KEY)
    bearing = _number(details, facts.BEARING_KEY)
    return {
        "order_id": order["order_id"], "hub_id": order["hub_id"], "mode": str(details.get("mode") or ""),
        "depart_at_s": depart.at_s, "local_hour": local.hour + local.minute / 60.0, "weekday": local.weekday(),
        "planned_duration_s": _number(details, facts.PLANNED_DURATION_KEY),
        "planned_distance_m": _number(details, facts.PLANNED_DISTANCE_KEY),
        "stop_index": _number(details, facts.STOP_INDEX_KEY), "bearing_deg": bearing,
        "wind_speed_m_s": wind, "wind_direction_deg": wind_from,
        # the wind component against the leg's direction (what slows a drone out and speeds it back)
        "headwind_m_s": wind * math.cos(math.radians(bearing - wind_from)),
        "ambient_temp_c": _number(details, facts.AMBIENT_TEMP_KEY), "weight_kg": float(order["weight_kg"]),
        "legs_in_flight": 0, "eta_s": _number(details, "eta_s"),
        "actual_duration_s": arrival.at_s - depart.at_s,
        "delivered": arrival.to_status == OrderStatus.DELIVERED.value,
    }


def _count_in_flight(legs: list[dict[str, Any]]) -> None:
    """Set each leg's `legs_in_flight`: legs of its hub departed before it and not yet at the door."""
    by_hub: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for leg in legs:
        by_hub[leg["hub_id"]].append(leg)
    for hub_legs in by_hub.values():
        departs = sorted(leg["depart_at_s"] for leg in hub_legs)
        ends = sorted(leg["depart_at_s"] + leg["actual_duration_s"] for leg in hub_legs)
        for leg in hub_legs:
            started = bisect.bisect_left(departs, leg["depart_at_s"])
            leg["legs_in_flight"] = started - bisect.bisect_right(ends, leg["depart_at_s"])


def _clearances(orders: Mapping[str, Mapping[str, Any]], events: Mapping[str, list[_Event]],
                zone: ZoneInfo) -> Iterable[dict[str, Any]]:
    for order_id, history in events.items():
        arrived = next((e for e in history if e.to_status == OrderStatus.AWAITING_CUSTOMS.value), None)
        if arrived is None:
            continue
        cleared = next((e for e in history if e.from_status == OrderStatus.AWAITING_CUSTOMS.value
                        and e.to_status == OrderStatus.READY.value and e.at_s >= arrived.at_s), None)
        order = orders[order_id]
        declared = customs_facts(order["extra"] or {})
        local = _local(arrived.at_s, zone)
        cleared_at = cleared.at_s if cleared is not None else math.nan
        yield {
            "order_id": order_id, "hub_id": order["hub_id"], "origin": declared.origin,
            "goods_category": declared.goods_category, "declared_value_eur": declared.declared_value_eur,
            "weight_kg": float(order["weight_kg"]), "arrived_at_s": arrived.at_s,
            "local_hour": local.hour + local.minute / 60.0, "weekday": local.weekday(),
            "cleared_at_s": cleared_at, "clearance_s": cleared_at - arrived.at_s,
        }


def _area_hours(orders: Mapping[str, Mapping[str, Any]], legs: list[dict[str, Any]],
                zone: ZoneInfo) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str, str, int], list[int]] = defaultdict(lambda: [0, 0, 0])

    def key(order: Mapping[str, Any], at_s: float) -> tuple[str, str, str, int]:
        local = _local(at_s, zone)
        return (order["hub_id"], area_of(order["latitude_deg"], order["longitude_deg"]), local.date().isoformat(),
                local.hour)

    for order in orders.values():
        counts[key(order, float(order["created_at_s"]))][0] += 1
    for leg in legs:
        cell = counts[key(orders[leg["order_id"]], leg["depart_at_s"] + leg["actual_duration_s"])]
        cell[1] += 1
        cell[2] += not leg["delivered"]
    return [{"hub_id": k[0], "area": k[1], "local_date": k[2], "local_hour": k[3], "orders": v[0],
             "attempts": v[1], "failed_attempts": v[2]} for k, v in sorted(counts.items())]

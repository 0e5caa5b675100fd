"""Parcel condition: what a sensed parcel's sensor said (newest reading, excursions, recent readings)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fleet_manager.domain.errors import NotFound
from fleet_manager.store import conditions
from fleet_manager.store import orders as order_store

from ..deps import Reader, ServiceDep
from ..schemas import ConditionOut, ConditionReadingOut, to_time

router = APIRouter(prefix="/orders", tags=["orders"])


def _reading(reading: conditions.Reading, excursion: str = "") -> ConditionReadingOut:
    return ConditionReadingOut(at=to_time(reading.at_s), temperature_c=reading.temperature_c,  # type: ignore[arg-type]
                               humidity_pct=reading.humidity_pct, shock_g=reading.shock_g, excursion=excursion)


@router.get("/{order_id}/condition")
def order_condition(
    order_id: str, service: ServiceDep, _caller: Reader, recent: Annotated[int, Query(ge=1, le=1000)] = 120
) -> ConditionOut:
    """The parcel's sensor: newest reading, excursion count, and the last `recent` readings for a sparkline."""
    with service.database.read() as session:
        order = order_store.get_order(session, order_id=order_id)
        if order.hub_id not in service.hub_ids:
            raise NotFound(f"order {order_id!r} not found")
        try:
            condition = conditions.get_condition(session, order_id=order_id, recent=recent)
        except NotFound:
            return ConditionOut(order_id=order_id, handling=order.handling, latest=None, readings_total=0,
                                excursions=0, in_excursion=False, recent=[])
    return ConditionOut(
        order_id=order_id, handling=order.handling,
        latest=_reading(condition.latest) if condition.latest else None,
        readings_total=condition.readings_total, excursions=condition.excursions,
        in_excursion=condition.in_excursion, recent=[_reading(r, why) for r, why in condition.recent],
    )

"""Demand forecast and pre-positioning: the expected orders per area for the coming hours, and where vans were
staged for the forecast peaks (`fleet_manager.prepositioning`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from fleet_manager.domain.errors import NotFound
from fleet_manager.forecast_view import forecast_hours, newest_forecast
from fleet_manager.prepositioning import STAGED
from fleet_manager.store.models import OutboxRow
from fleet_manager.store.outbox import EVENT_TYPE_PREFIX

from ..deps import Reader, ServiceDep

router = APIRouter(prefix="/forecast", tags=["forecast"])


@router.get("")
def get_forecast(service: ServiceDep, _caller: Reader,
                 hours: int = Query(default=6, ge=1, le=24, description="how many hours ahead, this one first"),
                 peak_ratio: float | None = Query(default=None, gt=0,
                                                  description="default: FINALMILE_STAGING_PEAK_RATIO"),
                 ) -> dict[str, Any]:
    """Expected orders per delivery area for the next `hours` local hours (from the newest trained demand
    forecast), the forecast peak hours, and the latest stagings of vans before a peak."""
    settings = service.settings
    loaded = newest_forecast(settings.models_dir)
    if loaded is None:
        raise NotFound("no demand forecast: train one with `finalmile learn`")
    version, forecast = loaded
    ratio = peak_ratio if peak_ratio is not None else settings.staging_peak_ratio
    with service.database.read() as session:
        rows = session.scalars(select(OutboxRow).where(OutboxRow.hub_id == settings.hub_id,
                                                       OutboxRow.type == EVENT_TYPE_PREFIX + STAGED)
                               .order_by(OutboxRow.seq.desc()).limit(5)).all()
        staging = [{"at_s": row.time_s, **(row.data or {})} for row in rows]
    return {"model_version": version, "timezone": forecast.timezone, "history_days": forecast.days,
            "peak_ratio": ratio, "peak_hours": forecast.peak_hours(ratio),
            "hours": forecast_hours(forecast, service.now(), hours), "staging": staging}

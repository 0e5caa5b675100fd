"""Demand forecast and pre-positioning: the expected orders per area for the coming hours, and where vans were
staged for the forecast peaks (`fleet_manager.prepositioning`), per hub served (`?hub_id=` narrows to one)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from fleet_manager.domain.errors import NotFound
from fleet_manager.forecast_view import forecast_hours, hub_shares, newest_forecast
from fleet_manager.hub_routing import HubUnresolved
from fleet_manager.prepositioning import STAGED
from fleet_manager.store.models import OutboxRow
from fleet_manager.store.outbox import EVENT_TYPE_PREFIX

from ..deps import Reader, ServiceDep
from ..hub_scope import hubs_to_read
from ..service import FleetService

router = APIRouter(prefix="/forecast", tags=["forecast"])


@router.get("")
def get_forecast(service: ServiceDep, _caller: Reader,
                 hours: int = Query(default=6, ge=1, le=24, description="how many hours ahead, this one first"),
                 peak_ratio: float | None = Query(default=None, gt=0,
                                                  description="default: FINALMILE_STAGING_PEAK_RATIO"),
                 hub_id: str | None = Query(default=None, description="one hub (default: every hub served here)"),
                 ) -> dict[str, Any]:
    """Expected orders per delivery area for the next `hours` local hours (from the newest trained demand
    forecast), the forecast peak hours, and the latest stagings of vans before a peak: per hub in `hubs` (each
    naming its hub: the areas in its service area, its own stagings), and over all the hubs covered at the top
    level (`staging` items name their hub)."""
    settings = service.settings
    hub_ids = hubs_to_read(service, hub_id)
    loaded = newest_forecast(settings.models_dir)
    if loaded is None:
        raise NotFound("no demand forecast: train one with `finalmile learn`")
    version, forecast = loaded
    ratio = peak_ratio if peak_ratio is not None else settings.staging_peak_ratio
    shares = hub_shares(forecast, hub_ids, lambda lat, lon: _area_hub(service, lat, lon))
    now_s = service.now()
    with service.database.read() as session:
        staging = {hub: [{"hub_id": hub, "at_s": row.time_s, **(row.data or {})} for row in session.scalars(
            select(OutboxRow).where(OutboxRow.hub_id == hub, OutboxRow.type == EVENT_TYPE_PREFIX + STAGED)
            .order_by(OutboxRow.seq.desc()).limit(5)).all()] for hub in hub_ids}
    covered = dataclasses.replace(forecast, rates={area: values for share in shares.values()
                                                   for area, values in share.rates.items()})
    newest_first = sorted((item for items in staging.values() for item in items), key=lambda item: -item["at_s"])
    return {"model_version": version, "timezone": forecast.timezone, "history_days": forecast.days,
            "peak_ratio": ratio, "peak_hours": covered.peak_hours(ratio),
            "hours": forecast_hours(covered, now_s, hours), "staging": newest_first[:5],
            "hubs": [{"hub_id": hub, "peak_hours": shares[hub].peak_hours(ratio),
                      "hours": forecast_hours(shares[hub], now_s, hours), "staging": staging[hub]}
                     for hub in hub_ids]}


def _area_hub(service: FleetService, latitude_deg: float, longitude_deg: float) -> str | None:
    """The hub an order placed at a forecast area's centre goes to (None: in no hub's service area); a
    process serving one hub without a fleet's service areas takes every area, as it takes every order."""
    if service.hub_router is None and len(service.hub_ids) == 1:
        return service.hub_ids[0]
    try:
        return service.route_order(hub_id=None, latitude_deg=latitude_deg, longitude_deg=longitude_deg)
    except HubUnresolved:
        return None

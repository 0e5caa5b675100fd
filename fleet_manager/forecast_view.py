"""The demand forecast as the API and the dashboard show it: the newest trained forecast, hour by hour, and
each hub's share of it (the areas whose centre lies in the hub's service area)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from .learning.demand_model import DemandForecast, area_centre
from .learning.model_store import DEMAND_FILE, list_versions

logger = logging.getLogger(__name__)


def newest_forecast(models_dir: Path) -> tuple[str, DemandForecast] | None:
    """(version, forecast) of the newest model version that has a demand forecast; None when none has."""
    for version in reversed(list_versions(models_dir)):
        path = models_dir / version / DEMAND_FILE
        if path.is_file():
            try:
                return version, DemandForecast.from_json(path.read_text())
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("demand forecast %s unreadable: %s", path, exc)
    return None


def forecast_hours(forecast: DemandForecast, now_s: float, hours: int) -> list[dict[str, Any]]:
    """The next `hours` local hours from `now_s` (this one first): total and per-area expected orders."""
    out = []
    for ahead in range(hours):
        at_s = now_s + ahead * 3600.0
        hour = forecast.local_hour(at_s)
        areas = sorted(forecast.at_hour(hour).items(), key=lambda item: -item[1])
        out.append({"local_hour": hour, "starts_at_s": at_s - at_s % 3600.0,
                    "expected_orders": round(forecast.hour_total(hour), 2),
                    "areas": [{"area": area, "latitude_deg": round(area_centre(area)[0], 6),
                               "longitude_deg": round(area_centre(area)[1], 6), "expected_orders": round(n, 3)}
                              for area, n in areas]})
    return out


def hub_shares(forecast: DemandForecast, hub_ids: Collection[str],
               hub_of: Callable[[float, float], str | None]) -> dict[str, DemandForecast]:
    """Per hub of `hub_ids`, the forecast of the areas `hub_of(latitude_deg, longitude_deg)` of whose centre
    names it (orders placed there go to that hub). An area in no hub's service area, or in a hub not listed, is
    in no share."""
    rates: dict[str, dict[str, tuple[float, ...]]] = {hub_id: {} for hub_id in hub_ids}
    for area, values in forecast.rates.items():
        hub_id = hub_of(*area_centre(area))
        if hub_id in rates:
            rates[hub_id][area] = values
    return {hub_id: dataclasses.replace(forecast, rates=share) for hub_id, share in rates.items()}

"""Demand forecast: expected orders per delivery area and local hour, from the history's area-hour table.

The model is the per (area, hour-of-day) mean of the orders created on the training days, each day
weighted by recency (`half_life_days`: a day that many days before the newest counts half); days on
which an area had no order at that hour count as zeros. Simple on purpose, and measured against the
unweighted mean in `python -m benchmarks prediction` (row `demand`). Saved as JSON beside the other
models (`demand.json`). Areas are `learning.areas` grid cells; `area_centre` gives a cell's middle.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .areas import CELL_LAT_DEG, CELL_LON_DEG
from .eta_model import LearningError

DEFAULT_HALF_LIFE_DAYS = 7.0


def area_centre(area: str) -> tuple[float, float]:
    """(latitude_deg, longitude_deg) of the middle of an `area_of` cell; LearningError for another name."""
    try:
        kind, row, col = area.split(":")
        if kind != "cell":
            raise ValueError(kind)
        return (int(row) + 0.5) * CELL_LAT_DEG, (int(col) + 0.5) * CELL_LON_DEG
    except ValueError as exc:
        raise LearningError(f"{area!r} is not a delivery area cell ('cell:<row>:<col>')") from exc


@dataclass(frozen=True)
class DemandForecast:
    """Expected orders per (area, local hour) in `timezone`, learnt from `days` days of history."""

    timezone: str
    rates: dict[str, tuple[float, ...]]  # area -> 24 expected order counts
    days: int
    half_life_days: float

    @classmethod
    def learn(cls, area_hours: pd.DataFrame, *, timezone: str,
              half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS) -> DemandForecast:
        """From a `features` area_hours table; `half_life_days` None weighs every day alike (the baseline)."""
        if area_hours.empty:
            raise LearningError("no orders in the history: no demand forecast")
        dates = sorted(pd.to_datetime(area_hours["local_date"]).dt.date.unique())
        newest = dates[-1]
        weights = {d: 1.0 if half_life_days is None else 0.5 ** ((newest - d).days / half_life_days) for d in dates}
        total_weight = sum(weights.values())
        sums: dict[str, list[float]] = {}
        for row in area_hours.itertuples(index=False):
            day = pd.Timestamp(row.local_date).date()
            sums.setdefault(str(row.area), [0.0] * 24)[int(row.local_hour) % 24] += weights[day] * float(row.orders)
        rates = {area: tuple(round(v / total_weight, 4) for v in values) for area, values in sorted(sums.items())}
        return cls(timezone, rates, len(dates), math.inf if half_life_days is None else half_life_days)

    def hour_total(self, hour: int) -> float:
        """Expected orders over every area in a local hour."""
        return sum(values[hour % 24] for values in self.rates.values())

    def at_hour(self, hour: int) -> dict[str, float]:
        """Expected orders per area in a local hour (areas expecting none left out)."""
        return {area: values[hour % 24] for area, values in self.rates.items() if values[hour % 24] > 0}

    def peak_hours(self, ratio: float) -> list[int]:
        """Local hours whose expected total is at least `ratio` times the mean of the hours with any demand."""
        totals = [self.hour_total(h) for h in range(24)]
        busy = [t for t in totals if t > 0]
        if not busy:
            return []
        mean = sum(busy) / len(busy)
        return [h for h, t in enumerate(totals) if t > 0 and t >= ratio * mean]

    def evaluate(self, area_hours: pd.DataFrame) -> dict[str, float]:
        """Mean absolute error per (area, hour) over the held-out days (zeros where nothing was ordered)."""
        dates = sorted(pd.to_datetime(area_hours["local_date"]).dt.date.unique())
        actual = {(str(r.area), pd.Timestamp(r.local_date).date(), int(r.local_hour)): float(r.orders)
                  for r in area_hours.itertuples(index=False)}
        areas = sorted(set(self.rates) | {key[0] for key in actual})
        errors = [abs(self.rates.get(a, (0.0,) * 24)[h] - actual.get((a, d, h), 0.0))
                  for a in areas for d in dates for h in range(24)]
        return {"mae_orders_per_area_hour": round(sum(errors) / max(1, len(errors)), 4), "days": len(dates)}

    def local_hour(self, epoch_s: float) -> int:
        """The local hour of a moment in this forecast's time zone."""
        from zoneinfo import ZoneInfo

        return dt.datetime.fromtimestamp(epoch_s, ZoneInfo(self.timezone)).hour

    def to_json(self) -> str:
        """JSON text of the forecast."""
        return json.dumps({"timezone": self.timezone, "rates": {a: list(v) for a, v in self.rates.items()},
                           "days": self.days, "half_life_days": None if math.isinf(self.half_life_days)
                           else self.half_life_days})

    @classmethod
    def from_json(cls, text: str) -> DemandForecast:
        """Parse `to_json`'s text; ValueError when a rate list is not 24 non-negative numbers."""
        data: dict[str, Any] = json.loads(text)
        rates = {str(a): tuple(float(x) for x in v) for a, v in data["rates"].items()}
        if any(len(v) != 24 or not all(math.isfinite(x) and x >= 0 for x in v) for v in rates.values()):
            raise ValueError("a demand forecast needs 24 non-negative rates per area")
        half_life = data.get("half_life_days")
        return cls(str(data["timezone"]), rates, int(data.get("days", 0)),
                   math.inf if half_life is None else float(half_life))

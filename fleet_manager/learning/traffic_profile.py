"""Time-dependent van speeds: a rush-hour profile per local hour, learnt from the history of van legs.

For each local hour of departure, the median of planned over actual duration of the van legs to
their first stop (mostly driving) is how much faster or slower than planned the streets were;
the planner multiplies van speeds by it (`FleetPlanner.set_traffic`). Hours with too few legs keep
1.0 (plan as before). Saved as JSON beside the models (`traffic.json`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

MIN_LEGS_PER_HOUR = 5
_FACTOR_RANGE = (0.2, 1.2)


@dataclass(frozen=True)
class VanSpeedProfile:
    """Van speed multiplier per local hour (0..23) in `timezone`, and how many legs each was learnt from."""

    timezone: str
    factors: tuple[float, ...]
    legs: tuple[int, ...]

    @classmethod
    def learn(cls, legs: pd.DataFrame, *, timezone: str) -> VanSpeedProfile:
        """From a `features` legs table (only van legs to their first stop count)."""
        vans = legs[(legs["mode"] == "van") & (legs["stop_index"] == 0) & legs["planned_duration_s"].notna()
                    & (legs["actual_duration_s"] > 0)]
        ratio = vans["planned_duration_s"] / vans["actual_duration_s"]
        hours = vans["local_hour"].astype(int) % 24
        factors, counts = [1.0] * 24, [0] * 24
        for hour, values in ratio.groupby(hours):
            counts[int(hour)] = len(values)
            if len(values) >= MIN_LEGS_PER_HOUR:
                factors[int(hour)] = round(min(max(float(values.median()), _FACTOR_RANGE[0]), _FACTOR_RANGE[1]), 3)
        return cls(timezone, tuple(factors), tuple(counts))

    def factor_at(self, epoch_s: float) -> float:
        """The van speed multiplier at this time."""
        return self.factors[dt.datetime.fromtimestamp(epoch_s, ZoneInfo(self.timezone)).hour]

    def to_json(self) -> str:
        """JSON text (timezone, factors, legs)."""
        return json.dumps({"timezone": self.timezone, "factors": list(self.factors), "legs": list(self.legs)})

    @classmethod
    def from_json(cls, text: str) -> VanSpeedProfile:
        """Parse `to_json`'s text; ValueError when it is not a 24-hour profile of positive factors."""
        data: dict[str, Any] = json.loads(text)
        factors = tuple(float(f) for f in data["factors"])
        if len(factors) != 24 or not all(math.isfinite(f) and f > 0 for f in factors):
            raise ValueError("a van speed profile needs 24 positive factors")
        return cls(str(data["timezone"]), factors, tuple(int(n) for n in data.get("legs", [0] * 24)))

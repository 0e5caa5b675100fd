"""Customs-delay prediction: the expected clearance time of a parcel from its origin, category and declared value.

A scikit-learn `HistGradientBoostingRegressor` with absolute-error loss (its prediction is the
median clearance time, what the mean-absolute-error metric rewards) over origin and category
(categorical, codes learnt at training; an unseen one counts as missing), declared value, weight
and the local hour and weekday the parcel reached customs.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from .eta_model import LearningError

FEATURES = ("origin_code", "category_code", "declared_value_eur", "weight_kg", "local_hour", "weekday")
MIN_TRAINING_CLEARANCES = 20


@dataclass(frozen=True)
class CustomsQuery:
    """A parcel at customs, as the store knows it (NaN / "" when unknown)."""

    origin: str
    goods_category: str
    declared_value_eur: float
    weight_kg: float
    arrived_at_s: float


class CustomsModel:
    """Expected clearance seconds per parcel."""

    kind = "customs"

    def __init__(self, regressor: HistGradientBoostingRegressor, origins: Sequence[str], categories: Sequence[str],
                 timezone: str) -> None:
        self.regressor = regressor
        self.origins = tuple(origins)
        self.categories = tuple(categories)
        self.timezone = timezone
        self.unknown: tuple[str, ...] = ()  # features the training history never had (held at 0)

    def _with_unknown(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(**{column: 0.0 for column in self.unknown}) if self.unknown else frame

    @classmethod
    def train(cls, clearances: pd.DataFrame, *, seed: int = 0, timezone: str = "UTC") -> CustomsModel:
        """Fit on a clearances table (rows with a clearance time); LearningError with too few."""
        cleared = clearances[clearances["clearance_s"].notna()]
        if len(cleared) < MIN_TRAINING_CLEARANCES:
            raise LearningError(f"customs model needs at least {MIN_TRAINING_CLEARANCES} cleared parcels, "
                                f"the history has {len(cleared)}")
        origins = sorted(o for o in cleared["origin"].unique() if o)
        categories = sorted(c for c in cleared["goods_category"].unique() if c)
        model = cls(HistGradientBoostingRegressor(loss="absolute_error", max_iter=200, learning_rate=0.05,
                                                  max_leaf_nodes=15, min_samples_leaf=5,
                                                  categorical_features=[0, 1], random_state=seed),
                    origins, categories, timezone)
        frame = model._frame(cleared)
        model.unknown = tuple(c for c in FEATURES if frame[c].isna().all())  # e.g. no declared values at all
        with threadpool_limits(1):  # see eta_model: OpenMP threads on a shared machine
            model.regressor.fit(model._with_unknown(frame), cleared["clearance_s"].to_numpy(float))
        return model

    def _code(self, values: pd.Series, vocabulary: tuple[str, ...]) -> pd.Series:
        index = {name: float(i) for i, name in enumerate(vocabulary)}
        return values.map(lambda v: index.get(v, math.nan))

    def _frame(self, table: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({
            "origin_code": self._code(table["origin"], self.origins),
            "category_code": self._code(table["goods_category"], self.categories),
            "declared_value_eur": table["declared_value_eur"], "weight_kg": table["weight_kg"],
            "local_hour": table["local_hour"], "weekday": table["weekday"].astype(float),
        }, columns=list(FEATURES)).astype(float)

    def predict_table(self, table: pd.DataFrame) -> np.ndarray:
        """Expected clearance seconds for the rows of a clearances table."""
        with threadpool_limits(1):
            return np.maximum(self.regressor.predict(self._with_unknown(self._frame(table))), 0.0)

    def predict(self, queries: Sequence[CustomsQuery]) -> list[float]:
        """Expected clearance seconds (from arrival at customs) of these parcels."""
        if not queries:
            return []
        zone = ZoneInfo(self.timezone)
        rows = []
        for q in queries:
            local = dt.datetime.fromtimestamp(q.arrived_at_s, zone)
            rows.append({"origin": q.origin, "goods_category": q.goods_category,
                         "declared_value_eur": q.declared_value_eur, "weight_kg": q.weight_kg,
                         "local_hour": local.hour + local.minute / 60.0, "weekday": local.weekday()})
        return [float(v) for v in self.predict_table(pd.DataFrame(rows))]

    def evaluate(self, clearances: pd.DataFrame) -> dict[str, float]:
        """Mean and p90 absolute error (min) on cleared parcels."""
        cleared = clearances[clearances["clearance_s"].notna()]
        if not len(cleared):
            return {"clearances": 0.0}
        error_min = np.abs(self.predict_table(cleared) - cleared["clearance_s"].to_numpy(float)) / 60.0
        return {"clearances": float(len(cleared)), "mae_min": float(error_min.mean()),
                "abs_error_p90_min": float(np.percentile(error_min, 90))}

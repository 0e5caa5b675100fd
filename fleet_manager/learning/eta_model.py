"""ETA prediction: p10/p50/p90 of a parcel's time to the door, from its leg's facts at departure or later.

Three scikit-learn `HistGradientBoostingRegressor`s with quantile loss (chosen over LightGBM by
measurement: `python -m benchmarks prediction`) predict the remaining time as a multiple of the
planned remaining time, so one model serves a 2-minute drone hop and a 40-minute van round.
Training rows are each leg seen at departure and again part-way (elapsed = 1/3 and 2/3 of the
plan, while the parcel was still aboard), which is what lets the service refresh an ETA as the
mission progresses. The p10–p90 band is then widened by split-conformal calibration on a held-out
fifth of the legs (conformalized quantile regression), so its coverage holds on new days.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from ..errors import FinalMileError

MODES = ("drone", "robot", "van")
FEATURES = (
    "mode_code", "planned_remaining_s", "planned_duration_s", "planned_distance_m", "stop_index", "elapsed_s",
    "local_hour", "weekday", "wind_speed_m_s", "headwind_m_s", "ambient_temp_c", "weight_kg", "legs_in_flight",
)
QUANTILES = (0.1, 0.5, 0.9)
_MIN_PLANNED_S = 30.0  # the ratio's floor: a leg planned as nearly done still takes this
_ELAPSED_FRACTIONS = (0.0, 1 / 3, 2 / 3)
MIN_TRAINING_LEGS = 30
_MISSING = -999.0  # what "gbr" sees for an unknown feature (it has no missing-value support)


class LearningError(FinalMileError):
    """A model cannot be trained, saved or loaded (too little history, a broken model folder)."""


@dataclass(frozen=True)
class LegQuery:
    """What is known about a parcel's leg when its ETA is asked for (NaN: not known)."""

    mode: str
    depart_at_s: float
    planned_duration_s: float
    planned_distance_m: float = math.nan
    stop_index: float = math.nan
    elapsed_s: float = 0.0
    wind_speed_m_s: float = math.nan
    headwind_m_s: float = math.nan
    ambient_temp_c: float = math.nan
    weight_kg: float = math.nan
    legs_in_flight: float = math.nan


@dataclass(frozen=True)
class EtaWindow:
    """Predicted hand-over time: p10 / p50 / p90 as epoch seconds."""

    earliest_s: float
    expected_s: float
    latest_s: float


def _mode_code(mode: str) -> float:
    return float(MODES.index(mode)) if mode in MODES else math.nan


def _frame_of_queries(queries: Sequence[LegQuery], zone: ZoneInfo) -> pd.DataFrame:
    rows = []
    for q in queries:
        local = dt.datetime.fromtimestamp(q.depart_at_s + q.elapsed_s, zone)
        rows.append({
            "mode_code": _mode_code(q.mode), "planned_remaining_s": max(q.planned_duration_s - q.elapsed_s, 0.0),
            "planned_duration_s": q.planned_duration_s, "planned_distance_m": q.planned_distance_m,
            "stop_index": q.stop_index, "elapsed_s": q.elapsed_s, "local_hour": local.hour + local.minute / 60.0,
            "weekday": float(local.weekday()), "wind_speed_m_s": q.wind_speed_m_s, "headwind_m_s": q.headwind_m_s,
            "ambient_temp_c": q.ambient_temp_c, "weight_kg": q.weight_kg, "legs_in_flight": q.legs_in_flight,
        })
    return pd.DataFrame(rows, columns=list(FEATURES), dtype=float)


def training_rows(legs: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(features, target ratio, planned remaining s) from a `features.build_tables` legs table.

    Each leg with a planned duration gives a row at departure and one at each elapsed fraction it
    was still on the way; the target is remaining actual time over planned remaining time.
    """
    legs = legs[legs["planned_duration_s"].notna() & legs["mode"].isin(MODES)]
    frames, targets, planned = [], [], []
    for fraction in _ELAPSED_FRACTIONS:
        elapsed = legs["planned_duration_s"] * fraction
        still_aboard = legs[legs["actual_duration_s"] > elapsed]
        elapsed = elapsed[still_aboard.index]
        frame = pd.DataFrame({
            "mode_code": still_aboard["mode"].map(_mode_code),
            "planned_remaining_s": still_aboard["planned_duration_s"] - elapsed,
            "planned_duration_s": still_aboard["planned_duration_s"],
            "planned_distance_m": still_aboard["planned_distance_m"], "stop_index": still_aboard["stop_index"],
            "elapsed_s": elapsed,
            "local_hour": (still_aboard["local_hour"] + elapsed / 3600.0) % 24.0,
            "weekday": still_aboard["weekday"].astype(float), "wind_speed_m_s": still_aboard["wind_speed_m_s"],
            "headwind_m_s": still_aboard["headwind_m_s"], "ambient_temp_c": still_aboard["ambient_temp_c"],
            "weight_kg": still_aboard["weight_kg"], "legs_in_flight": still_aboard["legs_in_flight"].astype(float),
        }, columns=list(FEATURES))
        remaining_planned = np.maximum(frame["planned_remaining_s"].to_numpy(float), _MIN_PLANNED_S)
        frames.append(frame)
        targets.append((still_aboard["actual_duration_s"] - elapsed).to_numpy(float) / remaining_planned)
        planned.append(remaining_planned)
    if not frames:
        return pd.DataFrame(columns=list(FEATURES)), np.empty(0), np.empty(0)
    return (pd.concat(frames, ignore_index=True).astype(float), np.concatenate(targets), np.concatenate(planned))


def _with_unknown(features: pd.DataFrame, unknown: Sequence[str]) -> pd.DataFrame:
    """`features` with the never-seen columns set to 0 (a copy when there are any)."""
    if not unknown:
        return features
    return features.assign(**{column: 0.0 for column in unknown})


def _calibration_mask(legs: pd.DataFrame, seed: int) -> np.ndarray:
    """Legs held out for calibration: the newest 30 % of the days when there are 3 days or more (a new day's
    weather is what the band must survive), else a random fifth of the legs (by leg: its rows stay together)."""
    days = (legs["depart_at_s"] // 86_400).astype(int).to_numpy()
    distinct = np.unique(days)
    if len(distinct) >= 3:
        return np.asarray(days >= distinct[-max(1, round(0.3 * len(distinct)))])
    return np.random.default_rng(seed).random(len(legs)) < 0.2


class EtaModel:
    """Three quantile regressors and a conformal widening of the p10–p90 band (in ratio units)."""

    kind = "eta"

    def __init__(self, regressors: dict[float, Any], widening: float, timezone: str, estimator: str = "hist") -> None:
        self.regressors = regressors
        self.widening = widening
        self.timezone = timezone
        self.estimator = estimator
        self.unknown: tuple[str, ...] = ()  # features the training history never had (held at 0)

    @classmethod
    def train(cls, legs: pd.DataFrame, *, timezone: str, seed: int = 0, estimator: str = "hist") -> EtaModel:
        """Fit on a legs table (LearningError with fewer than MIN_TRAINING_LEGS usable legs).

        `estimator`: "hist" (HistGradientBoostingRegressor, the service's) or "gbr" (the classic
        GradientBoostingRegressor, kept for the benchmark's comparison; it needs missing values filled).
        """
        if estimator not in ("hist", "gbr"):
            raise LearningError(f"estimator {estimator!r} is not 'hist' or 'gbr'")
        usable = legs[legs["planned_duration_s"].notna() & legs["mode"].isin(MODES)]
        if len(usable) < MIN_TRAINING_LEGS:
            raise LearningError(f"ETA model needs at least {MIN_TRAINING_LEGS} legs with a planned duration, "
                                f"the history has {len(usable)}")
        calibration = _calibration_mask(usable, seed)
        fit_x, fit_y, _ = training_rows(usable[~calibration])
        # A fact the history never had (no weather feed: wind all NaN) is a constant to the model; the binning
        # of an all-missing column fails otherwise.
        unknown = tuple(c for c in FEATURES if fit_x[c].isna().all())
        fit_x = _with_unknown(fit_x, unknown)
        with threadpool_limits(1):  # OpenMP threads fight over a shared machine's cores (20x slower at 2)
            if estimator == "hist":
                regressors = {q: HistGradientBoostingRegressor(
                    loss="quantile", quantile=q, max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                    min_samples_leaf=20, l2_regularization=1.0, categorical_features=[0],
                    random_state=seed).fit(fit_x, fit_y) for q in QUANTILES}
            else:
                regressors = {q: GradientBoostingRegressor(
                    loss="quantile", alpha=q, n_estimators=200, learning_rate=0.05, max_leaf_nodes=15,
                    min_samples_leaf=20, random_state=seed).fit(fit_x.fillna(_MISSING), fit_y) for q in QUANTILES}
        model = cls(regressors, 0.0, timezone, estimator)
        model.unknown = unknown
        cal_x, cal_y, _ = training_rows(usable[calibration])
        if len(cal_y):
            low, high = (model.predict_ratios(cal_x, widen=False)[:, i] for i in (0, 2))
            scores = np.sort(np.maximum(low - cal_y, cal_y - high))
            level = min(1.0, 0.8 * (1 + 1 / len(scores)))
            model.widening = float(np.quantile(scores, level, method="higher"))
        return model

    def predict_ratios(self, features: pd.DataFrame, *, widen: bool = True) -> np.ndarray:
        """(n, 3) remaining-time ratios p10/p50/p90, sorted per row, p10 widened down and p90 up."""
        features = _with_unknown(features, self.unknown)
        if self.estimator == "gbr":
            features = features.fillna(_MISSING)
        with threadpool_limits(1):
            predictions = np.column_stack([self.regressors[q].predict(features) for q in QUANTILES])
        predictions.sort(axis=1)
        if widen:
            predictions[:, 0] -= self.widening
            predictions[:, 2] += self.widening
        return np.maximum(predictions, 0.0)

    def predict(self, queries: Sequence[LegQuery]) -> list[EtaWindow]:
        """The predicted hand-over windows (epoch seconds) of these legs, in order."""
        if not queries:
            return []
        ratios = self.predict_ratios(_frame_of_queries(queries, ZoneInfo(self.timezone)))
        windows = []
        for query, (low, mid, high) in zip(queries, ratios, strict=True):
            now_s = query.depart_at_s + query.elapsed_s
            planned = max(query.planned_duration_s - query.elapsed_s, _MIN_PLANNED_S)
            windows.append(EtaWindow(now_s + low * planned, now_s + mid * planned, now_s + high * planned))
        return windows

    def evaluate(self, legs: pd.DataFrame) -> dict[str, float]:
        """At departure on these legs: absolute error of p50 (p50, p90, in min) and p10–p90 coverage (%)."""
        features, target, planned = training_rows(legs)
        at_departure = features["elapsed_s"].to_numpy() == 0.0
        features, target, planned = features[at_departure], target[at_departure], planned[at_departure]
        if not len(target):
            return {"legs": 0.0}
        ratios = self.predict_ratios(features)
        actual_s = target * planned
        error_min = np.abs(ratios[:, 1] * planned - actual_s) / 60.0
        covered = (ratios[:, 0] * planned <= actual_s) & (actual_s <= ratios[:, 2] * planned)
        return {"legs": float(len(target)), "abs_error_p50_min": float(np.percentile(error_min, 50)),
                "abs_error_p90_min": float(np.percentile(error_min, 90)), "coverage_pct": 100.0 * float(covered.mean())}

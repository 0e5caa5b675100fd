"""Prediction from history: ETA windows and customs delays, trained on simulated days, tested on later ones.

Run as `python -m benchmarks prediction` (`--quick`: fewer days). The days are the
`helsinki_history` scenario played by `sim_worlds.history_day` (the fast history simulator: queues
of vehicles at the hub, travel times with the scenario's rush hours, wind and noise; no vehicle
simulators), each with its own seed and wind (`varied_days`), written to a SQLite store; the
training tables come from that store through `fleet_manager.learning.features`, as `finalmile
learn` builds them. Training days come first, test days are the following ones (never seen).

Rows:
- `eta` at departure, per method: the model's p50 and p10–p90 window; the baseline is today's
  window, the planner's ETA ± 15 min (its point is the planner's ETA). `abs_error_p50_min` /
  `abs_error_p90_min` are the median and 90th percentile of |point − actual| in minutes,
  `coverage_pct` the share of hand-overs inside the window, `window_mean_min` its mean width,
  `actual_median_min` the legs' median duration. Targets: p90 error < 5 min, coverage 80 ± 5 %.
  Per-mode rows follow the overall ones. `eta_refresh` is the model asked again a third of the
  planned leg after departure (what a refresh after a hand-over sees).
- `eta` for scikit-learn's `GradientBoostingRegressor` (quantile loss) beside the
  `HistGradientBoostingRegressor` the service uses: the measurement behind the choice.
- `customs`: mean absolute error of the expected clearance time against the baseline of the
  training days' mean per goods category.
- `van_speeds`: the planner's own van ETA with static street speeds against the same ETA with the
  van speed factor per hour learnt from the training days (`VanSpeedProfile`; it scales the whole
  planned leg, stop time included, as an approximation of what the planner's matrices then give).
- `traffic`: van days with street closures on their routes, with and without live re-routing
  (`benchmarks.prediction_traffic`: on-time %, p95 lateness, van km, tour time, re-routes).
- `demand`: the demand forecast's error per area and hour (recent days weighted vs plain mean), and
  `prepositioning`: peak hours with and without staging vans (`benchmarks.prediction_staging`).
With `FINALMILE_PREDICTION_RUNS` pointing at a folder of `finalmile sim` run folders (each with its
`finalmile.db`), the same ETA rows are added for those days (`source` = `finalmile sim`): the model
trained on the first three quarters of the runs (by name) and tested on the rest — the real vehicle
simulators and the real planner, rather than the history simulator.
Results: benchmarks/results/prediction.csv.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fleet_manager.domain.notifications import DEFAULT_ETA_SPREAD_S
from fleet_manager.learning.customs_model import CustomsModel
from fleet_manager.learning.eta_model import EtaModel, training_rows
from fleet_manager.learning.features import TrainingTables, build_tables
from fleet_manager.learning.traffic_profile import VanSpeedProfile
from fleet_manager.store.db import Database
from fleet_manager.world import load_world
from sim_worlds.history_day import simulate_history, varied_days
from sim_worlds.scenario import load_scenario

from .prediction_staging import demand_rows, staging_rows
from .prediction_traffic import traffic_rows

NAME = "prediction"
SCENARIO = "helsinki_history"
SEED = 20261130
DAYS = (14, 4)  # training days, test days
DAYS_QUICK = (6, 2)
HUB = "bench-history"
TARGET_P90_MIN = 5.0
TARGET_COVERAGE = (75.0, 85.0)

logger = logging.getLogger(__name__)


def simulated_tables(train_days: int, test_days: int, folder: Path) -> tuple[TrainingTables, TrainingTables, str]:
    """Write the days into a SQLite store and read them back as (train, test) tables."""
    scenario = load_scenario(SCENARIO)
    world = load_world(scenario.world)
    database = Database(f"sqlite:///{folder / 'history.db'}")
    database.migrate()
    days = varied_days(scenario, train_days + test_days, seed=SEED)
    for day in days:
        stats = simulate_history(day, database, addresses=world.addresses, hub=world.hub, hub_id=HUB)
        logger.info("%s: %d orders, %d legs %s, %d at customs", day.date, stats.orders, stats.legs, stats.modes,
                    stats.customs_cleared)
    split_s = days[train_days].start_epoch_s - 3600.0  # orders created before the first test day's start
    with database.read() as session:
        train = build_tables(session.connection(), hub_ids=[HUB], until_s=split_s, timezone=scenario.timezone)
        test = build_tables(session.connection(), hub_ids=[HUB], since_s=split_s, timezone=scenario.timezone)
    database.dispose()
    return train, test, scenario.timezone


def _errors(point_s: np.ndarray, low_s: np.ndarray, high_s: np.ndarray, actual_s: np.ndarray) -> dict[str, Any]:
    error_min = np.abs(point_s - actual_s) / 60.0
    coverage = 100.0 * float(((low_s <= actual_s) & (actual_s <= high_s)).mean())
    p90 = float(np.percentile(error_min, 90))
    return {"n": len(actual_s), "abs_error_p50_min": round(float(np.percentile(error_min, 50)), 3),
            "abs_error_p90_min": round(p90, 3), "coverage_pct": round(coverage, 1),
            "window_mean_min": round(float((high_s - low_s).mean()) / 60.0, 2),
            "actual_median_min": round(float(np.median(actual_s)) / 60.0, 2),
            "p90_target_met": p90 < TARGET_P90_MIN,
            "coverage_target_met": TARGET_COVERAGE[0] <= coverage <= TARGET_COVERAGE[1]}


def eta_rows(model: EtaModel, test_legs: pd.DataFrame, method: str, elapsed_fraction: float = 0.0) -> list[dict]:
    """Model rows (overall, then per mode) at departure or a fraction of the planned leg later."""
    features, target, planned = training_rows(test_legs)
    expected_elapsed = features["planned_duration_s"] * elapsed_fraction
    at = np.isclose(features["elapsed_s"].to_numpy(), expected_elapsed.to_numpy())
    features, target, planned = features[at], target[at], planned[at]
    ratios = model.predict_ratios(features)
    actual = target * planned
    modes = features["mode_code"].map(lambda c: ("drone", "robot", "van")[int(c)]).to_numpy()
    rows = []
    for mode in ("all", "drone", "robot", "van"):
        mask = np.ones(len(actual), bool) if mode == "all" else modes == mode
        if mask.any():
            rows.append({"feature": "eta_refresh" if elapsed_fraction else "eta", "method": method, "mode": mode,
                         **_errors(ratios[mask, 1] * planned[mask], ratios[mask, 0] * planned[mask],
                                   ratios[mask, 2] * planned[mask], actual[mask])})
    return rows


def baseline_eta_rows(test_legs: pd.DataFrame) -> list[dict]:
    """Today's window: the planner's ETA ± 15 min (earliest not before departure)."""
    legs = test_legs[test_legs["planned_duration_s"].notna()]
    rows = []
    for mode in ("all", "drone", "robot", "van"):
        part = legs if mode == "all" else legs[legs["mode"] == mode]
        if len(part):
            planned = part["planned_duration_s"].to_numpy(float)
            rows.append({"feature": "eta", "method": "fixed ±15 min (today)", "mode": mode,
                         **_errors(planned, np.maximum(0.0, planned - DEFAULT_ETA_SPREAD_S),
                                   planned + DEFAULT_ETA_SPREAD_S, part["actual_duration_s"].to_numpy(float))})
    return rows


def van_speed_rows(train_legs: pd.DataFrame, test_legs: pd.DataFrame, timezone: str) -> list[dict]:
    """The planner's own van ETA (the point of today's window) with and without the learnt rush-hour speeds."""
    profile = VanSpeedProfile.learn(train_legs, timezone=timezone)
    vans = test_legs[(test_legs["mode"] == "van") & test_legs["planned_duration_s"].notna()]
    if vans.empty:
        return []
    actual = vans["actual_duration_s"].to_numpy(float)
    planned = vans["planned_duration_s"].to_numpy(float)
    factors = np.array([profile.factor_at(t) for t in vans["depart_at_s"]])
    rows = []
    for method, point in (("planner ETA, static street speeds (today)", planned),
                          ("planner ETA, learnt rush-hour van speeds", planned / factors)):
        error_min = np.abs(point - actual) / 60.0
        rows.append({"feature": "van_speeds", "method": method, "mode": "van", "n": len(actual),
                     "abs_error_p50_min": round(float(np.percentile(error_min, 50)), 3),
                     "abs_error_p90_min": round(float(np.percentile(error_min, 90)), 3)})
    return rows


def customs_rows(train: pd.DataFrame, test: pd.DataFrame, timezone: str) -> list[dict]:
    """Customs model against the mean clearance per goods category of the training days."""
    train, test = train[train["clearance_s"].notna()], test[test["clearance_s"].notna()]
    model = CustomsModel.train(train, seed=0, timezone=timezone)
    actual = test["clearance_s"].to_numpy(float)
    means = train.groupby("goods_category")["clearance_s"].mean()
    baseline = test["goods_category"].map(means).fillna(train["clearance_s"].mean()).to_numpy(float)
    rows = []
    for method, predicted in (("gradient boosting (origin, category, value)", model.predict_table(test)),
                              ("mean per category (baseline)", baseline)):
        error_min = np.abs(predicted - actual) / 60.0
        rows.append({"feature": "customs", "method": method, "mode": "all", "n": len(actual),
                     "mae_min": round(float(error_min.mean()), 2),
                     "abs_error_p50_min": round(float(np.percentile(error_min, 50)), 2),
                     "abs_error_p90_min": round(float(np.percentile(error_min, 90)), 2)})
    return rows


def sim_run_rows(folder: Path) -> list[dict[str, Any]]:
    """ETA rows on `finalmile sim` days: train on the first 3/4 of the run folders, test on the rest."""
    runs = sorted(p for p in folder.iterdir() if (p / "finalmile.db").is_file())
    if len(runs) < 2:
        logger.warning("%s holds %d sim run(s); need 2 or more", folder, len(runs))
        return []
    tables = []
    for run_dir in runs:
        database = Database(f"sqlite:///{run_dir / 'finalmile.db'}")
        with database.read() as session:
            tables.append(build_tables(session.connection(), timezone=load_scenario(SCENARIO).timezone).legs)
        database.dispose()
    cut = max(1, round(len(runs) * 0.75))
    train, test = pd.concat(tables[:cut], ignore_index=True), pd.concat(tables[cut:], ignore_index=True)
    model = EtaModel.train(train, timezone=load_scenario(SCENARIO).timezone, seed=0)
    rows = eta_rows(model, test, "HistGradientBoosting quantile + conformal (service)") + baseline_eta_rows(test)
    for row in rows:
        row.update(source="finalmile sim", train_days=cut, test_days=len(runs) - cut, train_legs=len(train))
    return rows


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rows for the runner."""
    train_days, test_days = DAYS_QUICK if getattr(args, "quick", False) else DAYS
    with tempfile.TemporaryDirectory(prefix="finalmile-prediction-") as folder:
        started = time.perf_counter()
        train, test, timezone = simulated_tables(train_days, test_days, Path(folder))
        simulated_s = time.perf_counter() - started
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    model = EtaModel.train(train.legs, timezone=timezone, seed=0)
    train_s = time.perf_counter() - started
    rows += eta_rows(model, test.legs, "HistGradientBoosting quantile + conformal (service)")
    rows += baseline_eta_rows(test.legs)
    rows += eta_rows(model, test.legs, "HistGradientBoosting quantile + conformal (service)", elapsed_fraction=1 / 3)
    started = time.perf_counter()
    classic = EtaModel.train(train.legs, timezone=timezone, seed=0, estimator="gbr")
    classic_s = time.perf_counter() - started
    rows += [r for r in eta_rows(classic, test.legs, "GradientBoosting quantile + conformal") if r["mode"] == "all"]
    rows += customs_rows(train.clearances, test.clearances, timezone)
    rows += van_speed_rows(train.legs, test.legs, timezone)
    rows += demand_rows(train.area_hours, test.area_hours, timezone)
    for row in rows:
        row.update(source="history_day", train_days=train_days, test_days=test_days, train_legs=len(train.legs))
    rows += traffic_rows(getattr(args, "quick", False), SEED)  # van days with incidents, with/without re-routing
    rows += staging_rows(getattr(args, "quick", False), SEED)  # peak hours with/without pre-positioning
    runs_folder = os.environ.get("FINALMILE_PREDICTION_RUNS")
    if runs_folder:
        rows += sim_run_rows(Path(runs_folder))
    load_1m = os.getloadavg()[0]
    for row in rows:
        row["load_avg_1m"] = round(load_1m, 1)
    logger.info("simulated and read %d days in %.1f s; trained in %.1f s (GradientBoosting %.1f s)",
                train_days + test_days, simulated_s, train_s, classic_s)
    return rows

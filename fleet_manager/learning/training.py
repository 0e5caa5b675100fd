"""Training from the store: tables from `features`, models fitted on the older days and measured on the newest.

`finalmile learn` calls `learn_from_store`; the benchmark calls the same pieces on simulated days.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..store.db import Database
from .demand_model import DemandForecast
from .eta_model import EtaModel, LearningError
from .features import build_tables
from .model_store import save_models
from .traffic_profile import VanSpeedProfile

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LearnResult:
    """Where the new version went and what it measured."""

    path: Path
    metrics: dict[str, Any]


def split_by_day(table: pd.DataFrame, time_column: str, test_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(older days, newest days): the newest `test_share` of the distinct days (at least one) are held out.

    With a single day there is nothing to hold out: everything trains and the test part is empty.
    """
    days = (table[time_column] // 86_400).astype(int)
    distinct = sorted(days.unique())
    if len(distinct) < 2:
        return table, table.iloc[0:0]
    held_out = set(distinct[-max(1, round(len(distinct) * test_share)):])
    mask = days.isin(held_out)
    return table[~mask], table[mask]


def learn_from_store(database: Database, *, models_dir: Path, hub_ids: Collection[str] | None, timezone: str,
                     seed: int = 0, test_share: float = 0.25) -> LearnResult:
    """Train the ETA model (and the customs model when there is customs history) and save a new version."""
    from .customs_model import CustomsModel

    with database.read() as session:
        tables = build_tables(session.connection(), hub_ids=hub_ids, timezone=timezone)
    metrics: dict[str, Any] = {"timezone": timezone, "hub_ids": sorted(hub_ids) if hub_ids else None,
                               "legs": len(tables.legs), "clearances": len(tables.clearances)}
    train_legs, test_legs = split_by_day(tables.legs, "depart_at_s", test_share)
    eta = EtaModel.train(train_legs, timezone=timezone, seed=seed)
    metrics["eta"] = {"train_legs": len(train_legs), "test": eta.evaluate(test_legs) if len(test_legs) else None}
    customs: CustomsModel | None = None
    cleared = tables.clearances[tables.clearances["clearance_s"].notna()]
    try:
        train_cl, test_cl = split_by_day(cleared, "arrived_at_s", test_share)
        customs = CustomsModel.train(train_cl, seed=seed, timezone=timezone)
        metrics["customs"] = {"train_clearances": len(train_cl),
                              "test": customs.evaluate(test_cl) if len(test_cl) else None}
    except LearningError as exc:
        logger.warning("no customs model: %s", exc)
    traffic = VanSpeedProfile.learn(train_legs, timezone=timezone)
    metrics["van_speed_factors"] = list(traffic.factors)
    demand: DemandForecast | None = None
    if not tables.area_hours.empty:
        train_days, test_days = _split_area_hours(tables.area_hours, test_share)
        demand = DemandForecast.learn(train_days, timezone=timezone)
        metrics["demand"] = {"train_days": demand.days,
                             "test": demand.evaluate(test_days) if len(test_days) else None}
        if len(train_days) < len(tables.area_hours):  # the service forecasts from every day it has
            demand = DemandForecast.learn(tables.area_hours, timezone=timezone)
    path = save_models(models_dir, metrics=metrics, eta=eta, customs=customs, traffic=traffic, demand=demand)
    return LearnResult(path=path, metrics=metrics)


def _split_area_hours(area_hours: pd.DataFrame, test_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(older days, newest days) of the area-hour table, as `split_by_day` splits the legs."""
    days = sorted(area_hours["local_date"].unique())
    if len(days) < 2:
        return area_hours, area_hours.iloc[0:0]
    held_out = set(days[-max(1, round(len(days) * test_share)):])
    mask = area_hours["local_date"].isin(held_out)
    return area_hours[~mask], area_hours[mask]

"""Trained models on disk, versioned: `<models_dir>/<version>/` holds each model and `metrics.json`.

A version is the UTC time of training (`20260130T101500Z`, a suffix when two land in one second),
so the newest sorts last. The model files are joblib pickles: load only folders this service (or
`finalmile learn`) wrote; a pickle from elsewhere can run code.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import sklearn

from .demand_model import DemandForecast
from .eta_model import EtaModel, LearningError, LegQuery
from .traffic_profile import VanSpeedProfile

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
TRAFFIC_FILE = "traffic.json"
DEMAND_FILE = "demand.json"
_FILES = {"eta": "eta.joblib", "customs": "customs.joblib"}


@dataclass(frozen=True)
class ModelSet:
    """The models of one version (a model not trained in it is None) and its metrics."""

    version: str
    path: Path
    eta: EtaModel | None
    customs: Any | None  # customs_model.CustomsModel
    metrics: dict[str, Any]
    traffic: VanSpeedProfile | None = None
    demand: DemandForecast | None = None


def save_models(models_dir: Path, *, metrics: dict[str, Any], eta: EtaModel | None = None,
                customs: Any | None = None, traffic: VanSpeedProfile | None = None,
                demand: DemandForecast | None = None, now: dt.datetime | None = None) -> Path:
    """Write a new version folder with the given models and metrics; returns its path."""
    if eta is None and customs is None and traffic is None and demand is None:
        raise LearningError("nothing to save: no model was trained")
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    models_dir.mkdir(parents=True, exist_ok=True)
    path, suffix = models_dir / stamp, 1
    while path.exists():
        suffix += 1
        path = models_dir / f"{stamp}-{suffix}"
    staging = models_dir / f".{path.name}.partial"  # a half-written folder is never the newest version
    staging.mkdir()
    for kind, model in (("eta", eta), ("customs", customs)):
        if model is not None:
            joblib.dump(model, staging / _FILES[kind])
    if traffic is not None:
        (staging / TRAFFIC_FILE).write_text(traffic.to_json())
    if demand is not None:
        (staging / DEMAND_FILE).write_text(demand.to_json())
    document = {"version": path.name, "sklearn": sklearn.__version__,
                "models": [k for k, m in (("eta", eta), ("customs", customs)) if m is not None], **metrics}
    (staging / METRICS_FILE).write_text(json.dumps(document, indent=1, sort_keys=True, default=float))
    staging.rename(path)
    return path


def list_versions(models_dir: Path) -> list[str]:
    """Version folders under `models_dir`, oldest first (none when it does not exist)."""
    if not models_dir.is_dir():
        return []
    return sorted(p.name for p in models_dir.iterdir() if p.is_dir() and (p / METRICS_FILE).is_file()
                  and not p.name.startswith("."))


def load_models(models_dir: Path, version: str | None = None) -> ModelSet | None:
    """The given version, or the newest; None when there is none. LearningError for a broken folder."""
    versions = list_versions(models_dir)
    if not versions:
        return None
    name = version or versions[-1]
    if name not in versions:
        raise LearningError(f"no model version {name!r} in {models_dir} (have: {', '.join(versions)})")
    path = models_dir / name
    try:
        metrics = json.loads((path / METRICS_FILE).read_text())
        loaded = {kind: joblib.load(path / file) if (path / file).is_file() else None for kind, file in _FILES.items()}
        traffic = VanSpeedProfile.from_json((path / TRAFFIC_FILE).read_text()) if (path / TRAFFIC_FILE).is_file() \
            else None
        demand = DemandForecast.from_json((path / DEMAND_FILE).read_text()) if (path / DEMAND_FILE).is_file() \
            else None
    except (OSError, ValueError, EOFError, ImportError, AttributeError) as exc:
        raise LearningError(f"model version {name} in {models_dir} cannot be loaded: {exc}") from exc
    if metrics.get("sklearn") != sklearn.__version__:
        logger.warning("model %s was trained with scikit-learn %s, this is %s", name, metrics.get("sklearn"),
                       sklearn.__version__)
    if loaded["eta"] is not None and not isinstance(loaded["eta"], EtaModel):
        raise LearningError(f"{path / _FILES['eta']} is not an ETA model")
    if loaded["eta"] is not None:
        try:  # a model pickled by another version of this code may load and still not predict
            loaded["eta"].predict([LegQuery(mode="van", depart_at_s=0.0, planned_duration_s=600.0)])
        except Exception as exc:
            raise LearningError(f"the ETA model of version {name} in {models_dir} cannot predict: {exc}") from exc
    return ModelSet(version=name, path=path, eta=loaded["eta"], customs=loaded["customs"], metrics=metrics,
                    traffic=traffic, demand=demand)

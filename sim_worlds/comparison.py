"""The three-way fleet comparison of a day: its table (printed by `finalmile sim`) and its report page.

Each variant (`fleet_variants`) is a whole simulated day with its own run folder and `kpis.json`;
this module only lines their KPIs up: parcels delivered on time, cost per parcel (the scenario's
one cost model), p95 delivery time, km and Wh by mode, and which vehicles did the work (vehicles
that moved, trips launched from a van). It also reads, from a run's store and fleet file, the
fleet-use figures `report.compute_kpis` adds to every run.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import yaml

MODES = ("drone", "robot", "van")
_MODE_COLOURS = {"drone": "#d62728", "robot": "#2ca02c", "van": "#1f77b4"}


def fleet_use(run_dir: Path, database_url: str, hub_id: str) -> dict[str, Any]:
    """Which vehicles the run had carried by vans (its fleet file) and the trips launched from a van, by kind."""
    from sqlalchemy import select

    from fleet_manager.store.db import Database
    from fleet_manager.store.models import MissionRow

    fleet_path = run_dir / "fleet.yaml"
    vehicles = (yaml.safe_load(fleet_path.read_text()) or {}).get("vehicles", []) if fleet_path.exists() else []
    kinds = {v["vehicle_id"]: v["kind"] for v in vehicles}
    carried = Counter(v["kind"] for v in vehicles if v.get("carried_by"))
    database = Database(database_url)
    try:
        with database.read() as session:
            rows = session.execute(select(MissionRow.vehicle_id, MissionRow.details).where(
                MissionRow.hub_id == hub_id)).all()
    finally:
        database.dispose()
    launched = Counter(kinds.get(vehicle_id, "unknown") for vehicle_id, details in rows
                       if isinstance(details, dict) and details.get("launched_from"))
    return {"vehicles_carried": {k: carried.get(k, 0) for k in ("drone", "robot")},
            "van_launched_trips": {k: launched.get(k, 0) for k in ("drone", "robot")}}


def comparison_row(variant: str, kpis: Mapping[str, Any]) -> dict[str, Any]:
    """One variant's line of the table, from its run's KPIs."""
    return {
        "fleet_variant": variant,
        "orders_total": kpis.get("orders_total"),
        "delivered": (kpis.get("delivered") or 0) + (kpis.get("delivered_to_locker") or 0),
        "delivered_on_time": kpis.get("delivered_on_time"),
        "cost_per_parcel": kpis.get("cost_per_parcel"),
        "delivery_time_p95_s": kpis.get("delivery_time_p95_s"),
        "km_by_mode": dict(kpis.get("km_by_mode") or {}),
        "energy_wh_by_mode": dict(kpis.get("energy_wh_by_mode") or {}),
        "vehicles": dict(kpis.get("vehicles") or {}),
        "vehicles_carried": dict(kpis.get("vehicles_carried") or {}),
        "van_launched_trips": dict(kpis.get("van_launched_trips") or {}),
        "deliveries_by_mode": dict(kpis.get("deliveries_by_mode") or {}),
        "geofence_violations": kpis.get("geofence_violations"),
        "terrain_clearance_violations": kpis.get("terrain_clearance_violations"),
        "wall_s": kpis.get("wall_s"),
    }


def _by_mode(values: Mapping[str, Any], digits: int) -> str:
    return " ".join(f"{m[0]}{float(values.get(m, 0.0)):.{digits}f}" for m in MODES)


def comparison_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as a plain-text table (km and Wh by mode as d/r/v = drone, robot, van)."""
    header = ("fleet", "on time", "delivered", "EUR/parcel", "p95 min", "km d/r/v", "Wh d/r/v", "launched d/r")
    lines = []
    for row in rows:
        p95 = row.get("delivery_time_p95_s")
        launched = row.get("van_launched_trips") or {}
        lines.append((
            str(row["fleet_variant"]), str(row.get("delivered_on_time")),
            f"{row.get('delivered')}/{row.get('orders_total')}", str(row.get("cost_per_parcel")),
            "-" if p95 is None else f"{p95 / 60.0:.1f}", _by_mode(row["km_by_mode"], 1),
            _by_mode(row["energy_wh_by_mode"], 0), f"{launched.get('drone', 0)}/{launched.get('robot', 0)}",
        ))
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                     for line in (header, *lines))


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _bars(rows: Sequence[Mapping[str, Any]], key: str, title: str, unit: str) -> str:
    fig, ax = plt.subplots(figsize=(5, 3))
    names = [str(r["fleet_variant"]) for r in rows]
    ax.bar(names, [float(r.get(key) or 0.0) for r in rows], color="#555555")
    ax.set_title(title)
    ax.set_ylabel(unit)
    fig.tight_layout()
    return _png(fig)


def _stacked(rows: Sequence[Mapping[str, Any]], key: str, title: str, unit: str) -> str:
    fig, ax = plt.subplots(figsize=(5, 3))
    names = [str(r["fleet_variant"]) for r in rows]
    bottom = np.zeros(len(rows))
    for mode in MODES:
        values = np.array([float(r[key].get(mode, 0.0)) for r in rows])
        ax.bar(names, values, bottom=bottom, color=_MODE_COLOURS[mode], label=mode)
        bottom += values
    ax.set_title(title)
    ax.set_ylabel(unit)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def write_comparison(folder: Path, title: str, rows: Sequence[Mapping[str, Any]]) -> Path:
    """comparison.json and comparison.html (the table and its plots) in `folder`; returns the HTML path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "comparison.json").write_text(json.dumps(list(rows), indent=2, sort_keys=True))
    p95 = [{**r, "delivery_time_p95_min": (r.get("delivery_time_p95_s") or 0.0) / 60.0} for r in rows]
    images = [
        _bars(rows, "delivered_on_time", "Parcels delivered on time", "parcels"),
        _bars(rows, "cost_per_parcel", "Cost per parcel delivered", "EUR"),
        _bars(p95, "delivery_time_p95_min", "p95 delivery time (ready -> delivered)", "min"),
        _stacked(rows, "km_by_mode", "Distance by mode", "km"),
        _stacked(rows, "energy_wh_by_mode", "Energy by mode", "Wh"),
    ]
    links = "".join(f'<li><a href="{html.escape(str(r["fleet_variant"]))}/report.html">'
                    f'{html.escape(str(r["fleet_variant"]))}</a></li>' for r in rows)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}img{{max-width:48%}}pre{{font-size:13px}}</style>
</head><body><h1>{html.escape(title)}</h1>
<p>The same demand and seed, three fleets; the same vehicles wherever they are used; one cost model.</p>
<pre>{html.escape(comparison_table(rows))}</pre>
{"".join(f'<img src="data:image/png;base64,{image}">' for image in images)}
<h2>Each run's report</h2><ul>{links}</ul></body></html>"""
    path = folder / "comparison.html"
    path.write_text(page)
    return path

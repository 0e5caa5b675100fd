"""KPIs and the HTML report of a simulated day (`var/runs/<id>/kpis.json`, `report.html`).

Order figures come from the store's audit trail (every status change with its time); distance,
energy, battery and geofence conformance come from what the vehicles themselves reported
(`TrackRecorder`), never from the plan.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.patches import Polygon as PolygonPatch

from mission_planner.airspace import ZoneKind

from .comparison import fleet_use
from .day import RunResult
from .special_kpis import cold_chain_kpis, typed_address_kpis
from .tracks import reserve_breaches

logger = logging.getLogger(__name__)

TERMINAL_OR_KNOWN = frozenset({
    "received", "awaiting_customs", "ready", "planned", "assigned", "loaded", "out_for_delivery", "handed_off",
    "delivered", "attempt_failed", "rescheduled", "diverted_to_locker", "delivered_to_locker", "picked_up",
    "returned_to_hub", "cancelled", "address_review", "on_hold", "needs_review",
})
_MODE_COLOURS = {"drone": "#d62728", "robot": "#2ca02c", "van": "#1f77b4"}


def _order_history(database_url: str, hub_id: str) -> tuple[list[Any], dict[str, list[Any]]]:
    from fleet_manager.store import order_queries
    from fleet_manager.store.db import Database

    database = Database(database_url)
    try:
        with database.read() as session:
            orders: list[Any] = []
            cursor = None
            while True:
                page = order_queries.list_orders(session, hub_ids=[hub_id], limit=500, cursor=cursor)
                orders += page.orders
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            events = {o.order_id: order_queries.list_order_events(session, order_id=o.order_id) for o in orders}
    finally:
        database.dispose()
    return orders, events


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def compute_kpis(result: RunResult) -> dict[str, Any]:
    """The day's KPIs (see the module docstring for where each comes from)."""
    scenario = result.scenario
    orders, events = _order_history(result.database_url, scenario.hub_id)
    delivered = [o for o in orders if o.status.value in ("delivered",)]
    to_locker = [o for o in orders if o.status.value in ("delivered_to_locker", "picked_up")]
    durations: list[float] = []
    on_time = 0
    failed_attempts = 0
    mode_counts: Counter[str] = Counter()
    for order in orders:
        history = events[order.order_id]
        failed_attempts += sum(1 for e in history if e.to_status.value == "attempt_failed")
        ready_at = next((e.at_s for e in history if e.to_status.value == "ready"), None)
        done = next((e for e in history if e.to_status.value in ("delivered", "delivered_to_locker")), None)
        if done is None:
            continue
        if order.mode is not None:
            mode_counts[order.mode.value] += 1
        if ready_at is not None:
            durations.append(done.at_s - ready_at)
        if order.window_end_s is None or done.at_s <= order.window_end_s:
            on_time += 1
    done_count = len(delivered) + len(to_locker)
    km_by_mode: dict[str, float] = {"drone": 0.0, "robot": 0.0, "van": 0.0}
    energy_by_mode: dict[str, float] = {"drone": 0.0, "robot": 0.0, "van": 0.0}
    hours_by_mode: dict[str, float] = {"drone": 0.0, "robot": 0.0, "van": 0.0}
    min_battery = 100.0
    for track in result.tracks.values():
        mode = track.kind.value
        km_by_mode[mode] += track.distance_m / 1000.0
        energy_by_mode[mode] += track.energy_wh
        hours_by_mode[mode] += track.busy_s / 3600.0
        if track.samples:
            min_battery = min(min_battery, track.min_battery_pct)
    prices = scenario.prices
    cost_eur = sum(
        energy_by_mode[m] * prices.energy_eur_per_wh
        + km_by_mode[m] * prices.modes[m].eur_per_km
        + hours_by_mode[m] * prices.modes[m].eur_per_hour
        for m in km_by_mode
    )
    statuses = Counter(o.status.value for o in orders)
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "drone_backend": result.drone_backend,
        "simulated_hours": round(scenario.duration_s / 3600.0, 2),
        "speedup": scenario.speedup,
        "wall_s": round(result.wall_s, 1),
        "orders_total": len(orders),
        "delivered": len(delivered),
        "delivered_to_locker": len(to_locker),
        "delivered_on_time": on_time,
        "on_time_pct": round(100.0 * on_time / done_count, 1) if done_count else None,
        "delivery_time_p50_s": _percentile(durations, 50),
        "delivery_time_p95_s": _percentile(durations, 95),
        "failed_attempts": failed_attempts,
        "cost_per_parcel": round(cost_eur / done_count, 2) if done_count else None,
        "cost_total_eur": round(cost_eur, 2),
        "energy_wh_by_mode": {m: round(v, 1) for m, v in energy_by_mode.items()},
        "km_by_mode": {m: round(v, 2) for m, v in km_by_mode.items()},
        "vehicle_hours_by_mode": {m: round(v, 2) for m, v in hours_by_mode.items()},
        "deliveries_by_mode": dict(mode_counts),
        "min_battery_reserve_pct": round(min_battery, 1),
        "min_battery_pct_by_vehicle": {v: round(t.min_battery_pct, 1) for v, t in sorted(result.tracks.items())
                                       if t.samples},
        "battery_reserve_breaches": reserve_breaches(result.tracks),
        "geofence_violations": len(result.geofence_violations),
        # drones outside 30..120 m above the ground (episodes from their own reports); None without terrain
        "terrain_clearance_violations": None if result.terrain_clearance is None else len(result.terrain_clearance),
        "webhooks_delivered": result.webhook_counts.get("delivered", 0),
        "webhooks_dead_lettered": result.webhook_counts.get("dead_lettered", 0),
        "webhooks_received_by_backend": result.backend_stats.webhooks_received,
        "webhook_bad_signatures": result.backend_stats.bad_signatures,
        "webhook_out_of_order": result.backend_stats.out_of_order,
        "orders_by_status": dict(sorted(statuses.items())),
        "unknown_statuses": sorted(set(statuses) - TERMINAL_OR_KNOWN),
        "alerts": dict(Counter(a.kind for a in result.alerts)),
        "zones_published": result.backend_stats.zones_published,
        "vehicles": {kind: sum(1 for t in result.tracks.values() if t.kind.value == kind)
                     for kind in ("drone", "robot", "van")},
        **fleet_use(result.run_dir, result.database_url, scenario.hub_id),
        "skipped": result.skipped,
        "backend_api_errors": len(result.backend_stats.api_errors),
        "backend_api_retries": result.backend_stats.api_retries,
        **cold_chain_kpis(result.database_url, scenario.hub_id, orders, events),
        **typed_address_kpis(result.backend_stats.address_outcomes, result.backend_stats.reviews_decided),
    }


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _map_png(result: RunResult) -> str:
    world = result.world
    fig, ax = plt.subplots(figsize=(9, 11))
    streets = [((world.street_graph.nodes[u]["x_m"], world.street_graph.nodes[u]["y_m"]),
                (world.street_graph.nodes[v]["x_m"], world.street_graph.nodes[v]["y_m"]))
               for u, v in world.street_graph.edges]
    ax.add_collection(LineCollection(streets, colors="#999999", linewidths=0.6))
    for building in world.buildings:
        ax.add_patch(PolygonPatch(list(building.footprint.exterior.coords), closed=True, facecolor="#e3dccd",
                                  edgecolor="#c0b49a", linewidth=0.3))
    for zone in world.airspace.zones:
        if zone.kind is ZoneKind.OPERATING_AREA:
            continue
        ax.add_patch(PolygonPatch(list(zone.polygon.exterior.coords), closed=True, facecolor="#d62728", alpha=0.2,
                                  edgecolor="#d62728"))
    for event in result.scenario.zone_events:
        ring = [world.frame.to_local(lat, lon) for lon, lat in event.polygon_lonlat()]
        ax.add_patch(PolygonPatch(ring, closed=True, facecolor="#ff7f0e", alpha=0.25, edgecolor="#ff7f0e",
                                  linestyle="--", label=f"pop-up zone {event.zone_id}"))
    for track in result.tracks.values():
        if len(track.points) < 2:
            continue
        xy = [world.frame.to_local(lat, lon) for _, lat, lon in track.points]
        ax.plot([p[0] for p in xy], [p[1] for p in xy], color=_MODE_COLOURS[track.kind.value], linewidth=0.8,
                alpha=0.7)
    ax.scatter([world.hub.x_m], [world.hub.y_m], marker="*", s=250, color="#9467bd", edgecolor="black", zorder=5)
    ax.scatter([s.x_m for s in world.lockers], [s.y_m for s in world.lockers], marker="s", s=60, color="#17becf",
               edgecolor="black", zorder=5)
    for mode, colour in _MODE_COLOURS.items():
        ax.plot([], [], color=colour, label=f"{mode} tracks")
    ax.legend(loc="lower left", fontsize=8)
    ax.autoscale()
    ax.set_aspect("equal")
    ax.set_title("Tracks of the day (vehicles' own reported positions)")
    ax.set_xlabel("m east of the hub")
    ax.set_ylabel("m north of the hub")
    return _png(fig)


def _bar_png(title: str, values: dict[str, float], unit: str) -> str:
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(list(values), list(values.values()), color=[_MODE_COLOURS.get(k, "#777777") for k in values])
    ax.set_title(title)
    ax.set_ylabel(unit)
    fig.tight_layout()
    return _png(fig)


def _timeline_png(result: RunResult, orders_by_hour: dict[str, list[float]]) -> str:
    fig, ax = plt.subplots(figsize=(8, 3))
    for label, stamps in orders_by_hour.items():
        if stamps:
            hours = (np.array(sorted(stamps)) - result.scenario.start_epoch_s) / 3600.0
            ax.step(hours, np.arange(1, len(hours) + 1), where="post", label=label)
    ax.set_xlabel("hours since start of day")
    ax.set_ylabel("orders (cumulative)")
    ax.legend(fontsize=8)
    ax.set_title("Orders created and delivered over the day")
    fig.tight_layout()
    return _png(fig)


def write_report(result: RunResult, kpis: dict[str, Any]) -> Path:
    """Write kpis.json and report.html into the run folder; returns the folder."""
    run_dir = result.run_dir
    (run_dir / "kpis.json").write_text(json.dumps(kpis, indent=2, sort_keys=True))
    if result.terrain_clearance is not None:  # each episode (vehicle, kind, times, worst height and where)
        episodes = [{**dataclasses.asdict(e), "kind": str(e.kind), "samples": samples}
                    for e, samples in zip(result.terrain_clearance, result.clearance_samples, strict=True)]
        (run_dir / "terrain_clearance.json").write_text(json.dumps(episodes, indent=1))
    orders, events = _order_history(result.database_url, result.scenario.hub_id)
    created = [o.created_at_s for o in orders]
    delivered = [e.at_s for o in orders for e in events[o.order_id]
                 if e.to_status.value in ("delivered", "delivered_to_locker")]
    images = {
        "map": _map_png(result),
        "timeline": _timeline_png(result, {"created": created, "delivered": delivered}),
        "km": _bar_png("Distance by mode", kpis["km_by_mode"], "km"),
        "energy": _bar_png("Energy by mode", kpis["energy_wh_by_mode"], "Wh"),
    }
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(json.dumps(v))}</td></tr>" for k, v in sorted(kpis.items())
    )
    alerts = "".join(
        f"<li>{html.escape(result.scenario.local_time(a.at_s).strftime('%H:%M:%S'))} {html.escape(a.vehicle_id)} "
        f"<b>{html.escape(a.kind)}</b>: {html.escape(a.message)}</li>"
        for a in result.alerts[:200]
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>FinalMile run {html.escape(run_dir.name)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}}img{{max-width:100%}}</style></head><body>
<h1>FinalMile simulated day: {html.escape(result.scenario.name)} (seed {result.scenario.seed})</h1>
<p>{html.escape(result.scenario.description)}<br>Drone back-end: <b>{html.escape(result.drone_backend)}</b>;
world {html.escape(result.world.name)}; {kpis['simulated_hours']} simulated hours in {kpis['wall_s']} s wall.</p>
<h2>KPIs</h2><table>{rows}</table>
<h2>Map of the day</h2><img src="data:image/png;base64,{images['map']}">
<h2>Orders over the day</h2><img src="data:image/png;base64,{images['timeline']}">
<h2>Distance and energy</h2><img src="data:image/png;base64,{images['km']}">
<img src="data:image/png;base64,{images['energy']}">
<h2>Alerts ({len(result.alerts)})</h2><ul>{alerts}</ul>
</body></html>"""
    (run_dir / "report.html").write_text(page)
    return run_dir


def kpi_table(kpis: dict[str, Any]) -> str:
    """The headline KPIs as a plain-text table."""
    keys = ("fleet_variant", "orders_total", "delivered", "delivered_to_locker", "delivered_on_time", "on_time_pct",
            "delivery_time_p50_s", "delivery_time_p95_s", "failed_attempts", "cost_per_parcel", "energy_wh_by_mode",
            "km_by_mode", "vehicles_carried", "van_launched_trips", "min_battery_reserve_pct",
            "battery_reserve_breaches", "geofence_violations", "terrain_clearance_violations", "webhooks_delivered",
            "webhooks_dead_lettered",
            "drone_backend", "wall_s", "cold_chain_parcels", "cold_chain_excursions", "max_minutes_out_of_conditioning",
            "addresses_typed", "addresses_resolved", "addresses_reviewed", "addresses_wrong")
    width = max(len(k) for k in keys)
    return "\n".join(f"{k.ljust(width)}  {json.dumps(kpis.get(k))}" for k in keys)

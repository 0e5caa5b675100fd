"""Demand-forecast and pre-positioning rows of `python -m benchmarks prediction`.

`demand_rows`: the demand forecast (`fleet_manager.learning.demand_model.DemandForecast`, recent days
weighted) against the unweighted per (area, hour) mean, on the history simulator's held-out days:
mean absolute error of the expected orders per area and hour.

`staging_rows`: peak hours with and without pre-positioning. A synthetic demand with a fixed peak
(11:00-12:00, `peak_orders` more orders in `HOT_AREAS` grid cells 0.7-2.5 km from the Helsinki hub,
`BACKGROUND` an hour elsewhere) gives `HISTORY_DAYS` days of area-hour history; the forecast learnt
from them and the service's own `staging_points` place the vans. Each test day (its own seed) is
played on the van simulator's physics (`VanSim`, 1 s steps) from 10:30 (the staging lead) with
`vans` vans and one simple dispatch rule for every arm (every 30 s an idle van takes up to `BATCH`
of the oldest waiting orders in nearest-neighbour order, then returns to the hub). Arms:
- no staging: vans wait at the hub;
- staged, parcels at the hub (what the service does): staged vans first drive back to the hub to load;
- staged, parcels aboard (not built; clairvoyant bound): a staged van's first tour starts where it stands.
Figures over the orders created in the peak hour: on-time % (delivered within `PROMISE_S` of being
ordered), p95 and median order-to-door time (min), van km per day. The dispatch rule stands in for the
service's planner (no solver, no ETA windows); the rows compare staging, not the planner. Two
`REGIMES`: the fleet comfortably sized for the peak, and a strained one (fewer vans, more orders).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pandas as pd

from fleet_manager.adapters.base import Mission, MissionStep, StepKind
from fleet_manager.adapters.van_adapter import mission_to_wire
from fleet_manager.learning.areas import area_of
from fleet_manager.learning.demand_model import DemandForecast
from fleet_manager.prepositioning import staging_points
from fleet_manager.world import World, load_world
from mission_planner.ground_paths import GroundNetwork
from sim_worlds.vans import build_vans

REGIMES = (("3 vans, peak ~18 orders", 3, 18), ("2 vans, peak ~30 orders (strained)", 2, 30))
BATCH = 5
HOT_AREAS = 2
PEAK_HOUR = 11
BACKGROUND = 4
HISTORY_DAYS = 14
PROMISE_S = 45 * 60.0
STOP_S = 120.0
LEAD_S = 1800.0
DAY0_S = 1_749_686_400.0  # 2025-06-12 00:00 UTC (the forecast runs in UTC here)
DAYS = 10
DAYS_QUICK = 4
ARMS = ("no staging", "staged, parcels at the hub (service)", "staged, parcels aboard (not built, bound)")


def demand_rows(train: pd.DataFrame, test: pd.DataFrame, timezone: str) -> list[dict[str, Any]]:
    """Forecast error per (area, hour) on held-out days: recent-weighted model against the plain mean."""
    rows = []
    for method, half_life in (("per area x hour, recent days weighted (service)", 7.0),
                              ("per area x hour, plain mean", None)):
        forecast = DemandForecast.learn(train, timezone=timezone, half_life_days=half_life)
        rows.append({"feature": "demand", "method": method, "mode": "all", "n": int(test["orders"].sum()),
                     **forecast.evaluate(test)})
    return rows


def _hot_areas(world: World, rng: random.Random) -> dict[str, list[Any]]:
    """`HOT_AREAS` grid cells 0.7-2.5 km from the hub with at least 3 addresses each, and their addresses."""
    hub = world.hub
    cells: dict[str, list[Any]] = {}
    for b in world.addresses:
        if 700.0 <= float(np.hypot(b.x_m - hub.x_m, b.y_m - hub.y_m)) <= 2500.0:
            cells.setdefault(area_of(b.latitude_deg, b.longitude_deg), []).append(b)
    usable = sorted(a for a, bs in cells.items() if len(bs) >= 3)
    return {a: cells[a] for a in rng.sample(usable, HOT_AREAS)}


def _orders(world: World, hot: dict[str, list[Any]], rng: random.Random, day_s: float,
            hours: range, peak_orders: int) -> list[tuple[float, Any]]:
    """(created epoch s, building) of one day: background every hour, the peak in the hot areas."""
    nprng = np.random.default_rng(rng.randrange(2**32))
    out = []
    for hour in hours:
        start_s = day_s + hour * 3600.0
        for _ in range(nprng.poisson(BACKGROUND)):
            out.append((start_s + rng.uniform(0, 3600), rng.choice(world.addresses)))
        if hour == PEAK_HOUR:
            for _ in range(nprng.poisson(peak_orders)):
                out.append((start_s + rng.uniform(0, 3600), rng.choice(hot[rng.choice(sorted(hot))])))
    return sorted(out, key=lambda o: o[0])


def _history(world: World, hot: dict[str, list[Any]], rng: random.Random, peak_orders: int) -> pd.DataFrame:
    counts: dict[tuple[str, str, int], int] = {}
    for day in range(HISTORY_DAYS):
        day_s = DAY0_S - (HISTORY_DAYS - day) * 86_400.0
        date = pd.Timestamp(day_s, unit="s").date().isoformat()
        for created_s, b in _orders(world, hot, rng, day_s, range(8, 16), peak_orders):
            key = (area_of(b.latitude_deg, b.longitude_deg), date, int((created_s - day_s) // 3600))
            counts[key] = counts.get(key, 0) + 1
    return pd.DataFrame([{"hub_id": "bench", "area": a, "local_date": d, "local_hour": h, "orders": n,
                          "attempts": 0, "failed_attempts": 0} for (a, d, h), n in sorted(counts.items())])


def _tour(world: World, streets: GroundNetwork, start_xy: tuple[float, float], picked: list[tuple[str, Any]],
          via_hub: bool, mission_id: str) -> Mission:
    """Deliveries in nearest-neighbour order by street time from the start (the hub when loading), then home."""
    hub = world.hub
    steps = [MissionStep(StepKind.GOTO, hub.latitude_deg, hub.longitude_deg)] if via_hub else []
    here = streets.nearest_node(*((hub.x_m, hub.y_m) if via_hub else start_xy))
    left = list(picked)
    while left:
        nodes = [streets.nearest_node(b.x_m, b.y_m) for _o, b in left]
        best = int(np.argmin([streets.path(here, n).duration_s for n in nodes]))
        order_id, b = left.pop(best)
        here = nodes[best]
        steps.append(MissionStep(StepKind.DELIVER, b.latitude_deg, b.longitude_deg, order_id=order_id))
    steps.append(MissionStep(StepKind.RETURN))
    return Mission(mission_id, tuple(steps))


def _play(world: World, streets: GroundNetwork, forecast: DemandForecast, orders: list[tuple[float, Any]],
          day_s: float, arm: int, van_count: int) -> dict[str, Any]:
    vans = build_vans(world, van_count, stop_duration_s=STOP_S)
    start_s = day_s + PEAK_HOUR * 3600.0 - LEAD_S
    staged: set[str] = set()
    if arm:
        points = staging_points(forecast, PEAK_HOUR, van_count, world.frame, streets)
        for van, point in zip(vans, points, strict=False):
            goto = MissionStep(StepKind.GOTO, point.latitude_deg, point.longitude_deg)
            van.start_mission(mission_to_wire(Mission(f"{van.vehicle_id}-stage", (goto,))), start_s)
            staged.add(van.vehicle_id)
    pending = [(f"o{i}", created_s, b) for i, (created_s, b) in enumerate(orders) if created_s >= start_s - 1800]
    pending = [p for p in pending if p[1] >= day_s + 10 * 3600]
    created = {o: c for o, c, _b in pending}
    delivered: dict[str, float] = {}
    now_s = start_s
    end_s = day_s + 16 * 3600.0
    while now_s < end_s and (len(delivered) < len(created)):
        now_s += 1.0
        for van in vans:
            van.advance(1.0, now_s)
            for message in van.outbox:
                if message.get("what") == "parcel_handed_over":
                    delivered[message["detail"]] = message["stamp_s"]
            van.outbox.clear()
        if (now_s - start_s) % 30:
            continue
        for van in vans:
            waiting = [(o, b) for o, c, b in pending if c <= now_s]
            if van.mission is not None or not waiting:
                continue
            picked = waiting[:BATCH]
            taken = {o for o, _b in picked}
            pending = [p for p in pending if p[0] not in taken]
            aboard = arm == 2 and van.vehicle_id in staged  # the bound: its first tour needs no loading
            mission = _tour(world, streets, (van.x_m, van.y_m), picked, via_hub=not aboard and van.vehicle_id in staged,
                            mission_id=f"{van.vehicle_id}-{int(now_s)}")
            staged.discard(van.vehicle_id)  # back at the hub after this tour either way
            van.start_mission(mission_to_wire(mission), now_s)
    peak = [o for o, c in created.items() if day_s + PEAK_HOUR * 3600 <= c < day_s + (PEAK_HOUR + 1) * 3600]
    door_s = [delivered.get(o, end_s) - created[o] for o in peak]
    return {"door_s": door_s, "km": sum(v.odometer_m for v in vans) / 1000.0}


def staging_rows(quick: bool, seed: int) -> list[dict[str, Any]]:
    """One row per regime and arm over the same days and orders."""
    world = load_world("helsinki")
    streets = GroundNetwork(world.street_graph, speed_m_s=10.0, use_edge_speed=True)
    days = DAYS_QUICK if quick else DAYS
    rows = []
    for regime, van_count, peak_orders in REGIMES:
        rng = random.Random(seed)
        hot = _hot_areas(world, rng)
        forecast = DemandForecast.learn(_history(world, hot, rng, peak_orders), timezone="UTC")
        played: dict[int, list[dict[str, Any]]] = {arm: [] for arm in range(len(ARMS))}
        for day in range(days):
            orders = _orders(world, hot, random.Random(seed + 1000 + day), DAY0_S, range(10, 13), peak_orders)
            for arm in range(len(ARMS)):
                played[arm].append(_play(world, streets, forecast, orders, DAY0_S, arm, van_count))
        for arm, results in played.items():
            door = np.array([x for r in results for x in r["door_s"]])
            rows.append({"feature": "prepositioning", "method": ARMS[arm], "mode": "van", "regime": regime,
                         "n": len(door), "days": days,
                         "peak_hours": ",".join(str(h) for h in forecast.peak_hours(1.5)),
                         "on_time_pct": round(100 * float(np.mean(door <= PROMISE_S)), 1),
                         "door_p95_min": round(float(np.percentile(door, 95)) / 60, 1),
                         "door_p50_min": round(float(np.median(door)) / 60, 1),
                         "van_km_per_day": round(float(np.mean([r["km"] for r in results])), 2)})
    return rows

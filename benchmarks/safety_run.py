"""Run randomised safety days (`safety_days.SafetyDay`) through `finalmile sim`'s day runner and count them.

One day = `sim_worlds.day.run_day` (mavsim drones, the van simulator, the simulated backend, the
fleet manager's runtime over its real protocols) with the drones' links through a `LinkRelay`,
and observers that count every vehicle's telemetry (`safety_counts.TelemetryCounter`). At the
end the store is read for lost, stuck and doubly delivered orders. Days run in separate
processes (`workers` at a time); a day that raises is a crash, with its error in the row.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import multiprocessing
import os
import re
import time
import traceback
from pathlib import Path
from typing import Any

from .link_relay import LinkRelay
from .safety_counts import TelemetryCounter, account_orders, drive_link_drops, event_zone, sleep_until
from .safety_days import BatteryDrain, SafetyDay

logger = logging.getLogger(__name__)

REACTION_WALL_S = 0.5  # the fleet manager's reaction to a new zone, in wall time (see safety_counts)
COUNTED = ("geofence_violations", "terrain_violations", "reserve_breaches", "lost_orders", "stuck_orders",
           "double_deliveries", "crashes")


def run_days(days: list[SafetyDay], runs_dir: Path, *, workers: int) -> list[dict[str, Any]]:
    """Every day's row (in day order), `workers` days at a time in their own processes."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    if workers <= 1:
        return [run_safety_day(day, runs_dir) for day in days]
    context = multiprocessing.get_context("spawn")  # a fresh interpreter per worker: no inherited loops or threads
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(run_safety_day, day, runs_dir) for day in days]
        rows = []
        for day, future in zip(days, futures, strict=True):
            try:
                rows.append(future.result())
            except Exception as exc:  # a worker that died (killed, out of memory) is a crashed day
                rows.append(_crash_row(day, f"worker died: {exc!r}", 0.0))
            logger.info("day %d: %s", day.index, {k: rows[-1].get(k) for k in COUNTED})
    return rows


def total_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One row summing the days."""
    total: dict[str, Any] = {"day": "total", "seed": "", "orders": sum(r.get("orders") or 0 for r in rows),
                             "finished": sum(r.get("finished") or 0 for r in rows)}
    for key in ("zones", "link_drops", "caught_in_zone", "entered_before_reaction", "drone_releases",
                "waiting_for_capacity", *COUNTED):
        total[key] = sum(r.get(key) or 0 for r in rows)
    terrain = [r["terrain_violations"] for r in rows if r.get("terrain_violations") is not None]
    total["terrain_violations"] = sum(terrain) if terrain else None  # None: no day was in a world with terrain
    total["caught_max_dwell_s"] = max((r.get("caught_max_dwell_s") or 0.0 for r in rows), default=0.0)
    total["min_battery_pct"] = min((r["min_battery_pct"] for r in rows if r.get("min_battery_pct") is not None),
                                   default=None)
    total["wall_s"] = round(sum(r.get("wall_s") or 0.0 for r in rows), 1)
    total["days"] = len(rows)
    return total


def run_safety_day(day: SafetyDay, runs_dir: Path) -> dict[str, Any]:
    """Run one day and return its row; never raises (a failure is a crash in the row)."""
    run_id = f"day-{day.index:03d}-s{day.seed}"
    runs_dir.mkdir(parents=True, exist_ok=True)
    _log_to(runs_dir / f"{run_id}.log")
    started = time.monotonic()
    try:
        return asyncio.run(_run(day, runs_dir, run_id))
    except Exception as exc:
        logger.error("day %d (seed %d) crashed:\n%s", day.index, day.seed, traceback.format_exc())
        return _crash_row(day, f"{type(exc).__name__}: {exc}", time.monotonic() - started)


async def _run(day: SafetyDay, runs_dir: Path, run_id: str) -> dict[str, Any]:
    from fleet_manager.world import load_world
    from sim_worlds.day import DayHandles, RunOptions, run_day

    scenario = day.scenario
    world = load_world(scenario.world)
    started = time.monotonic()
    counters: list[TelemetryCounter] = []
    payload_kg: dict[str, float] = {}
    drone_ids: set[str] = set()

    with LinkRelay() as relay:
        def observers(handles: DayHandles) -> list[Any]:
            runtime, clock = handles.runtime, handles.clock
            hub = runtime.hub
            counter = TelemetryCounter(
                world, lambda: hub.airspace.current, clock,
                announced=tuple(event_zone(e, scenario, world) for e in scenario.zone_events),
                unannounced=tuple(event_zone(e, scenario, world) for e in day.unannounced_zones),
                reaction_allowance_s=REACTION_WALL_S * clock.speedup)
            counters.append(counter)
            payload_kg.update({v.vehicle_id: v.profile.max_payload_kg for v in runtime.fleet})
            drone_ids.update(v.vehicle_id for v in runtime.fleet if v.kind.value == "drone")
            tasks: list[Any] = [counter.follow(v) for v in runtime.fleet]
            tasks.append(drive_link_drops(relay, day.link_drops, clock, scenario.start_epoch_s))
            if day.battery_drains:
                tasks.append(_drain_batteries(day.battery_drains, handles, scenario.start_epoch_s))
            return tasks

        # Vans leave when their trip is due (FINALMILE_VAN_HOLD_MAX_S=0), as in the other short days that judge
        # flights (tests/e2e/test_sim_day_van_drones.py): the consolidation rule (03c0f88, after the last baseline)
        # holds a van at the hub up to 30 minutes of this 40-minute day, and its parcels, ready and going nowhere,
        # are then stuck orders by this benchmark's definition. The rule has its own tests.
        options = RunOptions(runs_dir=runs_dir, run_id=run_id, with_robots=False, drone_links=relay.relay,
                             observers=observers, van_hold_max_s=0.0)
        result = await run_day(scenario, options)
        dropped_bytes = relay.dropped_bytes
    if not counters:
        raise RuntimeError("the day ended before its vehicles were followed")
    counter = counters[0]
    counter.finish()
    end_s = scenario.start_epoch_s + scenario.duration_s
    account = await asyncio.to_thread(
        account_orders, result.database_url, scenario.hub_id, end_s=end_s,
        stuck_after_s=day.stuck_after_s, payload_kg=payload_kg, world=world,
        release_log=result.run_dir / "mavsim-events.jsonl", last_moved_s=counter.last_moved_s,
        drone_ids=frozenset(drone_ids), drone_blocked=functools.partial(counter.blocks_drones, at_s=end_s))
    counts = counter.counts
    problems = ([f"geofence {v}" for v in counts.geofence_violations]
                + [f"reserve {b}" for b in counts.reserve_breaches] + [f"lost {o}" for o in account.lost]
                + [f"stuck {o}" for o in account.stuck]
                + [f"double {o}" for o in account.double_deliveries])
    for problem in problems:
        logger.error("day %d (seed %d): %s", day.index, day.seed, problem)
    terrain = None if result.terrain_clearance is None else len(result.terrain_clearance)
    return {
        "day": day.index, "seed": day.seed, "presence": scenario.recipients.presence_probability,
        "wind_m_s": scenario.wind.speed_m_s, "zones": day.zone_count, "link_drops": len(day.link_drops),
        "orders": account.orders, "finished": account.finished,
        "delivered": account.by_status.get("delivered", 0) + account.by_status.get("picked_up", 0),
        "delivered_to_locker": account.by_status.get("delivered_to_locker", 0),
        "geofence_violations": len(counts.geofence_violations), "caught_in_zone": len(counts.caught_in_zone),
        "entered_before_reaction": len(counts.entered_before_reaction),
        "caught_max_dwell_s": round(counts.caught_max_dwell_s, 1),
        "terrain_violations": terrain,
        "reserve_breaches": len(counts.reserve_breaches),
        "min_battery_pct": round(min((t.min_battery_pct for t in result.tracks.values() if t.samples), default=100.0),
                                 1),
        "lost_orders": len(account.lost), "stuck_orders": len(account.stuck),
        "waiting_for_capacity": account.waiting_for_capacity,
        "double_deliveries": len(account.double_deliveries), "drone_releases": account.drone_releases,
        "link_dropped_bytes": dropped_bytes, "telemetry_samples": counts.samples,
        "alerts": len(result.alerts), "crashes": 0, "wall_s": round(time.monotonic() - started, 1),
        "problems": "; ".join(problems)[:500],
    }


async def _drain_batteries(drains: tuple[BatteryDrain, ...], handles: Any, start_s: float) -> None:
    """Tests: set a drone's pack low once it flies after the drain's time (a pack that fails in the air)."""
    from sim_worlds.mavsim.sim_control import MavsimControl

    if handles.drone_control_url is None:
        raise RuntimeError("battery drains need the embedded drone simulator's control channel")
    async def airborne(index: int) -> int:
        vehicle = handles.runtime.fleet.get(f"drone-{index + 1}")
        async for state in vehicle.adapter.telemetry():  # ends with the day (the adapter closes)
            if state.armed and state.relative_altitude_m > 10.0:
                return index
        await asyncio.Event().wait()  # the day ended first: never airborne
        return index

    for drain in drains:
        await sleep_until(handles.clock, start_s + drain.at_offset_s)
        # Whichever drone flies first when none is named: which drones a plan sends is not the test's to fix.
        indices = [drain.drone_index] if drain.drone_index is not None else [
            int(match.group(1)) - 1 for v in handles.runtime.fleet.vehicles()
            if (match := re.fullmatch(r"drone-(\d+)", v.vehicle_id))]
        waits = [asyncio.create_task(airborne(i)) for i in indices]
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        index = next(iter(done)).result()

        def drain_now(index: int = index, pct: float = drain.remaining_pct) -> None:
            with MavsimControl(handles.drone_control_url) as control:
                control.recharge(index, pct)

        await asyncio.to_thread(drain_now)
        logger.warning("drained drone-%d's pack to %.0f %% in flight", index + 1, drain.remaining_pct)


def _crash_row(day: SafetyDay, error: str, wall_s: float) -> dict[str, Any]:
    return {"day": day.index, "seed": day.seed, "crashes": 1, "wall_s": round(wall_s, 1), "problems": error[:500]}


def _log_to(path: Path) -> None:
    """A worker's log: warnings and up into the day's file (the day logs a lot at INFO; FINALMILE_SAFETY_LOG_LEVEL=INFO
    keeps it all, to follow one day's missions)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()
    level = logging.getLevelName(os.environ.get("FINALMILE_SAFETY_LOG_LEVEL", "WARNING").upper())
    level = level if isinstance(level, int) else logging.WARNING
    handler = logging.FileHandler(path)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)

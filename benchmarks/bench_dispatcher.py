"""Dispatcher cycle time with 1,000 open orders and 100 vehicles (issue 7), on SQLite.

A cycle is what `Dispatcher.cycle()` does: read the dispatchable orders from the store, plan with
`mission_planner` (through `FleetPlanner`), and write every started trip (mission row, orders
planned -> assigned -> loaded). Vehicles are in-memory adapters that accept missions and never
finish them (the benchmark measures the fleet manager, not the vehicles).

Fleet: 60 drones, 30 robots, 10 vans at the Helsinki hub. Orders: 1,000 parcels at seeded street
addresses, 75 % drone-size, windows open now and closing 2-10 h later. Rows:
- `cycle-cold`: the first cycle (travel matrices built, full plan, one trip per used vehicle written);
- `cycle-vehicle-back`: one drone lands (its parcel handed over), the next cycle plans in full
  (a returning vehicle changes the plan's start states) and sends it out again;
- `cycle-new-order`: one new order in the store, then a cycle: `replan` when idle vehicles are left and
  nothing else changed, no planner call at all when every vehicle is out;
- `replan-1-order`: `mission_planner.replan` of the dispatcher's plan in force after one new order
  (what an order costs between full plans when an idle vehicle can take it).
`plan_s` is the planner call, `store_s` the store reads and writes of the cycle, `departed_s` the
time until every started trip is out_for_delivery (adapter start + store write). The solver budget
grows with the open orders up to the cap (`--time-limit`, default 5 s full / 0.5 s replan).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fleet_manager.adapters.base import (
    Geofence,
    LinkStatus,
    Mission,
    MissionEvent,
    MissionOutcome,
    MissionResult,
    VehicleAdapter,
    VehicleKind,
    VehicleState,
)
from fleet_manager.errors import AdapterError

NAME = "dispatcher"
HUB = "hub-bench"
DAY_START_S = 1_750_000_000.0
FLEET = {VehicleKind.DRONE: 60, VehicleKind.ROBOT: 30, VehicleKind.VAN: 10}


class ParkedVehicle(VehicleAdapter):
    """Benchmark-only adapter: accepts every mission at once, reports nothing, finishes only when told."""

    def __init__(self, vehicle_id: str, kind: VehicleKind, latitude_deg: float, longitude_deg: float) -> None:
        self.vehicle_id = vehicle_id
        self.kind = kind
        self._state = VehicleState(
            vehicle_id,
            kind,
            DAY_START_S,
            latitude_deg,
            longitude_deg,
            battery_remaining_pct=100.0,
            link=LinkStatus.CONNECTED,
        )
        self.started: list[str] = []
        self.steps: list[int] = []
        self._done = asyncio.Event()

    async def connect(self, timeout_s: float = 30.0) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to close."""

    def latest_state(self) -> VehicleState | None:
        """Parked at the hub, full battery."""
        return self._state

    async def telemetry(self) -> AsyncIterator[VehicleState]:
        """One snapshot."""
        yield self._state

    async def mission_events(self) -> AsyncIterator[MissionEvent]:
        """Never reports (waits until cancelled)."""
        await asyncio.Event().wait()
        yield MissionEvent("", 0.0, 0, "", "")  # unreachable: keeps this an async generator

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Always ready."""

    async def start_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Accept the mission."""
        self.started.append(mission.mission_id)
        self.steps.append(len(mission.steps))

    async def replace_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Accept the new mission in place of the running one."""
        await self.start_mission(mission, geofence=geofence)

    def finish(self) -> None:
        """Land: the running mission succeeds with every step done."""
        self._done.set()

    async def wait_mission(self, timeout_s: float) -> MissionResult:
        """SUCCEEDED once `finish` is called; still running after `timeout_s` otherwise."""
        try:
            await asyncio.wait_for(self._done.wait(), timeout_s)
        except TimeoutError:
            raise AdapterError(self.vehicle_id, "wait_mission", "mission still running") from None
        self._done.clear()
        return MissionResult(self.started[-1], MissionOutcome.SUCCEEDED, steps_completed=self.steps[-1])

    async def pause(self) -> None:
        """Accepted."""

    async def resume(self) -> None:
        """Accepted."""

    async def return_home(self) -> None:
        """Accepted."""

    async def land(self) -> None:
        """Accepted."""


def _profile(kind: VehicleKind) -> Any:
    from mission_planner.profiles import DEFAULT_PROFILES

    profile = DEFAULT_PROFILES[kind]  # the demo's vans carry 30 parcels, as in the helsinki_day scenario
    return profile.with_changes(capacity_parcels=30) if kind is VehicleKind.VAN else profile


def _add_orders(database: Any, world: Any, count: int, rng: random.Random, now_s: float, prefix: str) -> None:
    from fleet_manager.domain.orders import Address, Recipient
    from fleet_manager.store import orders as order_store

    with database.transaction() as session:
        for number in range(count):
            building = rng.choice(world.addresses)
            weight_kg = rng.uniform(0.2, 2.4) if rng.random() < 0.75 else rng.uniform(2.5, 20.0)
            order_store.create_order(
                session,
                new=order_store.NewOrder(
                    hub_id=HUB,
                    recipient=Recipient(f"r{number}"),
                    reference=f"{prefix}-{number:04d}",
                    weight_kg=round(weight_kg, 2),
                    destination=Address(building.latitude_deg, building.longitude_deg, street=building.address),
                    customs_cleared=True,
                    window_start_s=now_s - 600.0,
                    window_end_s=now_s + rng.uniform(2 * 3600, 10 * 3600),
                ),
                actor="bench",
                at_s=now_s,
            )


async def _measure(folder: Path, budget_s: float, replan_budget_s: float) -> list[dict[str, Any]]:
    from fleet_manager.fleet import Fleet
    from fleet_manager.handover import AlwaysPresent
    from fleet_manager.planning import FleetPlanner, PlanningConfig
    from fleet_manager.runtime import build_hub
    from fleet_manager.store import lockers as locker_store
    from fleet_manager.store import order_queries
    from fleet_manager.store.db import Database
    from fleet_manager.world import load_world
    from mission_planner.clock import Clock

    world = load_world("helsinki")
    hub = world.hub
    database = Database(f"sqlite:///{folder / 'bench.db'}")
    database.migrate()
    with database.transaction() as session:
        for locker in world.lockers:
            locker_store.upsert_locker(
                session,
                locker_id=locker.site_id,
                hub_id=HUB,
                name=locker.name,
                address=locker.name,
                latitude_deg=locker.latitude_deg,
                longitude_deg=locker.longitude_deg,
            )
    clock = Clock(start_s=DAY_START_S, speedup=1.0)
    rng = random.Random(7)
    _add_orders(database, world, 1000, rng, clock.now(), "bench")
    fleet = Fleet()
    adapters = []
    for kind, count in FLEET.items():
        for number in range(count):
            adapter = ParkedVehicle(f"{kind.value}-{number:02d}", kind, hub.latitude_deg, hub.longitude_deg)
            adapters.append(adapter)
            fleet.add(
                HUB, adapter, _profile(kind), home_latitude_deg=hub.latitude_deg, home_longitude_deg=hub.longitude_deg
            )
    planner = FleetPlanner(
        world.frame,
        walk_graph=world.walk_graph,
        street_graph=world.street_graph,
        hub_xy=(hub.x_m, hub.y_m),
        config=PlanningConfig(time_budget_s=budget_s, replan_budget_s=replan_budget_s, full_plan_period_s=3600.0),
    )
    services = build_hub(
        hub_id=HUB,
        database=database,
        fleet=fleet,
        world=world,
        clock=clock,
        recipients=AlwaysPresent(),
        planner=planner,
    )
    dispatcher, running = services.dispatcher, services.missions.running
    await dispatcher.start()
    rows = []
    try:
        for label in ("cycle-cold", "cycle-vehicle-back", "cycle-new-order"):
            if label == "cycle-vehicle-back":  # one drone lands: its parcel handed over, it is idle again
                back = next(a for a in adapters if a.kind is VehicleKind.DRONE and a.started)
                back.finish()
                for _ in range(2000):
                    if back.vehicle_id not in running:
                        break
                    await asyncio.sleep(0.01)
            if label == "cycle-new-order":
                _add_orders(database, world, 1, rng, clock.now(), "late")
            open_orders = len(
                await database.read_async(lambda s: order_queries.list_dispatchable_orders(s, hub_id=HUB))
            )
            planner.last_plan_kind, planner.last_plan_reason, planner.last_plan_wall_s = "not called", "", 0.0
            started = time.perf_counter()
            sorties = await dispatcher.cycle()
            cycle_s = time.perf_counter() - started
            for _ in range(2000):
                if all(r.departed.is_set() for r in running.values()):
                    break
                await asyncio.sleep(0.01)
            rows.append(
                {
                    "instance": "helsinki-1000x100",
                    "step": label,
                    "plan": planner.last_plan_kind,
                    "why_full": planner.last_plan_reason if planner.last_plan_kind == "full" else "",
                    "cycle_s": round(cycle_s, 3),
                    "plan_s": round(planner.last_plan_wall_s, 3),
                    "store_s": round(cycle_s - planner.last_plan_wall_s, 3),
                    "departed_s": round(time.perf_counter() - started, 3),
                    "budget_s": planner.budget_s(
                        budget_s if planner.last_plan_kind == "full" else replan_budget_s, open_orders
                    ),
                    "open_orders": open_orders,
                    "trips_started": len(sorties),
                    "vehicles_busy": len(running),
                    "orders_on_trips": sum(len(s.order_ids) for s in sorties),
                }
            )
        rows.append(_replan_row(planner, world, clock.now(), replan_budget_s))
    finally:
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        database.dispose()
    return rows


def _replan_row(planner: Any, world: Any, now_s: float, budget_s: float) -> dict[str, Any]:
    """`mission_planner.replan` of the dispatcher's plan in force after one new order (what an order arriving
    between full plans costs when an idle vehicle can take it)."""
    from mission_planner.fleet import OrderSpec
    from mission_planner.replan import PlanState, replan

    result = planner.plan_in_force()
    if result is None:
        return {"instance": "helsinki-1000x100", "step": "replan-1-order", "plan": "none in force"}
    building = world.addresses[17]
    new = OrderSpec("late-replan", building.latitude_deg, building.longitude_deg, 1.0, latest_s=now_s + 4 * 3600)
    started = time.perf_counter()
    again = replan(PlanState(result, now_s), [new], time_budget_s=budget_s)
    replan_s = time.perf_counter() - started
    return {
        "instance": "helsinki-1000x100",
        "step": "replan-1-order",
        "plan": "replan",
        "plan_s": round(replan_s, 3),
        "budget_s": budget_s,
        "open_orders": len(result.problem.orders) + 1,
        "new_order_planned": "late-replan" in again.plan.planned_order_ids,
    }


def run(args: Any = None) -> list[dict[str, Any]]:
    """Four dispatcher cycles over 1,000 open orders and 100 vehicles (see the module docstring)."""
    quick = bool(getattr(args, "quick", False))
    budget_s = getattr(args, "time_limit", None) or (2.0 if quick else 5.0)
    with tempfile.TemporaryDirectory(prefix="bench-dispatcher-") as folder:
        return asyncio.run(_measure(Path(folder), budget_s, replan_budget_s=0.5))

"""What the safety benchmark counts on a day, from the vehicles' own reports and the store.

Definitions (the numbers in benchmarks/results/safety.csv):

- **geofence violation**: a drone's reported position (airborne, >= 1 m above home) inside a no-fly
  zone that blocks at that time and altitude (the operating area's outside counts too), *entered*
  from outside: the drone's previous report was outside the zone's polygon. One per episode
  (drone, zone). A drone that was already inside the polygon when the zone popped up over it is
  `caught_in_zone` instead (the operator closed the air around it; it must leave, and
  `caught_max_dwell_s` says how long it took). An entry into a pop-up zone within
  `reaction_allowance_s` of the fleet manager learning of it is `entered_before_reaction`, not a
  violation: its reaction (zone event -> re-route planned -> mission uploaded) takes wall time,
  which the speed-up stretches (0.5 s of wall time are 50 simulated seconds, 600 m of flight, at
  x100); both are reported. The zones judged are the fleet manager's own airspace at that instant
  plus any `unannounced` truth-only zones a test adds (never excused: it was never told).
- **terrain violation**: a drone outside 30..120 m above the ground (worlds with terrain only;
  empty in flat Helsinki).
- **battery reserve breach**: a vehicle's reported remaining charge below its profile's
  `reserve_pct`; one per episode (it must climb back above the reserve, i.e. be swapped/charged,
  before a new one counts).
- **lost order**: at the day's end, an order whose parcel is nowhere: not delivered, not in a
  locker, not cancelled, not at the hub (a status before loading, or returned/rescheduled/diverted/
  attempt failed and in no open mission), and not aboard a vehicle (loaded, out for delivery, handed off
  by its status, but no pending/running/paused mission of a fleet vehicle lists it).
- **stuck order**: at the day's end, an order not finished (delivered, picked up, in a locker,
  cancelled) without progress for more than `stuck_after_s`: its status has not changed, its
  delivery window has not opened, and the vehicle of the open mission carrying it has not moved
  5 m, for that long. Orders waiting on someone outside the fleet (customs, an operator's address
  review, a hold) are not stuck, nor are orders at the hub while every vehicle able to take them
  (payload; for drones, a drop no zone closes at the end, from the ground up to cruise) is out on a
  mission at the end or came back less than `IDLE_GRACE_S` before it (`waiting_for_capacity`: a
  busy fleet or closed air, not a stuck order).
- **double delivery**: a door (the destinations within 30 m of a release) that got more drone
  payload releases (the simulator's own gripper log; releases at lockers are not counted) than it
  has orders, or an order with two delivered events.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapely.geometry import Point, Polygon

from fleet_manager.adapters.base import VehicleKind, VehicleState
from fleet_manager.domain.orders import OrderStatus
from fleet_manager.fleet import FleetVehicle
from fleet_manager.world import World
from fleet_manager.zone_rules import zone_blocks_at
from mission_planner.airspace import Airspace, TimeWindow, Zone, ZoneKind
from mission_planner.clock import Clock
from sim_worlds.scenario import Scenario, ZoneEvent

AIRBORNE_M = 1.0
CRUISE_M = 60.0  # the demo's drone cruise altitude (the zones' bands are judged there)
DRONE_MARGIN_M = 25.0  # the planner's drone_safety_margin_m default: a drop this near a zone is refused
MOVED_M = 5.0
# A vehicle back this shortly before the day's end has had no fair chance to take a waiting parcel: the hub's battery
# swap alone is 180 s, and a plan at x100 costs a minute or more of simulated time (safety day 64: two parcels
# "stuck" for drones back 200 and 118 s before the end).
IDLE_GRACE_S = 300.0
RELEASE_MATCH_M = 30.0
FINISHED = frozenset({OrderStatus.DELIVERED, OrderStatus.PICKED_UP, OrderStatus.DELIVERED_TO_LOCKER,
                      OrderStatus.CANCELLED})
WAITING_OUTSIDE = frozenset({OrderStatus.RECEIVED, OrderStatus.AWAITING_CUSTOMS, OrderStatus.ADDRESS_REVIEW,
                             OrderStatus.ON_HOLD, OrderStatus.NEEDS_REVIEW})
# Aboard by the status alone. An attempt_failed parcel is aboard until its mission ends and at the hub after
# (waiting for the recipient's answer, then rescheduled or diverted): accounted either way.
ONLY_ABOARD = frozenset({OrderStatus.LOADED, OrderStatus.OUT_FOR_DELIVERY, OrderStatus.HANDED_OFF})


@dataclass
class TelemetryCounts:
    """Geofence and battery episodes from every vehicle's own telemetry."""

    geofence_violations: list[tuple[float, str, str]] = field(default_factory=list)  # (at_s, vehicle, zone)
    caught_in_zone: list[tuple[float, str, str]] = field(default_factory=list)
    entered_before_reaction: list[tuple[float, str, str]] = field(default_factory=list)
    caught_max_dwell_s: float = 0.0
    reserve_breaches: list[tuple[float, str, float]] = field(default_factory=list)  # (at_s, vehicle, pct)
    samples: int = 0


class TelemetryCounter:
    """Follows the fleet's telemetry and counts geofence entries and battery reserve breaches."""

    def __init__(self, world: World, airspace_now: Any, clock: Clock, *, announced: tuple[Zone, ...] = (),
                 unannounced: tuple[Zone, ...] = (), reaction_allowance_s: float = 0.0) -> None:
        """`announced`: the day's pop-up zones (known ahead here, to tell a drone the zone appeared over from
        one that flew in); `unannounced`: truth-only zones the fleet manager is never told of (tests)."""
        self.world = world
        self.clock = clock
        self.counts = TelemetryCounts()
        self._airspace_now = airspace_now
        self._unannounced = unannounced
        self._pop_ups = (*announced, *unannounced)
        self._announced = frozenset(z.zone_id for z in announced)
        self._known_at: dict[str, float] = {}  # pop-up zone -> when the fleet manager's airspace first had it
        self.reaction_allowance_s = reaction_allowance_s
        self._inside: dict[str, set[str]] = {}  # episodes open per vehicle
        self._caught_since: dict[tuple[str, str], float] = {}
        self._in_polygon: dict[str, set[str]] = {}  # polygons around the previous airborne report
        self._breached: set[str] = set()
        self.last_moved_s: dict[str, float] = {}  # vehicle -> when it last moved MOVED_M from where it stood
        self._anchor: dict[str, tuple[float, float]] = {}

    async def follow(self, vehicle: FleetVehicle) -> None:
        """Count one vehicle's telemetry until its adapter closes."""
        async for state in vehicle.adapter.telemetry():
            self.observe(vehicle.vehicle_id, vehicle.kind, vehicle.profile.reserve_pct, state)

    def zones(self) -> tuple[Zone, ...]:
        """The zones judged now: the fleet manager's airspace and the truth-only ones."""
        airspace: Airspace = self._airspace_now()
        return (*airspace.zones, *self._unannounced)

    def observe(self, vehicle_id: str, kind: VehicleKind, reserve_pct: float, state: VehicleState) -> None:
        """Fold one report in."""
        self.counts.samples += 1
        if state.position_valid:
            self._movement(vehicle_id, state)
        if state.battery_remaining_pct is not None:
            self._battery(vehicle_id, reserve_pct, state.battery_remaining_pct)
        if kind is VehicleKind.DRONE:
            self._fence(vehicle_id, state)

    def _movement(self, vehicle_id: str, state: VehicleState) -> None:
        here = self.world.frame.to_local(state.latitude_deg, state.longitude_deg)
        anchor = self._anchor.get(vehicle_id)
        if anchor is None or math.hypot(here[0] - anchor[0], here[1] - anchor[1]) >= MOVED_M:
            self._anchor[vehicle_id] = here
            self.last_moved_s[vehicle_id] = self.clock.now()

    def _battery(self, vehicle_id: str, reserve_pct: float, remaining_pct: float) -> None:
        if remaining_pct >= reserve_pct:
            self._breached.discard(vehicle_id)
        elif vehicle_id not in self._breached:
            self._breached.add(vehicle_id)
            self.counts.reserve_breaches.append((self.clock.now(), vehicle_id, remaining_pct))

    def _fence(self, vehicle_id: str, state: VehicleState) -> None:
        now_s = self.clock.now()
        open_episodes = self._inside.setdefault(vehicle_id, set())
        if not state.position_valid or state.relative_altitude_m < AIRBORNE_M:
            self._close(vehicle_id, open_episodes, set(), now_s)
            self._in_polygon[vehicle_id] = set()
            return
        x_m, y_m = self.world.frame.to_local(state.latitude_deg, state.longitude_deg)
        here = (x_m, y_m)
        zones = self.zones()
        for zone in zones:
            if zone.zone_id in self._announced:
                self._known_at.setdefault(zone.zone_id, now_s)
        in_polygon = {z.zone_id for z in (*zones, *self._pop_ups)
                      if z.kind is not ZoneKind.OPERATING_AREA and _covers(z, here)}
        blocking = {z.zone_id for z in zones
                    if z.zone_id in in_polygon and zone_blocks_at(z, now_s, state.relative_altitude_m)}
        areas = [z for z in zones if z.kind is ZoneKind.OPERATING_AREA]
        if areas and not any(_covers(area, here) for area in areas):
            blocking.add("operating-area")
        before = self._in_polygon.get(vehicle_id, set())
        for zone_id in sorted(blocking - open_episodes):
            known_at = self._known_at.get(zone_id)
            if zone_id in before:  # it was there before the zone blocked: the zone appeared over it
                self.counts.caught_in_zone.append((now_s, vehicle_id, zone_id))
                self._caught_since[(vehicle_id, zone_id)] = now_s
            elif known_at is not None and now_s - known_at <= self.reaction_allowance_s:
                self.counts.entered_before_reaction.append((now_s, vehicle_id, zone_id))
            else:
                self.counts.geofence_violations.append((now_s, vehicle_id, zone_id))
        self._close(vehicle_id, open_episodes, blocking, now_s)
        self._inside[vehicle_id] = blocking
        self._in_polygon[vehicle_id] = in_polygon

    def _close(self, vehicle_id: str, open_episodes: set[str], still: set[str], now_s: float) -> None:
        for zone_id in open_episodes - still:
            since = self._caught_since.pop((vehicle_id, zone_id), None)
            if since is not None:
                self.counts.caught_max_dwell_s = max(self.counts.caught_max_dwell_s, now_s - since)
        if not still:
            self._inside[vehicle_id] = set()

    def blocks_drones(self, latitude_deg: float, longitude_deg: float, *, at_s: float,
                      margin_m: float = DRONE_MARGIN_M) -> bool:
        """Whether a zone judged now keeps drones from a drop at this point at `at_s`: one up then, within the
        planner's margin, anywhere from the ground up to cruise (the drone descends there to hand the parcel over;
        judged at cruise only, a drop beside Helsinki's Esplanadi zone, 0-50 m, read as open to drones: safety day
        47's "stuck" parcel waited for the only vehicle that could take it, the van, out at the day's end)."""
        point = Point(self.world.frame.to_local(latitude_deg, longitude_deg))
        return any(z.kind is not ZoneKind.OPERATING_AREA and z.lower_m <= CRUISE_M
                   and zone_blocks_at(z, at_s, max(z.lower_m, 0.0)) and z.polygon.distance(point) <= margin_m
                   for z in self.zones())

    def finish(self) -> None:
        """Close every open episode at the day's end (a drone still caught counts its dwell so far)."""
        now_s = self.clock.now()
        for (_vehicle, _zone), since in self._caught_since.items():
            self.counts.caught_max_dwell_s = max(self.counts.caught_max_dwell_s, now_s - since)


def _covers(zone: Zone, here: tuple[float, float]) -> bool:
    return bool(zone.polygon.covers(Point(here)))


def event_zone(event: ZoneEvent, scenario: Scenario, world: World) -> Zone:
    """A scenario's pop-up zone as the airspace zone it becomes (no-fly, 0..upper_m, while it is up)."""
    at_s = scenario.epoch_at(event.appears_at)
    ring = [world.frame.to_local(lat, lon) for lon, lat in event.polygon_lonlat()]
    return Zone(event.zone_id, ZoneKind.NO_FLY, Polygon(ring), 0.0, event.upper_m,
                time_windows=(TimeWindow(at_s, at_s + event.duration_s),))


@dataclass
class OrderAccount:
    """Where every order of the day ended."""

    orders: int = 0
    finished: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)  # "order_id status why"
    stuck: list[str] = field(default_factory=list)
    double_deliveries: list[str] = field(default_factory=list)
    drone_releases: int = 0
    waiting_for_capacity: int = 0


def account_orders(database_url: str, hub_id: str, *, end_s: float, stuck_after_s: float,
                   payload_kg: dict[str, float], world: World, release_log: Path | None,
                   last_moved_s: dict[str, float] | None = None,
                   drone_ids: frozenset[str] = frozenset(),
                   drone_blocked: Callable[[float, float], bool] | None = None,
                   idle_grace_s: float = IDLE_GRACE_S) -> OrderAccount:
    """Lost, stuck and doubly delivered orders at the day's end, from the store and the gripper log.

    `payload_kg`: the fleet's vehicles and what each lifts; `drone_blocked(lat, lon)`: whether a zone keeps
    the drones (`drone_ids`) from that destination at the day's end.
    """
    from fleet_manager.store import fleet as fleet_store
    from fleet_manager.store.db import Database
    from sim_worlds.report import _order_history

    orders, events = _order_history(database_url, hub_id)
    database = Database(database_url)
    try:
        with database.read() as session:
            missions = fleet_store.list_missions(session, hub_ids=[hub_id], limit=100_000)
    finally:
        database.dispose()
    open_statuses = (fleet_store.MissionStatus.PENDING, fleet_store.MissionStatus.RUNNING,
                     fleet_store.MissionStatus.PAUSED)
    open_missions = [m for m in missions if m.status in open_statuses]
    carried = {o: m.vehicle_id for m in open_missions if m.vehicle_id in payload_kg for o in m.order_ids}
    # busy at the day's end: on a mission then, or back from one within the grace (the store is read a little
    # later, after the webhooks drained)
    busy = {m.vehicle_id for m in missions
            if m.created_at_s <= end_s and (m.status in open_statuses or m.updated_at_s > end_s - idle_grace_s)}
    idle_payloads_kg = [(vehicle_id, kg) for vehicle_id, kg in payload_kg.items() if vehicle_id not in busy]
    moved = last_moved_s or {}
    account = OrderAccount(orders=len(orders))
    for order in orders:
        status = order.status
        account.by_status[status.value] += 1
        history = events[order.order_id]
        if status in FINISHED:
            account.finished += 1
        elif status in ONLY_ABOARD and order.order_id not in carried:
            account.lost.append(f"{order.order_id} {status.value}: aboard by its status, in no open mission")
        progress_s = max(history[-1].at_s if history else order.updated_at_s, order.window_start_s or 0.0,
                         moved.get(carried.get(order.order_id, ""), 0.0))
        stalled = status not in FINISHED and status not in WAITING_OUTSIDE and end_s - progress_s > stuck_after_s
        air_closed = drone_blocked is not None and drone_blocked(order.destination.latitude_deg,
                                                                   order.destination.longitude_deg)
        able = [v for v, kg in idle_payloads_kg if kg >= order.weight_kg and not (air_closed and v in drone_ids)]
        if stalled and order.order_id not in carried and not able:
            account.waiting_for_capacity += 1
        elif stalled:
            account.stuck.append(f"{order.order_id} {status.value}, no progress for {end_s - progress_s:.0f} s")
        handovers = sum(1 for e in history if e.to_status in (OrderStatus.DELIVERED, OrderStatus.DELIVERED_TO_LOCKER))
        if handovers > 1:
            account.double_deliveries.append(f"{order.order_id}: {handovers} delivered events")
    if release_log is not None and release_log.exists():
        account.drone_releases, doubles = _release_doubles(release_log, orders, world)
        account.double_deliveries += doubles
    return account


def _release_doubles(release_log: Path, orders: list[Any], world: World) -> tuple[int, list[str]]:
    """(drone payload releases, doors that got more releases than they have orders).

    Releases are matched to doors, not orders: two parcels for one building are two releases there.
    """
    releases = [json.loads(line) for line in release_log.read_text().splitlines() if '"payload_released"' in line]
    lockers = [(site.x_m, site.y_m) for site in world.lockers]
    destinations = [(o.order_id, *world.frame.to_local(o.destination.latitude_deg, o.destination.longitude_deg))
                    for o in orders]
    at_door: Counter[frozenset[str]] = Counter()
    for release in releases:
        x_m, y_m = world.frame.to_local(release["latitude_deg"], release["longitude_deg"])
        if any(math.hypot(x_m - lx, y_m - ly) < RELEASE_MATCH_M for lx, ly in lockers):
            continue
        door = frozenset(order_id for order_id, dx, dy in destinations
                         if math.hypot(x_m - dx, y_m - dy) < RELEASE_MATCH_M)
        if door:
            at_door[door] += 1
    return len(releases), [f"{', '.join(sorted(door))}: {count} payload releases at a door of {len(door)} order(s)"
                           for door, count in at_door.items() if count > len(door)]


async def drive_link_drops(relay: Any, drops: tuple[Any, ...], clock: Clock, start_s: float) -> None:
    """Cut and restore the relay's links at the drops' simulated times (overlapping drops nest)."""
    depth: Counter[int] = Counter()

    async def one(drop: Any) -> None:
        await sleep_until(clock, start_s + drop.at_offset_s)
        depth[drop.drone_index] += 1
        relay.cut(drop.drone_index)
        try:
            await sleep_until(clock, start_s + drop.at_offset_s + drop.duration_s)
        finally:
            depth[drop.drone_index] -= 1
            if depth[drop.drone_index] == 0:
                relay.restore(drop.drone_index)

    await asyncio.gather(*(one(d) for d in drops))


async def sleep_until(clock: Clock, at_s: float) -> None:
    while clock.now() < at_s:
        await asyncio.sleep(min(0.2, max(0.01, (at_s - clock.now()) / max(clock.speedup, 1.0))))

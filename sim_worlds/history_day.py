"""A fast simulated day for learning: the store's history of a day, without flying or driving anything.

`finalmile sim` runs the real vehicles (seconds of wall time per simulated minute); training needs
many days. This simulator plays the same scenario (the same orders from `demand.generate_orders`,
customs delays by origin and category, recipients' presence with absence windows by area and hour)
through a queue of vehicles per mode at the hub, and writes what the fleet manager would have
written to the store: each order's creation, customs clearance, planning, departure (with the leg
facts of `fleet_manager.learning.leg_facts`) and hand-over or failed attempt, at simulated times.

What the history would reveal is in how actual legs differ from planned ones: vans and robots
slow in the scenario's rush hours (`traffic`), drones fly slower into a headwind (`wind`, with a
day-to-day swing through `wind_speed_m_s`), and each leg has lognormal noise. Planned durations
use nominal speeds, as the planner does. Deterministic for (scenario, seed).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from fleet_manager.domain.orders import Address, DeliveryMode, OrderStatus, Recipient
from fleet_manager.learning import leg_facts as facts
from fleet_manager.learning.areas import area_of
from fleet_manager.learning.customs_facts import customs_metadata
from fleet_manager.store import orders as order_store
from fleet_manager.store.db import Database
from fleet_manager.world import Building, Site

from .demand import DemandOrder, generate_orders
from .scenario import Scenario

ACTOR = "history-sim"
_TICK_S = 60.0
_LOAD_S = 90.0  # planned -> loaded -> departure at the hub
_DRONE_HANDOVER_S = 45.0  # descend, release, climb
_ROBOT_HANDOVER_S = 60.0
_DRONE_RANGE_M = 3000.0
_ROBOT_RANGE_M = 1500.0
_GROUND_DETOUR = 1.35  # street / sidewalk route length over straight distance
_NOISE_STREAM = 53


@dataclass
class HistoryDayStats:
    """What the day wrote."""

    orders: int = 0
    customs_cleared: int = 0
    legs: int = 0
    delivered: int = 0
    attempts_failed: int = 0
    modes: dict[str, int] = field(default_factory=dict)


@dataclass
class _Vehicle:
    vehicle_id: str
    mode: DeliveryMode
    free_at_s: float = 0.0


@dataclass(frozen=True)
class _Leg:
    order: DemandOrder
    mode: DeliveryMode
    depart_s: float
    handover_s: float
    planned_s: float
    planned_m: float
    stop_index: int
    bearing_deg: float
    delivered: bool


def simulate_history(
    scenario: Scenario, database: Database, *, addresses: Sequence[Building], hub: Site,
    hub_id: str | None = None, seed: int | None = None,
) -> HistoryDayStats:
    """Write one simulated day's history for `hub_id` (default the scenario's hub) into `database`."""
    seed = scenario.seed if seed is None else seed
    hub_id = hub_id or scenario.hub_id
    orders = generate_orders(scenario, addresses, seed=seed)
    rng = np.random.default_rng([seed, _NOISE_STREAM])
    legs = _play(scenario, orders, hub, rng)
    start_s = scenario.start_epoch_s
    stats = HistoryDayStats()
    by_reference = {leg.order.reference: leg for leg in legs}
    wind_speed = scenario.wind.speed_m_s
    for order in orders:
        leg = by_reference.get(order.reference)
        with database.transaction() as session:  # one order's whole history per transaction
            _write_order(session, scenario, order, leg, hub_id, start_s, wind_speed, seed)
        stats.orders += 1
        stats.customs_cleared += order.customs_delay_s is not None
        if leg is not None:
            stats.legs += 1
            stats.delivered += leg.delivered
            stats.attempts_failed += not leg.delivered
            stats.modes[leg.mode.value] = stats.modes.get(leg.mode.value, 0) + 1
    return stats


def _write_order(session: Session, scenario: Scenario, order: DemandOrder, leg: _Leg | None, hub_id: str,
                 start_s: float, wind_speed_m_s: float, seed: int) -> None:
    new = order_store.NewOrder(
        hub_id=hub_id, reference=f"{order.reference}-h{seed}",
        recipient=Recipient(name=order.recipient_name, phone=order.recipient_phone),
        destination=Address(order.latitude_deg, order.longitude_deg, street=order.address),
        weight_kg=order.weight_kg, customs_cleared=order.customs_delay_s is None,
        window_start_s=start_s + order.window_start_s, window_end_s=start_s + order.window_end_s,
        allow_leave_at_door=order.allow_leave_at_door,
        metadata={"size_class": order.size_class,
                  **customs_metadata(order.origin, order.goods_category, order.declared_value_eur)},
    )
    created, _ = order_store.create_order(session, new=new, actor=ACTOR, at_s=start_s + order.release_s)
    order_id = created.order_id
    if order.customs_delay_s is not None:
        order_store.mark_customs_cleared(session, order_id=order_id, actor="customs",
                                         at_s=start_s + order.release_s + order.customs_delay_s)
    if leg is None:
        return
    mode = leg.mode
    vehicle_id = f"{mode.value}-sim"
    depart_s = start_s + leg.depart_s
    for target in (OrderStatus.PLANNED, OrderStatus.ASSIGNED, OrderStatus.LOADED):
        order_store.transition_order(session, order_id=order_id, to_status=target, actor=ACTOR, reason="history",
                                     at_s=depart_s - _LOAD_S, vehicle_id=vehicle_id)
    details = {
        "mode": mode.value, "eta_s": depart_s + leg.planned_s,
        facts.PLANNED_DURATION_KEY: leg.planned_s, facts.PLANNED_DISTANCE_KEY: leg.planned_m,
        facts.STOP_INDEX_KEY: leg.stop_index, facts.BEARING_KEY: leg.bearing_deg,
        facts.WIND_SPEED_KEY: wind_speed_m_s, facts.WIND_DIRECTION_KEY: scenario.wind.direction_deg,
        facts.AMBIENT_TEMP_KEY: round(scenario.ambient_temp_c(depart_s), 2),
    }
    order_store.transition_order(session, order_id=order_id, to_status=OrderStatus.OUT_FOR_DELIVERY, actor=ACTOR,
                                 reason=f"{vehicle_id} departed", at_s=depart_s, mode=mode, vehicle_id=vehicle_id,
                                 details=details)
    target = OrderStatus.DELIVERED if leg.delivered else OrderStatus.ATTEMPT_FAILED
    order_store.transition_order(session, order_id=order_id, to_status=target, actor=ACTOR,
                                 reason="handed over" if leg.delivered else "recipient absent",
                                 at_s=start_s + leg.handover_s, vehicle_id=vehicle_id)


def _mode_of(scenario: Scenario, order: DemandOrder, hub: Site, vehicles: Sequence[_Vehicle],
             waiting: dict[DeliveryMode, list[DemandOrder]]) -> DeliveryMode:
    """The mode that can carry the parcel and would take it soonest (a drone, robot, van preference on ties):
    drones take light parcels within range, robots what they can carry nearby, vans anything."""
    fleet = scenario.fleet
    straight_m = math.hypot(order.x_m - hub.x_m, order.y_m - hub.y_m)
    eligible = [DeliveryMode.VAN]
    if fleet.robots.count and order.weight_kg <= fleet.robots.max_payload_kg and straight_m <= _ROBOT_RANGE_M:
        eligible.insert(0, DeliveryMode.ROBOT)
    if fleet.drones.count and order.weight_kg <= fleet.drones.max_payload_kg and straight_m <= _DRONE_RANGE_M:
        eligible.insert(0, DeliveryMode.DRONE)
    if not fleet.vans.count and len(eligible) > 1:
        eligible.remove(DeliveryMode.VAN)

    def soonest_s(mode: DeliveryMode) -> float:
        free = sorted(v.free_at_s for v in vehicles if v.mode is mode)
        if not free:
            return math.inf
        per_trip = fleet.vans.capacity_parcels if mode is DeliveryMode.VAN else 1
        queued_trips = len(waiting[mode]) // per_trip  # trips already queued ahead of this parcel
        return free[min(queued_trips, len(free) - 1)] + queued_trips // len(free) * 900.0

    return min(eligible, key=lambda mode: (soonest_s(mode), eligible.index(mode)))


def _play(scenario: Scenario, orders: Sequence[DemandOrder], hub: Site, rng: np.random.Generator) -> list[_Leg]:
    """Dispatch ready parcels to free vehicles minute by minute; the legs that result."""
    fleet = scenario.fleet
    vehicles = ([_Vehicle(f"drone-{i}", DeliveryMode.DRONE) for i in range(fleet.drones.count)]
                + [_Vehicle(f"robot-{i}", DeliveryMode.ROBOT) for i in range(fleet.robots.count)]
                + [_Vehicle(f"van-{i}", DeliveryMode.VAN) for i in range(fleet.vans.count)])
    waiting: dict[DeliveryMode, list[DemandOrder]] = {mode: [] for mode in DeliveryMode}
    pending = sorted(orders, key=lambda o: o.release_s + (o.customs_delay_s or 0.0))
    legs: list[_Leg] = []
    t_s = 0.0
    while t_s < scenario.duration_s:
        while pending and pending[0].release_s + (pending[0].customs_delay_s or 0.0) <= t_s:
            order = pending.pop(0)
            waiting[_mode_of(scenario, order, hub, vehicles, waiting)].append(order)
        for vehicle in vehicles:
            queue = waiting[vehicle.mode]
            if vehicle.free_at_s > t_s or not queue:
                continue
            take = fleet.vans.capacity_parcels if vehicle.mode is DeliveryMode.VAN else 1
            load, waiting[vehicle.mode] = queue[:take], queue[take:]
            trip = _trip(scenario, vehicle.mode, load, hub, t_s + _LOAD_S, rng)
            legs += trip
            vehicle.free_at_s = max(leg.handover_s for leg in trip) + _return_s(scenario, vehicle.mode, trip, hub)
        t_s += _TICK_S
    return legs


def _return_s(scenario: Scenario, mode: DeliveryMode, trip: Sequence[_Leg], hub: Site) -> float:
    last = trip[-1].order
    straight_m = math.hypot(last.x_m - hub.x_m, last.y_m - hub.y_m)
    return straight_m * (1.0 if mode is DeliveryMode.DRONE else _GROUND_DETOUR) / _speed_m_s(scenario, mode) + 60.0


def _speed_m_s(scenario: Scenario, mode: DeliveryMode) -> float:
    fleet = scenario.fleet
    if mode is DeliveryMode.DRONE:
        return fleet.drones.cruise_speed_m_s
    if mode is DeliveryMode.ROBOT:
        return fleet.robots.speed_m_s
    return 8.0  # a van's mean city street speed


def _trip(scenario: Scenario, mode: DeliveryMode, load: Sequence[DemandOrder], hub: Site, depart_s: float,
          rng: np.random.Generator) -> list[_Leg]:
    """One trip: parcels in nearest-neighbour order, planned at nominal speed, actual with traffic, wind, noise."""
    here = (hub.x_m, hub.y_m)
    remaining = list(load)
    planned_s = actual_s = planned_m = 0.0
    legs: list[_Leg] = []
    hub_ll = (hub.latitude_deg, hub.longitude_deg)
    stop_s = (scenario.fleet.vans.stop_duration_s if mode is DeliveryMode.VAN
              else _DRONE_HANDOVER_S if mode is DeliveryMode.DRONE else _ROBOT_HANDOVER_S)
    for index in range(len(load)):
        order = min(remaining, key=lambda o: math.hypot(o.x_m - here[0], o.y_m - here[1]))
        remaining.remove(order)
        straight_m = math.hypot(order.x_m - here[0], order.y_m - here[1])
        route_m = straight_m * (1.0 if mode is DeliveryMode.DRONE else _GROUND_DETOUR)
        nominal_m_s = _speed_m_s(scenario, mode)
        local = scenario.local_time(scenario.start_epoch_s + depart_s + actual_s).time()
        if mode is DeliveryMode.DRONE:
            track = math.degrees(math.atan2(order.x_m - here[0], order.y_m - here[1])) % 360.0
            gust = float(rng.uniform(0.0, scenario.wind.gust_m_s))
            headwind = (scenario.wind.speed_m_s + gust) * math.cos(math.radians(track - scenario.wind.direction_deg))
            true_m_s = max(2.0, nominal_m_s - headwind)
        else:
            true_m_s = nominal_m_s * scenario.traffic.speed_factor(local, mode.value)
        noise = float(rng.lognormal(0.0, scenario.traffic.noise_sigma)) if scenario.traffic.noise_sigma else 1.0
        planned_m += route_m
        planned_s += route_m / nominal_m_s + stop_s
        actual_s += route_m / true_m_s * noise + stop_s * float(rng.uniform(0.8, 1.3))
        handover_local = scenario.local_time(scenario.start_epoch_s + depart_s + actual_s).time()
        presence = order.presence_probability * scenario.recipients.presence_factor(
            handover_local, area_of(order.latitude_deg, order.longitude_deg))
        legs.append(_Leg(order=order, mode=mode, depart_s=depart_s, handover_s=depart_s + actual_s, planned_s=planned_s,
                         planned_m=planned_m, stop_index=index,
                         bearing_deg=facts.bearing_deg(hub_ll, (order.latitude_deg, order.longitude_deg)),
                         delivered=bool(rng.random() < presence)))
        here = (order.x_m, order.y_m)
    return legs


def varied_days(base: Scenario, count: int, *, seed: int, first_day: int = 0) -> list[Scenario]:
    """`count` consecutive days of `base` with their own seeds and weather (wind 0-10 m/s from any side,
    gusts, the season's temperature by date): the variety a few weeks of history would show."""
    days = []
    for index in range(first_day, first_day + count):
        rng = np.random.default_rng([seed, index])
        wind = {"speed_m_s": round(float(rng.uniform(0.0, 10.0)), 1),
                "direction_deg": round(float(rng.uniform(0.0, 359.9)), 1),
                "gust_m_s": round(float(rng.uniform(0.0, 4.0)), 1)}
        days.append(base.with_overrides(seed=seed * 1000 + index, date=base.date + dt.timedelta(days=index),
                                        wind=wind))
    return days

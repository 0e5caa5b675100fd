"""Short randomised delivery days for `python -m benchmarks safety` (issue 19, item 8).

Each day is the Helsinki demo day cut down and shaken up by its own seed: a small fleet (drones
and a van), a few simulated minutes at a high speed-up, and

- its own demand and recipients (the scenario seed; recipients away 5-70 % of the time),
- wind of 0-8 m/s from anywhere,
- 1-3 no-fly zones that pop up mid-day on the way to the day's own delivery points
  (published through the Fleet API by the simulated operator, as in `finalmile sim`),
- 0-2 radio-link drops per drone (a relay between the fleet manager and the simulator drops every
  byte for 30-400 simulated seconds: longer than the link monitor's patience, so some missions are
  abandoned in flight and their parcels re-planned while the drone flies on).

Tests also add what a normal day never has: a zone the fleet manager is never told about
(`unannounced_zones`, counted as truth only) and a battery pack drained mid-flight
(`battery_drains`), to show the counters count.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from typing import Any

from fleet_manager.world import World
from sim_worlds.scenario import Scenario, ZoneEvent, load_scenario
from sim_worlds.special_demand import day_orders

DAY_S = 40 * 60.0  # simulated length of a full-mode day
QUICK_DAY_S = 25 * 60.0
SPEEDUP = 100.0
STOP_ORDERING_BEFORE_END_S = 15 * 60.0  # the last quarter-hour drains: everything should end by the day's end
STUCK_AFTER_S = 10 * 60.0  # no status change, window opening or carrier movement for this long: stuck


@dataclass(frozen=True)
class LinkDrop:
    """Drone `drone_index`'s radio is out from `at_offset_s` (after the day's start) for `duration_s`."""

    drone_index: int
    at_offset_s: float
    duration_s: float


@dataclass(frozen=True)
class BatteryDrain:
    """Tests: a drone's pack is set to `remaining_pct` once it is airborne after `at_offset_s`: drone
    `drone_index`, or (None) whichever drone is airborne first."""

    drone_index: int | None
    at_offset_s: float
    remaining_pct: float


@dataclass(frozen=True)
class SafetyDay:
    """One randomised day: the scenario it runs and what happens to it from outside."""

    index: int
    seed: int
    scenario: Scenario
    link_drops: tuple[LinkDrop, ...] = ()
    unannounced_zones: tuple[ZoneEvent, ...] = ()  # truth only: never published to the fleet manager
    battery_drains: tuple[BatteryDrain, ...] = ()
    stuck_after_s: float = STUCK_AFTER_S

    @property
    def zone_count(self) -> int:
        """Pop-up zones published during the day."""
        return len(self.scenario.zone_events)


def base_scenario(*, duration_s: float, seed: int) -> Scenario:
    """The demo day as a small, fast day: 3 drones, 1 van, no robots, no cold chain or typed addresses."""
    data: dict[str, Any] = load_scenario("helsinki_day").model_dump(mode="json")
    data.update(name=f"safety_s{seed}", description="randomised safety day (python -m benchmarks safety)",
                duration_s=duration_s, speedup=SPEEDUP, seed=seed, zone_events=[])
    data["fleet"]["drones"].update(count=3, insulated_boxes=0)
    data["fleet"]["robots"]["count"] = 0
    data["fleet"]["vans"].update(count=1, capacity_parcels=12, stop_duration_s=60)
    demand = data["demand"]
    demand.update(orders_per_hour=[30.0], customs_share=0.2, customs_delay_min_s=60, customs_delay_max_s=300,
                  stop_ordering_before_end_s=STOP_ORDERING_BEFORE_END_S)
    demand["cold_chain"]["orders"] = 0
    demand["cold_chain"]["failing_boxes"] = 0
    demand["typed_addresses"]["orders"] = 0
    return Scenario.model_validate(data)


def random_day(index: int, seed: int, world: World, *, quick: bool = False) -> SafetyDay:
    """Day `index` drawn from `seed`: demand, recipients, wind, pop-up zones and link drops."""
    rng = random.Random(seed)
    duration_s = QUICK_DAY_S if quick else DAY_S
    scenario = base_scenario(duration_s=duration_s, seed=seed)
    data = scenario.model_dump(mode="json")
    data["recipients"]["presence_probability"] = round(rng.uniform(0.3, 0.95), 2)
    data["wind"] = {"speed_m_s": round(rng.uniform(0.0, 8.0), 1), "direction_deg": round(rng.uniform(0, 359), 0),
                    "gust_m_s": round(rng.uniform(0.0, 3.0), 1)}
    scenario = Scenario.model_validate(data)
    zones = pop_up_zones(scenario, world, rng, count=rng.randint(1, 3), prefix="popup")
    scenario = scenario.model_copy(update={"zone_events": zones})
    drops = tuple(
        LinkDrop(drone, at_offset_s=round(rng.uniform(120.0, duration_s - STOP_ORDERING_BEFORE_END_S), 0),
                 duration_s=round(rng.uniform(30.0, 400.0), 0))
        for drone in range(scenario.fleet.drones.count) for _ in range(rng.randint(0, 2)))
    return SafetyDay(index, seed, scenario, link_drops=drops)


def pop_up_zones(scenario: Scenario, world: World, rng: random.Random, *, count: int,
                 prefix: str) -> tuple[ZoneEvent, ...]:
    """`count` circles on the way from the hub to the day's delivery points, appearing mid-day.

    Each sits on the straight line from the hub to one of the day's recipients (where a drone would
    fly), 100-250 m in radius, clear of the hub (drones must still be able to take off and land).
    """
    orders = day_orders(scenario, world, None)
    hub_x, hub_y = world.hub.x_m, world.hub.y_m
    candidates = [o for o in orders if 500.0 < math.hypot(o.x_m - hub_x, o.y_m - hub_y) < 3000.0] or orders
    zones = []
    for number in range(count):
        target = rng.choice(candidates)
        radius_m = rng.uniform(100.0, 250.0)
        distance_m = math.hypot(target.x_m - hub_x, target.y_m - hub_y)
        along = max(rng.uniform(0.35, 0.9), min(1.0, (radius_m + 150.0) / max(distance_m, 1.0)))
        x_m, y_m = hub_x + along * (target.x_m - hub_x), hub_y + along * (target.y_m - hub_y)
        latitude_deg, longitude_deg = world.frame.to_wgs84(x_m, y_m)
        appears_offset_s = rng.uniform(180.0, scenario.duration_s - STOP_ORDERING_BEFORE_END_S)
        zones.append(ZoneEvent(
            zone_id=f"{prefix}-{scenario.seed}-{number}", name=f"pop-up zone {number}",
            reason="randomised safety day: an operator closes the airspace mid-day",
            appears_at=_time_of_day(scenario, appears_offset_s), duration_s=round(rng.uniform(300.0, 1200.0), 0),
            latitude_deg=latitude_deg, longitude_deg=longitude_deg, radius_m=round(radius_m, 0), upper_m=120.0))
    return tuple(zones)


def _time_of_day(scenario: Scenario, offset_s: float) -> dt.time:
    """The local time of day `offset_s` after the scenario's start (whole seconds)."""
    return scenario.local_time(scenario.start_epoch_s + round(offset_s)).time().replace(tzinfo=None)

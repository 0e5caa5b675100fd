"""Seeded demand: the orders a simulated day brings, to the world's addressed buildings.

Arrivals follow a non-homogeneous Poisson process with the scenario's hourly rates (thinning).
Each order gets a size class and weight, a promised delivery window, a customs flag with its
clearance delay, and a recipient whose own probability of being at home is drawn once; each
delivery attempt then draws presence from it. Same scenario and seed -> the same orders.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from fleet_manager.world import Building
from mission_planner.errors import FinalMileError

from .scenario import Scenario

_FIRST_NAMES = ("Aino", "Eero", "Helmi", "Juho", "Kaisa", "Lauri", "Maija", "Niko", "Oona", "Pekka", "Saara", "Ville")
_LAST_NAMES = ("Korhonen", "Virtanen", "Mäkinen", "Nieminen", "Tamm", "Saar", "Mägi", "Laine", "Heikkinen", "Koskinen")


_CUSTOMS_STREAM = 41


class DemandError(FinalMileError):
    """Demand cannot be generated (no delivery addresses, empty size classes)."""


@dataclass(frozen=True)
class DemandOrder:
    """One order of the simulated day; times are seconds after the day's start."""

    reference: str
    release_s: float  # when the backend sends it to the Fleet API
    building_id: str
    address: str
    latitude_deg: float
    longitude_deg: float
    x_m: float
    y_m: float
    size_class: str
    weight_kg: float
    window_start_s: float
    window_end_s: float
    customs_delay_s: float | None  # None: already cleared when created
    recipient_name: str
    recipient_phone: str
    presence_probability: float  # this recipient's chance of being at home at each attempt
    allow_leave_at_door: bool
    prefers_locker: bool  # when absent, the recipient redirects to a locker (else reschedules)
    cold_chain: bool = False  # an insulated box with a sensor (scenario demand.cold_chain limits)
    failing_box: bool = False  # its cooling pack is spent: it arrives warm and warms fast
    max_shock_g: float | None = None  # fragile: shock limit
    address_text: str | None = None  # sent as a typed address instead of coordinates
    address_kind: str = ""  # how it was typed (sim_worlds.address_typing kind)
    expected_target: str | None = None  # the building (or address) the typed text means
    origin: str = ""  # country of the sender (scenario demand.customs.origins)
    goods_category: str = ""
    declared_value_eur: float = 0.0


def ordering_horizon_s(scenario: Scenario) -> float:
    """Orders are created until this offset; a short run keeps at least three quarters of its length for orders."""
    cutoff_s = min(scenario.demand.stop_ordering_before_end_s, 0.25 * scenario.duration_s)
    return max(0.0, scenario.duration_s - cutoff_s)


def arrival_offsets_s(scenario: Scenario, rng: np.random.Generator) -> list[float]:
    """Order release times (s after start) from the hourly profile, by thinning a Poisson process."""
    demand = scenario.demand
    horizon_s = ordering_horizon_s(scenario)
    peak_per_s = max(demand.orders_per_hour) / 3600.0
    if peak_per_s <= 0 or horizon_s <= 0:
        return []
    offsets: list[float] = []
    t_s = 0.0
    while True:
        t_s += float(rng.exponential(1.0 / peak_per_s))
        if t_s >= horizon_s:
            return offsets
        if float(rng.random()) * peak_per_s <= demand.rate_per_hour(t_s) / 3600.0:
            offsets.append(t_s)


def generate_orders(scenario: Scenario, addresses: Sequence[Building], seed: int | None = None) -> list[DemandOrder]:
    """The day's orders, sorted by release time; deterministic for (scenario, addresses, seed)."""
    if not addresses:
        raise DemandError(f"world {scenario.world!r} has no addressed buildings to deliver to")
    demand = scenario.demand
    rng = np.random.default_rng(scenario.seed if seed is None else seed)
    buildings = sorted(addresses, key=lambda b: b.building_id)
    shares = np.array([c.share for c in demand.size_classes], dtype=float)
    shares = shares / shares.sum()
    # Recipients are per building and keep their habits all day.
    presence_by_building = {
        b.building_id: float(
            np.clip(
                rng.normal(scenario.recipients.presence_probability, scenario.recipients.presence_spread), 0.0, 1.0
            )
        )
        for b in buildings
    }
    orders: list[DemandOrder] = []
    for index, release_s in enumerate(arrival_offsets_s(scenario, rng)):
        building = buildings[int(rng.integers(len(buildings)))]
        size = demand.size_classes[int(rng.choice(len(shares), p=shares))]
        weight_kg = round(float(rng.uniform(size.min_weight_kg, size.max_weight_kg)), 2)
        customs = bool(rng.random() < demand.customs_share)
        delay_s = float(rng.uniform(demand.customs_delay_min_s, demand.customs_delay_max_s)) if customs else None
        ready_s = release_s + (delay_s or 0.0)
        point = building.delivery_point
        if point is None:
            raise DemandError(f"building {building.building_id!r} has no delivery point")
        first = _FIRST_NAMES[int(rng.integers(len(_FIRST_NAMES)))]
        last = _LAST_NAMES[int(rng.integers(len(_LAST_NAMES)))]
        orders.append(
            DemandOrder(
                reference=f"{scenario.name}-{scenario.seed}-{index:05d}",
                release_s=round(release_s, 3),
                building_id=building.building_id,
                address=point.label,
                latitude_deg=point.latitude_deg,
                longitude_deg=point.longitude_deg,
                x_m=point.x_m,
                y_m=point.y_m,
                size_class=size.name,
                weight_kg=weight_kg,
                window_start_s=round(ready_s, 3),
                window_end_s=round(ready_s + demand.window_length_s, 3),
                customs_delay_s=None if delay_s is None else round(delay_s, 3),
                recipient_name=f"{first} {last}",
                recipient_phone=f"+358 40 {int(rng.integers(1_000_000, 9_999_999))}",
                presence_probability=presence_by_building[building.building_id],
                allow_leave_at_door=bool(rng.random() < demand.leave_at_door_share),
                prefers_locker=bool(rng.random() < demand.locker_preference_share),
            )
        )
    return with_customs_facts(scenario, orders, scenario.seed if seed is None else seed)


def with_customs_facts(scenario: Scenario, orders: list[DemandOrder], seed: int) -> list[DemandOrder]:
    """Origin, goods category and declared value for each order, and its customs delay scaled by them.

    Drawn from a stream of their own: the orders' other fields are as before, and with the default
    profile (factors 1) the delays and windows are too.
    """
    profile = scenario.demand.customs
    rng = np.random.default_rng([seed, _CUSTOMS_STREAM])
    origin_p = np.array([o.share for o in profile.origins], dtype=float)
    category_p = np.array([c.share for c in profile.categories], dtype=float)
    result = []
    for order in orders:
        origin = profile.origins[int(rng.choice(len(origin_p), p=origin_p / origin_p.sum()))]
        category = profile.categories[int(rng.choice(len(category_p), p=category_p / category_p.sum()))]
        value_eur = round(float(rng.uniform(category.min_value_eur, category.max_value_eur)), 2)
        delay_s = order.customs_delay_s
        window = (order.window_start_s, order.window_end_s)
        if delay_s is not None:
            factor = origin.delay_factor * category.delay_factor
            if value_eur > profile.high_value_eur:
                factor *= profile.high_value_delay_factor
            if factor != 1.0:
                shift_s = delay_s * (factor - 1.0)
                delay_s = round(delay_s * factor, 3)
                window = (round(window[0] + shift_s, 3), round(window[1] + shift_s, 3))
        result.append(replace(order, origin=origin.name, goods_category=category.name, declared_value_eur=value_eur,
                              customs_delay_s=delay_s, window_start_s=window[0], window_end_s=window[1]))
    return result


def expected_order_count(scenario: Scenario) -> float:
    """Mean number of orders the profile gives over the ordering horizon (for sanity checks)."""
    horizon_s = ordering_horizon_s(scenario)
    total, t_s = 0.0, 0.0
    while t_s < horizon_s:
        step_s = min(3600.0 - math.fmod(t_s, 3600.0), horizon_s - t_s)
        total += scenario.demand.rate_per_hour(t_s) * step_s / 3600.0
        t_s += step_s
    return total


class PresenceDraw:
    """Draws, per attempt, whether a recipient is at home; seeded per order so retries are reproducible."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._attempts: dict[str, int] = {}

    def is_home(self, order: DemandOrder) -> bool:
        """True when the recipient answers the door at this attempt."""
        attempt = self._attempts.get(order.reference, 0)
        self._attempts[order.reference] = attempt + 1
        digest = sum((i + 1) * ord(c) for i, c in enumerate(order.reference))
        rng = np.random.default_rng([self._seed, digest, attempt])
        return bool(rng.random() < order.presence_probability)

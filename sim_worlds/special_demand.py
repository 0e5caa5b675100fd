"""The day's cold-chain parcels (added to the regular demand) and typed addresses (on some of its orders).

Drawn from streams seeded apart from the regular orders (same scenario and seed -> the same
regular orders as without them). Cold-chain parcels are extra orders to addressed buildings of the
world with the scenario's temperature range and limit; some boxes can be made to fail. Typed
addresses turn some of the regular orders into ones whose address arrives as the recipient typed
it: a real address of the building written the way people type (`address_typing`), with the
building kept for scoring.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fleet_manager.world import World
from fleet_manager.world.addresses import Address, AddressIndex, BuildingPoint

from .address_typing import QueryGenerator
from .demand import DemandOrder, generate_orders
from .scenario import Scenario

_COLD_STREAM = 17
_TYPED_STREAM = 29
_MAX_POOLS = 50


def day_orders(scenario: Scenario, world: World, index: AddressIndex | None) -> list[DemandOrder]:
    """All orders of the day, by release time: the regular ones plus the cold-chain and typed-address ones."""
    orders = generate_orders(scenario, world.addresses)
    if index is not None:
        orders = with_typed_addresses(scenario, world, index, orders)
    orders += cold_chain_orders(scenario, world)
    return sorted(orders, key=lambda o: (o.release_s, o.reference))


def _template(scenario: Scenario, world: World, count: int, stream: int) -> list[DemandOrder]:
    """`count` orders from the regular generator's recipe, on their own seeded stream."""
    if count == 0:
        return []
    pool: list[DemandOrder] = []
    for draw in range(_MAX_POOLS):  # a day asking for more than one day's worth draws further days
        seed = int(np.random.default_rng([scenario.seed, stream, draw]).integers(2**31))
        pool += generate_orders(scenario, world.addresses, seed=seed)
        if len(pool) >= count:
            break
    rng = np.random.default_rng([scenario.seed, stream, 1])
    picks = sorted(rng.choice(len(pool), size=min(count, len(pool)), replace=False).tolist()) if pool else []
    return [pool[i] for i in picks]


def cold_chain_orders(scenario: Scenario, world: World) -> list[DemandOrder]:
    """The scenario's cold-chain parcels (small, customs-cleared pharmaceutical and food boxes)."""
    spec = scenario.demand.cold_chain
    demand = scenario.demand
    base = _template(scenario, world, spec.orders, _COLD_STREAM)
    rng = np.random.default_rng([scenario.seed, _COLD_STREAM, 2])
    failing = set(rng.choice(len(base), size=spec.failing_boxes, replace=False).tolist()) if base else set()
    made = []
    for number, order in enumerate(base):
        fragile = bool(rng.random() < spec.fragile_share)
        # They clear customs at the hub like any parcel from abroad: the box's sensor reports from its check-in.
        delay_s = round(float(rng.uniform(demand.customs_delay_min_s, demand.customs_delay_max_s)), 3)
        made.append(DemandOrder(**{
            **vars(order), "reference": f"{scenario.name}-{scenario.seed}-cold-{number:03d}",
            "weight_kg": round(float(rng.uniform(0.3, 2.0)), 2), "size_class": "small", "customs_delay_s": delay_s,
            "window_start_s": order.release_s + delay_s,
            "window_end_s": order.release_s + delay_s + demand.window_length_s,
            "cold_chain": True, "failing_box": number in failing,
            "max_shock_g": spec.max_shock_g if fragile else None,
        }))
    return made


def with_typed_addresses(
    scenario: Scenario, world: World, index: AddressIndex, orders: list[DemandOrder]
) -> list[DemandOrder]:
    """`demand.typed_addresses.orders` of the day's orders arrive with the address as the recipient typed it.

    The same parcels to the same buildings (references kept): the backend sends the typed text instead of
    coordinates, written from one of the building's real addresses (or, for a building without a number, from
    its name, street and village), and keeps the building for scoring. Only orders to a building the address
    index knows can be typed.
    """
    spec = scenario.demand.typed_addresses
    if spec.orders == 0:
        return orders
    by_target: dict[str, list[Address | BuildingPoint]] = {}
    for address in sorted(index.addresses, key=lambda a: a.address_id):
        by_target.setdefault(address.target_id, []).append(address)
    generator = QueryGenerator(world.name, index, seed=scenario.seed * 1000 + _TYPED_STREAM)
    for point in index.building_points:
        if generator.points.typable(point):  # a building with neither name nor street: nothing to type
            by_target.setdefault(point.target_id, []).append(point)
    candidates = [i for i, order in enumerate(orders) if order.building_id in by_target]
    rng = np.random.default_rng([scenario.seed, _TYPED_STREAM, 2])
    chosen = sorted(rng.choice(len(candidates), size=min(spec.orders, len(candidates)), replace=False).tolist())
    typed = list(orders)
    for number, candidate in enumerate(chosen):
        order = orders[candidates[candidate]]
        # the number's kind, else the next one that fits this building (no Swedish name, no diacritics...)
        kinds = spec.kinds[number % len(spec.kinds):] + spec.kinds[:number % len(spec.kinds)]
        made = next(((kind, text) for kind in kinds for address in by_target[order.building_id]
                     if (text := generator.typed(kind, address)) is not None), None)
        if made is None:
            continue
        typed[candidates[candidate]] = replace(order, address_text=made[1], address_kind=made[0],
                                               expected_target=order.building_id)
    return typed


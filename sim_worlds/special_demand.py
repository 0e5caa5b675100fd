"""The day's cold-chain parcels and typed-address orders, added to the regular demand.

Drawn from streams seeded apart from the regular orders (same scenario and seed -> the same
regular orders as without them, plus these). Cold-chain parcels go to addressed buildings of the
world with the scenario's temperature range and limit; some boxes can be made to fail. Typed
addresses are real addresses of the world's index written the way people type them
(`address_typing`), each with the building it means kept for scoring.
"""

from __future__ import annotations

import numpy as np

from fleet_manager.world import World
from fleet_manager.world.addresses import AddressIndex

from .address_typing import QueryGenerator
from .demand import DemandOrder, generate_orders
from .scenario import Scenario

_COLD_STREAM = 17
_TYPED_STREAM = 29
_MAX_POOLS = 50


def day_orders(scenario: Scenario, world: World, index: AddressIndex | None) -> list[DemandOrder]:
    """All orders of the day, by release time: the regular ones plus the cold-chain and typed-address ones."""
    orders = generate_orders(scenario, world.addresses)
    orders += cold_chain_orders(scenario, world)
    if index is not None:
        orders += typed_address_orders(scenario, world, index)
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


def typed_address_orders(scenario: Scenario, world: World, index: AddressIndex) -> list[DemandOrder]:
    """Orders whose address the backend sends as typed text; the truth (building) is kept on each."""
    spec = scenario.demand.typed_addresses
    base = _template(scenario, world, spec.orders, _TYPED_STREAM)
    generator = QueryGenerator(world.name, index, seed=scenario.seed * 1000 + _TYPED_STREAM)
    addresses = sorted(index.addresses, key=lambda a: a.address_id)
    rng = np.random.default_rng([scenario.seed, _TYPED_STREAM, 2])
    made = []
    for number, order in enumerate(base):
        kind = spec.kinds[number % len(spec.kinds)]
        for _ in range(200):  # not every address can be typed every way (no Swedish name, no diacritics...)
            address = addresses[int(rng.integers(len(addresses)))]
            text = generator.makers[kind](address) if kind in generator.makers else generator.missing_number(address)
            if text is not None:
                break
        else:
            continue
        point = address.drop_point
        x_m, y_m = world.frame.to_local(point.latitude_deg, point.longitude_deg)
        made.append(DemandOrder(**{
            **vars(order), "reference": f"{scenario.name}-{scenario.seed}-addr-{number:03d}",
            "building_id": address.target_id, "address": generator.truth(address),
            "latitude_deg": point.latitude_deg, "longitude_deg": point.longitude_deg, "x_m": x_m, "y_m": y_m,
            "address_text": text, "address_kind": kind, "expected_target": address.target_id,
        }))
    return made


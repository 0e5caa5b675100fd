"""Demand generator: seeded, follows the hourly profile, only to real addresses."""

from __future__ import annotations

import pytest

from fleet_manager.world import load_world
from sim_worlds.demand import DemandError, PresenceDraw, expected_order_count, generate_orders, ordering_horizon_s
from sim_worlds.scenario import load_scenario


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return load_world("helsinki")


def test_same_seed_same_orders(world) -> None:  # type: ignore[no-untyped-def]
    """Same scenario and seed give the identical day; another seed gives another day."""
    scenario = load_scenario("helsinki_day")
    first = generate_orders(scenario, world.addresses)
    assert first == generate_orders(scenario, world.addresses)
    assert first != generate_orders(scenario, world.addresses, seed=scenario.seed + 1)


def test_orders_follow_profile_and_addresses(world) -> None:  # type: ignore[no-untyped-def]
    """Order count is near the profile's mean; every order goes to an addressed building, in time order."""
    scenario = load_scenario("helsinki_day")
    orders = generate_orders(scenario, world.addresses)
    expected = expected_order_count(scenario)
    assert 0.6 * expected < len(orders) < 1.4 * expected
    addresses = {b.building_id: b.address for b in world.addresses}
    assert all(addresses[o.building_id] == o.address for o in orders)
    releases = [o.release_s for o in orders]
    assert releases == sorted(releases)
    last_order_s = scenario.duration_s - scenario.demand.stop_ordering_before_end_s
    assert max(releases) < ordering_horizon_s(scenario) <= last_order_s
    assert len({o.reference for o in orders}) == len(orders)


def test_customs_weights_and_windows(world) -> None:  # type: ignore[no-untyped-def]
    """Customs share roughly matches; windows open when the parcel is cleared; weights fit their class."""
    scenario = load_scenario("helsinki_day").with_overrides(duration_s="24h")
    orders = generate_orders(scenario, world.addresses)
    customs = [o for o in orders if o.customs_delay_s is not None]
    assert 0.15 < len(customs) / len(orders) < 0.45
    for order in orders:
        assert order.window_start_s == pytest.approx(order.release_s + (order.customs_delay_s or 0.0), abs=0.01)
        assert order.window_end_s - order.window_start_s == pytest.approx(scenario.demand.window_length_s)
        size = next(c for c in scenario.demand.size_classes if c.name == order.size_class)
        assert size.min_weight_kg - 0.01 <= order.weight_kg <= size.max_weight_kg + 0.01


def test_presence_draw_is_reproducible(world) -> None:  # type: ignore[no-untyped-def]
    """Presence per attempt is seeded: two draws with the same seed agree attempt by attempt."""
    orders = generate_orders(load_scenario("helsinki_day"), world.addresses)
    first, second = PresenceDraw(1), PresenceDraw(1)
    a = [first.is_home(o) for o in orders for _ in range(2)]
    b = [second.is_home(o) for o in orders for _ in range(2)]
    assert a == b and 0 < sum(a) < len(a)


def test_no_addresses_is_an_error() -> None:
    """A world without addresses cannot have demand."""
    with pytest.raises(DemandError, match="no addressed buildings"):
        generate_orders(load_scenario("helsinki_day"), [])

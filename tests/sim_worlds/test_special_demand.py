"""The day's cold-chain and typed-address orders: added beside the regular demand, which stays the same."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fleet_manager.world import address_index_for_world, load_world
from sim_worlds.address_typing import POSITIVE_KINDS, REVIEW_KINDS
from sim_worlds.demand import generate_orders
from sim_worlds.scenario import ScenarioError, load_scenario, validate_scenario
from sim_worlds.special_demand import day_orders


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return load_world("helsinki")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return address_index_for_world("helsinki", cache_dir=tmp_path_factory.mktemp("cache"))


def test_regular_orders_are_untouched_and_the_special_ones_added(world, index) -> None:  # type: ignore[no-untyped-def]
    """The demo day: its regular orders as before (12 of them with the address typed), plus 6 cold-chain parcels."""
    scenario = load_scenario("helsinki_day")
    regular = sorted(generate_orders(scenario, world.addresses), key=lambda o: (o.release_s, o.reference))
    day = day_orders(scenario, world, index)
    untyped = [replace(o, address_text=None, address_kind="", expected_target=None) for o in day if not o.cold_chain]
    assert untyped == regular
    cold = [o for o in day if o.cold_chain]
    typed = [o for o in day if o.address_text is not None]
    assert all(o.expected_target == o.building_id for o in typed)
    assert len(cold) == 6 and sum(o.failing_box for o in cold) == 1
    assert all(o.customs_delay_s is not None and o.weight_kg <= 2.0 for o in cold)
    assert len(typed) == 12 and {o.address_kind for o in typed} <= set(POSITIVE_KINDS + REVIEW_KINDS)
    targets = {a.target_id for a in index.addresses}
    assert all(o.expected_target in targets for o in typed)
    assert len({o.reference for o in day}) == len(day)
    assert day == day_orders(scenario, world, index)  # same seed, same day


def test_a_day_without_them_is_the_regular_day(world, index) -> None:  # type: ignore[no-untyped-def]
    """Zero cold-chain and typed-address orders: exactly the regular generator's orders."""
    data = load_scenario("helsinki_day").model_dump(mode="json")
    data["demand"]["cold_chain"]["orders"] = 0
    data["demand"]["cold_chain"]["failing_boxes"] = 0
    data["demand"]["typed_addresses"]["orders"] = 0
    scenario = validate_scenario(data)
    assert day_orders(scenario, world, index) == sorted(generate_orders(scenario, world.addresses),
                                                        key=lambda o: (o.release_s, o.reference))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cold_chain": {"orders": 2, "failing_boxes": 3}}, "failing_boxes=3 is more than the 2"),
        ({"cold_chain": {"min_temp_c": 8, "max_temp_c": 2}}, "max_temp_c=2.0 must be above min_temp_c=8.0"),
        ({"typed_addresses": {"kinds": ["clean", "telepathy"]}}, "['telepathy'] are not typing kinds"),
    ],
)
def test_bad_fields_are_named(change: dict[str, object], message: str, tmp_path: Path) -> None:
    """A scenario error names the field and the value."""
    data = load_scenario("helsinki_day").model_dump(mode="json")
    data["demand"].update(change)
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_scenario(data)

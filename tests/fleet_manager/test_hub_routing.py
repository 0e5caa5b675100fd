"""Which hub an order goes to (`fleet_manager.hub_routing`): the hub named, else the service area holding the
destination (nearest centre when several do); refusals name the field to fix."""

from __future__ import annotations

import pytest

from fleet_manager.errors import ConfigError
from fleet_manager.fleet_file import FleetFile
from fleet_manager.hub_routing import HubArea, HubRouter, HubUnresolved, router_for_fleet
from fleet_manager.world.model import world_spec

CITY = HubArea("city", 60.1715, 24.9381, 3000.0)
HARBOUR = HubArea("harbour", 60.1535, 24.9381, 1000.0)
ROUTER = HubRouter((CITY, HARBOUR))


def test_the_named_hub_wins_over_the_location() -> None:
    assert ROUTER.route(hub_id="city", latitude_deg=60.1535, longitude_deg=24.9381) == "city"


def test_a_destination_in_two_areas_goes_to_the_nearest_centre_and_in_one_to_that_one() -> None:
    assert ROUTER.route(hub_id=None, latitude_deg=60.1540, longitude_deg=24.9381) == "harbour"  # in both
    assert ROUTER.route(hub_id=None, latitude_deg=60.1800, longitude_deg=24.9381) == "city"  # ~950 m north


@pytest.mark.parametrize(("hub_id", "latitude_deg", "field"), [
    ("nowhere", 60.17, "hub_id"),  # a hub the fleet does not have
    (None, 59.437, "destination"),  # Tallinn: in no area
    (None, None, "hub_id"),  # a typed address with several hubs
])
def test_refusals_name_the_field(hub_id: str | None, latitude_deg: float | None, field: str) -> None:
    longitude_deg = None if latitude_deg is None else 24.75
    with pytest.raises(HubUnresolved) as refused:
        ROUTER.route(hub_id=hub_id, latitude_deg=latitude_deg, longitude_deg=longitude_deg)
    assert refused.value.field == field


def test_a_fleet_of_one_hub_without_an_area_takes_every_order_and_areas_default_to_the_world_hub() -> None:
    one = FleetFile.model_validate({"hubs": [{"hub_id": "solo", "recipient_presence": {"kind": "always"}}],
                                    "vehicles": []})
    assert router_for_fleet(one).route(hub_id=None, latitude_deg=59.437, longitude_deg=24.7536) == "solo"
    two = FleetFile.model_validate({"hubs": [
        {"hub_id": "a", "recipient_presence": {"kind": "always"}},
        {"hub_id": "b", "world": "andorra", "recipient_presence": {"kind": "always"}}], "vehicles": []})
    site = world_spec("andorra")[0]["hub"]
    router = router_for_fleet(two)
    assert router.route(hub_id=None, latitude_deg=site["latitude_deg"], longitude_deg=site["longitude_deg"]) == "b"
    assert router.route(hub_id=None, latitude_deg=60.17, longitude_deg=24.94) == "a"
    with pytest.raises(ConfigError, match="radius_m"):
        HubArea("bad", 60.0, 24.0, 0.0)

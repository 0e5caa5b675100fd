"""Vehicle profiles: one set of defaults, validated."""

from __future__ import annotations

import math

import pytest

from mission_planner.errors import PlanningError
from mission_planner.fleet import FleetTravel, OrderSpec, VehicleSpec, build_model
from mission_planner.model import VehicleKind
from mission_planner.profiles import DEFAULT_PROFILES, VehicleProfile, default_profile


def test_every_kind_has_one_default_profile() -> None:
    """Drone 2.5 kg (as the demo scenario and the fleet file say), robot 10 kg, van 600 kg."""
    assert set(DEFAULT_PROFILES) == set(VehicleKind)
    assert default_profile("drone").max_payload_kg == 2.5
    assert default_profile(VehicleKind.ROBOT).max_payload_kg == 10.0
    assert default_profile(VehicleKind.VAN).max_payload_kg == 600.0


@pytest.mark.parametrize(
    "changes", [{"speed_m_s": 0.0}, {"battery_wh": -1.0}, {"reserve_pct": 100.0}, {"max_payload_kg": math.nan},
                {"capacity_parcels": 0}],
)
def test_a_profile_that_cannot_be_is_refused_naming_the_field(changes: dict[str, float]) -> None:
    """Nonsense capabilities never reach the planner."""
    with pytest.raises(PlanningError):
        default_profile(VehicleKind.DRONE).with_changes(**changes)


def test_the_planner_uses_the_default_profile_when_a_vehicle_gives_none() -> None:
    """A drone without capacity figures gets the default profile's payload and door time."""
    from fleet_manager.world import load_world

    travel = FleetTravel.for_world(load_world("helsinki"))
    hub = travel.hub
    model = build_model(travel, [VehicleSpec("d1", VehicleKind.DRONE, hub.latitude_deg, hub.longitude_deg)],
                        [OrderSpec("o1", hub.latitude_deg + 0.001, hub.longitude_deg, 1.0)], now_s=0.0)
    vehicle = model.vehicles[0]
    assert vehicle.capacity_kg == DEFAULT_PROFILES[VehicleKind.DRONE].max_payload_kg
    assert vehicle.service_s == DEFAULT_PROFILES[VehicleKind.DRONE].service_s
    assert isinstance(DEFAULT_PROFILES[VehicleKind.VAN], VehicleProfile)

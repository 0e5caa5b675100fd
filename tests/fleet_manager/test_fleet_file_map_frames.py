"""Fleet-file fields for robots with map frames of their own: `map_datum` and `fromll_service`."""

from __future__ import annotations

import pytest
import yaml

from fleet_manager.fleet_file import FleetFileError, parse_fleet

HUB = {"hub_id": "hub-a", "recipient_presence": {"kind": "always"}}
DATUM = {"latitude_deg": 60, "longitude_deg": 24}


def test_map_datum_and_fromll_service_are_read_and_written_back() -> None:
    """Both forms parse, defaults fill in (yaw 0, local_cartesian), and the run's fleet file keeps them."""
    fleet = parse_fleet({"hubs": [HUB], "vehicles": [
        {"vehicle_id": "r1", "kind": "robot", "url": "ros2:/r1",
         "map_datum": {"latitude_deg": 60.17, "longitude_deg": 24.93}},
        {"vehicle_id": "r2", "kind": "robot", "url": "ros2:/r2", "fromll_service": "/r2/fromLL"},
    ]}, "fleet.yaml")  # fmt: skip
    r1, r2 = fleet.vehicles
    assert r1.map_datum is not None
    assert (r1.map_datum.yaw_deg, r1.map_datum.projection, r1.fromll_service) == (0.0, "local_cartesian", None)
    assert (r2.map_datum, r2.fromll_service) == (None, "/r2/fromLL")
    again = parse_fleet(yaml.safe_load(fleet.to_yaml()), "run fleet.yaml")
    assert again.vehicles == fleet.vehicles


@pytest.mark.parametrize(
    ("vehicle", "message"),
    [
        ({"vehicle_id": "d1", "kind": "drone", "url": "tcp:h:1", "map_datum": DATUM},
         "vehicle 'd1': map_datum and fromll_service are for ros2 robots, not a mavlink vehicle"),
        ({"vehicle_id": "r1", "kind": "robot", "url": "ros2:/r1", "fromll_service": "/r1/fromLL",
          "map_datum": DATUM}, "vehicle 'r1': give map_datum or fromll_service"),
        ({"vehicle_id": "r1", "kind": "robot", "url": "ros2:/r1", "fromll_service": "fromLL"},
         "vehicle 'r1': fromll_service 'fromLL' is not an absolute ROS service name"),
        ({"vehicle_id": "r1", "kind": "robot", "url": "ros2:/r1", "map_datum": {**DATUM, "latitude_deg": 95}},
         "vehicle 'r1': map_datum.latitude_deg: Input should be less than or equal to 90 (got 95)"),
        ({"vehicle_id": "r1", "kind": "robot", "url": "ros2:/r1",
          "map_datum": {"latitude_deg": 60, "longitude_deg": 24, "projection": "mercator"}},
         "vehicle 'r1': map_datum.projection: Input should be 'local_cartesian' or 'utm' (got 'mercator')"),
    ],
)
def test_bad_map_frame_settings_are_refused_by_vehicle_and_field(vehicle: dict[str, object], message: str) -> None:
    with pytest.raises(FleetFileError) as caught:
        parse_fleet({"hubs": [HUB], "vehicles": [vehicle]}, "fleet.yaml")
    assert message in str(caught.value)

"""Fleet-file fields for real drones: system ids on a shared link, GCS ids, signing keys, Remote ID."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleet_manager.adapters.mavlink_failsafe import GcsFailsafe
from fleet_manager.fleet_file import FleetFileError, parse_fleet
from fleet_manager.mavlink_config import mavlink_options

HUB = {"hub_id": "hub", "recipient_presence": {"kind": "always"}}
KEY_HEX = "00" + "ab" * 31


def _fleet(vehicles: list[dict[str, Any]], **hub: Any) -> Any:
    return parse_fleet({"hubs": [{**HUB, **hub}], "vehicles": vehicles}, "fleet.yaml")


def test_drones_sharing_a_url_need_distinct_system_ids() -> None:
    """Two drones on one router URL without system ids (or with the same one) are refused, naming them."""
    url = "udp:0.0.0.0:14550"
    with pytest.raises(FleetFileError, match=r"share url 'udp:0.0.0.0:14550': give each its system_id"):
        _fleet([{"vehicle_id": "d1", "kind": "drone", "url": url}, {"vehicle_id": "d2", "kind": "drone", "url": url}])
    with pytest.raises(FleetFileError, match="same system_id"):
        _fleet([{"vehicle_id": "d1", "kind": "drone", "url": url, "system_id": 3},
                {"vehicle_id": "d2", "kind": "drone", "url": url, "system_id": 3}])
    fleet = _fleet([{"vehicle_id": "d1", "kind": "drone", "url": url, "system_id": 1},
                    {"vehicle_id": "d2", "kind": "drone", "url": "/dev/ttyUSB0,57600", "system_id": 2}])
    options = mavlink_options(fleet, fleet.vehicles[0], (60.17, 24.94))
    assert options == {"gcs_system_id": 255, "gcs_component_id": 190, "system_id": 1,
                       "gcs_failsafe": GcsFailsafe()}  # continue AUTO through a failover: mavlink_failsafe


def test_signing_key_inline_or_from_a_secrets_file_never_in_errors(tmp_path: Path) -> None:
    """A key from the fleet file or a YAML secrets file; a bad key is refused without echoing it."""
    secrets = tmp_path / "keys.yaml"
    secrets.write_text(f'd1: "{KEY_HEX}"\n')
    fleet = _fleet([{"vehicle_id": "d1", "kind": "drone", "url": "tcp:127.0.0.1:5760",
                     "signing": {"key_file": str(secrets), "setup": True}}])
    options = mavlink_options(fleet, fleet.vehicles[0], (60.17, 24.94))
    assert options["signing"].secret == bytes.fromhex(KEY_HEX) and options["signing_setup"] is True
    assert KEY_HEX not in repr(options["signing"]) and KEY_HEX not in fleet.to_yaml()
    bad = "zz" + KEY_HEX[2:]
    fleet = _fleet([{"vehicle_id": "d1", "kind": "drone", "url": "tcp:127.0.0.1:5760", "signing": {"key": bad}}])
    with pytest.raises(FleetFileError, match=r"vehicle .d1.: signing.key: .*hex digits") as error:
        mavlink_options(fleet, fleet.vehicles[0], (60.17, 24.94))
    assert bad not in str(error.value)
    with pytest.raises(FleetFileError, match="signing: give the signing key as key or key_file"):
        _fleet([{"vehicle_id": "d1", "kind": "drone", "url": "tcp:127.0.0.1:5760", "signing": {"setup": True}}])
    with pytest.raises(FleetFileError, match="apply to MAVLink drones only"):
        _fleet([{"vehicle_id": "r1", "kind": "robot", "url": "ros2:/r1", "system_id": 3}])


def test_hub_remote_id_reaches_every_drone_with_its_basic_id() -> None:
    """The hub's operator (location defaulting to the hub's site) and each drone's UAS id become its stream."""
    fleet = _fleet([{"vehicle_id": "d1", "kind": "drone", "url": "tcp:127.0.0.1:5760",
                     "remote_id": {"uas_id": "1596F350457AB0C12345"}}],
                   remote_id={"operator_id": "FIN87astrdge12k8", "category_eu": "specific"})
    config = mavlink_options(fleet, fleet.vehicles[0], (60.1715, 24.9381))["remote_id"]
    assert (config.operator.latitude_deg, config.operator.longitude_deg) == (60.1715, 24.9381)
    assert config.operator.category_eu == 2 and config.aircraft.uas_id == "1596F350457AB0C12345"
    with pytest.raises(FleetFileError, match=r"hub .hub.: remote_id.operator_id: String should have at most 20"):
        _fleet([], remote_id={"operator_id": "X" * 21})

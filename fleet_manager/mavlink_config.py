"""From the fleet file to a MAVLink drone's link options: GCS ids, system id, signing key, Remote ID data,
and the GCS-failsafe parameters set at connect (continue an AUTO mission through a leader failover).

Translation only (the adapters hold the protocol). The signing key is read here, from the fleet
file or its secrets file; errors name the file and the vehicle, never the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .fleet_file import FleetFile, FleetFileError, RemoteIdHub, SigningConfig, VehicleConfig

_LOCATION_TYPES = {"takeoff": 0, "live_gnss": 1, "fixed": 2}  # MAV_ODID_OPERATOR_LOCATION_TYPE
_CATEGORIES_EU = {"undeclared": 0, "open": 1, "specific": 2, "certified": 3}  # MAV_ODID_CATEGORY_EU
_ID_TYPES = {"serial_number": 1, "caa_registration": 2, "utm_assigned": 3, "specific_session": 4}  # MAV_ODID_ID_TYPE
_UA_TYPES = {"aeroplane": 1, "helicopter_or_multirotor": 2, "hybrid_lift": 4, "other": 15}  # MAV_ODID_UA_TYPE


def mavlink_options(fleet: FleetFile, vehicle: VehicleConfig, hub_site: tuple[float, float]) -> dict[str, Any]:
    """Keyword arguments for `MavlinkAdapter` (`hub_site`: the hub's lat/lon, the default operator location)."""
    from .adapters.mavlink_failsafe import GcsFailsafe
    from .adapters.mavlink_remote_id import RemoteIdAircraft, RemoteIdConfig

    options: dict[str, Any] = {
        "gcs_failsafe": GcsFailsafe(),
        "gcs_system_id": vehicle.gcs_system_id,
        "gcs_component_id": vehicle.gcs_component_id,
        "system_id": vehicle.system_id,
    }
    if vehicle.signing is not None:
        options["signing"] = signing_key(vehicle.vehicle_id, vehicle.signing)
        options["signing_setup"] = vehicle.signing.setup
    hub = fleet.hub(vehicle.hub or fleet.hubs[0].hub_id)
    if hub.remote_id is not None:
        aircraft = None
        if vehicle.remote_id is not None:
            aircraft = RemoteIdAircraft(vehicle.remote_id.uas_id, _ID_TYPES[vehicle.remote_id.id_type],
                                        _UA_TYPES[vehicle.remote_id.ua_type])
        options["remote_id"] = RemoteIdConfig(remote_id_operator(hub.remote_id, hub_site), aircraft)
    return options


def remote_id_operator(config: RemoteIdHub, hub_site: tuple[float, float]) -> Any:
    """The hub's operator for the Remote ID stream (location: as configured, else the hub's site)."""
    from .adapters.mavlink_remote_id import RemoteIdOperator

    location = config.operator_location
    latitude_deg, longitude_deg, altitude_m = (
        (location.latitude_deg, location.longitude_deg, location.altitude_m) if location else (*hub_site, 0.0)
    )
    return RemoteIdOperator(
        config.operator_id, latitude_deg, longitude_deg, altitude_m, operator_id_type=config.operator_id_type,
        location_type=_LOCATION_TYPES[config.location_type], area_radius_m=config.area_radius_m,
        area_ceiling_m=config.area_ceiling_m, area_floor_m=config.area_floor_m,
        category_eu=_CATEGORIES_EU[config.category_eu], class_eu=config.class_eu, description=config.description,
    )  # fmt: skip


def signing_key(vehicle_id: str, config: SigningConfig) -> Any:
    """The vehicle's SigningKey from `key` or `key_file` (the key alone, or a YAML map of vehicle id to key)."""
    from .adapters.mavlink_signing import SigningKey, SigningKeyError

    if config.key is not None:
        text, where = config.key.get_secret_value(), f"vehicle {vehicle_id!r}: signing.key"
    else:
        key_path = Path(str(config.key_file))
        where = f"vehicle {vehicle_id!r}: signing.key_file {str(key_path)!r}"
        text = _key_from_file(key_path, vehicle_id, where)
    try:
        return SigningKey.from_hex(text, config.link_id)
    except SigningKeyError as exc:
        raise FleetFileError(f"{where}: {exc}") from None


def _key_from_file(path: Path, vehicle_id: str, where: str) -> str:
    try:
        content = path.read_text()
    except OSError as exc:
        raise FleetFileError(f"{where}: cannot read it ({exc.strerror})") from None
    try:
        data = yaml.load(content, Loader=yaml.BaseLoader)  # every scalar a string: keys keep leading zeros
    except yaml.YAMLError:
        raise FleetFileError(f"{where}: neither a key nor a YAML mapping of vehicle ids to keys") from None
    if isinstance(data, dict):
        if vehicle_id not in data:
            raise FleetFileError(f"{where}: has no key for {vehicle_id!r}")
        return str(data[vehicle_id])
    return content.strip()
